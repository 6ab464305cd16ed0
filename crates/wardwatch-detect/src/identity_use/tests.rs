use serde_json::{Value, json};
use wardwatch_core::{Event, SourceKind};

use super::*;

fn at() -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_717_408_800).unwrap()
}

/// A Security record in the flat layout with the ECS fields `windows::normalize` gives it.
fn windows(code: u32, data: Value, action: &str, outcome: &str, user: &str) -> Event {
    let mut raw = data;
    let o = raw.as_object_mut().unwrap();
    o.insert("EventID".into(), json!(code));
    o.insert("Channel".into(), json!("Security"));
    o.insert("Computer".into(), json!("SRV-EPR01.hosp.local"));
    let mut e = Event::new(SourceKind::FlatWindows, at(), raw.clone());
    e.ecs.channel = Some("Security".into());
    e.ecs.event_code = Some(code.to_string());
    e.ecs.host_name = Some("SRV-EPR01.hosp.local".into());
    e.ecs.event_category = Some("authentication".into());
    e.ecs.event_action = Some(action.into());
    e.ecs.event_outcome = Some(outcome.into());
    e.ecs.user_name = Some(user.into());
    e.ecs.source_ip = raw
        .get("IpAddress")
        .and_then(Value::as_str)
        .map(|s| s.trim_start_matches("::ffff:").to_string());
    e
}

fn json_event(raw: Value, provider: &str, action: &str, outcome: &str, user: &str) -> Event {
    let mut e = Event::new(SourceKind::Json, at(), raw);
    e.ecs.event_category = Some("authentication".into());
    e.ecs.event_provider = Some(provider.into());
    e.ecs.event_action = Some(action.into());
    e.ecs.event_outcome = Some(outcome.into());
    e.ecs.user_name = Some(user.into());
    e
}

#[test]
fn windows_logon_names_host_client_workstation_and_type() {
    let e = windows(
        4624,
        json!({"TargetUserName": "JSmith", "TargetDomainName": "HOSP", "LogonType": "10",
               "IpAddress": "::ffff:10.20.1.15", "WorkstationName": "WS-ICU-07"}),
        "logged-in",
        "success",
        "JSmith",
    );
    let u = IdentityUse::of(&e).unwrap();
    assert_eq!(u.user, "jsmith");
    assert_eq!(u.host.as_deref(), Some("srv-epr01.hosp.local"));
    assert_eq!(u.source_ip.as_deref(), Some("10.20.1.15"));
    assert_eq!(u.device.as_deref(), Some("ws-icu-07"));
    assert_eq!(u.logon_type, Some(LogonType::RemoteInteractive));
    assert!(u.logon_type.unwrap().is_interactive());
    assert!(u.success);

    let failed = windows(
        4625,
        json!({"TargetUserName": "jsmith", "LogonType": 3, "IpAddress": "-"}),
        "logon-failed",
        "failure",
        "jsmith",
    );
    let f = IdentityUse::of(&failed).unwrap();
    assert!(!f.success);
    assert_eq!(f.logon_type, Some(LogonType::Network));
    assert_eq!(f.source_ip, None, "'-' is no address");
    assert!(!LogonType::Network.is_interactive());
}

#[test]
fn explicit_credentials_are_used_from_this_computer_on_the_target_server() {
    let e = windows(
        4648,
        json!({"SubjectUserName": "jsmith", "TargetUserName": "adm-jsmith",
               "TargetServerName": "DC01.hosp.local", "ProcessName": "C:\\Windows\\System32\\runas.exe",
               "IpAddress": "-"}),
        "explicit-credentials",
        "success",
        "adm-jsmith",
    );
    let u = IdentityUse::of(&e).unwrap();
    assert_eq!(u.user, "adm-jsmith");
    assert_eq!(u.host.as_deref(), Some("dc01.hosp.local"));
    assert_eq!(u.device.as_deref(), Some("srv-epr01.hosp.local"));
    assert_eq!(u.application.as_deref(), Some("runas.exe"));
    assert_eq!(u.logon_type, Some(LogonType::ExplicitCredentials));
}

