//! Posts Windows events (decoded from EVTX files) to a Wardwatch server's `/_bulk` at a target
//! rate over several keep-alive connections, then waits for detection to catch up and prints
//! what the server sustained.
//!
//! Usage: `wardwatch-loadgen ADDR TOKEN API_TOKEN EVTX_DIR RATE SECONDS [BATCH] [CONNECTIONS]`
//! (RATE 0 = as fast as the server accepts).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn arg(i: usize, name: &str) -> String {
    std::env::args().nth(i).unwrap_or_else(|| {
        eprintln!("usage: wardwatch-loadgen ADDR TOKEN API_TOKEN EVTX_DIR RATE SECONDS [BATCH] [CONNECTIONS] (missing {name})");
        std::process::exit(2)
    })
}

struct Conn {
    stream: BufReader<TcpStream>,
}

impl Conn {
    fn open(addr: &str) -> std::io::Result<Conn> {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        Ok(Conn { stream: BufReader::new(s) })
    }

    /// One request on the keep-alive connection; returns (status, body).
    fn call(&mut self, method: &str, path: &str, token: &str, body: &[u8]) -> std::io::Result<(u16, String)> {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let s = self.stream.get_mut();
        s.write_all(head.as_bytes())?;
        s.write_all(body)?;
        let mut status_line = String::new();
        self.stream.read_line(&mut status_line)?;
        let status = status_line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let mut len = 0usize;
        let mut chunked = false;
        loop {
            let mut line = String::new();
            self.stream.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let lower = l.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            }
            if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                chunked = true;
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                let mut size = String::new();
                self.stream.read_line(&mut size)?;
                let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
                let mut chunk = vec![0; n + 2];
                self.stream.read_exact(&mut chunk)?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        } else {
            body.resize(len, 0);
            self.stream.read_exact(&mut body)?;
        }
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

/// Items of a `_bulk` answer the server accepted (status 2xx) and rejected (any other status,
/// or an `error`), as Elasticsearch clients read it. An answer that cannot be read, or that lists
/// fewer items than were sent, counts the missing ones as rejected.
fn bulk_items(answer: &str, sent: usize) -> (u64, u64) {
    let v: serde_json::Value = match serde_json::from_str(answer) {
        Ok(v) => v,
        Err(_) => return (0, sent as u64),
    };
    let Some(items) = v["items"].as_array() else {
        return (0, sent as u64);
    };
    let mut ok = 0u64;
    for item in items {
        let Some(result) = item.as_object().and_then(|o| o.values().next()) else {
            continue;
        };
        let status = result["status"].as_u64().unwrap_or(0);
        if (200..300).contains(&status) && result.get("error").is_none_or(|e| e.is_null()) {
            ok += 1;
        }
    }
    (ok, sent as u64 - ok.min(sent as u64))
}

fn main() {
    let addr = arg(1, "ADDR");
    let token = arg(2, "TOKEN");
    let api = arg(3, "API_TOKEN");
    let dir = arg(4, "EVTX_DIR");
    let rate: f64 = arg(5, "RATE").parse().expect("RATE is a number");
    let secs: f64 = arg(6, "SECONDS").parse().expect("SECONDS is a number");
    let batch: usize = std::env::args().nth(7).and_then(|v| v.parse().ok()).unwrap_or(500);
    let conns: usize = std::env::args().nth(8).and_then(|v| v.parse().ok()).unwrap_or(4);

    // Documents: every record of the EVTX files, as EVTX JSON lines (what a converting
    // forwarder sends), pre-rendered into bulk lines.
    let mut docs: Vec<String> = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(&dir).expect("EVTX_DIR").flatten().map(|e| e.path()).collect();
    paths.sort();
    for p in paths.iter().filter(|p| p.extension().is_some_and(|x| x == "evtx")) {
        let _ = wardwatch_ingest::decode_file(p, 1, |r| r, |item| {
            if let Ok(Ok(e)) = item {
                docs.push(format!("{{\"create\":{{}}}}\n{}\n", e.raw));
            }
        });
    }
    assert!(!docs.is_empty(), "no EVTX records under {dir}");
    let docs = Arc::new(docs);
    eprintln!("loadgen: {} distinct documents; target {} events/s for {secs} s; batch {batch}; {conns} connections", docs.len(), if rate > 0.0 { rate.to_string() } else { "max".into() });

    let sent = Arc::new(AtomicU64::new(0));
    let rejected = Arc::new(AtomicU64::new(0));
    let busy = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let per_conn_rate = rate / conns as f64;
    let handles: Vec<_> = (0..conns)
        .map(|c| {
            let (docs, sent, busy, addr, token) = (docs.clone(), sent.clone(), busy.clone(), addr.clone(), token.clone());
            let rejected = rejected.clone();
            std::thread::spawn(move || {
                let mut conn = Conn::open(&addr).expect("connect");
                let mut i = c * 7919;
                let mut mine = 0u64;
                while Instant::now() < deadline {
                    let mut body = Vec::with_capacity(batch * 1200);
                    for _ in 0..batch {
                        body.extend_from_slice(docs[i % docs.len()].as_bytes());
                        i += 1;
                    }
                    match conn.call("POST", "/_bulk", &token, &body) {
                        Ok((200, answer)) => {
                            // A 200 says the request was read, not that each document was
                            // kept: count the items the server accepted, one by one.
                            let (ok, bad) = bulk_items(&answer, batch);
                            mine += ok;
                            sent.fetch_add(ok, Ordering::Relaxed);
                            if bad > 0 && rejected.fetch_add(bad, Ordering::Relaxed) == 0 {
                                eprintln!("loadgen: bulk items rejected, first answer: {}", answer.chars().take(400).collect::<String>());
                            }
                        }
                        Ok((429, _)) => {
                            busy.fetch_add(1, Ordering::Relaxed);
                            std::thread::sleep(Duration::from_millis(200));
                        }
                        Ok((s, b)) => panic!("bulk answered {s}: {}", &b[..b.len().min(300)]),
                        Err(_) => conn = Conn::open(&addr).expect("reconnect"),
                    }
                    if per_conn_rate > 0.0 {
                        let due = start + Duration::from_secs_f64(mine as f64 / per_conn_rate);
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("sender thread");
    }
    let send_secs = start.elapsed().as_secs_f64();
    let total = sent.load(Ordering::Relaxed);
    // Wait until detection has processed everything.
    let mut stats_conn = Conn::open(&addr).expect("connect");
    let stats = loop {
        let (_, body) = stats_conn.call("GET", "/api/v1/stats", &api, b"").expect("stats");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        if v["pipeline"]["queued"].as_i64() == Some(0) || start.elapsed().as_secs_f64() > secs * 10.0 + 60.0 {
            break v;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let all_secs = start.elapsed().as_secs_f64();
    println!("events_acked {total}");
    println!("send_seconds {send_secs:.2}");
    println!("ingest_rate {:.0}", total as f64 / send_secs);
    println!("sustained_rate {:.0}", total as f64 / all_secs);
    println!("busy_responses {}", busy.load(Ordering::Relaxed));
    println!("items_rejected {}", rejected.load(Ordering::Relaxed));
    println!("alerts {}", stats["store"]["alerts"]);
    println!("latency_p50_le_s {}", stats["pipeline"]["latency_p50_s"]);
    println!("latency_p99_le_s {}", stats["pipeline"]["latency_p99_s"]);
}
