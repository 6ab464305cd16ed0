//! One module per kind of suspicious access (see the crate documentation for the table).
//!
//! The relationship kinds judge one access each and stop at the first that applies, most
//! specific first; the others keep a small state per user.

pub mod break_glass_broad_browsing;
pub mod break_glass_outside_emergency;
pub mod coworker;
pub mod mass_export;
pub mod no_care_relationship;
pub mod same_address;
pub mod same_family_name;
pub mod self_access;
pub mod vip_outside_care_team;
pub mod volume_spike;

use std::sync::Arc;

use wardwatch_detect::{Detection, RuleMeta};

use crate::{Access, PrivacyContext};

/// The relationship kinds in the order they are tried.
type Check = fn(&PrivacyContext, &Access) -> Option<Detection>;
const RELATIONSHIPS: &[Check] = &[
    self_access::check,
    same_family_name::check,
    same_address::check,
    coworker::check,
    vip_outside_care_team::check,
    break_glass_outside_emergency::check,
    no_care_relationship::check,
];

/// The first relationship kind that applies to `a`, if any.
pub(crate) fn relationship(ctx: &PrivacyContext, a: &Access) -> Option<Detection> {
    RELATIONSHIPS.iter().find_map(|check| check(ctx, a))
}

pub(crate) fn metas() -> Vec<Arc<RuleMeta>> {
    vec![
        self_access::rule(),
        same_family_name::rule(),
        same_address::rule(),
        coworker::rule(),
        vip_outside_care_team::rule(),
        break_glass_outside_emergency::rule(),
        no_care_relationship::rule(),
        break_glass_broad_browsing::rule(),
        mass_export::rule(),
        volume_spike::rule(),
    ]
}

/// `the Cardiology department` or `an unknown department`, for the words of an alert.
pub(crate) fn dept_words(a: &Access) -> String {
    match &a.department {
        Some(d) => format!("the {d} department"),
        None => "a department the roster does not name".into(),
    }
}

#[cfg(test)]
mod tests;
