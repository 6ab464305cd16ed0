//! Same family name: the patient shares the user's family name, and no care relationship
//! explains the access.
//!
//! Why: relatives are the records staff are most tempted to open; a shared surname with no
//! encounter in the user's department is the classic pattern. The same surname treated by the
//! patient's own ward is care, not snooping.

use std::sync::Arc;

use wardwatch_core::Severity;
use wardwatch_detect::{Detection, RuleMeta};

use super::dept_words;
use crate::{Access, PrivacyContext, finding, meta};

pub fn rule() -> Arc<RuleMeta> {
    meta(
        "same-family-name",
        "Privacy: Record Of A Patient With The User's Family Name, Outside Care",
        Severity::High,
        "A user opened the record of a patient with the same family name as their own (compared as keyed hashes), and the patient had no encounter in the user's department around that time. Possibly a relative's record opened without a care relationship.",
        "Ask the user's manager whether the user had a care or administrative reason; if not, follow the hospital's procedure for unauthorised access (the privacy officer documents it, HR decides).",
    )
}

pub fn check(ctx: &PrivacyContext, a: &Access) -> Option<Detection> {
    let staff = ctx.staff.get(&a.user)?.family?;
    let patient = ctx.patients.get(&a.patient)?.family?;
    if staff != patient || ctx.care(a) != Some(false) {
        return None;
    }
    Some(finding(
        rule(),
        format!(
            "same family name as the user; no encounter in {} around that time",
            dept_words(a)
        ),
        1,
        0,
        Vec::new(),
    ))
}
