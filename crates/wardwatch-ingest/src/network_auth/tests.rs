use super::*;

fn run(program: &str, message: &str) -> Option<Ecs> {
    let mut ecs = Ecs::default();
    normalize(program, message, &mut ecs).then_some(ecs)
}

#[test]
fn addresses_and_hardware_addresses() {
    assert_eq!(
        mac("3C-22-FB-12-34-56").as_deref(),
        Some("3c:22:fb:12:34:56")
    );
    assert_eq!(mac("3c22.fb12.3456").as_deref(), Some("3c:22:fb:12:34:56"));
    assert_eq!(mac("10.40.2.17"), None);
    assert_eq!(mac("not-a-mac-address"), None);
    assert_eq!(ip("::ffff:203.0.113.7").as_deref(), Some("203.0.113.7"));
    assert_eq!(ip("vpn.hospital.example"), None);
}

#[test]
fn a_radius_password_never_becomes_the_user() {
    let e = run(
        "radiusd",
        "(9) Login incorrect: [j.bos/Winter2026!] (from client ap-er-02 port 0 cli 70-1C-E7-AA-BB-CC)",
    )
    .unwrap();
    assert_eq!(e.user_name.as_deref(), Some("j.bos"));
    assert_eq!(e.source_mac.as_deref(), Some("70:1c:e7:aa:bb:cc"));
}

#[test]
fn the_asa_message_id_as_the_syslog_tag() {
    let e = run(
        "%ASA-6-716001",
        "Group <GP> User <a.bakker> IP <198.51.100.91> WebVPN session started.",
    )
    .unwrap();
    assert_eq!(e.event_action.as_deref(), Some("logged-in"));
    assert_eq!(e.user_name.as_deref(), Some("a.bakker"));
}

#[test]
fn unrelated_and_truncated_messages_are_left_alone() {
    for (p, m) in [
        (
            "openvpn",
            "203.0.113.7:51234 SIGTERM received, sending exit notification to peer",
        ),
        ("openvpn", ""),
        ("charon", "09[IKE] IKE_SA ikev2[3] established between"),
        (
            "charon",
            "11[NET] sending packet: from 192.0.2.10[500] to 203.0.113.50[500]",
        ),
        ("radiusd", "Ready to process requests"),
        ("radiusd", "Login OK: ["),
        (
            "hostapd",
            "wlan0: STA 3c:22:fb:12:34:56 IEEE 802.11: associated",
        ),
        ("hostapd", "wlan0: STA"),
        ("x", "%ASA-6-113039"),
        (
            "x",
            "%ASA-6-302013: Built inbound TCP connection 1 for outside:203.0.113.7/443",
        ),
        (
            "x",
            "logid=\"0100032001\" type=\"event\" subtype=\"system\" action=\"login\"",
        ),
        ("x", "logid= subtype="),
        ("x", "1,2026/12/07,0001,GLOBALPROTECT,0,1"),
        (
            "sshd",
            "Accepted password for root from 10.0.0.1 port 22 ssh2",
        ),
    ] {
        let mut ecs = Ecs::default();
        let found = normalize(p, m, &mut ecs);
        assert!(
            !found || ecs.event_action.as_deref() == Some("logged-in"),
            "{p}: {m}: {ecs:?}"
        );
        assert!(!found || !m.is_empty());
        if m.contains("302013") || m.contains("SIGTERM") || m.contains("sending packet") {
            assert!(!found, "{m}");
        }
    }
}
