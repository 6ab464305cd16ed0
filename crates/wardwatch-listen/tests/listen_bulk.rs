//! The Elasticsearch bulk API, through `tower::ServiceExt::oneshot` (no socket) and once over a
//! real socket.

mod listen_common;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use listen_common::{TestSink, counts, get, wait_until};
use serde_json::{Value, json};
use tower::ServiceExt;
use wardwatch_core::SourceKind;
use wardwatch_listen::SourceCounters;
use wardwatch_listen::bulk::{self, BulkConfig, BulkState, TokenCheck};

const TOKEN: &str = "t0ken-for-tests";

struct App {
    router: Router,
    sink: Arc<TestSink>,
    counters: Arc<SourceCounters>,
}

fn app_with(config: BulkConfig) -> App {
    let sink = TestSink::new();
    let counters = Arc::new(SourceCounters::default());
    let tokens: TokenCheck = Arc::new(|t| (t == TOKEN).then(|| "default".to_string()));
    let router = bulk::router(BulkState::new(
        sink.clone(),
        counters.clone(),
        tokens,
        config,
    ));
    App {
        router,
        sink,
        counters,
    }
}

fn app() -> App {
    app_with(BulkConfig::default())
}

fn request(method: &str, path: &str) -> axum::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "application/x-ndjson")
}

fn post(path: &str, body: &str) -> Request<Body> {
    request("POST", path)
        .header(header::CONTENT_LENGTH, body.len())
        .body(Body::from(body.to_string()))
        .unwrap()
}

async fn call(app: &App, req: Request<Body>) -> (StatusCode, HeaderMap, Value) {
    let response = app.router.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    (status, headers, body)
}

const WINDOWS_DOC: &str = r#"{"@timestamp":"2024-05-14T08:12:01.512Z","winlog":{"channel":"Security","event_id":"4625","computer_name":"ws-rad-014.clinic.local","event_data":{"TargetUserName":"jdoe","TargetDomainName":"CLINIC","IpAddress":"10.20.4.31"}}}"#;
const GENERIC_DOC: &str =
    r#"{"@timestamp":"2024-05-14T08:12:02Z","host":{"name":"ehr-app-01"},"message":"hello"}"#;

#[tokio::test]
async fn index_and_create_are_stored_and_answered_in_the_bulk_shape() {
    let app = app();
    let body = format!(
        "{{\"index\":{{\"_index\":\"winlogbeat-8.17.0\",\"_id\":\"abc\"}}}}\n{WINDOWS_DOC}\n{{\"create\":{{}}}}\n{GENERIC_DOC}\n"
    );
    let (status, headers, answer) = call(&app, post("/logs-test/_bulk", &body)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(headers["x-elastic-product"], "Elasticsearch");
    assert_eq!(answer["errors"], json!(false));
    assert!(answer["took"].is_u64());
    let first = &answer["items"][0]["index"];
    assert_eq!(first["_index"], "winlogbeat-8.17.0");
    assert_eq!(first["_id"], "abc");
    assert_eq!(first["status"], 201);
    assert_eq!(first["result"], "created");
    assert_eq!(first["_primary_term"], 1);
    assert_eq!(
        first["_shards"],
        json!({"total": 1, "successful": 1, "failed": 0})
    );
    let second = &answer["items"][1]["create"];
    assert_eq!(
        second["_index"], "logs-test",
        "the path's index is the default"
    );
    assert_eq!(second["_id"].as_str().unwrap().len(), 20);
    assert_eq!(
        second["_seq_no"].as_u64(),
        Some(first["_seq_no"].as_u64().unwrap() + 1)
    );

    let events = app.sink.events();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].source_kind, SourceKind::WinlogbeatEcs);
    assert_eq!(events[0].origin.source, "bulk:winlogbeat-8.17.0");
    assert_eq!(events[0].origin.record_id, None);
    assert_eq!(events[0].ecs.user_name.as_deref(), Some("jdoe"));
    assert_eq!(
        events[0].raw,
        serde_json::from_str::<Value>(WINDOWS_DOC).unwrap(),
        "raw unchanged"
    );
    assert_eq!(events[1].source_kind, SourceKind::Json);
    assert_eq!(events[1].origin.source, "bulk:logs-test");
    assert_eq!(events[1].ecs.host_name.as_deref(), Some("ehr-app-01"));
    assert_eq!(get(&app.counters.received), 2);
    assert_eq!(get(&app.counters.rejected), 0);
    assert_eq!(get(&app.counters.bytes), body.len() as u64);
}

