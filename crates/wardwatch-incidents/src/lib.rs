//! Alerts into incidents that explain themselves.
//!
//! A hospital IT team cannot read a thousand alerts a day; it can read five stories. This crate
//! turns the [`Alert`](wardwatch_core::Alert)s detection raises into [`Incident`]s:
//!
//! - [`group`] joins alerts about the same host, user or address within a window, and alerts
//!   linked by cause (parent → child process, mail → recipient, logon from one host to the
//!   next), merging incidents an alert connects;
//! - [`score`] says how bad an incident is, with its reasons (severity × asset criticality ×
//!   breadth across ATT&CK tactics, hosts and users);
//! - [`narrative`] tells it in plain words with what each role should do, using the
//!   operator's [`Context`] (asset inventory, staff roster) and the [`attack`] tables;
//! - [`lifecycle`] is the analysts' workflow, [`exception`] the one-step, expiring tuning.
//!
//! **Architecture Invariant:** this crate is pure: values in, values out, the clock passed in.
//! It does no I/O (the caller reads inventory and roster files and hands us their text), starts
//! no threads and knows nothing of the store or HTTP.

pub mod attack;
pub mod context;
pub mod exception;
pub mod group;
pub mod lifecycle;
pub mod model;
pub mod narrative;
pub mod score;
pub mod stored;

#[cfg(test)]
mod testkit;

pub use context::{
    Asset, AssetClass, AssetMatch, CONTEXT_FILES, Context, ContextError, Encounter, Encounters,
    Inventory, Keyed, Location, PatientRecord, Patients, Person, PrivacyKey, Roster, StaffKey,
    StaffKeys, account_name, department_key,
};
pub use exception::{Condition, Exception, ExceptionError, ExceptionOffer, ExceptionSet};
pub use group::{GroupConfig, Grouper, MAX_SEEN_ALERTS};
pub use lifecycle::LifecycleError;
pub use model::{
    Comment, HistoryEntry, Incident, PRIVACY_INCIDENT_PREFIX, PRIVACY_TAG, Resolution, ScorePart,
    Status, Step, is_privacy_alert,
};
pub use narrative::{MAX_STEPS, Narrative, Role, RoleSteps, narrate};
pub use stored::{IncidentDoc, IncidentView, Lifecycle, exception_from_json};
