//! Network-access authentication over syslog — remote-access VPNs (OpenVPN, strongSwan,
//! Cisco ASA / AnyConnect, FortiGate SSL VPN, Palo Alto GlobalProtect), RADIUS (FreeRADIUS)
//! and Wi-Fi 802.1X (hostapd) — as normalized authentication events.
//!
//! # What it does
//! [`normalize`] reads a syslog message these products write and fills the same ECS fields
//! `linux_auth` fills for sshd: `event.category` `authentication`, `event.action`,
//! `event.outcome`, `user.name`, `source.ip` (the client's public address for a VPN),
//! `source.mac` (a Wi-Fi or wired client's hardware address, RADIUS `Calling-Station-Id`),
//! `source.address` (the client machine's name when the product reports it), and
//! `event.provider` naming the product (`openvpn`, `strongswan`, `cisco-asa`, `fortigate`,
//! `globalprotect`, `freeradius`, `hostapd`), which is how the identity analytics and the
//! identity ledger know the logon type (VPN, RADIUS, wireless).
//!
//! Actions, chosen so one connection is counted once:
//! - `logged-in` (success): the connection itself — OpenVPN `Peer Connection Initiated`,
//!   strongSwan `IKE_SA ... established`, ASA 113039 / 716001 (AnyConnect / WebVPN session
//!   started) and 611101, FortiGate `tunnel-up` and a successful user authentication,
//!   GlobalProtect `portal-auth` / `gateway-auth` with status success, FreeRADIUS `Login OK`,
//!   hostapd `IEEE 802.1X: authenticated`;
//! - `logon-failed` (failure): OpenVPN `Auth Username/Password verification failed`,
//!   strongSwan `EAP method ... failed`, ASA 113005 and 611102, FortiGate `ssl-login-fail`
//!   and a failed user authentication, GlobalProtect authentication with status failure,
//!   FreeRADIUS `Login incorrect` and `Invalid user`, hostapd `authentication failed`;
//! - `credentials-accepted` (success, not a connection): the password check a product logs
//!   beside the connection (OpenVPN `Username/Password authentication succeeded`, ASA 113004).
//!
//! A password FreeRADIUS logs with `auth_goodpass`/`auth_badpass` (`[user/password]`) is cut
//! from the user name; the message keeps what the sender wrote.
//!
//! # Why it matters
//! The VPN is how attackers come in with a stolen password, and the place where spraying and
//! impossible travel show first; the Wi-Fi and RADIUS logs say which device an identity joined
//! the network with — the patient tablets and the staff phones alike.
//!
//! # References
//! OpenVPN 2.x `ssl_verify.c` log strings; strongSwan charon `ike_auth`/`eap_authenticator`
//! messages; Cisco "ASA Series Syslog Messages" (113004, 113005, 113039, 611101, 611102,
//! 716001); Fortinet "FortiOS Log Message Reference" (logid 0101039424 / 0101039426,
//! 0102043008 / 0102043009); Palo Alto "GlobalProtect Log Fields" (PAN-OS 9.1+ syslog
//! order); FreeRADIUS `rlm_detail`/`auth.c` ("Login OK", "Login incorrect"); hostapd
//! `ieee802_1x.c`.

use std::net::IpAddr;

use wardwatch_core::Ecs;

/// What one message says.
#[derive(Debug, Default, PartialEq)]
struct Auth {
    provider: &'static str,
    action: &'static str,
    success: bool,
    user: Option<String>,
    ip: Option<String>,
    mac: Option<String>,
    device: Option<String>,
}

fn auth(provider: &'static str, action: &'static str, success: bool) -> Auth {
    Auth {
        provider,
        action,
        success,
        ..Auth::default()
    }
}