#[tokio::test]
async fn gzip_bodies_are_decompressed() {
    let app = app();
    let body = format!("{{\"create\":{{\"_index\":\"filebeat-8.17.0\"}}}}\n{GENERIC_DOC}\n");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(body.as_bytes()).unwrap();
    let compressed = gz.finish().unwrap();
    let req = request("POST", "/_bulk")
        .header(header::CONTENT_ENCODING, "gzip")
        .body(Body::from(compressed))
        .unwrap();
    let (status, _, answer) = call(&app, req).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["items"][0]["create"]["status"], 201);
    assert_eq!(app.sink.len(), 1);

    let broken = request("POST", "/_bulk")
        .header(header::CONTENT_ENCODING, "gzip")
        .body(Body::from(&b"not gzip at all"[..]))
        .unwrap();
    let (status, _, answer) = call(&app, broken).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["error"]["reason"].as_str().unwrap().contains("gzip"),
        "{answer}"
    );

    let brotli = request("POST", "/_bulk")
        .header(header::CONTENT_ENCODING, "br")
        .body(Body::from(body))
        .unwrap();
    let (status, _, _) = call(&app, brotli).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(app.sink.len(), 1);
}

#[tokio::test]
async fn malformed_documents_fail_alone_and_the_good_ones_are_stored() {
    let app = app();
    let body = format!(
        "{{\"index\":{{\"_index\":\"i\"}}}}\n{GENERIC_DOC}\n{{\"index\":{{\"_index\":\"i\"}}}}\n{{broken json\n{{\"index\":{{\"_index\":\"i\"}}}}\n\"a string\"\n{{\"delete\":{{\"_index\":\"i\",\"_id\":\"1\"}}}}\n{{\"index\":{{\"_index\":\"i\"}}}}\n{GENERIC_DOC}\n"
    );
    let (status, _, answer) = call(&app, post("/_bulk", &body)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["errors"], json!(true));
    let statuses: Vec<_> = answer["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            let (action, body) = item.as_object().unwrap().iter().next().unwrap();
            format!(
                "{action} {} {}",
                body["status"],
                body["error"]["type"].as_str().unwrap_or("-")
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            "index 201 -",
            "index 400 mapper_parsing_exception",
            "index 400 mapper_parsing_exception",
            "delete 400 illegal_argument_exception",
            "index 201 -",
        ]
    );
    assert!(
        answer["items"][2]["index"]["error"]["reason"]
            .as_str()
            .unwrap()
            .contains("expected a JSON object, found a string")
    );
    assert_eq!(app.sink.len(), 2);
    assert_eq!(get(&app.counters.received), 5, "{}", counts(&app.counters));
    assert_eq!(get(&app.counters.rejected), 3, "{}", counts(&app.counters));

    // A broken action line fails the whole request: nothing is stored.
    let (status, _, answer) = call(
        &app,
        post(
            "/_bulk",
            &format!("{{\"index\":{{}}}}\n{GENERIC_DOC}\nnot an action\n{GENERIC_DOC}\n"),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["status"], 400);
    assert!(
        answer["error"]["reason"]
            .as_str()
            .unwrap()
            .contains("line [3]"),
        "{answer}"
    );
    assert_eq!(app.sink.len(), 2);
}

#[tokio::test]
async fn wrong_or_missing_tokens_get_401() {
    let app = app();
    let body = format!("{{\"index\":{{}}}}\n{GENERIC_DOC}\n");
    for authorization in [
        None,
        Some("Bearer wrong"),
        Some("Basic ZWxhc3RpYzp3cm9uZw=="),
    ] {
        let mut req = Request::builder().method("POST").uri("/_bulk");
        if let Some(a) = authorization {
            req = req.header(header::AUTHORIZATION, a);
        }
        let (status, headers, answer) =
            call(&app, req.body(Body::from(body.clone())).unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{authorization:?}");
        assert_eq!(
            headers[header::WWW_AUTHENTICATE],
            "Basic realm=\"wardwatch\", ApiKey, Bearer"
        );
        assert_eq!(headers["x-elastic-product"], "Elasticsearch");
        assert_eq!(answer["error"]["type"], "security_exception");
        assert_eq!(answer["status"], 401);
        assert!(
            !answer.to_string().contains("wrong"),
            "the secret is not echoed"
        );
    }
    // The start-up probe needs a token too, as in Elasticsearch.
    let req = Request::builder().uri("/").body(Body::empty()).unwrap();
    let (status, _, _) = call(&app, req).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.sink.len(), 0);
    assert_eq!(get(&app.counters.rejected), 4);

    // Basic auth: the password is the token, the user is ignored.
    let basic = base64_encode(&format!("elastic:{TOKEN}"));
    let req = Request::builder()
        .method("POST")
        .uri("/_bulk")
        .header(header::AUTHORIZATION, format!("Basic {basic}"))
        .body(Body::from(body))
        .unwrap();
    let (status, _, _) = call(&app, req).await;
    assert_eq!(status, StatusCode::OK);
}

fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test]
async fn a_busy_pipeline_gets_429_with_retry_after_and_nothing_stored() {
    let app = app();
    let body = format!("{{\"index\":{{}}}}\n{GENERIC_DOC}\n{{\"index\":{{}}}}\n{GENERIC_DOC}\n");
    // Seen before reading the body.
    app.sink.set_busy(Some(Duration::from_millis(1500)));
    let (status, headers, answer) = call(&app, post("/_bulk", &body)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers[header::RETRY_AFTER], "2");
    assert_eq!(answer["error"]["type"], "es_rejected_execution_exception");
    assert_eq!(app.sink.len(), 0);
    // Refused by `submit` after decoding.
    app.sink.set_busy_on_submit_only(true);
    let (status, headers, _) = call(&app, post("/_bulk", &body)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers[header::RETRY_AFTER], "2");
    assert_eq!(app.sink.len(), 0);
    assert_eq!(
        get(&app.counters.rejected),
        1 + 2,
        "{}",
        counts(&app.counters)
    );
    // Shutting down: 503.
    app.sink.set_busy(None);
    app.sink.close();
    let (status, _, answer) = call(&app, post("/_bulk", &body)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer["status"], 503);
    assert_eq!(app.sink.len(), 0);
}

