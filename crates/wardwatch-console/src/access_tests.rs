//! Every route, from the router's own table: anonymous callers, roles that must not reach it,
//! and other organizations' objects are all refused; bad input writes nothing.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::json;
use tower::ServiceExt;
use wardwatch_core::{Alert, AlertId, Event, EventRef, Severity, SourceKind};
use wardwatch_store::{Db, DbOptions, token_hash};

use crate::auth::{Access, Role};
use crate::{ApiState, Telemetry, routes};

mod privacy;

struct Fixed;
impl Telemetry for Fixed {
    fn metrics(&self) -> String {
        String::new()
    }
    fn stats(&self) -> serde_json::Value {
        json!({})
    }
}

/// What one organization holds: (event seq, alert id, incident id, exception id, host, user).
struct Seeded {
    seq: i64,
    alert: String,
    incident: String,
    exception: String,
    host: String,
    user: String,
    day: String,
}

/// The incident `alert` opens, grouped and narrated as the detection worker does, and its row.
fn incident_of(alert: &Alert) -> (wardwatch_incidents::Incident, wardwatch_store::IncidentRow) {
    let ctx = wardwatch_incidents::Context::default();
    let mut grouper = wardwatch_incidents::Grouper::new(Default::default(), Vec::new());
    let incident = grouper.add(alert, &ctx, alert.timestamp).remove(0);
    let narrative = wardwatch_incidents::narrate(&incident, &ctx);
    let row = wardwatch_store::IncidentRow {
        id: incident.id.clone(),
        org: alert.organization.clone(),
        opened: incident.opened.as_nanosecond() as i64,
        first_seen: incident.first_seen.as_nanosecond() as i64,
        last_seen: incident.last_seen.as_nanosecond() as i64,
        severity: incident.severity,
        score: incident.score,
        closed: false,
        merged_into: None,
        title: incident.title.clone(),
        doc: serde_json::to_string(&wardwatch_incidents::IncidentDoc {
            incident: incident.clone(),
            narrative,
        })
        .unwrap(),
    };
    (incident, row)
}

