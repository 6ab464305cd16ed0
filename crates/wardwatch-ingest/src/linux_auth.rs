//! Linux authentication messages (sshd, PAM, sudo, su, login) as normalized authentication
//! events.
//!
//! # What it does
//! [`normalize`] reads the message of a syslog record whose program is an authenticating one
//! and fills the ECS authentication fields: `event.category` `authentication` (or `session`),
//! `event.action`, `event.outcome`, `user.name` (the account tried or used), `source.ip` and
//! `source.port` (the remote address, when the message names one). Messages it does not
//! recognize are left as they are. It is the same step for every way a syslog record arrives —
//! a syslog listener, a file, or a shipper's JSON (syslog-ng's `elasticsearch-http()`, Filebeat's
//! system module, Fluent Bit's syslog parser) — so rules and analytics see one event.
//!
//! Actions, chosen so that one attempt is counted once:
//! - `logon-failed` (failure): sshd `Failed <method> for [invalid user] U from IP port P`, su's
//!   `FAILED SU (to U) by`, sudo's `N incorrect password attempts`, login's `FAILED LOGIN`;
//! - `logged-in` (success): sshd `Accepted <method> for U from IP port P`, su's `(to U) X on`,
//!   a sudo command run;
//! - `invalid-user`, `pam-authentication-failure`, `too-many-attempts` (failure): what sshd
//!   and PAM add around the same attempt (counting them too would count one attempt twice);
//! - `session-opened` / `session-closed` (`session`): PAM sessions.
//!
//! # Why it matters
//! The data-centre servers' sshd is the door attackers knock on: without these fields a hundred
//! failed passwords are a hundred lines of text that no analytic can count per source.
//!
//! # Example
//! `sshd[811]: Failed password for invalid user admin from 203.0.113.9 port 50022 ssh2` gives
//! action `logon-failed`, outcome `failure`, user `admin`, source `203.0.113.9:50022`.
//!
//! # References
//! OpenSSH `auth.c` (`auth_log`: "%s %s%s for %s%.100s from %.200s port %d %s");
//! Linux-PAM `pam_unix` (`pam_unix_auth.c`, `support.c`: "authentication failure; logname=");
//! sudo `logging.c`; util-linux `su-common.c`; ATT&CK T1110 (Brute Force).

use std::net::IpAddr;

use wardwatch_core::Ecs;

/// Fill the authentication fields of `ecs` from `message` written by `program`, when the
/// message is one this module knows. Returns whether it was.
pub(crate) fn normalize(program: &str, message: &str, ecs: &mut Ecs) -> bool {
    let message = message.trim();
    let found = match program {
        "sshd" => sshd(message),
        "sudo" => sudo(message),
        "su" => su(message),
        "login" => login(message),
        _ => None,
    }
    .or_else(|| pam(message));
    let Some(auth) = found else {
        return false;
    };
    ecs.event_category = Some(auth.category.into());
    ecs.event_action = Some(auth.action.into());
    ecs.event_outcome = auth.outcome.map(str::to_string);
    if let Some(u) = auth.user.filter(|u| !u.is_empty()) {
        ecs.user_name = Some(u.to_string());
    }
    if let Some(ip) = auth.source.and_then(remote_ip) {
        ecs.source_ip = Some(ip);
        ecs.source_port = auth.port.and_then(|p| p.parse().ok());
    }
    true
}

/// What one message says.
#[derive(Debug, Default, PartialEq)]
struct Auth<'a> {
    category: &'static str,
    action: &'static str,
    outcome: Option<&'static str>,
    user: Option<&'a str>,
    source: Option<&'a str>,
    port: Option<&'a str>,
}

fn auth<'a>(action: &'static str, outcome: &'static str, user: Option<&'a str>) -> Auth<'a> {
    Auth {
        category: "authentication",
        action,
        outcome: Some(outcome),
        user,
        ..Auth::default()
    }
}

/// A remote address as ECS wants it: an IP (IPv4-mapped IPv6 made IPv4); host names and
/// empty `rhost=` are not addresses.
fn remote_ip(s: &str) -> Option<String> {
    let s = s.trim().trim_start_matches("::ffff:");
    let ip: IpAddr = s.parse().ok()?;
    Some(ip.to_string())
}

/// `... for [invalid user ]USER from IP port PORT[ ...]` — the tail of sshd's auth_log lines.
fn for_user_from(rest: &str) -> Option<(&str, &str, Option<&str>)> {
    let rest = rest.strip_prefix("for ")?;
    let rest = rest.strip_prefix("invalid user ").unwrap_or(rest);
    // The user name may contain spaces (an attacker's choice); the address follows the last
    // " from ".
    let at = rest.rfind(" from ")?;
    let user = &rest[..at];
    let (ip, port) = addr_port(&rest[at + 6..])?;
    Some((user, ip, port))
}

/// `IP port PORT ...` or `IP` (a connection closed before the port was logged).
fn addr_port(s: &str) -> Option<(&str, Option<&str>)> {
    let mut words = s.split_whitespace();
    let ip = words.next()?;
    let port = match words.next() {
        Some("port") => words.next(),
        _ => None,
    };
    Some((ip, port))
}

