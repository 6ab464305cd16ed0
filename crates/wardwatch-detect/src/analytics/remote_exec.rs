//! Remote execution seen from the Security log alone: on one host, a network logon from another
//! machine, then that machine reaching an administrative share (ADMIN$, C$, IPC$), then a
//! service or a scheduled task created, within minutes.
//!
//! Why: PsExec and its look-alikes, Impacket's smbexec/atexec, Cobalt Strike's jump commands and
//! ransomware deployment scripts all work this way: log on over SMB, copy or talk to the service
//! or task manager over an admin share or its pipes, then have the service or task manager run
//! the payload. Tool names and service names change; the three steps do not, and the Security
//! log records all three even where no Sysmon runs.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use wardwatch_core::{Event, Severity};

use super::{Hit, code, field, hit, meta};

/// The three steps must fall within this many seconds.
const WINDOW: i64 = 10 * 60;
/// Hosts remembered at once (the quiet ones are dropped past this).
const MAX_HOSTS: usize = 20_000;

pub(super) fn rule() -> std::sync::Arc<crate::RuleMeta> {
    meta(
        "analytic-remote-execution-security-log",
        "Remote Execution: Network Logon, Admin Share, Then A New Service Or Task",
        Severity::High,
        &[
            "attack.lateral_movement",
            "attack.t1021.002",
            "attack.execution",
            "attack.t1569.002",
            "attack.t1053.005",
        ],
        "Within minutes on one host, the Security log shows a network logon from another machine, that machine using an administrative share (ADMIN$, C$ or IPC$), and a service installed or a scheduled task created. This is how PsExec-like tools, Impacket and ransomware deployment scripts run code on another host.",
        "Find the source machine and the account of the network logon. Unless an administrator was doing planned work from an admin host, isolate both hosts, disable the account, remove the service or task, and look for the same pattern on other hosts from that source.",
    )
}

#[derive(Default, Clone, Serialize, Deserialize)]
struct Host {
    /// Source address → time of its last network logon.
    logons: HashMap<String, i64>,
    /// Source address → time of its last admin-share access.
    shares: HashMap<String, i64>,
    /// Last time this host raised the alert (once per window).
    alerted: i64,
}

#[derive(Default, Serialize, Deserialize)]
pub(super) struct RemoteExec {
    hosts: HashMap<String, Host>,
}

fn remote(ip: &str) -> bool {
    !matches!(ip, "" | "-" | "127.0.0.1" | "::1" | "localhost")
}

/// Network logons, admin-share accesses, services and tasks: read on the full event (before
/// [`super::reduce`]), so that only the few that matter are kept.
pub(super) fn wants(event: &Event) -> bool {
    let get = |f: &str| match event.raw.get(f).and_then(serde_json::Value::as_str) {
        // A reduced event has its fields at the top.
        Some(v) => Some(v.to_string()),
        None => crate::fields::lookup(event, f),
    };
    match code(event) {
        ("Security", "4624") => get("LogonType").as_deref() == Some("3"),
        ("Security", "5140" | "5145") => get("ShareName").is_some_and(|s| {
            let s = s.to_ascii_uppercase();
            s.ends_with("\\ADMIN$") || s.ends_with("\\C$") || s.ends_with("\\IPC$")
        }),
        ("Security", "4697" | "4698") | ("System", "7045") => true,
        _ => false,
    }
}

impl RemoteExec {
    pub(super) fn observe(&mut self, event: &Event, out: &mut Vec<Hit>) {
        if !wants(event) {
            return;
        }
        let Some(host) = event.ecs.host_name.as_deref().map(str::to_ascii_lowercase) else {
            return;
        };
        let t = event.timestamp.as_second();
        let ip = field(event, "IpAddress")
            .map(|i| i.trim_start_matches("::ffff:").to_string())
            .filter(|i| remote(i));
        if self.hosts.len() > MAX_HOSTS {
            self.hosts.retain(|_, h| {
                h.logons
                    .values()
                    .chain(h.shares.values())
                    .any(|s| t - s <= WINDOW)
            });
        }
        let h = self.hosts.entry(host).or_default();
        match code(event).1 {
            "4624" => {
                if field(event, "LogonType") == Some("3")
                    && let Some(ip) = ip
                {
                    h.logons.insert(ip, t);
                }
            }
            "5140" | "5145" => {
                let share = field(event, "ShareName").unwrap_or("").to_ascii_uppercase();
                if (share.ends_with("\\ADMIN$")
                    || share.ends_with("\\C$")
                    || share.ends_with("\\IPC$"))
                    && let Some(ip) = ip
                {
                    h.shares.insert(ip, t);
                }
            }
            _ => {
                // A service or task created: was it preceded by both steps from one source?
                let fresh = |m: &HashMap<String, i64>, ip: &str| {
                    m.get(ip).is_some_and(|s| t - s <= WINDOW && *s <= t)
                };
                let from = h
                    .logons
                    .keys()
                    .find(|ip| fresh(&h.logons, ip) && fresh(&h.shares, ip));
                if from.is_some() && t - h.alerted > WINDOW {
                    h.alerted = t;
                    out.push(hit(&rule(), event));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::analytics::testkit::ev;

    fn steps(a: &mut RemoteExec, ip: &str, last: serde_json::Value) -> usize {
        let mut out = Vec::new();
        a.observe(&ev(0, json!({"EventID": 4624, "Channel": "Security", "Hostname": "FILE01", "LogonType": "3", "IpAddress": ip, "TargetUserName": "admin-x"})), &mut out);
        a.observe(&ev(20, json!({"EventID": 5145, "Channel": "Security", "Hostname": "FILE01", "ShareName": "\\\\*\\IPC$", "RelativeTargetName": "svcctl", "IpAddress": ip})), &mut out);
        let mut last = last;
        last["Hostname"] = json!("FILE01");
        a.observe(&ev(40, last), &mut out);
        out.len()
    }

    #[test]
    fn logon_share_then_service_or_task_fires() {
        // Variant 1: a service installed (System 7045) after IPC$ (svcctl) from another host.
        assert_eq!(
            steps(
                &mut RemoteExec::default(),
                "10.1.2.3",
                json!({"EventID": 7045, "Channel": "System", "ServiceName": "abcd", "ImagePath": "C:\\Windows\\abcd.exe"})
            ),
            1
        );
        // Variant 2: a scheduled task (Security 4698), address in IPv6-mapped form.
        assert_eq!(
            steps(
                &mut RemoteExec::default(),
                "::ffff:10.9.9.9",
                json!({"EventID": 4698, "Channel": "Security", "TaskName": "\\x"})
            ),
            1
        );
    }

    #[test]
    fn a_service_without_the_remote_steps_or_from_loopback_is_quiet() {
        assert_eq!(
            steps(
                &mut RemoteExec::default(),
                "127.0.0.1",
                json!({"EventID": 7045, "Channel": "System", "ServiceName": "a"})
            ),
            0
        );
        let mut a = RemoteExec::default();
        let mut out = Vec::new();
        a.observe(&ev(0, json!({"EventID": 7045, "Channel": "System", "Hostname": "FILE01", "ServiceName": "a"})), &mut out);
        assert!(out.is_empty());
    }
}
