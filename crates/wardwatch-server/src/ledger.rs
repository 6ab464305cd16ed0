//! Feeding the identity ledger (`wardwatch_store::ledger`): the identity use an event
//! describes, read by `wardwatch_detect::identity_use` — the same reading the identity
//! analytics judge — as the store records it.
//!
//! The detection worker folds every batch's uses into a `LedgerBatch` and commits it with its
//! cursor (`pipeline/detect.rs`), so the ledger counts each stored event exactly once across
//! restarts; `wardwatch identity load` folds files the same way.

use wardwatch_core::Event;
use wardwatch_detect::analytics::identity::Directory;
use wardwatch_detect::identity_use;
use wardwatch_store::{LedgerBatch, LedgerUse, UsageKind};

/// The ledger's record of the identity use `event` describes, if it describes one. The
/// country is the one the identity provider reported (Entra, Okta), else where `places` (the
/// identity analytics' directory, with the `[identity] geoip` database) puts the source address.
pub fn ledger_use(event: &Event, places: Option<&Directory>) -> Option<LedgerUse> {
    let u = identity_use(event)?;
    let country = u.reported_place.and_then(|p| p.country).or_else(|| {
        let ip = u.source_ip.as_deref()?;
        places?.locate(ip)?.country
    });
    let mut places = Vec::with_capacity(6);
    let mut put = |kind, value: Option<String>| {
        if let Some(v) = value {
            places.push((kind, v));
        }
    };
    put(UsageKind::Host, u.host);
    put(UsageKind::Source, u.source_ip);
    put(UsageKind::Device, u.device);
    put(UsageKind::Application, u.application);
    put(
        UsageKind::LogonType,
        u.logon_type.map(|t| t.as_str().to_string()),
    );
    put(UsageKind::Country, country);
    Some(LedgerUse {
        org: event.organization.clone(),
        account: u.user,
        time: event.trusted_time(),
        outcome: Some(u.success),
        places,
    })
}

/// Fold `event`'s use of an account, if any, into `batch` (countries located with `places`).
pub fn fold(batch: &mut LedgerBatch, event: &Event, places: Option<&Directory>) {
    if let Some(u) = ledger_use(event, places) {
        batch.add(&u);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wardwatch_core::SourceKind;

    fn event(raw: serde_json::Value, f: impl FnOnce(&mut wardwatch_core::Ecs)) -> Event {
        let mut e = Event::new(
            SourceKind::FlatWindows,
            "2026-12-01T08:00:00Z".parse().unwrap(),
            raw,
        );
        e.organization = "north".into();
        f(&mut e.ecs);
        e
    }

    #[test]
    fn a_windows_logon_names_host_source_workstation_and_how() {
        let e = event(
            serde_json::json!({"EventID": 4624, "LogonType": "10", "WorkstationName": "WS-ICU-07",
                               "TargetUserName": "N.Jansen", "TargetDomainName": "HOSP",
                               "IpAddress": "10.20.7.44"}),
            |ecs| {
                ecs.channel = Some("Security".into());
                ecs.event_code = Some("4624".into());
                ecs.event_category = Some("authentication".into());
                ecs.event_action = Some("logged-in".into());
                ecs.event_outcome = Some("success".into());
                ecs.user_name = Some("HOSP\\N.Jansen".into());
                ecs.host_name = Some("EPR01".into());
                ecs.source_ip = Some("10.20.7.44".into());
            },
        );
        let u = ledger_use(&e, None).unwrap();
        assert_eq!((u.account.as_str(), u.org.as_str()), ("n.jansen", "north"));
        assert_eq!(u.outcome, Some(true));
        let kinds: Vec<UsageKind> = u.places.iter().map(|(k, _)| *k).collect();
        for k in [
            UsageKind::Host,
            UsageKind::Source,
            UsageKind::Device,
            UsageKind::LogonType,
        ] {
            assert!(kinds.contains(&k), "{k:?} in {:?}", u.places);
        }
        assert!(
            u.places
                .contains(&(UsageKind::LogonType, "remote-interactive".into()))
        );
        let mut b = LedgerBatch::default();
        fold(&mut b, &e, None);
        assert!(!b.is_empty());
    }

    #[test]
    fn what_is_not_an_identity_use_is_not_recorded() {
        let machine = event(serde_json::json!({}), |ecs| {
            ecs.event_category = Some("authentication".into());
            ecs.event_outcome = Some("success".into());
            ecs.user_name = Some("WS-ICU-07$".into());
        });
        let process = event(serde_json::json!({}), |ecs| {
            ecs.event_category = Some("process".into());
            ecs.user_name = Some("n.jansen".into());
        });
        let mut b = LedgerBatch::default();
        fold(&mut b, &machine, None);
        fold(&mut b, &process, None);
        assert!(b.is_empty());
    }
}
