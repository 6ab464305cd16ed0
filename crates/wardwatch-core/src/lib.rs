//! The shared vocabulary of Wardwatch.
//!
//! Every stage — decoders, detection, incidents, storage, outputs — speaks the types defined here:
//! the normalized [`Event`], the [`Alert`] a rule raises on it, the [`Entity`] values both refer to,
//! and [`Severity`]. Keeping them in one I/O-free crate means the stages depend on a small, stable
//! contract instead of on each other.
//!
//! **Architecture Invariant:** this crate does no I/O and knows no formats beyond JSON values; it
//! must stay cheap to compile because everything depends on it.

mod alert;
mod entity;
mod event;
mod severity;

pub use alert::{
    Alert, AlertId, EventRef, FACT_FIELDS, PRIVACY_INCIDENT_PREFIX, PRIVACY_RULE_PREFIX,
};
pub use entity::{Entity, EntityKind};
pub use event::{ClockWindow, DEFAULT_ORGANIZATION, Ecs, Event, Origin, RawText, SourceKind};
pub use severity::{ParseSeverityError, Severity};
