//! Break-the-glass outside an emergency: emergency access to a patient who had no emergency
//! visit around that time.
//!
//! Why: breaking the glass lifts access restrictions for emergencies; used on a patient who is
//! not in the emergency department, it is a way around the restrictions. Breaking the glass in
//! the emergency department on its own arrivals is what it is for.

use std::sync::Arc;

use wardwatch_core::Severity;
use wardwatch_detect::{Detection, RuleMeta};

use crate::{Access, PrivacyContext, finding, is_emergency, meta};

/// How far around an emergency visit breaking the glass is expected.
const EMERGENCY_MARGIN_SECS: i64 = 12 * 3600;

pub fn rule() -> Arc<RuleMeta> {
    meta(
        "break-glass-outside-emergency",
        "Privacy: Break-The-Glass Access Without An Emergency",
        Severity::High,
        "A user used emergency (break-the-glass) access to open a patient's record, but the patient had no emergency department encounter around that time. Emergency access used outside an emergency bypasses the record's access restrictions.",
        "Ask the user for the reason they gave when breaking the glass and check it with their manager; if there was no emergency, follow the hospital's procedure for unauthorised access.",
    )
}

pub fn check(ctx: &PrivacyContext, a: &Access) -> Option<Detection> {
    if !a.break_the_glass
        || ctx
            .encounters
            .in_department(&a.patient, a.at, EMERGENCY_MARGIN_SECS, is_emergency)
    {
        return None;
    }
    Some(finding(
        rule(),
        "break-the-glass with no emergency visit of the patient around that time".into(),
        1,
        0,
        Vec::new(),
    ))
}
