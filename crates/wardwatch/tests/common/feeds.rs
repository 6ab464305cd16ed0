//! The intel feed tests' partner side: a loopback HTTP server that keeps every request
//! (`Fake`), a partner's TAXII 2.1 collection answering as TAXII says (`Collection`: `added_after`,
//! `limit`, `next`, POSTs kept or refused), STIX indicators, and what the tests ask of
//! `wardwatch` (`intel feeds --json`, alerts of a rule, a config with feeds).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub fn wardwatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args(args)
        .output()
        .expect("run wardwatch")
}

/// A request the fake partner received.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Header lines, lower-cased.
    pub headers: String,
    pub body: String,
}

impl Req {
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// A query parameter, percent-decoded.
    pub fn query(&self, key: &str) -> Option<String> {
        let q = self.target.split_once('?')?.1;
        q.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (decode(k) == key).then(|| decode(v))
        })
    }
}

pub fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub type Answer = (u16, Vec<(String, String)>, String);

/// A loopback HTTP server answering with `handler`, keeping every request.
pub struct Fake {
    pub port: u16,
    seen: Arc<Mutex<Vec<Req>>>,
}

impl Fake {
    pub fn start(handler: impl Fn(&Req) -> Answer + Send + Sync + 'static) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let keep = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let mut reader = BufReader::new(s.try_clone().unwrap());
                let mut first = String::new();
                if reader.read_line(&mut first).unwrap_or(0) == 0 {
                    continue;
                }
                let mut parts = first.split_whitespace();
                let method = parts.next().unwrap_or("").to_string();
                let target = parts.next().unwrap_or("").to_string();
                let mut headers = String::new();
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    headers.push_str(&lower);
                }
                let mut body = vec![0; len];
                let _ = reader.read_exact(&mut body);
                let req = Req {
                    method,
                    target,
                    headers,
                    body: String::from_utf8_lossy(&body).into_owned(),
                };
                let (status, extra, body) = handler(&req);
                keep.lock().unwrap().push(req);
                let mut head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                    body.len()
                );
                for (k, v) in extra {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                let _ = s.write_all(format!("{head}\r\n{body}").as_bytes());
            }
        });
        Fake { port, seen }
    }

    pub fn requests(&self) -> Vec<Req> {
        self.seen.lock().unwrap().clone()
    }
}

/// A partner's TAXII 2.1 collection `/api1/collections/c1/`: objects with the time they were
/// added, paged by `added_after`, `limit` and `next` as TAXII 2.1 says; POSTed objects kept.
#[derive(Clone, Default)]
pub struct Collection {
    pub objects: Arc<Mutex<Vec<(String, Value)>>>,
    pub posted: Arc<Mutex<Vec<Value>>>,
    /// POSTs still to refuse with 503 (the producer's server briefly down).
    pub refuse: Arc<Mutex<u32>>,
}

impl Collection {
    pub fn add(&self, obj: Value) {
        let mut o = self.objects.lock().unwrap();
        let added = format!(
            "{}",
            jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
        );
        o.push((added, obj));
    }

    pub fn answer(&self, req: &Req) -> Answer {
        if !req
            .headers
            .contains("accept: application/taxii+json;version=2.1")
        {
            return (406, vec![], "{}".into());
        }
        if req.path() != "/api1/collections/c1/objects/" {
            return (404, vec![], "{}".into());
        }
        let taxii = (
            "Content-Type".to_string(),
            "application/taxii+json;version=2.1".to_string(),
        );
        if req.method == "POST" {
            let mut refuse = self.refuse.lock().unwrap();
            if *refuse > 0 {
                *refuse -= 1;
                return (503, vec![], "{}".into());
            }
            let env: Value = serde_json::from_str(&req.body).unwrap_or(Value::Null);
            let n = env["objects"].as_array().map_or(0, Vec::len);
            self.posted
                .lock()
                .unwrap()
                .extend(env["objects"].as_array().cloned().unwrap_or_default());
            let status = json!({"id": "2d086da7-4bdc-4f91-900e-d77486753710", "status": "complete",
                "total_count": n, "success_count": n, "failure_count": 0, "pending_count": 0});
            return (202, vec![taxii], status.to_string());
        }
        let after = req.query("added_after").unwrap_or_default();
        let limit: usize = req
            .query("limit")
            .and_then(|l| l.parse().ok())
            .unwrap_or(100);
        let start: usize = req.query("next").and_then(|n| n.parse().ok()).unwrap_or(0);
        let all = self.objects.lock().unwrap().clone();
        let fresh: Vec<&(String, Value)> = all.iter().filter(|(t, _)| *t > after).collect();
        let page: Vec<&(String, Value)> = fresh.iter().skip(start).take(limit).copied().collect();
        let more = start + page.len() < fresh.len();
        let mut env =
            json!({"more": more, "objects": page.iter().map(|(_, o)| o).collect::<Vec<_>>()});
        if more {
            env["next"] = json!((start + page.len()).to_string());
        }
        let mut headers = vec![taxii];
        if let (Some(f), Some(l)) = (page.first(), page.last()) {
            headers.push(("X-TAXII-Date-Added-First".into(), f.0.clone()));
            headers.push(("X-TAXII-Date-Added-Last".into(), l.0.clone()));
        }
        (200, headers, env.to_string())
    }
}

pub fn indicator(id: &str, pattern: &str, modified: &str, revoked: bool) -> Value {
    json!({"type": "indicator", "spec_version": "2.1", "id": id,
        "created": "2026-11-01T00:00:00.000Z", "modified": modified,
        "name": "Billing portal phishing", "pattern": pattern, "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00Z", "indicator_types": ["malicious-activity"],
        "revoked": revoked})
}

/// The number of alerts of `rule` stored now (no waiting).
pub fn alerts_of(server: &crate::common::Server, rule: &str) -> u64 {
    let (status, v) = crate::common::http_get(
        server.http,
        &format!("/api/v1/alerts?limit=1000&rule_id={rule}"),
        Some(&server.api_token),
    );
    assert_eq!(status, 200, "{v}");
    v["total"].as_u64().unwrap_or(0)
}

/// Wait until `cond` holds (60 s at most); `false` if it never did.
pub fn wait_for(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// `wardwatch intel feeds --json` rows by feed.
pub fn feeds(data: &Path) -> Vec<Value> {
    let out = wardwatch(&["intel", "feeds", "--data", data.to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

pub fn config(dir: &Path, feeds: &str) -> String {
    let path = dir.join("wardwatch.toml");
    std::fs::write(
        &path,
        format!("[intel]\nproducer = \"Ward General\"\n{feeds}"),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

pub const IND_A: &str = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f";
