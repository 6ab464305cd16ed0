//! Notifications over time, through the real queue into a real SMTP server on loopback
//! (aiosmtpd): an incident that gets worse sends exactly one more mail each time (severity
//! rises, a new host, a privileged account joins) while other updates wait for the digest;
//! quiet hours hold back what can wait, let critical through, and release the rest in the
//! morning; the per-recipient rate limit bites and the hour ends with one "N more incidents:
//! see the console" mail; the weekly report goes out on Monday morning, once, also for a week
//! without incidents.
//!
//! Those take half an hour, a night, an hour and a week of wall-clock time. The server runs in this
//! process through `wardwatch_server::start_with_clock` — what `wardwatch serve` runs, with the
//! notification worker on a [`ManualClock`] the test moves; bulk ingest over HTTP, detection,
//! the incident stage, the outbox and the SMTP client are the production path. Nothing in the
//! configuration or the environment of `serve` can select such a clock.
//!
//! aiosmtpd comes from `target/py-smtp` (made by `.ci/run`); without it the tests say so and
//! skip, except under CI.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::smtp::{Received, Smtp, aiosmtpd};
use common::{free_port, http_get, http_post};
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use wardwatch_detect::{RulePack, RuleText};
use wardwatch_server::notify::{Clock, ManualClock};
use wardwatch_server::{Config, Running, Tokens, start_with_clock};

/// One Sigma rule per level, each matching its own marker in a command line.
fn rules() -> RulePack {
    RulePack::load(
        [("low", 1), ("medium", 2), ("high", 3), ("critical", 4)].map(|(level, n)| RuleText {
            origin: format!("test:{level}"),
            text: format!(
                "title: Marker {level}\nid: 6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0{n}\n\
                 logsource: {{product: windows, category: process_creation}}\n\
                 detection:\n  sel:\n    CommandLine|contains: 'mark-{level} '\n  condition: sel\nlevel: {level}\n"
            ),
        }),
    )
}

/// A Sysmon process creation on `host` by `HOSP\user` that the `level` rule matches; `n`
/// makes it unique and orders event times (minutes ago, a minute apart).
fn event(level: &str, host: &str, user: &str, n: i64) -> String {
    let at = Timestamp::now() - SignedDuration::from_mins(60 - n);
    serde_json::json!({
        "EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", "Computer": host,
        "TimeCreated": at.to_string(), "Image": "C:\\Windows\\System32\\cmd.exe",
        "ParentImage": "C:\\Windows\\explorer.exe",
        "CommandLine": format!("cmd /c mark-{level} {n}"), "User": format!("HOSP\\{user}")
    })
    .to_string()
}

const ROSTER: &str = "user,display_name,department,role,privileged,email\n\
alice,Alice Jansen,Cardiology,nurse,false,alice.jansen@hospital.example\n\
admin-jo,Jo de Vries,IT,system administrator,true,jo.devries@hospital.example\n";

/// A server with its notification worker on a clock the test moves, and a mail server.
struct Live {
    rt: tokio::runtime::Runtime,
    running: Option<Running>,
    http: SocketAddr,
    clock: ManualClock,
    smtp: Smtp,
    _dir: tempfile::TempDir,
}

impl Live {
    /// Start with `keys` under `[notify]` and `tables` (routes, quiet hours) after it, the
    /// clock standing at `at`. `None`: aiosmtpd is missing (outside CI).
    fn start(test: &str, keys: &str, tables: &str, at: &str) -> Option<Live> {
        let bin = aiosmtpd(test)?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let smtp = Smtp::start(&bin, port, &dir.path().join("maildir"));
        let roster = dir.path().join("roster.csv");
        std::fs::write(&roster, ROSTER).unwrap();
        let toml = format!(
            r#"
[data]
dir = "{data}"
[http]
listen = "127.0.0.1:0"
[syslog]
listen = ""
[incidents]
roster = "{roster}"
[notify]
console_url = "https://wardwatch.hospital.example"
retry_secs = 1
{keys}
[notify.smtp]
server = "127.0.0.1:{port}"
from = "wardwatch@hospital.example"
tls = "none"
{tables}
"#,
            data = dir.path().join("data").display(),
            roster = roster.display(),
        );
        let config = Config::from_toml(&toml).unwrap_or_else(|e| panic!("{e}\n{toml}"));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let clock = ManualClock::new(at.parse().unwrap());
        let running = rt
            .block_on(start_with_clock(
                config,
                rules(),
                Tokens {
                    ingest: vec!["test-ingest".into()],
                    api: vec!["test-api".into()],
                },
                Clock::Manual(clock.clone()),
            ))
            .unwrap();
        Some(Live {
            http: running.http,
            running: Some(running),
            rt,
            clock,
            smtp,
            _dir: dir,
        })
    }

