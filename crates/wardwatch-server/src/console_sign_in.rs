//! The console's own sign-ins as identity events.
//!
//! Why: the console is one more place where an account is used, and an attractive one (it
//! shows every incident and can silence alerts). Recording each attempt as an ordinary
//! authentication event puts it where every other sign-in already goes: the journal (searchable),
//! the identity ledger (where and how the account was used) and the identity analytics (guessing
//! from one address, a first use from a new device or country). Nothing here is special to the
//! console downstream: `IdentityUse` knows the provider `wardwatch-console` as a sign-in to the
//! application `wardwatch console`.

use std::net::IpAddr;

use serde_json::json;
use wardwatch_console::{SignIn, SignInOutcome};
use wardwatch_core::{Event, SourceKind};

/// The `event.provider` of the console's sign-ins.
pub const PROVIDER: &str = "wardwatch-console";

/// The authentication event one sign-in attempt records. `host` is the machine the console runs
/// on (the place the identity was used), when known.
pub fn sign_in_event(attempt: &SignIn, host: Option<&str>) -> Event {
    let (action, outcome, reason) = match attempt.outcome {
        SignInOutcome::Succeeded => ("logged-in", "success", None),
        SignInOutcome::Failed => ("logon-failed", "failure", Some("wrong account or password")),
        SignInOutcome::Refused => (
            "logon-failed",
            "failure",
            Some("refused: too many failed sign-ins"),
        ),
    };
    // Only a real address goes to `source.ip`; the listener says `unknown` when it cannot tell.
    let ip = attempt
        .address
        .parse::<IpAddr>()
        .ok()
        .map(|ip| ip.to_string());
    let mut raw = json!({
        "event": {
            "kind": "event",
            "category": ["authentication"],
            "type": ["start"],
            "action": action,
            "outcome": outcome,
            "provider": PROVIDER,
        },
        "user": {"name": attempt.account},
        "source": {"address": attempt.address},
    });
    if let Some(reason) = reason {
        raw["event"]["reason"] = json!(reason);
    }
    if let Some(ip) = &ip {
        raw["source"]["ip"] = json!(ip);
    }
    if let Some(host) = host {
        raw["host"] = json!({"name": host});
    }
    let mut e = Event::new(SourceKind::Json, attempt.at, raw);
    e.origin.source = PROVIDER.to_string();
    e.ecs.event_kind = Some("event".into());
    e.ecs.event_category = Some("authentication".into());
    e.ecs.event_action = Some(action.into());
    e.ecs.event_outcome = Some(outcome.into());
    e.ecs.event_provider = Some(PROVIDER.into());
    e.ecs.user_name = Some(attempt.account.clone());
    e.ecs.source_ip = ip;
    e.ecs.host_name = host.map(str::to_string);
    e
}

/// Hand the event of one attempt to `sink` (the single binary's journal, a cluster's events
/// stream), off the request's path: the sign-in answers at once, the sink takes the event when it
/// has room (a busy sink is waited for a while, like a polite sender); what cannot be recorded
/// is logged. Needs a tokio runtime (does nothing without one).
pub(crate) fn record<S>(sink: &S, attempt: &SignIn, host: Option<&str>)
where
    S: wardwatch_listen::Sink + Clone,
{
    let event = sign_in_event(attempt, host);
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let (sink, account) = (sink.clone(), attempt.account.clone());
    rt.spawn(async move {
        use wardwatch_listen::SinkError;
        let batch = vec![event];
        for _ in 0..10 {
            match sink.submit(batch.clone()).await {
                Ok(()) => return,
                Err(SinkError::Busy { retry_after }) => {
                    tokio::time::sleep(retry_after.min(std::time::Duration::from_secs(5))).await;
                }
                Err(e) => {
                    tracing::warn!(
                        "the console sign-in of `{account}` was not recorded as an event: {e}"
                    );
                    return;
                }
            }
        }
        tracing::warn!(
            "the console sign-in of `{account}` was not recorded as an event: the sink stayed busy"
        );
    });
}

/// This machine's host name, for the events' `host.name` (Linux; `None` elsewhere).
pub fn this_host() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wardwatch_detect::{IdentityUse, LogonType};

    fn attempt(outcome: SignInOutcome, address: &str) -> SignIn {
        SignIn {
            account: "N.Jansen".into(),
            address: address.into(),
            outcome,
            at: jiff::Timestamp::from_second(1_796_112_000).unwrap(),
        }
    }

    #[test]
    fn each_outcome_is_an_authentication_the_identity_reader_understands() {
        for (outcome, success) in [
            (SignInOutcome::Succeeded, true),
            (SignInOutcome::Failed, false),
            (SignInOutcome::Refused, false),
        ] {
            let e = sign_in_event(&attempt(outcome, "198.51.100.7"), Some("wardwatch01"));
            let u = IdentityUse::of(&e).expect("an identity use");
            assert_eq!(u.user, "n.jansen");
            assert_eq!(u.success, success, "{outcome:?}");
            assert_eq!(u.application.as_deref(), Some("wardwatch console"));
            assert_eq!(u.logon_type, Some(LogonType::SignIn));
            assert_eq!(u.source_ip.as_deref(), Some("198.51.100.7"));
            assert_eq!(u.host.as_deref(), Some("wardwatch01"));
        }
    }

    #[test]
    fn an_unknown_peer_is_no_address() {
        let e = sign_in_event(&attempt(SignInOutcome::Failed, "unknown"), None);
        assert_eq!(e.ecs.source_ip, None);
        assert_eq!(e.raw["source"]["address"], "unknown");
        assert_eq!(e.raw["event"]["reason"], "wrong account or password");
        assert!(e.raw.get("host").is_none());
    }
}
