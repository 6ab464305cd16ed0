//! Sightings back to the producer: "your indicator was seen here, this often, between then
//! and then" — and nothing else.
//!
//! Why: a partner who shares an indicator learns from sightings whether its campaign reached
//! other hospitals, which is what makes sharing worth their effort. A STIX 2.1 `sighting`
//! (§5.4 of STIX 2.1) says it without internal data: it refers to the producer's indicator
//! (`sighting_of_ref`), counts, gives the first and last time, and names us
//! (`where_sighted_refs`, `created_by_ref`) as the identity partners know — never a host,
//! an account, an address of ours, or the event itself (`observed_data_refs` is left out).
//!
//! Ids are name-based (what the sighting stands for: the feed, the indicator and the first
//! alert it counts), so a retry sends the same object, which a TAXII collection keeps once.

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::indicator::Tlp;
use crate::share::{TLP2_EXTENSION, id, stamp};

/// One sighting to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Sighting {
    /// Its id ([`sighting_id`] of what it stands for: feed, indicator, first alert).
    pub id: String,
    /// The producer's indicator id (`indicator--…`).
    pub indicator: String,
    pub count: u32,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub tlp: Tlp,
}

/// The STIX id of the sighting that stands for `key`.
pub fn sighting_id(key: &str) -> String {
    id("sighting", key)
}

/// The STIX id of our identity as `producer`.
pub fn identity_id(producer: &str) -> String {
    id("identity", producer)
}

/// Whether `id` can be the `sighting_of_ref` of a sighting: a STIX SDO id (an indicator's).
pub fn is_stix_indicator_id(id: &str) -> bool {
    id.strip_prefix("indicator--")
        .is_some_and(|u| u.len() == 36 && u.chars().all(|c| c.is_ascii_hexdigit() || c == '-'))
}

/// The objects to POST: our identity, the TLP marking definitions used, and the sightings.
pub fn objects(producer: &str, sightings: &[Sighting], now: Timestamp) -> Vec<Value> {
    let me = identity_id(producer);
    let now = stamp(now);
    let mut out = vec![json!({"type": "identity", "spec_version": "2.1", "id": me,
        "created": now, "modified": now, "name": producer,
        "identity_class": "organization", "sectors": ["healthcare"]})];
    let mut tlps: Vec<Tlp> = sightings.iter().map(|s| s.tlp).collect();
    tlps.sort();
    tlps.dedup();
    for t in tlps {
        out.push(json!({"type": "marking-definition", "spec_version": "2.1",
            "id": t.marking_id(), "created": "2022-10-01T00:00:00.000Z",
            "name": format!("TLP:{}", t.as_str().to_ascii_uppercase()),
            "extensions": {TLP2_EXTENSION: {"extension_type": "property-extension",
                "tlp_2_0": t.as_str()}}}));
    }
    for s in sightings {
        let last = s.last_seen.max(s.first_seen);
        out.push(json!({"type": "sighting", "spec_version": "2.1",
            "id": s.id, "created": now, "modified": now,
            "created_by_ref": me, "sighting_of_ref": s.indicator,
            "count": s.count.min(999_999_999),
            "first_seen": stamp(s.first_seen), "last_seen": stamp(last),
            "where_sighted_refs": [me], "object_marking_refs": [s.tlp.marking_id()]}));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sighting_names_the_indicator_and_us_and_nothing_else() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let s = Sighting {
            id: sighting_id("partner|indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f|17"),
            indicator: "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f".into(),
            count: 3,
            first_seen: t("2026-12-01T10:00:00Z"),
            last_seen: t("2026-12-02T10:00:00Z"),
            tlp: Tlp::Amber,
        };
        let objs = objects(
            "Ward Hospital",
            std::slice::from_ref(&s),
            t("2026-12-03T00:00:00Z"),
        );
        assert_eq!(objs.len(), 3);
        let sighting = &objs[2];
        assert_eq!(sighting["type"], "sighting");
        assert_eq!(sighting["sighting_of_ref"], s.indicator.as_str());
        assert_eq!(sighting["count"], 3);
        assert_eq!(sighting["where_sighted_refs"][0], objs[0]["id"]);
        assert_eq!(sighting["first_seen"], "2026-12-01T10:00:00.000Z");
        assert!(sighting.get("observed_data_refs").is_none());
        // The same sighting again is the same object (a retry is kept once).
        assert_eq!(
            sighting_id("partner|indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f|17"),
            sighting["id"].as_str().unwrap()
        );
        assert!(sighting["id"].as_str().unwrap().starts_with("sighting--"));
        assert!(is_stix_indicator_id(
            "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"
        ));
        assert!(!is_stix_indicator_id("partner:domain:bad.example"));
    }
}