#[test]
fn kerberos_and_ntlm_name_the_client_not_the_domain_controller() {
    let tgs = windows(
        4769,
        json!({"TargetUserName": "alice@HOSP.LOCAL", "ServiceName": "MSSQLSvc-EPR",
               "IpAddress": "::ffff:10.1.4.20", "Status": "0x0"}),
        "kerberos-service-ticket-requested",
        "success",
        "alice@HOSP.LOCAL",
    );
    let u = IdentityUse::of(&tgs).unwrap();
    assert_eq!(
        (u.user.as_str(), u.domain.as_deref()),
        ("alice", Some("HOSP.LOCAL"))
    );
    assert_eq!(u.host, None);
    assert_eq!(u.application.as_deref(), Some("mssqlsvc-epr"));
    assert_eq!(u.source_ip.as_deref(), Some("10.1.4.20"));
    assert_eq!(u.logon_type, Some(LogonType::Kerberos));

    let tgt = windows(
        4768,
        json!({"TargetUserName": "alice", "ServiceName": "krbtgt", "IpAddress": "10.1.4.20", "Status": "0x6"}),
        "kerberos-tgt-requested",
        "failure",
        "alice",
    );
    assert!(!IdentityUse::of(&tgt).unwrap().success);
    let preauth = windows(
        4771,
        json!({"TargetUserName": "alice", "IpAddress": "10.1.4.20"}),
        "kerberos-preauth-failed",
        "failure",
        "alice",
    );
    assert_eq!(
        IdentityUse::of(&preauth).unwrap().logon_type,
        Some(LogonType::Kerberos)
    );

    let ntlm = windows(
        4776,
        json!({"TargetUserName": "bob", "Workstation": "WS-LAB-02", "Status": "0x0"}),
        "credentials-validated",
        "success",
        "bob",
    );
    let n = IdentityUse::of(&ntlm).unwrap();
    assert_eq!(
        (n.device.as_deref(), n.host.as_deref()),
        (Some("ws-lab-02"), None)
    );
    assert_eq!(n.logon_type, Some(LogonType::Ntlm));
}

#[test]
fn machine_and_system_identities_and_side_actions_are_not_uses() {
    for user in [
        "WS01$",
        "SYSTEM",
        "NT AUTHORITY\\ANONYMOUS LOGON",
        "DWM-3",
        "-",
        "",
    ] {
        let e = windows(
            4624,
            json!({"LogonType": "5"}),
            "logged-in",
            "success",
            user,
        );
        assert_eq!(IdentityUse::of(&e), None, "{user}");
    }
    // 4672 (privileges), MFA prompts, interrupted sign-ins and PAM's echo are not attempts.
    let mut e = windows(
        4672,
        json!({"SubjectUserName": "adm"}),
        "special-privileges-assigned",
        "success",
        "adm",
    );
    e.ecs.event_category = Some("iam".into());
    assert_eq!(IdentityUse::of(&e), None);
    for action in [
        "mfa-push-denied",
        "sign-in-interrupted",
        "pam-authentication-failure",
        "invalid-user",
    ] {
        let e = json_event(json!({}), "okta", action, "failure", "alice@hosp.example");
        assert_eq!(IdentityUse::of(&e), None, "{action}");
    }
    let unknown = json_event(json!({}), "okta", "sign-in", "unknown", "alice");
    assert_eq!(IdentityUse::of(&unknown), None);
}

#[test]
fn linux_programs_give_their_logon_types() {
    for (prog, kind) in [
        ("sshd", LogonType::Ssh),
        ("sudo", LogonType::Elevation),
        ("su", LogonType::Elevation),
        ("login", LogonType::Interactive),
    ] {
        let mut e = Event::new(SourceKind::Syslog, at(), json!("line"));
        e.ecs.host_name = Some("DB01".into());
        e.ecs.process_name = Some(prog.into());
        e.ecs.event_category = Some("authentication".into());
        e.ecs.event_action = Some("logged-in".into());
        e.ecs.event_outcome = Some("success".into());
        e.ecs.user_name = Some("Root".into());
        e.ecs.source_ip = Some("127.0.0.1".into());
        let u = IdentityUse::of(&e).unwrap();
        assert_eq!(u.user, "root");
        assert_eq!(u.host.as_deref(), Some("db01"));
        assert_eq!(u.application.as_deref(), Some(prog));
        assert_eq!(u.logon_type, Some(kind));
        assert_eq!(u.source_ip, None, "loopback is no client");
    }
}

