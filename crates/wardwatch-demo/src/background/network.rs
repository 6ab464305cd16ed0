//! The machines' side of the background: Linux and network-gear syslog, and the network
//! sensor's Suricata records (flows, DNS, TLS, HTTP).

use fastrand::Rng;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::*;

/// Syslog from the Linux servers and the network gear.
pub(super) fn linux_and_network(
    h: &Hospital,
    start: Timestamp,
    w: f64,
    s: f64,
    rng: &mut Rng,
    out: &mut Out,
) {
    // cron runs whatever the hour.
    for (host, job) in [
        ("LAB01", "/opt/lis/bin/export-results.sh"),
        ("MAIL01", "/usr/sbin/logrotate /etc/logrotate.conf"),
        ("LAB01", "/opt/lis/bin/hl7-poll.sh"),
    ] {
        let t = start + SignedDuration::from_secs(rng.i64(0..120));
        out.syslog(
            t,
            9,
            6,
            host,
            "CRON",
            20000 + rng.u32(..9000),
            &format!("(root) CMD ({job})"),
        );
    }
    let it: Vec<&User> = h
        .users
        .iter()
        .filter(|u| u.role == "it-admin" && !u.id.starts_with("admin-"))
        .collect();
    for _ in 0..count(rng, 1.2 * w * s) {
        let u = *pick(rng, &it);
        let from = &h.hosts[u.workstation];
        let host = if rng.bool() { "LAB01" } else { "MAIL01" };
        let t = at(start, rng);
        let pid = 30000 + rng.u32(..9000);
        out.syslog(t, 10, 6, host, "sshd", pid, &format!("Accepted publickey for {} from {} port {} ssh2: ED25519 SHA256:q3mF0kYx1v8Gq2Zr8Yw0u9J4sX1oV7bNcP5eT6hLdAk", u.id, from.ip, 49152 + rng.u32(..16000)));
        out.syslog(
            t + SignedDuration::from_millis(20),
            10,
            6,
            host,
            "sshd",
            pid,
            &format!(
                "pam_unix(sshd:session): session opened for user {}(uid={}) by (uid=0)",
                u.id,
                1000 + rng.u32(..40)
            ),
        );
        if rng.f64() < 0.4 {
            let cmd = pick(
                rng,
                &[
                    "/usr/bin/systemctl restart postfix",
                    "/usr/bin/journalctl -u lis-bridge",
                    "/usr/bin/apt list --upgradable",
                    "/usr/bin/systemctl status lis-bridge",
                ],
            );
            out.syslog(
                t + SignedDuration::from_secs(rng.i64(30..300)),
                10,
                5,
                host,
                "sudo",
                0,
                &format!(
                    "{} : TTY=pts/0 ; PWD=/home/{} ; USER=root ; COMMAND={cmd}",
                    u.id, u.id
                ),
            );
        }
    }
    for _ in 0..count(rng, 12.0 * w * s) {
        let t = at(start, rng);
        out.syslog(
            t,
            22,
            6,
            "MAIL01",
            "postfix/smtpd",
            4000 + rng.u32(..3000),
            &format!("connect from unknown[198.51.100.{}]", rng.u32(1..250)),
        );
    }
    for _ in 0..count(rng, 8.0 * w * s) {
        let t = at(start, rng);
        let ws = &h.hosts[rng.usize(12..h.hosts.len())];
        out.syslog(t, 20, 6, "FW01", "asa", 0, &format!("%ASA-6-302013: Built outbound TCP connection {} for outside:52.97.146.162/443 (52.97.146.162/443) to inside:{}/{} ({}/{})", rng.u32(100_000..999_999), ws.ip, 49152 + rng.u32(..16000), ws.ip, 49152 + rng.u32(..16000)));
    }
    if rng.f64() < 0.15 {
        let port = rng.u32(1..48);
        let t = at(start, rng);
        out.syslog(
            t,
            23,
            5,
            "CORE-SW01",
            "LINK",
            0,
            &format!("%LINK-3-UPDOWN: Interface GigabitEthernet1/0/{port}, changed state to down"),
        );
        out.syslog(
            t + SignedDuration::from_secs(rng.i64(3..60)),
            23,
            5,
            "CORE-SW01",
            "LINK",
            0,
            &format!("%LINK-3-UPDOWN: Interface GigabitEthernet1/0/{port}, changed state to up"),
        );
    }
    for _ in 0..count(rng, 2.0 * w * s) {
        let t = at(start, rng);
        out.syslog(t, 16, 6, "WLC01", "wlc", 0, &format!("Client {:02x}:{:02x}:{:02x}:1e:7a:{:02x} associated to SSID Hospital-Guest on AP ap-{}-{:02}", rng.u8(..), rng.u8(..), rng.u8(..), rng.u8(..), ["ed", "icu", "lobby", "cafe"][rng.usize(..4)], rng.u8(1..20)));
    }
}

