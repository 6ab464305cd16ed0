//! Detection: Sigma rule packs evaluated over normalized events.
//!
//! The flow is `RuleText`s (YAML with their origin) → [`RulePack::load`] (every rule that parses
//! and compiles, plus a [`RuleProblem`] for each that does not) → [`Detector`] (rules bucketed by
//! logsource, one `rsigma-eval` engine per bucket with its candidate index) → [`Detection`]s, and
//! [`Correlator`] for Sigma correlation rules, which needs events in time order.
//!
//! Two mappings make SigmaHQ rules work on real data, and both are ours:
//! - **logsource** ([`logsource`]): which product / service / categories an event belongs to,
//!   from its channel and Event ID, as SigmaHQ's Windows pipelines define them. A rule is only
//!   evaluated on events whose logsource it names — a Linux rule never sees a Security log.
//! - **fields** ([`fields`]): how a rule's field names (`CommandLine`, `EventID`, `Image`) are
//!   found in each source's layout (EVTX `Event.EventData`, Winlogbeat `winlog.event_data`, flat
//!   JSON), including Security 4688's own names for process creation.
//!
//! [`analytics`] add what a rule cannot say (first-seen process pairs and services, bursts of
//! weak signals, remote execution and Kerberoasting seen across events); they run in the
//! [`Correlator`], the ordered stage `hunt` and `serve` share.
//!
//! [`lineage`] is the ordered stage's first step ([`Correlator::settle`]): a process-creation
//! record that lacks its parent's command line, program or account gets them from the parent's
//! own record seen earlier on the host, and the rules that read them are judged on that copy.
//!
//! A community pack loaded by name comes with the project's reviewed [`PackPolicy`] (its rules
//! left out or lowered, and why), applied to the loaded [`RulePack`] before compiling.
//!
//! [`identity_use`] reads what identity use an event describes (account, host, client address
//! and device, application, logon type, outcome): the one reading the identity analytics and
//! the server's identity ledger share.
//!
//! `rsigma-eval` is used only inside [`engine`] and [`correlate`]; nothing in our public API
//! names its types, so the engine can be swapped.
//!
//! **Architecture Invariant:** this crate does no I/O. It is handed rule texts and events and
//! returns values; reading folders, clocks and output belong to its callers.

pub mod analytics;
mod correlate;
mod engine;
mod error;
pub mod fields;
pub mod geoip;
pub mod identity_use;
pub mod lineage;
pub mod logsource;
mod pack;
mod pack_policy;

pub use analytics::Analytics;
pub use correlate::Correlator;
pub use engine::{CorrelationHit, Detection, Detector, Finding};
pub use error::DetectError;
pub use fields::facts;
pub use identity_use::{IdentityUse, LogonType, identity_use};
pub use pack::{RuleKind, RuleMeta, RulePack, RuleProblem, RuleText, Wardwatch};
pub use pack_policy::{PackPolicy, PolicyAction, PolicyEntry, PolicyNote};
