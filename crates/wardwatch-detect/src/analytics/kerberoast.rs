//! Kerberoasting in bulk: one account asking for RC4-encrypted service tickets for several
//! different service accounts within minutes.
//!
//! Why: a service ticket is encrypted with the service account's password hash; RC4 ones can be
//! cracked offline, so attackers (Rubeus, Impacket GetUserSPNs, PowerView, hand-written
//! PowerShell) request one for every account with an SPN. A single RC4 ticket happens with old
//! software; many distinct services for one requester in minutes does not.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use wardwatch_core::{Event, Severity};

use super::{Hit, code, field, hit, meta};

/// Distinct services within [`WINDOW`] that make a bulk request.
const MIN_SERVICES: usize = 3;
const WINDOW: i64 = 10 * 60;
const MAX_ACCOUNTS: usize = 20_000;

pub(super) fn rule() -> std::sync::Arc<crate::RuleMeta> {
    meta(
        "analytic-kerberoasting-bulk",
        "Kerberoasting: One Account Requested RC4 Tickets For Several Services",
        Severity::High,
        &["attack.credential_access", "attack.t1558.003"],
        "Within minutes, one account requested RC4-encrypted Kerberos service tickets (4769, encryption 0x17/0x18) for several different service accounts. Tickets encrypted with RC4 can be cracked offline to recover the service accounts' passwords.",
        "Find the host the requests came from and the account that made them; unless it is a known scanner, isolate the host, reset the password of the requesting account and of every service account whose ticket was requested (long random passwords or managed service accounts), and allow only AES for them.",
    )
}

pub(super) fn wants(event: &Event) -> bool {
    code(event) == ("Security", "4769")
}

#[derive(Default, Serialize, Deserialize)]
pub(super) struct Kerberoast {
    /// Requesting account → (time, service) of its recent RC4 requests; last alert time.
    accounts: HashMap<String, (Vec<(i64, String)>, i64)>,
}

impl Kerberoast {
    pub(super) fn observe(&mut self, event: &Event, out: &mut Vec<Hit>) {
        if !wants(event) {
            return;
        }
        let enc = field(event, "TicketEncryptionType")
            .unwrap_or("")
            .to_ascii_lowercase();
        if !matches!(enc.as_str(), "0x17" | "0x18")
            || field(event, "Status").is_some_and(|s| s != "0x0")
        {
            return;
        }
        let Some(service) = field(event, "ServiceName") else {
            return;
        };
        let service = service.to_ascii_lowercase();
        if service.ends_with('$') || service == "krbtgt" {
            return;
        }
        let Some(who) = field(event, "TargetUserName") else {
            return;
        };
        let t = event.timestamp.as_second();
        if self.accounts.len() > MAX_ACCOUNTS {
            self.accounts
                .retain(|_, (r, _)| r.iter().any(|(s, _)| t - s <= WINDOW));
        }
        let (recent, alerted) = self.accounts.entry(who.to_ascii_lowercase()).or_default();
        recent.retain(|(s, _)| t - s <= WINDOW);
        recent.push((t, service));
        let distinct: BTreeSet<&str> = recent.iter().map(|(_, s)| s.as_str()).collect();
        if distinct.len() >= MIN_SERVICES && t - *alerted > WINDOW {
            *alerted = t;
            out.push(hit(&rule(), event));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::analytics::testkit::ev;

    fn tgs(t: i64, who: &str, svc: &str, enc: &str) -> Event {
        ev(
            t,
            json!({"EventID": 4769, "Channel": "Security", "Hostname": "DC01", "TargetUserName": who, "ServiceName": svc, "TicketEncryptionType": enc, "Status": "0x0"}),
        )
    }

    #[test]
    fn several_rc4_services_for_one_requester_fire_once() {
        let mut a = Kerberoast::default();
        let mut out = Vec::new();
        // Variant 1: Rubeus-style burst of three services in seconds.
        for (i, s) in ["svc_sql", "svc_web", "svc_backup"].iter().enumerate() {
            a.observe(&tgs(i as i64, "jdoe@HOSP.LOCAL", s, "0x17"), &mut out);
        }
        assert_eq!(out.len(), 1);
        // Variant 2: a slow roast (RC4 0x18 form) over eight minutes by another account.
        for (i, s) in ["a", "b", "c", "d"].iter().enumerate() {
            a.observe(&tgs(1000 + 150 * i as i64, "nurse7", s, "0x18"), &mut out);
        }
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn aes_tickets_and_machine_services_are_quiet() {
        let mut a = Kerberoast::default();
        let mut out = Vec::new();
        for (i, s) in ["x", "y", "z"].iter().enumerate() {
            a.observe(&tgs(i as i64, "jdoe", s, "0x12"), &mut out);
        }
        for (i, s) in ["FILE01$", "EPR01$", "DC02$", "krbtgt"].iter().enumerate() {
            a.observe(&tgs(10 + i as i64, "jdoe", s, "0x17"), &mut out);
        }
        assert!(out.is_empty());
    }
}
