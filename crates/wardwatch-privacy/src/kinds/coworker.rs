//! Coworker: the patient is another member of staff, and no care relationship explains the
//! access.

use std::sync::Arc;

use wardwatch_core::Severity;
use wardwatch_detect::{Detection, RuleMeta};

use super::dept_words;
use crate::{Access, PrivacyContext, finding, meta};

pub fn rule() -> Arc<RuleMeta> {
    meta(
        "coworker",
        "Privacy: Record Of A Coworker Opened Outside Care",
        Severity::High,
        "A user opened the record of a patient who is a member of staff (patients.csv names their account), and the patient had no encounter in the user's department around that time. Colleagues' records are a frequent target of curiosity.",
        "Ask the user's manager whether the user had a care or administrative reason; if not, follow the hospital's procedure for unauthorised access and consider telling the colleague whose record was opened.",
    )
}

pub fn check(ctx: &PrivacyContext, a: &Access) -> Option<Detection> {
    let owner = ctx.patients.get(&a.patient)?.employee_user.as_deref()?;
    if owner == a.user || ctx.care(a) != Some(false) {
        return None;
    }
    let same_dept = ctx
        .roster
        .person(owner)
        .and_then(|p| p.department.as_deref())
        .map(wardwatch_incidents::department_key)
        .is_some_and(|d| Some(&d) == a.department.as_ref());
    Some(finding(
        rule(),
        format!(
            "patient is a coworker ({}{}); no encounter in {} around that time",
            owner,
            if same_dept { ", same department" } else { "" },
            dept_words(a)
        ),
        1,
        0,
        Vec::new(),
    ))
}
