//! `wardwatch tokens`, `wardwatch users` and `wardwatch audit` with `-c` naming a cluster's
//! `[store] state`, on real servers (`wardwatch-peers`: `nats-server -js`, ClickHouse,
//! PostgreSQL): a running `ingest,api` node honours an ingest token, an API token and a console
//! account made by the command line in the shared state, and refuses them once removed; the
//! command line's actions are in the shared audit log, which `audit list|verify -c` read; an
//! unreachable `state` address is an error naming it and the file it is in.

#[path = "common/cluster.rs"]
mod cluster_common;
mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cluster_common::{Node, cli as wardwatch, ok};
use common::{http_get, request};
use wardwatch_peers::Peer;

/// One `_bulk` document with `token`; the status code.
fn bulk(addr: SocketAddr, token: &str) -> u16 {
    let body = "{\"index\":{}}\n{\"message\":\"token test\",\"host\":{\"name\":\"ws-t\"}}\n";
    request(addr, "POST", "/_bulk", body, Some(token))
        .unwrap()
        .0
}

/// Poll `probe` until it answers `want` (ingest nodes re-read tokens every 10 s).
fn wait_status(what: &str, want: u16, probe: impl Fn() -> u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = probe();
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {got}, expected {want}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// `POST /login` with the double-submit token the sign-in page would have set; the status.
fn sign_in(http: SocketAddr, user: &str, password: &str) -> u16 {
    use std::io::Read;
    let body = format!(
        "username={}&password={}&csrf_token=tok",
        common::urlencode(user),
        common::urlencode(password)
    );
    let mut s = std::net::TcpStream::connect(http).unwrap();
    write!(
        s,
        "POST /login HTTP/1.1\r\nHost: {http}\r\nCookie: ww_login_csrf=tok\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    raw.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn tokens_and_accounts_made_by_the_command_line_reach_every_node() {
    let Some(nats) = Peer::nats("tokens_and_accounts_reach_every_node") else {
        return;
    };
    let Some(ch) = Peer::clickhouse("tokens_and_accounts_reach_every_node") else {
        return;
    };
    let Some(pg) = Peer::postgres("tokens_and_accounts_reach_every_node") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("cluster.toml");
    std::fs::write(
        &config,
        format!(
            "[cluster]\nnats = \"{}\"\npartitions = 2\nack_wait_secs = 5\nmax_backlog_mb = 64\n\n\
             [store]\nevents = \"clickhouse://127.0.0.1:{}/wardwatch\"\nstate = \"{}\"\n",
            nats.url(),
            ch.port,
            pg.url(),
        ),
    )
    .unwrap();
    cluster_common::init(&config);
    let node = Node::start(
        &config,
        &dir.path().join("node"),
        "ingest,api",
        "127.0.0.1:0",
        "",
    );
    let http = node.http.expect("bulk and the API on one address");

    // Tokens made while the node runs.
    let ingest = ok(&wardwatch(&["tokens", "add", "shipper-7"], &config, ""));
    let api = ok(&wardwatch(
        &[
            "tokens",
            "add",
            "soc-viewer",
            "--kind",
            "api",
            "--role",
            "viewer",
        ],
        &config,
        "",
    ));
    assert_eq!((ingest.len(), api.len()), (64, 64), "secrets are printed");
    let list = ok(&wardwatch(&["tokens", "list"], &config, ""));
    assert!(
        list.contains("shipper-7\tingest") && list.contains("soc-viewer\tapi"),
        "{list}"
    );
    assert_eq!(
        http_get(http, "/api/v1/incidents", Some(&api)).0,
        200,
        "an API token made in the shared state opens the API at once"
    );
    wait_status("the new ingest token", 200, || bulk(http, &ingest));
    assert_eq!(bulk(http, "not-a-token"), 401);
    // They are the shared state's (only their hashes are stored).
    {
        use wardwatch_store::TokenStore;
        let state = wardwatch_store_postgres::Postgres::connect(&pg.url()).unwrap();
        let names: Vec<String> = state
            .tokens()
            .unwrap()
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names.contains(&"shipper-7".to_string()), "{names:?}");
    }

    // An account made by the command line signs in on the API node.
    ok(&wardwatch(
        &["users", "add", "r.devries", "--role", "analyst"],
        &config,
        "correct-horse-battery\n",
    ));
    let users = ok(&wardwatch(&["users", "list"], &config, ""));
    assert!(users.contains("r.devries\tanalyst\tdefault"), "{users}");
    assert_eq!(sign_in(http, "r.devries", "correct-horse-battery"), 303);
    assert_eq!(sign_in(http, "r.devries", "wrong-password"), 401);

    // The command line's actions are in the shared audit log.
    let (s, audit) = http_get(http, "/api/v1/audit?limit=100", Some("test-api"));
    assert_eq!(s, 200, "{audit}");
    let text = audit.to_string();
    for action in ["token.add", "account.add"] {
        assert!(text.contains(action), "{action} missing: {audit}");
    }
    assert!(text.contains("token:shipper-7") && text.contains("account:r.devries"));
    // ...and `wardwatch audit -c` reads and verifies that shared log.
    let listed = ok(&wardwatch(&["audit", "list"], &config, ""));
    assert!(
        listed.contains("token.add\ttoken:shipper-7") && listed.contains("account.add"),
        "{listed}"
    );
    let verified = ok(&wardwatch(&["audit", "verify"], &config, ""));
    assert!(
        verified.starts_with("audit log intact:") && verified.contains("hash chain unbroken"),
        "{verified}"
    );

    // Removed: refused by the node.
    ok(&wardwatch(&["tokens", "remove", "soc-viewer"], &config, ""));
    ok(&wardwatch(&["tokens", "remove", "shipper-7"], &config, ""));
    ok(&wardwatch(&["users", "remove", "r.devries"], &config, ""));
    assert_eq!(http_get(http, "/api/v1/incidents", Some(&api)).0, 401);
    assert_eq!(sign_in(http, "r.devries", "correct-horse-battery"), 401);
    wait_status("the removed ingest token", 401, || bulk(http, &ingest));
    let o = wardwatch(&["tokens", "remove", "shipper-7"], &config, "");
    assert!(!o.status.success(), "removing twice is an error");
    assert!(String::from_utf8_lossy(&o.stderr).contains("no token named `shipper-7`"));

    // An unreachable state address: the error names it and where it was read.
    let port = common::free_port();
    let bad = dir.path().join("unreachable.toml");
    std::fs::write(
        &bad,
        format!(
            "[store]\nevents = \"clickhouse://127.0.0.1:{}/wardwatch\"\nstate = \"postgres://postgres:s3cret@127.0.0.1:{port}/wardwatch\"\n",
            ch.port
        ),
    )
    .unwrap();
    for args in [&["tokens", "list"][..], &["users", "list"][..]] {
        let o = wardwatch(args, &bad, "");
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&format!("127.0.0.1:{port}"))
                && err.contains("store.state")
                && err.contains("unreachable.toml"),
            "{err}"
        );
        assert!(!err.contains("s3cret"), "no password in messages: {err}");
    }
}