    fn post(&self, docs: &[String]) {
        let mut body = String::new();
        for d in docs {
            body.push_str("{\"index\":{}}\n");
            body.push_str(d);
            body.push('\n');
        }
        let (status, v) = http_post(self.http, "/_bulk", &body, Some("test-ingest"));
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["errors"], false, "{v}");
    }

    fn get(&self, path: &str) -> Value {
        let (status, v) = http_get(self.http, path, Some("test-api"));
        assert_eq!(status, 200, "{path}: {v}");
        v
    }

    /// Wait until `pred` holds for the incident list (all severities).
    fn wait_incidents(&self, what: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let v = self.get("/api/v1/incidents?limit=200");
            let list = v["incidents"].as_array().cloned().unwrap_or_default();
            if pred(&list) {
                return list;
            }
            assert!(Instant::now() < deadline, "{what}: {v}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Wait until incident `id` holds `n` alerts.
    fn wait_alerts(&self, id: &str, n: u64) {
        self.wait_incidents(&format!("{id} to hold {n} alerts"), |l| {
            l.iter()
                .any(|i| i["id"] == id && i["alert_count"].as_u64() >= Some(n))
        });
    }

    /// Post `docs`; the mail they bring, which must be mail number `n` and start its subject
    /// with `subject`, and no other.
    fn mail_after(&self, docs: &[String], n: usize, subject: &str) -> Received {
        self.post(docs);
        let mut mails = self.smtp.wait_for(n, 60);
        assert_eq!(mails.len(), n, "exactly one more mail, `{subject}…`");
        let m = mails.pop().unwrap();
        assert!(m.subject.starts_with(subject), "{}", m.subject);
        m
    }

    fn notifications(&self) -> Vec<Value> {
        self.get("/api/v1/notifications?limit=1000")["notifications"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            self.rt.block_on(r.shutdown());
        }
    }
}

/// Both parts there, the same words in each, a console link, no raw JSON.
fn assert_readable(m: &Received, words: &str) {
    assert!(
        m.text().contains(words),
        "text lacks `{words}`:\n{}",
        m.text()
    );
    assert!(
        m.html().contains(words),
        "HTML lacks `{words}`:\n{}",
        m.html()
    );
    assert!(
        m.text()
            .contains("https://wardwatch.hospital.example/incidents"),
        "{}",
        m.text()
    );
    assert!(!m.text().contains("{\""), "no raw JSON: {}", m.text());
}

const IT_TEAM: &str =
    "[[notify.routes]]\nto = [\"it-team@hospital.example\"]\nmin_severity = \"medium\"\n";

#[test]
fn an_incident_that_gets_worse_sends_one_more_mail_each_time_and_updates_wait_for_the_digest() {
    let Some(live) = Live::start(
        "an_incident_that_gets_worse_sends_one_more_mail_each_time_and_updates_wait_for_the_digest",
        "digest_minutes = 30\nrate_limit_per_hour = 0",
        IT_TEAM,
        "2026-12-07T10:00:00Z",
    ) else {
        return;
    };
    // It opens: a medium alert on WS-A by alice.
    let opening = live.mail_after(
        &[event("medium", "WS-A", "alice", 1)],
        1,
        "[Wardwatch] MEDIUM · WS-A",
    );
    assert_readable(&opening, "What to do now");
    let id = opening.incident().expect("a link to the incident");

    // A second alert of the same kind on the same host: nothing worse, no mail now.
    live.post(&[event("medium", "WS-A", "alice", 2)]);
    live.wait_alerts(&id, 2);
    let waiting = live.smtp.wait_for(1, 60).len();
    assert_eq!(waiting, 1, "never one mail per alert");

    // Each way it gets worse: exactly one more mail, about the same incident, saying what
    // changed. Severity rises (a high alert); a new host (alice on WS-B joins through her
    // account); a privileged account (the roster says so) joins on WS-A.
    for (n, doc, subject, change) in [
        (
            2,
            event("high", "WS-A", "alice", 3),
            "[Wardwatch] Escalated: HIGH",
            "severity rose from medium to high",
        ),
        (
            3,
            event("medium", "WS-B", "alice", 4),
            "[Wardwatch] Escalated: HIGH",
            "new host WS-B",
        ),
        (
            4,
            event("medium", "WS-A", "admin-jo", 5),
            "[Wardwatch] Escalated: HIGH",
            "privileged account admin-jo joined",
        ),
    ] {
        let m = live.mail_after(&[doc], n, subject);
        assert_readable(&m, change);
        assert_eq!(m.incident().as_deref(), Some(id.as_str()));
    }

    // More of the same waits for the digest window (30 minutes on the worker's clock).
    live.post(&[event("medium", "WS-B", "alice", 6)]);
    live.wait_alerts(&id, 6);
    assert_eq!(live.smtp.wait_for(4, 60).len(), 4, "updates wait");
    live.clock.advance(SignedDuration::from_mins(29));
    assert_eq!(
        live.smtp.wait_for(4, 60).len(),
        4,
        "not before the window ends"
    );
    live.clock.advance(SignedDuration::from_mins(2));
    let mails = live.smtp.wait_for(5, 60);
    assert_eq!(mails.len(), 5, "one digest");
    let digest = &mails[4];
    assert_eq!(digest.subject, "[Wardwatch] Digest: 1 incident updated");
    assert_readable(digest, &format!("/incidents/{id}"));

    // Every mail to the routed recipient, each Message-ID once.
    let mut ids: Vec<&str> = mails.iter().map(|m| m.message_id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5, "five distinct messages");
    assert!(
        mails
            .iter()
            .all(|m| m.to.contains("it-team@hospital.example"))
    );
    let kinds: Vec<String> = live
        .notifications()
        .iter()
        .map(|n| format!("{}:{}", n["kind"], n["status"]))
        .collect();
    assert_eq!(kinds.len(), 5, "{kinds:?}");
    assert!(kinds.iter().all(|k| k.ends_with(":\"sent\"")), "{kinds:?}");
}

#[test]
fn quiet_hours_hold_back_low_severity_let_critical_through_and_release_in_the_morning() {
    // 23:30 in Amsterdam (UTC+1 in December): inside quiet hours 22:00–07:00.
    let Some(live) = Live::start(
        "quiet_hours_hold_back_low_severity_let_critical_through_and_release_in_the_morning",
        "rate_limit_per_hour = 0",
        "[notify.quiet_hours]\nstart = \"22:00\"\nend = \"07:00\"\ntimezone = \"Europe/Amsterdam\"\n\
         [[notify.routes]]\nto = [\"it-team@hospital.example\"]\nmin_severity = \"low\"\n",
        "2026-12-07T22:30:00Z",
    ) else {
        return;
    };
    // Three unrelated incidents at night: low, medium, critical.
    live.post(&[
        event("low", "WS-L", "carol", 1),
        event("medium", "WS-M", "dave", 2),
        event("critical", "PACS01", "erin", 3),
    ]);
    live.wait_incidents("three incidents", |l| l.len() == 3);
    let mails = live.smtp.wait_for(1, 60);
    assert_eq!(
        mails.len(),
        1,
        "only the critical incident goes out at night"
    );
    assert!(
        mails[0]
            .subject
            .starts_with("[Wardwatch] CRITICAL · PACS01"),
        "{}",
        mails[0].subject
    );
    assert_readable(&mails[0], "What to do now");
    // The others wait in the queue, untried, until 07:00 Amsterdam time (06:00 UTC).
    let held: Vec<Value> = live
        .notifications()
        .into_iter()
        .filter(|n| n["status"] == "queued")
        .collect();
    assert_eq!(held.len(), 2, "{held:?}");
    for n in &held {
        assert_eq!(n["attempts"], 0, "{n}");
        assert_eq!(n["next_attempt"], "2026-12-08T06:00:00Z", "{n}");
    }
    let mut subjects: Vec<&str> = held
        .iter()
        .map(|n| n["subject"].as_str().unwrap())
        .collect();
    subjects.sort();
    assert!(
        subjects[0].starts_with("[Wardwatch] LOW · WS-L"),
        "{subjects:?}"
    );
    assert!(
        subjects[1].starts_with("[Wardwatch] MEDIUM · WS-M"),
        "{subjects:?}"
    );

    // 06:59 in Amsterdam: still quiet.
    live.clock.set("2026-12-08T05:59:00Z".parse().unwrap());
    assert_eq!(live.smtp.wait_for(1, 60).len(), 1, "held until the end");
    // 07:00: both go out, once each.
    live.clock.set("2026-12-08T06:00:30Z".parse().unwrap());
    let mails = live.smtp.wait_for(3, 60);
    assert_eq!(mails.len(), 3, "the held messages go out in the morning");
    let mut morning: Vec<&str> = mails[1..].iter().map(|m| m.subject.as_str()).collect();
    morning.sort();
    assert!(
        morning[0].starts_with("[Wardwatch] LOW · WS-L"),
        "{morning:?}"
    );
    assert!(
        morning[1].starts_with("[Wardwatch] MEDIUM · WS-M"),
        "{morning:?}"
    );
    for m in &mails[1..] {
        assert_readable(m, "What to do now");
    }
}

#[test]
fn the_rate_limit_bites_and_the_hour_ends_with_n_more_incidents_see_the_console() {
    let Some(live) = Live::start(
        "the_rate_limit_bites_and_the_hour_ends_with_n_more_incidents_see_the_console",
        "rate_limit_per_hour = 2",
        IT_TEAM,
        "2026-12-07T10:00:00Z",
    ) else {
        return;
    };
    // Five unrelated medium incidents within the hour: two mails, three held.
    let docs: Vec<String> = (1..=5)
        .map(|n| event("medium", &format!("WS-{n}"), &format!("user{n}"), n))
        .collect();
    live.post(&docs);
    let incidents = live.wait_incidents("five incidents", |l| l.len() == 5);
    let mails = live.smtp.wait_for(2, 60);
    assert_eq!(mails.len(), 2, "the limit is two an hour");
    let told: Vec<String> = mails.iter().filter_map(|m| m.incident()).collect();
    assert_eq!(told.len(), 2);
    let held: Vec<String> = incidents
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .filter(|id| !told.contains(id))
        .collect();
    assert_eq!(held.len(), 3);
    assert_eq!(
        live.notifications().len(),
        2,
        "held incidents are not queued one by one"
    );

    // The hour ends (on the worker's clock): one message lists the three.
    live.clock.advance(SignedDuration::from_mins(59));
    assert_eq!(
        live.smtp.wait_for(2, 60).len(),
        2,
        "not before the hour ends"
    );
    live.clock.advance(SignedDuration::from_mins(2));
    let mails = live.smtp.wait_for(3, 60);
    assert_eq!(mails.len(), 3, "one closing message");
    let more = &mails[2];
    assert_eq!(
        more.subject,
        "[Wardwatch] 3 more incidents: see the console"
    );
    assert_readable(more, "3 more incidents: see the console");
    for id in &held {
        assert!(
            more.text().contains(id.as_str()),
            "{id} listed: {}",
            more.text()
        );
        assert!(
            more.html().contains(id.as_str()),
            "{id} linked: {}",
            more.html()
        );
    }
    for id in &told {
        assert!(!more.text().contains(id.as_str()), "{id} was told already");
    }
    // The line closes the list: after it only the console link.
    let after = more
        .text()
        .split("3 more incidents: see the console")
        .nth(1)
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(
        after,
        "Console: https://wardwatch.hospital.example/incidents"
    );

    // The note opened the next hour (one of two used): the next incident is told at once,
    // the one after it waits again.
    live.post(&[event("medium", "WS-6", "user6", 6)]);
    let mails = live.smtp.wait_for(4, 60);
    assert_eq!(mails.len(), 4, "a new hour, a new allowance");
    assert!(
        mails[3].subject.starts_with("[Wardwatch] MEDIUM · WS-6"),
        "{}",
        mails[3].subject
    );
    live.post(&[event("medium", "WS-7", "user7", 7)]);
    live.wait_incidents("seven incidents", |l| l.len() == 7);
    assert_eq!(live.smtp.wait_for(4, 60).len(), 4, "the limit bites again");
}

#[test]
fn the_weekly_report_goes_out_on_monday_morning_also_when_nothing_happened() {
    // Monday 7 December, 06:30 in Amsterdam; the report is due at 07:00 there.
    let Some(live) = Live::start(
        "the_weekly_report_goes_out_on_monday_morning_also_when_nothing_happened",
        "",
        "[notify.quiet_hours]\ntimezone = \"Europe/Amsterdam\"\n\
         [notify.report]\nto = [\"management@hospital.example\"]\nperiod = \"week\"\nhour = 7\n",
        "2026-12-07T05:30:00Z",
    ) else {
        return;
    };
    assert_eq!(live.smtp.wait_for(0, 60).len(), 0, "not before 07:00");
    live.clock.set("2026-12-07T06:05:00Z".parse().unwrap());
    let mails = live.smtp.wait_for(1, 60);
    assert_eq!(mails.len(), 1, "one report");
    let report = &mails[0];
    assert!(report.to.contains("management@hospital.example"));
    assert_eq!(
        report.subject,
        "[Wardwatch] Week report 2026-11-30 to 2026-12-06: No incidents this week"
    );
    for words in [
        "No incidents this week",
        "What we recommend",
        "Ingest health per source",
    ] {
        assert!(report.text().contains(words), "text lacks `{words}`");
        assert!(report.html().contains(words), "HTML lacks `{words}`");
    }
    assert!(report.html().contains("<svg"), "charts inline");
    // Later that morning: not again. The next Monday: the next week's.
    live.clock.advance(SignedDuration::from_hours(3));
    assert_eq!(live.smtp.wait_for(1, 60).len(), 1, "once a week");
    live.clock.set("2026-12-14T06:05:00Z".parse().unwrap());
    let mails = live.smtp.wait_for(2, 60);
    assert_eq!(mails.len(), 2);
    assert_eq!(
        mails[1].subject,
        "[Wardwatch] Week report 2026-12-07 to 2026-12-13: No incidents this week"
    );
}
