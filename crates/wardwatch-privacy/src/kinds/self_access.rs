//! Self-access: a member of staff opened their own record.
//!
//! Why: most hospitals' policy has staff see their own results through the patient portal,
//! not the clinical system; opening one's own chart is also how a user checks what a colleague
//! wrote about them.

use std::sync::Arc;

use wardwatch_core::Severity;
use wardwatch_detect::{Detection, RuleMeta};

use crate::{Access, PrivacyContext, finding, meta};

pub fn rule() -> Arc<RuleMeta> {
    meta(
        "self-access",
        "Privacy: User Opened Their Own Patient Record",
        Severity::Medium,
        "A member of staff opened the record of the patient who is themselves (patients.csv names them as employee_user). Staff normally see their own record through the patient portal.",
        "Remind the user of the policy for their own record; if it happens again, or if they changed anything, involve their manager.",
    )
}

pub fn check(ctx: &PrivacyContext, a: &Access) -> Option<Detection> {
    let p = ctx.patients.get(&a.patient)?;
    (p.employee_user.as_deref() == Some(a.user.as_str())).then(|| {
        finding(
            rule(),
            format!("{} opened their own record", a.user),
            1,
            0,
            Vec::new(),
        )
    })
}