fn sshd(m: &str) -> Option<Auth<'_>> {
    let m = m.strip_prefix("error: ").unwrap_or(m);
    if let Some(rest) = m.strip_prefix("Failed ") {
        // `Failed password for ...`, `Failed publickey for ...`, `Failed none for ...`.
        let (_, tail) = rest.split_once(' ')?;
        let (user, ip, port) = for_user_from(tail)?;
        return Some(Auth {
            source: Some(ip),
            port,
            ..auth("logon-failed", "failure", Some(user))
        });
    }
    if let Some(rest) = m.strip_prefix("Accepted ") {
        let (_, tail) = rest.split_once(' ')?;
        let (user, ip, port) = for_user_from(tail)?;
        return Some(Auth {
            source: Some(ip),
            port,
            ..auth("logged-in", "success", Some(user))
        });
    }
    if let Some(rest) = m.strip_prefix("Invalid user ") {
        let at = rest.rfind(" from ")?;
        let (ip, port) = addr_port(&rest[at + 6..])?;
        return Some(Auth {
            source: Some(ip),
            port,
            ..auth("invalid-user", "failure", Some(&rest[..at]))
        });
    }
    if let Some(rest) = m.strip_prefix("maximum authentication attempts exceeded ") {
        let (user, ip, port) = for_user_from(rest)?;
        return Some(Auth {
            source: Some(ip),
            port,
            ..auth("too-many-attempts", "failure", Some(user))
        });
    }
    None
}

/// `key=value` out of PAM's `; `- and space-separated lists (an empty value is allowed).
fn pam_field<'a>(m: &'a str, key: &str) -> Option<&'a str> {
    let mut start = 0;
    while let Some(i) = m[start..].find(key) {
        let at = start + i;
        let before_ok = at == 0 || m.as_bytes()[at - 1] == b' ' || m.as_bytes()[at - 1] == b';';
        let after = &m[at + key.len()..];
        if before_ok && let Some(v) = after.strip_prefix('=') {
            let end = v.find([' ', ';']).unwrap_or(v.len());
            return Some(&v[..end]);
        }
        start = at + key.len();
    }
    None
}

/// `pam_unix(SERVICE:auth): authentication failure; logname= uid=0 ... rhost=IP  user=U` and
/// `pam_unix(SERVICE:session): session opened for user U(uid=N) by ...`.
fn pam(m: &str) -> Option<Auth<'_>> {
    let (_, rest) = m.split_once("):")?;
    let rest = rest.trim_start();
    if rest.starts_with("authentication failure") {
        let user = pam_field(rest, "user").or_else(|| pam_field(rest, "ruser"));
        return Some(Auth {
            source: pam_field(rest, "rhost"),
            ..auth("pam-authentication-failure", "failure", user)
        });
    }
    for (prefix, action) in [
        ("session opened for user ", "session-opened"),
        ("session closed for user ", "session-closed"),
    ] {
        if let Some(u) = rest.strip_prefix(prefix) {
            let user = u.split(['(', ' ']).next().filter(|u| !u.is_empty());
            return Some(Auth {
                category: "session",
                action,
                outcome: Some("success"),
                user,
                ..Auth::default()
            });
        }
    }
    None
}

/// `bob : TTY=pts/0 ; PWD=/home/bob ; USER=root ; COMMAND=/bin/bash` (ran), `bob : 3 incorrect
/// password attempts ; TTY=...` and `bob : user NOT in sudoers ; ...` (refused). The user is
/// the one who ran sudo: the identity being used.
fn sudo(m: &str) -> Option<Auth<'_>> {
    let (user, rest) = m.split_once(" : ")?;
    let user = user.trim();
    if user.contains(' ') {
        return None;
    }
    if rest.contains("incorrect password attempt") || rest.contains("NOT in sudoers") {
        return Some(auth("logon-failed", "failure", Some(user)));
    }
    if rest.contains("COMMAND=") {
        return Some(auth("logged-in", "success", Some(user)));
    }
    None
}

/// util-linux su: `FAILED SU (to root) bob on pts/0` and `(to root) bob on pts/0`. The user is
/// the one who asked to become another (the account whose password was tried is the target).
fn su(m: &str) -> Option<Auth<'_>> {
    let (failed, rest) = match m.strip_prefix("FAILED SU ") {
        Some(rest) => (true, rest),
        None => (false, m),
    };
    let rest = rest.strip_prefix("(to ")?;
    let (_, rest) = rest.split_once(") ")?;
    let who = rest.split_whitespace().next()?;
    Some(if failed {
        auth("logon-failed", "failure", Some(who))
    } else {
        auth("logged-in", "success", Some(who))
    })
}