#[test]
fn entra_sign_in_names_application_device_and_reported_place() {
    let raw = json!({"category": "SignInLogs", "properties": {
        "userPrincipalName": "N.Jansen@hosp.example", "appDisplayName": "Office 365 Exchange Online",
        "ipAddress": "198.51.100.7",
        "deviceDetail": {"deviceId": "", "displayName": "LAPTOP-NJ", "operatingSystem": "Windows"},
        "location": {"countryOrRegion": "NL", "geoCoordinates": {"latitude": 52.09, "longitude": 5.12}}}});
    let mut e = json_event(
        raw,
        "entra-id",
        "sign-in",
        "success",
        "N.Jansen@hosp.example",
    );
    e.ecs.host_name = Some("Office 365 Exchange Online".into());
    e.ecs.source_ip = Some("198.51.100.7".into());
    let u = IdentityUse::of(&e).unwrap();
    assert_eq!(
        (u.user.as_str(), u.domain.as_deref()),
        ("n.jansen", Some("hosp.example"))
    );
    assert_eq!(u.host, None);
    assert_eq!(u.application.as_deref(), Some("Office 365 Exchange Online"));
    assert_eq!(u.device.as_deref(), Some("laptop-nj"));
    assert_eq!(u.logon_type, Some(LogonType::SignIn));
    let p = u.reported_place.unwrap();
    assert_eq!(p.country.as_deref(), Some("NL"));
    assert_eq!((p.lat, p.lon), (Some(52.09), Some(5.12)));
}

#[test]
fn okta_sign_in_and_unknown_coordinates() {
    let raw = json!({"eventType": "user.session.start", "device": {"name": "MacBook-KV"},
        "client": {"ipAddress": "203.0.113.5", "geographicalContext": {"country": "Belgium",
            "geolocation": {"lat": 0, "lon": 0}}}});
    let mut e = json_event(raw, "okta", "sign-in", "success", "k.vos@hosp.example");
    e.ecs.host_name = Some("Citrix Workspace".into());
    let u = IdentityUse::of(&e).unwrap();
    assert_eq!(u.application.as_deref(), Some("Citrix Workspace"));
    assert_eq!(u.device.as_deref(), Some("macbook-kv"));
    let p = u.reported_place.unwrap();
    assert_eq!(p.country.as_deref(), Some("Belgium"));
    assert_eq!((p.lat, p.lon), (None, None), "0,0 means unknown");
}

#[test]
fn network_access_and_console_sign_ins_by_provider() {
    for (provider, kind) in [
        ("openvpn", LogonType::Vpn),
        ("globalprotect", LogonType::Vpn),
        ("freeradius", LogonType::Radius),
        ("hostapd", LogonType::Wireless),
        ("wardwatch-console", LogonType::SignIn),
    ] {
        let mut e = json_event(json!({}), provider, "logged-in", "success", "jdoe");
        e.ecs.source_mac = Some("AA:BB:CC:00:11:22".into());
        let u = IdentityUse::of(&e).unwrap();
        assert_eq!(u.logon_type, Some(kind), "{provider}");
        assert_eq!(u.device.as_deref(), Some("aa:bb:cc:00:11:22"));
        assert!(u.application.is_some());
    }
}

#[test]
fn a_reduced_copy_reads_as_its_event() {
    let raw = json!({"category": "SignInLogs", "properties": {
        "deviceDetail": {"displayName": "LAPTOP-NJ"},
        "location": {"countryOrRegion": "NL", "geoCoordinates": {"latitude": 52.0, "longitude": 5.0}}}});
    let mut e = json_event(raw, "entra-id", "sign-in", "success", "nj@hosp.example");
    e.ecs.host_name = Some("Teams".into());
    let copy = crate::analytics::reduce(&e);
    assert!(copy.raw.get("properties").is_none());
    assert_eq!(IdentityUse::of(&copy), IdentityUse::of(&e));
    assert!(IdentityUse::of(&copy).is_some());
}
