//! `wardwatch_detect::IdentityUse` over events as the real decoders make them: a Winlogbeat
//! 4624, an sshd line over syslog, and the Entra and Okta samples in `../shared/data/identity`
//! (that part is skipped with a reason when the folder is absent).

use std::path::PathBuf;

use wardwatch_core::Origin;
use wardwatch_detect::{IdentityUse, LogonType};
use wardwatch_ingest::{jsonl, syslog};

fn origin() -> Origin {
    Origin {
        source: "t".into(),
        ..Origin::default()
    }
}

#[test]
fn winlogbeat_logon_and_sshd_line_decode_to_uses() {
    let line = br#"{"@timestamp":"2026-03-02T08:15:00Z","winlog":{"channel":"Security","event_id":4624,"computer_name":"SRV-EPR01.hosp.local","provider_name":"Microsoft-Windows-Security-Auditing","event_data":{"TargetUserName":"jsmith","TargetDomainName":"HOSP","LogonType":"10","IpAddress":"10.20.1.15","WorkstationName":"WS-ICU-07"}}}"#;
    let e = jsonl::decode_line(line, origin()).unwrap();
    let u = IdentityUse::of(&e).expect("a 4624 is a use");
    assert_eq!(u.user, "jsmith");
    assert_eq!(u.host.as_deref(), Some("srv-epr01.hosp.local"));
    assert_eq!(u.source_ip.as_deref(), Some("10.20.1.15"));
    assert_eq!(u.device.as_deref(), Some("ws-icu-07"));
    assert_eq!(u.logon_type, Some(LogonType::RemoteInteractive));

    let ssh = syslog::decode_line(
        "<38>Mar  2 08:15:00 db01 sshd[811]: Accepted publickey for backup from 10.9.0.4 port 50022 ssh2",
        origin(),
    );
    let s = IdentityUse::of(&ssh).expect("an accepted ssh login is a use");
    assert_eq!(
        (s.user.as_str(), s.host.as_deref(), s.source_ip.as_deref()),
        ("backup", Some("db01"), Some("10.9.0.4"))
    );
    assert_eq!(s.logon_type, Some(LogonType::Ssh));
}

fn identity_data() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/identity/elastic-fixtures");
    if p.is_dir() {
        Some(p)
    } else {
        // CI always has the data: there a missing folder is a failure, never a silent pass.
        assert!(
            std::env::var_os("CI").is_none(),
            "{} is absent and CI is set (CI must have ../shared/data)",
            p.display()
        );
        eprintln!("skipped: {} is absent", p.display());
        None
    }
}

#[test]
fn entra_and_okta_samples_give_applications_and_places() {
    let Some(dir) = identity_data() else {
        return;
    };
    let mut uses = Vec::new();
    for file in [
        "azure-signinlogs/test-signinlogs-raw.log",
        "okta-system/test-okta-system-yes-flattened-events.first3.log",
    ] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            // The Entra samples are all "keep me signed in" interrupts, which are no use (the
            // sign-in goes on); the same records ending in success (code 0) are.
            let e = jsonl::decode_line(line.as_bytes(), origin()).unwrap();
            assert_eq!(
                IdentityUse::of(&e).filter(|_| file.starts_with("azure")),
                None
            );
            let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
            if file.starts_with("azure") {
                v["resultType"] = "0".into();
                v["properties"]["status"] = serde_json::json!({"errorCode": 0});
            }
            let e = jsonl::decode_line(v.to_string().as_bytes(), origin()).unwrap();
            if let Some(u) = IdentityUse::of(&e) {
                uses.push((e.ecs.event_provider.clone(), u));
            }
        }
    }
    let entra: Vec<_> = uses
        .iter()
        .filter(|(p, _)| p.as_deref() == Some("entra-id"))
        .collect();
    let okta: Vec<_> = uses
        .iter()
        .filter(|(p, _)| p.as_deref() == Some("okta"))
        .collect();
    assert!(!entra.is_empty() && !okta.is_empty(), "{uses:?}");
    for (_, u) in &entra {
        assert_eq!(u.logon_type, Some(LogonType::SignIn));
        assert!(u.application.is_some() && u.host.is_none(), "{u:?}");
        let place = u.reported_place.as_ref().expect("Entra reports a location");
        assert!(place.country.is_some() && place.lat.is_some(), "{u:?}");
    }
    for (_, u) in &okta {
        assert!(u.source_ip.is_some(), "{u:?}");
    }
}

/// VPN, RADIUS and Wi-Fi sign-ins decoded from `wardwatch-ingest`'s fixtures are uses of the
/// matching logon type; the Wi-Fi client is the device.
#[test]
fn network_access_fixtures_are_uses_of_their_logon_type() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../wardwatch-ingest/tests/fixtures/network_auth");
    let mut kinds = Vec::new();
    for file in ["vpn.log", "radius_wifi.log"] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let e = syslog::decode_line(line, origin());
            if let Some(u) = IdentityUse::of(&e).filter(|u| u.success) {
                kinds.push((u.user.clone(), u.logon_type, u.device.clone()));
            }
        }
    }
    assert!(
        kinds.contains(&("jdoe".into(), Some(LogonType::Vpn), None)),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&(
            "l.visser".into(),
            Some(LogonType::Vpn),
            Some("lt-lvisser".into())
        )),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&(
            "h.devries".into(),
            Some(LogonType::Radius),
            Some("3c:22:fb:12:34:56".into())
        )),
        "{kinds:?}"
    );
    // "credentials-accepted" is said beside the connection: one use per connection.
    assert_eq!(
        kinds.iter().filter(|k| k.0 == "jdoe").count(),
        1,
        "{kinds:?}"
    );
}