#[tokio::test]
async fn a_token_over_its_budget_is_refused_before_its_body_is_read() {
    // A budget of 1,000 documents a second (a second of burst) for the test token.
    let sink = TestSink::new();
    let counters = Arc::new(SourceCounters::default());
    let tokens: TokenCheck = Arc::new(|t| (t == TOKEN).then(|| "default".to_string()));
    let budgets = Arc::new(wardwatch_listen::Budgets::new(1000));
    let app = App {
        router: bulk::router(
            BulkState::new(
                sink.clone(),
                counters.clone(),
                tokens,
                BulkConfig::default(),
            )
            .with_budgets(budgets),
        ),
        sink,
        counters,
    };
    let batch = |n: usize| "{\"create\":{}}\n{\"message\":\"m\"}\n".repeat(n);
    // 800 documents: admitted; the token has about 200 left.
    let (status, _, answer) = call(&app, post("/_bulk", &batch(800))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    // Its next batch (of the size it sent last) would not fit: refused before reading, so even
    // a body that is not NDJSON at all gets the 429 and is neither read nor parsed.
    let (status, headers, answer) = call(&app, post("/_bulk", "not ndjson")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
    assert_eq!(headers[header::RETRY_AFTER], "1");
    let reason = answer["error"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("budget of 1000 documents a second"),
        "{reason}"
    );
    assert_eq!(
        get(&app.counters.received),
        800,
        "{}",
        counts(&app.counters)
    );
    assert_eq!(get(&app.counters.throttled), 1, "{}", counts(&app.counters));
    assert_eq!(app.sink.len(), 800);
    // Another token is not touched by the first one's budget.
    let other = Request::builder()
        .method("POST")
        .uri("/_bulk")
        .header(
            header::AUTHORIZATION,
            format!("ApiKey {}", base64_encode(&format!("id:{TOKEN}"))),
        )
        .body(Body::from(batch(10)))
        .unwrap();
    let (status, _, answer) = call(&app, other).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(app.sink.len(), 810);
}

#[tokio::test]
async fn requests_beyond_the_concurrency_limit_wait_unread() {
    let app = app_with(BulkConfig {
        max_concurrent_requests: 1,
        ..BulkConfig::default()
    });
    let gate = app.sink.hold();
    let doc = "{\"index\":{}}\n{\"message\":\"a\"}\n";
    let first = tokio::spawn(app.router.clone().oneshot(post("/_bulk", doc)));
    wait_until("the first request reaches the sink", || {
        app.sink.submits.load(std::sync::atomic::Ordering::SeqCst) == 1
    })
    .await;
    // The second request waits for the slot: its body is not even read.
    let second = tokio::spawn(app.router.clone().oneshot(post("/_bulk", doc)));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        app.sink.submits.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert_eq!(get(&app.counters.received), 1, "{}", counts(&app.counters));
    gate.add_permits(2);
    assert_eq!(first.await.unwrap().unwrap().status(), StatusCode::OK);
    assert_eq!(second.await.unwrap().unwrap().status(), StatusCode::OK);
    assert_eq!(app.sink.len(), 2);
}

#[tokio::test]
async fn oversize_bodies_get_413() {
    let app = app_with(BulkConfig {
        max_body_bytes: 1024,
        ..BulkConfig::default()
    });
    let doc = format!("{{\"index\":{{}}}}\n{{\"pad\":\"{}\"}}\n", "x".repeat(2000));
    // Announced by Content-Length.
    let (status, _, answer) = call(&app, post("/_bulk", &doc)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer["status"], 413);
    assert!(
        answer["error"]["reason"]
            .as_str()
            .unwrap()
            .contains("1024 bytes"),
        "{answer}"
    );
    // Streamed without a length.
    let req = request("POST", "/_bulk")
        .body(Body::from(doc.clone()))
        .unwrap();
    let (status, _, _) = call(&app, req).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // Small when compressed, too large once decompressed.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(doc.as_bytes()).unwrap();
    let compressed = gz.finish().unwrap();
    assert!(compressed.len() < 1024);
    let req = request("POST", "/_bulk")
        .header(header::CONTENT_ENCODING, "gzip")
        .body(Body::from(compressed))
        .unwrap();
    let (status, _, _) = call(&app, req).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.sink.len(), 0);
}

#[tokio::test]
async fn start_up_probes_are_answered() {
    let app = app();
    let get_json = |path: &str| request("GET", path).body(Body::empty()).unwrap();
    let (status, headers, root) = call(&app, get_json("/")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-elastic-product"], "Elasticsearch");
    assert_eq!(root["version"]["number"], "8.17.0");
    assert_eq!(root["version"]["build_flavor"], "default");
    assert_eq!(root["tagline"], "You Know, for Search");
    let head = request("HEAD", "/").body(Body::empty()).unwrap();
    assert_eq!(call(&app, head).await.0, StatusCode::OK);
    let (_, _, license) = call(&app, get_json("/_license?human=false")).await;
    assert_eq!(license["license"]["status"], "active");
    assert_eq!(license["license"]["type"], "basic");
    let (_, _, xpack) = call(&app, get_json("/_xpack")).await;
    assert_eq!(xpack["features"]["ilm"]["available"], true);
    for path in [
        "/_xpack/usage",
        "/_template/winlogbeat-8.17.0",
        "/_index_template/ecs-logstash",
        "/_component_template/logs-settings",
        "/_ilm/policy/winlogbeat",
        "/_ilm/policy",
        "/_ingest/pipeline/filebeat-8.17.0-suricata-eve-pipeline",
        "/_cat/templates/filebeat*?format=json",
        "/_nodes/http",
        "/_nodes",
        "/_cluster/health",
        "/logstash",
    ] {
        let (status, _, _) = call(&app, get_json(path)).await;
        assert_eq!(status, StatusCode::OK, "GET {path}");
        let head = request("HEAD", path).body(Body::empty()).unwrap();
        assert_eq!(call(&app, head).await.0, StatusCode::OK, "HEAD {path}");
    }
    for path in [
        "/_template/t",
        "/_index_template/t",
        "/_component_template/t",
        "/_ilm/policy/p",
        "/_ingest/pipeline/p",
        "/%3Clogstash-%7Bnow%2Fd%7D-000001%3E",
    ] {
        let put = request("PUT", path).body(Body::from("{}")).unwrap();
        let (status, _, answer) = call(&app, put).await;
        assert_eq!(status, StatusCode::OK, "PUT {path}");
        assert_eq!(answer["acknowledged"], true, "PUT {path}");
    }
    let (status, _, answer) = call(&app, get_json("/_search")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["error"]["reason"]
            .as_str()
            .unwrap()
            .contains("no handler found"),
        "{answer}"
    );
    let (status, _, _) = call(&app, get_json("/_security/_authenticate")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(app.sink.len(), 0);
}

/// One real socket: axum serving the router, a hand-written HTTP/1.1 request.
#[tokio::test]
async fn bulk_over_a_real_socket() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = app();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app.router.clone();
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    let body = format!("{{\"create\":{{\"_index\":\"logs-generic-default\"}}}}\n{WINDOWS_DOC}\n");
    let request = format!(
        "POST /_bulk HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("x-elastic-product: elasticsearch")
    );
    let json_at = response.find("\r\n\r\n").unwrap() + 4;
    let answer: Value = serde_json::from_str(&response[json_at..]).unwrap();
    assert_eq!(answer["items"][0]["create"]["status"], 201);
    assert_eq!(app.sink.len(), 1);
    assert_eq!(
        app.sink.events()[0].ecs.host_name.as_deref(),
        Some("ws-rad-014.clinic.local")
    );
    server.abort();
}