/// Fill the authentication fields of `ecs` from `message` written by `program`, when it is a
/// message of one of the products above. Returns whether it was.
pub(crate) fn normalize(program: &str, message: &str, ecs: &mut Ecs) -> bool {
    let message = message.trim();
    let program = program.trim().to_ascii_lowercase();
    let found = if let Some(asa) = cisco_asa(&program, message) {
        Some(asa)
    } else if message.contains(",GLOBALPROTECT,") {
        globalprotect(message)
    } else if message.contains("logid=") && message.contains("subtype=") {
        fortigate(message)
    } else {
        match program.as_str() {
            "openvpn" | "ovpn-server" => openvpn(message),
            "charon" | "charon-systemd" | "ipsec" | "strongswan" => strongswan(message),
            "radiusd" | "freeradius" => freeradius(message),
            "hostapd" => hostapd(message),
            _ => None,
        }
    };
    let Some(a) = found else {
        return false;
    };
    ecs.event_category = Some("authentication".into());
    ecs.event_action = Some(a.action.into());
    ecs.event_outcome = Some(if a.success { "success" } else { "failure" }.into());
    ecs.event_provider = Some(a.provider.into());
    if let Some(u) = a.user.filter(|u| !u.is_empty()) {
        ecs.user_name = Some(u);
    }
    if let Some(ip) = a.ip {
        ecs.source_ip = Some(ip);
    }
    if let Some(mac) = a.mac {
        ecs.source_mac = Some(mac);
    }
    if let Some(d) = a.device {
        ecs.source_address = Some(d);
    }
    true
}

/// An address as ECS wants it (IPv4-mapped IPv6 made IPv4), or none.
fn ip(s: &str) -> Option<String> {
    let s = s.trim().trim_start_matches("::ffff:");
    s.parse::<IpAddr>().ok().map(|ip| ip.to_string())
}

/// `aa-bb-cc-dd-ee-ff`, `AABB.CCDD.EEFF`, `aa:bb:cc:dd:ee:ff` → `aa:bb:cc:dd:ee:ff`.
fn mac(s: &str) -> Option<String> {
    let hex: String = s
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .collect::<String>()
        .to_ascii_lowercase();
    let separators_only = s
        .chars()
        .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '-' | '.'));
    if hex.len() != 12 || !separators_only {
        return None;
    }
    let pairs: Vec<&str> = (0..6).map(|i| &hex[i * 2..i * 2 + 2]).collect();
    Some(pairs.join(":"))
}

/// The text between `start` and the next `end` after it.
fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = s.find(start)? + start.len();
    let rest = &s[from..];
    let to = rest.find(end)?;
    Some(&rest[..to])
}

/// OpenVPN: `IP:PORT [CN] Peer Connection Initiated with [AF_INET]IP:PORT`,
/// `IP:PORT TLS Auth Error: Auth Username/Password verification failed for peer`,
/// `IP:PORT TLS: Username/Password authentication succeeded for username 'U'`. With
/// `--username-as-common-name` the session is named `U/IP:PORT`.
fn openvpn(m: &str) -> Option<Auth> {
    let (peer, rest) = m.split_once(' ')?;
    // `U/IP:PORT` or `IP:PORT`.
    let (named, addr) = match peer.rsplit_once('/') {
        Some((u, a)) => (Some(u), a),
        None => (None, peer),
    };
    let host = addr
        .rsplit_once(':')
        .map_or(addr, |(h, _)| h)
        .trim_matches(['[', ']']);
    let client = ip(host);
    if let Some(cn) = between(rest, "[", "] Peer Connection Initiated") {
        let mut a = auth("openvpn", "logged-in", true);
        a.user = Some(named.unwrap_or(cn).to_string());
        a.ip = client;
        return Some(a);
    }
    if rest.contains("Peer Connection Initiated") {
        let mut a = auth("openvpn", "logged-in", true);
        a.user = named.map(str::to_string);
        a.ip = client;
        return Some(a);
    }
    if rest.contains("Auth Username/Password verification failed") {
        let mut a = auth("openvpn", "logon-failed", false);
        a.user = named.map(str::to_string);
        a.ip = client;
        return Some(a);
    }
    if let Some(u) = between(rest, "authentication succeeded for username '", "'") {
        let mut a = auth("openvpn", "credentials-accepted", true);
        a.user = Some(u.to_string());
        a.ip = client;
        return Some(a);
    }
    None
}