/// The network sensor's view: flows, DNS, TLS and HTTP.
#[allow(clippy::too_many_arguments)]
pub(super) fn network_sensor(
    h: &Hospital,
    start: Timestamp,
    w: f64,
    s: f64,
    workstations: &[usize],
    devices: &[usize],
    rng: &mut Rng,
    out: &mut Out,
) {
    for _ in 0..count(rng, 210.0 * w * s) {
        let ws = &h.hosts[*pick(rng, workstations)];
        let t = at(start, rng);
        let name = pick(rng, DNS_NAMES);
        let sp = 49152 + rng.u32(..16000) as u16;
        out.eve(t, "dns", (&ws.ip, sp), ("10.10.0.10", 53), "UDP", Some("dns"),
            json!({"dns": {"version": 2, "type": "query", "id": rng.u16(..), "rrname": name, "rrtype": "A", "tx_id": 0}}));
    }
    for _ in 0..count(rng, 140.0 * w * s) {
        let ws = &h.hosts[*pick(rng, workstations)];
        let t = at(start, rng);
        let (sni, ip) = *pick(rng, TLS_SITES);
        let sp = 49152 + rng.u32(..16000) as u16;
        out.eve(t, "tls", (&ws.ip, sp), (ip, 443), "TCP", Some("tls"),
            json!({"tls": {"sni": sni, "version": "TLS 1.3", "ja3": {"hash": "773906b0efdefa24a7f2b8eb6985bf37"}}}));
    }
    for _ in 0..count(rng, 30.0 * w * s) {
        let ws = &h.hosts[*pick(rng, workstations)];
        let t = at(start, rng);
        let sp = 49152 + rng.u32(..16000) as u16;
        let (host, url) = *pick(
            rng,
            &[
                (
                    "ctldl.windowsupdate.com",
                    "/msdownload/update/v3/static/trustedr/en/disallowedcertstl.cab",
                ),
                ("ocsp.digicert.com", "/MFEwTzBNMEswSTAJBgUrDgMCGgUABBQ50otx"),
                ("intranet.hospital.local", "/news"),
            ],
        );
        let dest = if host.starts_with("intranet") {
            "10.10.0.80"
        } else {
            "93.184.220.29"
        };
        out.eve(t, "http", (&ws.ip, sp), (dest, 80), "TCP", Some("http"),
            json!({"http": {"hostname": host, "url": url, "http_user_agent": "Microsoft-CryptoAPI/10.0", "http_method": "GET", "protocol": "HTTP/1.1", "status": 200, "length": rng.u32(300..40000)}}));
    }
    for _ in 0..count(rng, 150.0 * (0.5 + w / 2.0) * s) {
        let t = at(start, rng);
        let (src, dest, dport, app) = if rng.f64() < 0.4 {
            // Medical devices report to the EPR interface engine over HL7 MLLP.
            (
                &h.hosts[*pick(rng, devices)].ip,
                "10.10.0.20",
                2575u16,
                None,
            )
        } else {
            let (d, p, a) = *pick(
                rng,
                &[
                    ("10.10.0.30", 104u16, None),
                    ("10.10.0.40", 445, Some("smb")),
                    ("10.10.0.20", 443, Some("tls")),
                    ("10.10.0.10", 389, Some("ldap")),
                ],
            );
            (&h.hosts[*pick(rng, workstations)].ip, d, p, a)
        };
        let secs = rng.i64(1..300);
        let pkts = rng.u32(4..400);
        out.eve(t + SignedDuration::from_secs(secs), "flow", (src, 49152 + rng.u32(..16000) as u16), (dest, dport), "TCP", app,
            json!({"flow": {"pkts_toserver": pkts, "pkts_toclient": pkts + rng.u32(..50), "bytes_toserver": pkts * 180, "bytes_toclient": pkts * 900,
                "start": t.strftime("%Y-%m-%dT%H:%M:%S%.6f+0000").to_string(), "end": (t + SignedDuration::from_secs(secs)).strftime("%Y-%m-%dT%H:%M:%S%.6f+0000").to_string(),
                "age": secs, "state": "closed", "reason": "timeout", "alerted": false}}));
    }
}
