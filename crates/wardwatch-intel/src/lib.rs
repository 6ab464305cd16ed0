//! Threat intelligence shared between hospitals, in and out.
//!
//! Why a crate of its own: a hospital learns of a phishing wave or an attacker's server from
//! its peers, and the question that matters is "did this already happen here?". Indicators
//! arrive as STIX 2.1 bundles (a partner's TAXII collection), MISP events or plain IOC lists
//! ([`import`]); they are put in one canonical form ([`indicator`]), indexed so that matching
//! costs the same for a hundred indicators as for a hundred thousand ([`matcher`]), and every
//! event that shows one raises an ordinary alert naming the partner who shared it
//! ([`detect`]). The other way, [`share`] turns an incident into a STIX 2.1 bundle that
//! carries what helps other hospitals and nothing that must stay inside ([`share::Inside`]),
//! [`sighting`] tells a producer its indicator was seen here, without internal data, and
//! [`collection`] reads what a TAXII collection must know of each object it keeps (version,
//! TLP, creator), for what we publish and for what partners post back.
//!
//! **Architecture Invariant:** pure: no sockets, files or clocks. Fetching from partners,
//! serving TAXII and storing indicators happen at the binary's and the server's edge.

pub mod collection;
pub mod detect;
pub mod import;
pub mod indicator;
pub mod matcher;
pub mod share;
pub mod sighting;

pub use detect::IntelDetector;
pub use import::{
    ImportError, Imported, Skipped, import_any, import_bundle, import_list, import_misp,
};
pub use indicator::{Indicator, Kind, Tlp};
pub use matcher::{Hit, IndicatorSet};
pub use share::{Inside, Share, ShareRequest, share};
