//! Same address: the patient lives at the user's address (a partner, a housemate, a
//! neighbour in the same building), and no care relationship explains the access.

use std::sync::Arc;

use wardwatch_core::Severity;
use wardwatch_detect::{Detection, RuleMeta};

use super::dept_words;
use crate::{Access, PrivacyContext, finding, meta};

pub fn rule() -> Arc<RuleMeta> {
    meta(
        "same-address",
        "Privacy: Record Of A Patient Living At The User's Address, Outside Care",
        Severity::High,
        "A user opened the record of a patient registered at the same address as the user (compared as keyed hashes), and the patient had no encounter in the user's department around that time. Possibly a partner's, housemate's or neighbour's record opened without a care relationship.",
        "Ask the user's manager whether the user had a care or administrative reason; if not, follow the hospital's procedure for unauthorised access.",
    )
}

pub fn check(ctx: &PrivacyContext, a: &Access) -> Option<Detection> {
    let staff = ctx.staff.get(&a.user)?.address?;
    let patient = ctx.patients.get(&a.patient)?.address?;
    if staff != patient || ctx.care(a) != Some(false) {
        return None;
    }
    Some(finding(
        rule(),
        format!(
            "patient lives at the user's address; no encounter in {} around that time",
            dept_words(a)
        ),
        1,
        0,
        Vec::new(),
    ))
}