/// `FAILED LOGIN 1 FROM tty1 FOR root, Authentication failure`.
fn login(m: &str) -> Option<Auth<'_>> {
    let rest = m.strip_prefix("FAILED LOGIN")?;
    let (_, rest) = rest.split_once(" FOR ")?;
    let user = rest.split([',', ' ']).next()?;
    Some(auth("logon-failed", "failure", Some(user)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (action, outcome, user, source ip, port) a message gives.
    fn check(program: &str, m: &str) -> Option<(String, String, String, String, String)> {
        let mut ecs = Ecs::default();
        if !normalize(program, m, &mut ecs) {
            return None;
        }
        let s = |v: Option<String>| v.unwrap_or_default();
        Some((
            s(ecs.event_action),
            s(ecs.event_outcome),
            s(ecs.user_name),
            s(ecs.source_ip),
            s(ecs.source_port.map(|p| p.to_string())),
        ))
    }

    fn t(
        a: &str,
        o: &str,
        u: &str,
        ip: &str,
        p: &str,
    ) -> Option<(String, String, String, String, String)> {
        Some((a.into(), o.into(), u.into(), ip.into(), p.into()))
    }

    #[test]
    fn sshd_attempts() {
        let cases = [
            (
                "Failed password for root from 203.0.113.9 port 50022 ssh2",
                t("logon-failed", "failure", "root", "203.0.113.9", "50022"),
            ),
            (
                "Failed password for invalid user admin from 2001:db8::7 port 4 ssh2",
                t("logon-failed", "failure", "admin", "2001:db8::7", "4"),
            ),
            (
                "Failed publickey for alice from ::ffff:10.0.0.5 port 51234 ssh2: RSA SHA256:abc",
                t("logon-failed", "failure", "alice", "10.0.0.5", "51234"),
            ),
            (
                "Failed keyboard-interactive/pam for invalid user a b from 10.1.1.1 port 2 ssh2",
                t("logon-failed", "failure", "a b", "10.1.1.1", "2"),
            ),
            (
                "Accepted publickey for alice from 10.0.0.5 port 51234 ssh2: ED25519 SHA256:x",
                t("logged-in", "success", "alice", "10.0.0.5", "51234"),
            ),
            (
                "Invalid user oracle from 198.51.100.4 port 33210",
                t("invalid-user", "failure", "oracle", "198.51.100.4", "33210"),
            ),
            (
                "error: maximum authentication attempts exceeded for root from 198.51.100.4 port 1 ssh2 [preauth]",
                t("too-many-attempts", "failure", "root", "198.51.100.4", "1"),
            ),
            ("Connection closed by 10.0.0.9 port 22 [preauth]", None),
            ("Server listening on 0.0.0.0 port 22.", None),
            // A host name is no address.
            (
                "Failed password for root from attacker.example port 1 ssh2",
                t("logon-failed", "failure", "root", "", ""),
            ),
        ];
        for (m, want) in cases {
            assert_eq!(check("sshd", m), want, "{m}");
        }
    }

    #[test]
    fn pam_sudo_su_login() {
        assert_eq!(
            check(
                "sshd",
                "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9  user=root"
            ),
            t(
                "pam-authentication-failure",
                "failure",
                "root",
                "203.0.113.9",
                ""
            )
        );
        assert_eq!(
            check(
                "su",
                "pam_unix(su:auth): authentication failure; logname=bob uid=1000 euid=0 tty=pts/0 ruser=bob rhost=  user=root"
            ),
            t("pam-authentication-failure", "failure", "root", "", "")
        );
        assert_eq!(
            check(
                "sshd",
                "pam_unix(sshd:session): session opened for user alice(uid=1000) by (uid=0)"
            ),
            t("session-opened", "success", "alice", "", "")
        );
        assert_eq!(
            check(
                "sudo",
                "    bob : TTY=pts/0 ; PWD=/home/bob ; USER=root ; COMMAND=/usr/bin/id"
            ),
            t("logged-in", "success", "bob", "", "")
        );
        assert_eq!(
            check(
                "sudo",
                "bob : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/sh"
            ),
            t("logon-failed", "failure", "bob", "", "")
        );
        assert_eq!(
            check(
                "sudo",
                "eve : user NOT in sudoers ; TTY=pts/1 ; PWD=/ ; USER=root ; COMMAND=/bin/sh"
            ),
            t("logon-failed", "failure", "eve", "", "")
        );
        assert_eq!(
            check("su", "FAILED SU (to root) bob on pts/0"),
            t("logon-failed", "failure", "bob", "", "")
        );
        assert_eq!(
            check("su", "(to root) bob on pts/0"),
            t("logged-in", "success", "bob", "", "")
        );
        assert_eq!(
            check(
                "login",
                "FAILED LOGIN 1 FROM tty1 FOR root, Authentication failure"
            ),
            t("logon-failed", "failure", "root", "", "")
        );
        assert_eq!(
            check("cron", "(root) CMD (run-parts /etc/cron.hourly)"),
            None
        );
        assert_eq!(check("sudo", "a b : COMMAND=x"), None);
    }

    #[test]
    fn pam_fields_need_a_word_boundary() {
        assert_eq!(
            pam_field("ruser=bob rhost=  user=root", "user"),
            Some("root")
        );
        assert_eq!(pam_field("ruser=bob rhost=", "rhost"), Some(""));
        assert_eq!(pam_field("ruser=bob", "user"), None);
    }
}