/// strongSwan charon: `09[IKE] IKE_SA name[3] established between LOCAL[lid]...REMOTE[rid]`,
/// `EAP method EAP_MSCHAPV2 failed for peer REMOTE`.
fn strongswan(m: &str) -> Option<Auth> {
    if let Some(i) = m.find(" established between ")
        && m[..i].contains("IKE_SA")
    {
        let ends = &m[i + " established between ".len()..];
        let (_, remote) = ends.split_once("...")?;
        let (addr, id) = remote.split_once('[')?;
        let id = id.split(']').next().unwrap_or("");
        let mut a = auth("strongswan", "logged-in", true);
        a.ip = ip(addr);
        // A remote identified only by its address or a certificate DN is no account.
        if ip(id).is_none() && !id.contains('=') {
            a.user = Some(id.to_string());
        }
        return Some(a);
    }
    if m.contains("EAP method") && m.contains(" failed for peer ") {
        let peer = m.rsplit(" failed for peer ").next()?;
        let mut a = auth("strongswan", "logon-failed", false);
        a.ip = ip(peer.split_whitespace().next().unwrap_or(""));
        return Some(a);
    }
    None
}

/// `Group <G> User <U> IP <IP>`.
fn asa_session(m: &str) -> (Option<String>, Option<String>) {
    (
        between(m, "User <", ">").map(str::to_string),
        between(m, "IP <", ">").and_then(ip),
    )
}

/// `key = value` among ` : `-separated parts (ASA 113004/113005).
fn asa_kv<'a>(m: &'a str, key: &str) -> Option<&'a str> {
    m.split(" : ").find_map(|part| {
        let (k, v) = part.split_once('=')?;
        (k.trim() == key).then(|| v.trim())
    })
}

/// Cisco ASA: the `%ASA-L-NNNNNN:` message id, in the message or as the syslog tag.
fn cisco_asa(program: &str, m: &str) -> Option<Auth> {
    let (id, text) = if let Some(at) = m.find("%ASA-") {
        let (head, text) = m[at + 5..].split_once(':')?;
        (head.rsplit('-').next()?, text.trim())
    } else {
        let tag = program.strip_prefix("%asa-")?;
        (tag.trim_end_matches(':').rsplit('-').next()?, m)
    };
    let mut a = match id {
        "113039" | "716001" => {
            let mut a = auth("cisco-asa", "logged-in", true);
            (a.user, a.ip) = asa_session(text);
            a
        }
        "113004" => {
            let mut a = auth("cisco-asa", "credentials-accepted", true);
            a.user = asa_kv(text, "user").map(str::to_string);
            a
        }
        "113005" => {
            let mut a = auth("cisco-asa", "logon-failed", false);
            a.user = asa_kv(text, "user").map(str::to_string);
            a.ip = asa_kv(text, "user IP").and_then(ip);
            a
        }
        "611101" | "611102" => {
            // `User authentication succeeded: IP address: X, Uname: U` (management access).
            let ok = id == "611101";
            let mut a = auth(
                "cisco-asa",
                if ok { "logged-in" } else { "logon-failed" },
                ok,
            );
            a.ip = between(text, "IP address: ", ",").and_then(ip);
            a.user = text
                .rsplit("Uname: ")
                .next()
                .filter(|_| text.contains("Uname: "))
                .map(|u| u.trim().to_string());
            a
        }
        _ => return None,
    };
    if a.user.as_deref() == Some("") {
        a.user = None;
    }
    Some(a)
}

/// FortiGate `key=value` pairs (values optionally in double quotes).
fn forti_kv(m: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = m.trim();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq].trim();
        let after = &rest[eq + 1..];
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (&q[..end], &q[end + 1..]),
                None => (q, ""),
            }
        } else {
            match after.find(' ') {
                Some(sp) => (&after[..sp], &after[sp..]),
                None => (after, ""),
            }
        };
        // The key is the last word before `=` (a syslog header may precede the first pair).
        let key = key.rsplit(' ').next().unwrap_or(key);
        out.push((key, value));
        rest = next.trim_start();
    }
    out
}

/// FortiGate: SSL VPN `tunnel-up` / `ssl-login-fail` (type event, subtype vpn), firewall user
/// authentication (subtype user, action authentication, status success / failure).
fn fortigate(m: &str) -> Option<Auth> {
    let kv = forti_kv(m);
    let get = |k: &str| kv.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
    let action = get("action")?;
    let (act, ok) = match (get("subtype")?, action) {
        ("vpn", "tunnel-up") => ("logged-in", true),
        ("vpn", "ssl-login-fail") => ("logon-failed", false),
        ("user", "authentication") => match get("status") {
            Some("success") => ("logged-in", true),
            Some("failure") => ("logon-failed", false),
            _ => return None,
        },
        _ => return None,
    };
    let mut a = auth("fortigate", act, ok);
    a.user = get("user")
        .filter(|u| !u.is_empty() && *u != "N/A")
        .map(str::to_string);
    a.ip = get("remip").or_else(|| get("srcip")).and_then(ip);
    Some(a)
}