fn seed_org(db: &mut Db, org: &str, host: &str, user: &str, t: i64) -> Seeded {
    let mut e = Event::new(
        SourceKind::Syslog,
        jiff::Timestamp::now() - jiff::SignedDuration::from_secs(3600 + t),
        json!({"message": format!("Failed password for {user}")}),
    );
    e.organization = org.into();
    e.ecs.host_name = Some(host.into());
    e.ecs.user_name = Some(user.into());
    e.origin.source = "syslog-udp".into();
    e.origin.record_id = Some(t as u64);
    let last = db.append(&[vec![e.clone()]]).unwrap();
    let alert = Alert {
        id: AlertId::derive(&format!("r-{org}"), &e.origin, e.timestamp),
        rule_id: format!("r-{org}"),
        rule_title: "SSH brute force".into(),
        level: Severity::Low,
        tags: vec![],
        timestamp: e.timestamp,
        organization: org.into(),
        host: Some(host.into()),
        entities: vec![
            wardwatch_core::Entity::new(wardwatch_core::EntityKind::Host, host),
            wardwatch_core::Entity::new(wardwatch_core::EntityKind::User, user),
        ],
        event: EventRef {
            origin: e.origin.clone(),
            event_code: None,
            channel: None,
        },
        recommendation: None,
        awareness: None,
        facts: Default::default(),
    };
    let (incident, row) = incident_of(&alert);
    let mut ledger = wardwatch_store::LedgerBatch::default();
    ledger.add(&wardwatch_store::LedgerUse {
        org: org.into(),
        account: user.into(),
        time: e.timestamp,
        outcome: Some(false),
        places: vec![(wardwatch_store::UsageKind::Host, host.into())],
    });
    db.commit_detection(&wardwatch_store::DetectionCommit {
        worker: "detect",
        cursor: last,
        alerts: &[(alert.clone(), last, 5)],
        incidents: &[row],
        ledger: Some(&ledger),
        ..Default::default()
    })
    .unwrap();
    let exception = format!("exc-{org}");
    db.put_exception(
        &exception,
        org,
        &alert.rule_id,
        i64::MAX / 2,
        &serde_json::to_string(
            &wardwatch_incidents::Exception::from_alert(
                &alert,
                &[],
                true,
                false,
                jiff::Timestamp::now() + jiff::SignedDuration::from_hours(240),
                "expected",
                "seed",
                jiff::Timestamp::now(),
            )
            .unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    Seeded {
        seq: last,
        alert: alert.id.0.clone(),
        incident: incident.id,
        exception,
        host: host.into(),
        user: user.into(),
        day: e.timestamp.strftime("%Y-%m-%d").to_string(),
    }
}

impl Seeded {
    fn alert_rule(&self) -> String {
        self.exception.replace("exc-", "r-")
    }
}

struct World {
    _dir: tempfile::TempDir,
    app: Router,
    mine: Seeded,
    theirs: Seeded,
}

/// A session secret per role, all in organization `default` (and a deployment admin).
fn session(role: Role) -> String {
    format!("secret-{}", role.as_str())
}
const CSRF: &str = "csrf-token-of-the-session";

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Db::open(
        dir.path(),
        &DbOptions {
            fsync_every_commit: false,
            ..Default::default()
        },
    )
    .unwrap();
    let mine = seed_org(&mut db, "default", "WS-MINE", "anna", 1);
    let theirs = seed_org(&mut db, "north", "WS-THEIRS", "zed", 2);
    let far = i64::MAX / 2;
    for role in Role::ALL {
        let name = format!("{}-user", role.as_str());
        db.add_account(
            &name,
            role.as_str(),
            &["default".to_string()],
            "$argon2id$unused",
        )
        .unwrap();
        db.open_session(&token_hash(&session(role)), &name, CSRF, far, "127.0.0.1")
            .unwrap();
    }
    db.add_account("root", "admin", &["*".to_string()], "$argon2id$unused")
        .unwrap();
    db.open_session(&token_hash("secret-root"), "root", CSRF, far, "127.0.0.1")
        .unwrap();
    db.open_session(&token_hash("secret-spare"), "root", CSRF, far, "127.0.0.1")
        .unwrap();
    // The network summary's answer here: how many network records the caller sees.
    let state = ApiState::new(dir.path().to_path_buf(), &[], Arc::new(Fixed)).with_network_summary(
        Arc::new(|db, orgs, from, to| {
            let ns = |t: jiff::Timestamp| t.as_second().saturating_mul(1_000_000_000);
            let (seen, _) = db.network_events_between(orgs, ns(from), ns(to), None, 1000)?;
            Ok(json!({"records": seen.len()}))
        }),
    );
    World {
        _dir: dir,
        app: routes::router(state),
        mine,
        theirs,
    }
}

/// A request to `path` (with `{...}` filled from `s`) as the session `secret` (or anonymous).
fn request(method: &Method, path: &str, s: &Seeded, secret: Option<&str>) -> Request<Body> {
    let uri = path
        .replace(
            "{id}",
            &match path {
                p if p.contains("incidents") => s.incident.clone(),
                p if p.contains("alerts") => s.alert.clone(),
                _ => s.exception.clone(),
            },
        )
        .replace("{seq}", &s.seq.to_string())
        .replace("{user}", &s.user)
        .replace(
            "{name}",
            if path.starts_with("/users") {
                &s.user
            } else {
                &s.host
            },
        );
    let uri = if uri == "/noteworthy" {
        format!(
            "/noteworthy?day={}&rule={}&host={}",
            s.day,
            s.alert_rule(),
            s.host
        )
    } else {
        uri
    };
    let body = if path.ends_with("/actions") {
        json!({"action": "comment", "text": "x"}).to_string()
    } else if path == "/api/v1/exceptions" {
        json!({"alert_id": s.alert, "expires": "now+1d", "justification": "test exception"})
            .to_string()
    } else if path.ends_with("/action") {
        "action=comment&text=x".into()
    } else if path.ends_with("/exception") {
        "justification=test+exception&expires=now%2B1d".into()
    } else {
        String::new()
    };
    let mut r = Request::builder().method(method.clone()).uri(uri);
    if let Some(sec) = secret {
        r = r
            .header("cookie", format!("ww_session={sec}"))
            .header("x-csrf-token", CSRF);
    }
    r.body(Body::from(body)).unwrap()
}

async fn status(app: &Router, req: Request<Body>) -> (StatusCode, String) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let st = resp.status();
    if st.is_redirection() {
        eprintln!("redirect to {:?}", resp.headers().get("location"));
    }
    let body = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .unwrap();
    (st, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn every_route_refuses_anonymous_wrong_role_and_other_organizations() {
    let w = world();
    let specs = routes::routes();
    let public: Vec<String> = specs
        .iter()
        .filter(|s| s.access == Access::Public)
        .map(|s| format!("{} {}", s.method, s.path))
        .collect();
    assert_eq!(
        public,
        [
            "GET /healthz",
            "GET /static/console.css",
            "GET /favicon.ico",
            "GET /login",
            "POST /login"
        ],
        "the only routes open to anyone"
    );
    let mut checked = 0;
    for spec in specs.iter().filter(|s| s.access != Access::Public) {
        let what = format!("{} {}", spec.method, spec.path);
        // Anonymous.
        let (st, _) = status(&w.app, request(&spec.method, spec.path, &w.mine, None)).await;
        if spec.path.starts_with("/api/") || spec.path == "/metrics" {
            assert_eq!(st, StatusCode::UNAUTHORIZED, "{what} anonymous");
        } else {
            assert_eq!(
                st,
                StatusCode::SEE_OTHER,
                "{what} anonymous goes to sign-in"
            );
        }
        // Every role that must not reach it.
        for role in Role::ALL.into_iter().filter(|r| !spec.access.allows(*r)) {
            let (st, _) = status(
                &w.app,
                request(&spec.method, spec.path, &w.mine, Some(&session(role))),
            )
            .await;
            assert_eq!(st, StatusCode::FORBIDDEN, "{what} as {}", role.as_str());
        }
        // A role that may reach it, asking for the other organization's object.
        let role = Role::ALL
            .into_iter()
            .find(|r| spec.access.allows(*r))
            .unwrap();
        // (Signing out ends the session it is sent with: a spare one.)
        let secret = if spec.path == "/logout" {
            "secret-spare".to_string()
        } else {
            session(role)
        };
        let (st, body) = status(
            &w.app,
            request(&spec.method, spec.path, &w.theirs, Some(&secret)),
        )
        .await;
        if spec.path.contains('{')
            || spec.path == "/noteworthy"
            || (spec.method == Method::POST && spec.path == "/api/v1/exceptions")
        {
            assert_eq!(
                st,
                StatusCode::NOT_FOUND,
                "{what} for another organization's object"
            );
        } else {
            assert!(
                st.is_success() || (spec.method == Method::POST && st.is_redirection()),
                "{what}: {st} {body}"
            );
            for secret in [
                &w.theirs.incident,
                &w.theirs.alert,
                &w.theirs.exception,
                &w.theirs.host,
            ] {
                assert!(
                    !body.contains(secret.as_str()),
                    "{what} shows `{secret}` of another organization"
                );
            }
        }
        // And the same role reaches its own organization's object.
        if spec.method == Method::GET {
            let (st, body) = status(
                &w.app,
                request(&spec.method, spec.path, &w.mine, Some(&session(role))),
            )
            .await;
            assert!(st.is_success(), "{what} own object: {st} {body}");
        }
        checked += 1;
    }
    assert!(checked >= 25, "{checked} routes checked");
    // The deployment admin sees the other organization's objects.
    let (st, _) = status(
        &w.app,
        request(
            &Method::GET,
            "/incidents/{id}",
            &w.theirs,
            Some("secret-root"),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
}

async fn audit_len(w: &World) -> usize {
    let (st, body) = status(
        &w.app,
        request(&Method::GET, "/api/v1/audit", &w.mine, Some("secret-root")),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    serde_json::from_str::<serde_json::Value>(&body).unwrap()["entries"]
        .as_array()
        .unwrap()
        .len()
}

async fn comments(w: &World) -> usize {
    let (_, body) = status(
        &w.app,
        request(
            &Method::GET,
            "/api/v1/incidents/{id}",
            &w.mine,
            Some("secret-root"),
        ),
    )
    .await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["incident"]["comments"].as_array().map_or(0, |c| c.len())
}

#[tokio::test]
async fn bad_input_gets_a_clear_page_and_writes_nothing() {
    let w = world();
    let analyst = session(Role::Analyst);
    let action = format!("/incidents/{}/action", w.mine.incident);
    let post = |csrf: Option<&str>, body: String, secret: &str| {
        let mut r = Request::post(action.clone())
            .header("cookie", format!("ww_session={secret}"))
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some(c) = csrf {
            r = r.header("x-csrf-token", c);
        }
        r.body(Body::from(body)).unwrap()
    };
    let before = (audit_len(&w).await, comments(&w).await);
    // Missing and forged CSRF tokens.
    let (st, page) = status(
        &w.app,
        post(None, "action=comment&text=hi".into(), &analyst),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert!(
        page.contains("csrf_token") && page.contains("Nothing was saved"),
        "{page}"
    );
    let (st, _) = status(
        &w.app,
        post(
            None,
            "action=comment&text=hi&csrf_token=forged".into(),
            &analyst,
        ),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // An over-long form.
    let long = format!(
        "action=comment&text={}",
        "a".repeat(crate::auth::MAX_FORM_BYTES)
    );
    let (st, page) = status(&w.app, post(Some(CSRF), long, &analyst)).await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(page.contains("too long"), "{page}");
    // An expired (or unknown) session: back to sign-in, told why.
    let (st, _) = status(
        &w.app,
        post(
            Some(CSRF),
            "action=comment&text=hi".into(),
            "expired-secret",
        ),
    )
    .await;
    assert_eq!(st, StatusCode::SEE_OTHER);
    let resp = w
        .app
        .clone()
        .oneshot(
            Request::get("/incidents")
                .header("cookie", "ww_session=expired-secret")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["location"],
        "/login?expired=1&next=%2Fincidents"
    );
    let (st, page) = status(
        &w.app,
        Request::get("/login?expired=1")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert!(page.contains("Your session has ended"));
    // A query that does not parse: a clear message on the page, nothing run or audited.
    let (st, page) = status(
        &w.app,
        Request::get("/search?q=%28host.name%3Ax")
            .header("cookie", format!("ww_session={analyst}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert!(page.contains("does not parse"), "{page}");
    assert_eq!(
        (audit_len(&w).await, comments(&w).await),
        before,
        "nothing was written"
    );
    // And the good request goes through and is audited.
    let (st, _) = status(
        &w.app,
        post(Some(CSRF), "action=comment&text=hi".into(), &analyst),
    )
    .await;
    assert_eq!(st, StatusCode::SEE_OTHER);
    assert_eq!(
        (audit_len(&w).await, comments(&w).await),
        (before.0 + 1, before.1 + 1)
    );
}

#[tokio::test]
async fn sign_in_needs_the_form_token_and_is_rate_limited_and_audited() {
    let w = world();
    // Give an account a real password.
    {
        let mut db = Db::open(w._dir.path(), &DbOptions::default()).unwrap();
        let hash = crate::auth::hash_password("s3cret-pass").unwrap();
        db.add_account("ana", "analyst", &["default".to_string()], &hash)
            .unwrap();
    }
    let (st, page) = status(&w.app, Request::get("/login").body(Body::empty()).unwrap()).await;
    assert_eq!(st, StatusCode::OK);
    let token = page
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let login = |user: &str, pw: &str, form_token: &str, cookie_token: &str| {
        Request::post("/login")
            .header("cookie", format!("ww_login_csrf={cookie_token}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(format!(
                "username={user}&password={pw}&csrf_token={form_token}"
            )))
            .unwrap()
    };
    // No matching token: refused before the password is looked at.
    let (st, _) = status(&w.app, login("ana", "s3cret-pass", "other", &token)).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // Right token, right password: a session cookie, Secure, HttpOnly, SameSite=Strict.
    let resp = w
        .app
        .clone()
        .oneshot(login("ana", "s3cret-pass", &token, &token))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let set: Vec<String> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let session = set.iter().find(|c| c.starts_with("ww_session=")).unwrap();
    for flag in ["Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(session.contains(flag), "{session}");
    }
    // Wrong passwords: refused, then rate-limited even with the right one.
    for _ in 0..crate::auth::Limiter::PER_ACCOUNT {
        let (st, _) = status(&w.app, login("ana", "wrong", &token, &token)).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
    }
    let (st, page) = status(&w.app, login("ana", "s3cret-pass", &token, &token)).await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS);
    assert!(page.contains("Too many failed sign-ins"));
    let (_, body) = status(
        &w.app,
        request(&Method::GET, "/api/v1/audit", &w.mine, Some("secret-root")),
    )
    .await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let actions: Vec<&str> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"sign-in")
            && actions.contains(&"sign-in.failed")
            && actions.contains(&"sign-in.refused"),
        "{actions:?}"
    );
    assert_eq!(v["chain"]["broken"], serde_json::Value::Null);
}

#[tokio::test]
async fn the_search_page_draws_facets_from_the_sample_and_sees_only_its_organizations() {
    let w = world();
    let (st, page) = status(
        &w.app,
        Request::get("/search?q=password&range=7d")
            .header("cookie", format!("ww_session={}", session(Role::Analyst)))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        page.contains("<b>1</b> event(s) match (exact total)"),
        "{page}"
    );
    // The column facets come from the store's sample (names lowercased, as the journal keeps
    // them), each a link that adds the value to the query; another organization's are absent.
    assert!(page.contains("<b>host.name</b><table>"), "{page}");
    assert!(page.contains(">ws-mine</a>"), "{page}");
    assert!(page.contains(">anna</a>"), "{page}");
    assert!(page.contains("title=\"add host.name:ws-mine\""), "{page}");
    assert!(!page.to_lowercase().contains("ws-theirs"), "{page}");
    assert!(page.contains("aria-label=\"bar chart\""), "{page}");
    // The event listed shows its host as sent.
    assert!(page.contains(">WS-MINE</a>"), "{page}");
}

#[tokio::test]
async fn identity_usage_says_where_and_how_an_account_was_used_and_is_audited() {
    let w = world();
    let before = audit_len(&w).await;
    let (st, body) = status(
        &w.app,
        request(
            &Method::GET,
            "/api/v1/identities/{user}/usage",
            &w.mine,
            Some(&session(Role::Analyst)),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let u: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(u["account"], "anna");
    assert_eq!(
        (u["uses"].as_u64(), u["failed"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(u["hosts"][0]["value"], "WS-MINE");
    assert_eq!(u["hosts"][0]["new"], true);
    assert_eq!(u["organizations"], json!(["default"]));
    assert_eq!(audit_len(&w).await, before + 1, "the look-up is audited");
    // A period without use: known, nothing in it.
    let (st, body) = status(
        &w.app,
        request(
            &Method::GET,
            "/api/v1/identities/anna/usage?from=2020-01-01T00:00:00Z&to=2020-01-08T00:00:00Z",
            &w.mine,
            Some(&session(Role::PrivacyOfficer)),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert!(body.contains("\"uses\":0") && body.contains("\"from\":\"2020-01-01T00:00:00Z\""));
    for (query, says) in [
        ("from=yesterday", "from: `yesterday` is not a time"),
        ("from=now&to=now-2d", "is not before to"),
        (
            "from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            "at most 400 days",
        ),
        ("since=now-1d", "unknown field"),
    ] {
        let (st, body) = status(
            &w.app,
            request(
                &Method::GET,
                &format!("/api/v1/identities/anna/usage?{query}"),
                &w.mine,
                Some(&session(Role::Admin)),
            ),
        )
        .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(body.contains(says), "{query}: {body}");
    }
    let (st, _) = status(
        &w.app,
        request(
            &Method::GET,
            "/api/v1/identities/nobody/usage",
            &w.mine,
            Some(&session(Role::Admin)),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}
