//! VIP outside the care team: a patient marked VIP (a public figure, a board member) opened by
//! someone whose department does not treat them.

use std::sync::Arc;

use wardwatch_core::Severity;
use wardwatch_detect::{Detection, RuleMeta};

use super::dept_words;
use crate::{Access, PrivacyContext, finding, meta};

pub fn rule() -> Arc<RuleMeta> {
    meta(
        "vip-outside-care-team",
        "Privacy: VIP Record Opened Outside The Care Team",
        Severity::High,
        "A user opened the record of a patient marked as VIP in patients.csv, and the patient had no encounter in the user's department around that time. VIP records draw curiosity and leak to the press.",
        "Ask the user's manager whether the user had a care or administrative reason; if not, follow the hospital's procedure for unauthorised access. Check whether the record was opened by others too.",
    )
}

pub fn check(ctx: &PrivacyContext, a: &Access) -> Option<Detection> {
    if !ctx.patients.get(&a.patient)?.vip || ctx.care(a) != Some(false) {
        return None;
    }
    Some(finding(
        rule(),
        format!(
            "VIP patient; no encounter in {} around that time",
            dept_words(a)
        ),
        1,
        0,
        Vec::new(),
    ))
}