/// Comma-separated fields, double quotes around a field allowed (PAN-OS syslog).
fn csv_fields(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Palo Alto GlobalProtect log (PAN-OS 9.1+): `FUTURE_USE, Receive Time, Serial, Type
/// (GLOBALPROTECT), Subtype, FUTURE_USE, Generated Time, Virtual System, Event ID, Stage,
/// Authentication Method, Tunnel Type, Source User, Source Region, Machine Name, Public IP,
/// Public IPv6, Private IP, ..., Status`. Fields are counted from `Type`, so a syslog header
/// that swallowed the first fields does not matter.
fn globalprotect(m: &str) -> Option<Auth> {
    let at = m.find(",GLOBALPROTECT,")?;
    let f = csv_fields(&m[at + ",GLOBALPROTECT,".len()..]);
    // After Type: 0 subtype, 1 -, 2 generated, 3 vsys, 4 event id, 5 stage, 6 method,
    // 7 tunnel, 8 user, 9 region, 10 machine, 11 public IP, 12 public IPv6, 13 private IP,
    // ... 24 status.
    let field = |i: usize| f.get(i).map(|s| s.trim()).filter(|s| !s.is_empty());
    if !matches!(field(4)?, "portal-auth" | "gateway-auth") {
        return None;
    }
    let ok = match field(24)? {
        "success" => true,
        "failure" => false,
        _ => return None,
    };
    let mut a = auth(
        "globalprotect",
        if ok { "logged-in" } else { "logon-failed" },
        ok,
    );
    a.user = field(8).map(str::to_string);
    a.device = field(10).map(str::to_string);
    a.ip = field(11).and_then(ip).or_else(|| field(12).and_then(ip));
    Some(a)
}

/// The user of a FreeRADIUS `[user]` or `[user/password]` (the password is never kept) and
/// `(from client NAS port N cli CALLING-STATION)`.
fn radius_parts(m: &str) -> (Option<String>, Option<String>, Option<String>) {
    let user = between(m, "[", "]").map(|u| {
        // `[jdoe/<via Auth-Type = EAP>]`, `[jdoe/secret]`: the account is before the slash.
        u.split('/').next().unwrap_or(u).to_string()
    });
    let cli = m
        .rsplit(" cli ")
        .next()
        .filter(|_| m.contains(" cli "))
        .map(|c| c.trim_end_matches(')').trim());
    let (ip_, mac_) = match cli {
        Some(c) => (ip(c), mac(c)),
        None => (None, None),
    };
    (user, ip_, mac_)
}

/// FreeRADIUS: `Auth: (12) Login OK: [jdoe] (from client ap-icu-01 port 0 cli
/// aa-bb-cc-dd-ee-ff)`, `Login incorrect (reason): [jdoe] (...)`, `Invalid user: [x] (...)`.
fn freeradius(m: &str) -> Option<Auth> {
    let (action, ok) = if m.contains("Login OK") {
        ("logged-in", true)
    } else if m.contains("Login incorrect") || m.contains("Invalid user") {
        ("logon-failed", false)
    } else {
        return None;
    };
    let mut a = auth("freeradius", action, ok);
    (a.user, a.ip, a.mac) = radius_parts(m);
    Some(a)
}

/// hostapd: `wlan0: STA aa:bb:cc:dd:ee:ff IEEE 802.1X: authenticated - EAP type: 25 (PEAP)`,
/// `... IEEE 802.1X: authentication failed - EAP type: 0 (unknown)`. The account is in the
/// RADIUS server's log; hostapd names the device.
fn hostapd(m: &str) -> Option<Auth> {
    let sta = between(m, "STA ", " ")?;
    let (action, ok) = if m.contains("IEEE 802.1X: authenticated") {
        ("logged-in", true)
    } else if m.contains("IEEE 802.1X: authentication failed") {
        ("logon-failed", false)
    } else {
        return None;
    };
    let mut a = auth("hostapd", action, ok);
    a.mac = mac(sta);
    Some(a)
}

#[cfg(test)]
mod tests;
