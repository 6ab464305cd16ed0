//! No care relationship: the patient had no encounter in the user's department around the
//! access (for a service department such as radiology or the laboratory, no encounter at all).
//!
//! Why: access follows care; an access that no encounter explains is the general form of
//! snooping, whatever the motive.

use std::sync::Arc;

use wardwatch_core::Severity;
use wardwatch_detect::{Detection, RuleMeta};

use super::dept_words;
use crate::{Access, PrivacyContext, finding, meta};

pub fn rule() -> Arc<RuleMeta> {
    meta(
        "no-care-relationship",
        "Privacy: Record Opened Without A Care Relationship",
        Severity::Medium,
        "A user opened a patient's record although the patient had no encounter in the user's department around that time (for a service department: was not in hospital at all). Access to a record should follow a care relationship.",
        "Ask the user's manager whether there was a care or administrative reason (a consult, a referral not yet registered); if not, follow the hospital's procedure for unauthorised access.",
    )
}

pub fn check(ctx: &PrivacyContext, a: &Access) -> Option<Detection> {
    if ctx.care(a) != Some(false) {
        return None;
    }
    Some(finding(
        rule(),
        format!(
            "no encounter of the patient in {} around that time",
            dept_words(a)
        ),
        1,
        0,
        Vec::new(),
    ))
}
