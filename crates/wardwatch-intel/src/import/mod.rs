//! Imports: STIX 2.1 bundles, MISP events and plain IOC lists, each into [`Indicator`]s.
//!
//! An import either succeeds whole or fails with an [`ImportError`] naming what is wrong, so a
//! bad file is never half-imported; within a good file, an object or line that names nothing
//! Wardwatch can match (a pattern needing two observations at once, a MISP `text` attribute)
//! is listed in [`Imported::skipped`] with the reason, for the operator to read.

mod list;
mod misp;
mod stix;

pub use list::import_list;
pub use misp::import_misp;
pub use stix::import_bundle;

use crate::indicator::Indicator;

/// What a file gave.
#[derive(Debug, Default)]
pub struct Imported {
    pub indicators: Vec<Indicator>,
    /// Objects, attributes or lines that were read but name nothing to match, and why.
    pub skipped: Vec<Skipped>,
    /// How many objects (STIX), attributes (MISP) or lines (lists) the file held.
    pub objects: usize,
}

impl Imported {
    /// Each indicator's kind and value, in order (what an operator checks first).
    pub fn values(&self) -> Vec<(crate::Kind, &str)> {
        self.indicators
            .iter()
            .map(|i| (i.kind, i.value.as_str()))
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    /// The object id, attribute uuid or `line N`.
    pub what: String,
    pub reason: String,
}

/// Why a file could not be imported at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("not a valid STIX 2.1 bundle: {0}")]
    Stix(String),
    #[error("not a MISP event: {0}")]
    Misp(String),
    #[error("line {line}: {reason}")]
    List { line: usize, reason: String },
    #[error("unrecognized intelligence format: {0}")]
    Unknown(String),
}

/// Import `text` in whichever format it is: a STIX bundle, a MISP event (or a list of them),
/// or a plain / CSV list of indicators.
pub fn import_any(text: &str, source: &str) -> Result<Imported, ImportError> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| ImportError::Unknown(format!("JSON that does not parse: {e}")))?;
        match value.get("type").and_then(|t| t.as_str()) {
            Some("bundle") => return import_bundle(text, source),
            // One STIX object on its own (what some exports write): a bundle of one.
            Some(ty)
                if value
                    .get("id")
                    .and_then(|i| i.as_str())
                    .is_some_and(|id| id.starts_with(&format!("{ty}--"))) =>
            {
                let bundle = serde_json::json!({"type": "bundle",
                    "id": "bundle--00000000-0000-4000-8000-000000000000", "objects": [value]});
                return import_bundle(&bundle.to_string(), source);
            }
            _ => {}
        }
        if misp::is_feed_manifest(&value) {
            let events = value.as_object().map_or(0, |o| o.len());
            return Ok(Imported {
                skipped: vec![Skipped {
                    what: "manifest.json".into(),
                    reason: format!(
                        "a MISP feed manifest listing {events} event(s); the events are the \
                         <uuid>.json files beside it"
                    ),
                }],
                ..Imported::default()
            });
        }
        return misp::import_misp_value(&value, source);
    }
    import_list(text, source)
}
