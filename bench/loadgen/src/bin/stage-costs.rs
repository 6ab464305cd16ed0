//! Single-threaded cost of each stage of `serve`'s pipeline, per event, on the same Windows
//! events the load generator posts: where a microsecond goes before anyone guesses.
//!
//! Usage: `stage-costs EVTX_DIR RULES_DIR`

use std::path::PathBuf;
use std::time::Instant;

use wardwatch_core::Origin;

fn main() {
    let dir = std::env::args().nth(1).expect("EVTX_DIR");
    let rules = PathBuf::from(std::env::args().nth(2).expect("RULES_DIR"));
    let mut lines: Vec<String> = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(&dir).expect("EVTX_DIR").flatten().map(|e| e.path()).collect();
    paths.sort();
    for p in paths.iter().filter(|p| p.extension().is_some_and(|x| x == "evtx")) {
        let _ = wardwatch_ingest::decode_file(p, 1, |r| r, |item| {
            if let Ok(Ok(e)) = item {
                lines.push(e.raw.to_string());
            }
        });
    }
    let n = lines.len() as f64;
    let bytes: usize = lines.iter().map(String::len).sum();
    println!("events {} mean_bytes {:.0}", lines.len(), bytes as f64 / n);
    let (texts, _) = wardwatch_hunt::rule_texts(&[rules]);
    let pack = wardwatch_detect::RulePack::load(texts);
    let (detector, _) = wardwatch_detect::Detector::build(&pack);

    let stage = |name: &str, t: Instant| println!("{name:<28} {:>7.2} us/event", t.elapsed().as_secs_f64() * 1e6 / n);

    let t = Instant::now();
    let values: Vec<serde_json::Value> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    stage("parse Value", t);
    let t = Instant::now();
    drop(values);
    stage("drop Value", t);
    let t = Instant::now();
    let events: Vec<_> = lines
        .iter()
        .map(|l| wardwatch_ingest::jsonl::decode_line(l.as_bytes(), Origin::default()).unwrap())
        .collect();
    stage("decode_line (parse+map)", t);
    let t = Instant::now();
    let docs: Vec<String> = events.iter().map(|e| serde_json::to_string(e).unwrap()).collect();
    stage("serialize Event", t);
    let t = Instant::now();
    let mut hits = 0;
    for e in &events {
        hits += detector.detect(e).len();
    }
    stage("detect", t);
    let t = Instant::now();
    let words: Vec<String> = docs.iter().map(|d| wardwatch_store::doc_text(d).unwrap()).collect();
    stage("doc_text", t);
    let t = Instant::now();
    let back: Vec<wardwatch_core::Event> = docs.iter().map(|d| serde_json::from_str(d).unwrap()).collect();
    stage("read back Event", t);
    drop(back);
    let dir = std::env::temp_dir().join(format!("stage-costs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut db = wardwatch_store::Db::open(&dir, &wardwatch_store::DbOptions::default()).unwrap();
    let encoded: Vec<_> = events.into_iter().map(wardwatch_store::Encoded::new).collect::<Result<_, _>>().unwrap();
    let chunks: Vec<Vec<_>> = encoded.chunks(5000).map(|c| c.to_vec()).collect();
    let mut seqs = Vec::new();
    let t = Instant::now();
    for c in &chunks {
        db.append_encoded(std::slice::from_ref(c), &mut seqs).unwrap();
    }
    stage("journal insert (5000/tx)", t);
    let index: Vec<(i64, String)> = words.into_iter().enumerate().map(|(i, w)| (i as i64 + 1, w)).collect();
    let mut idx = wardwatch_store::IndexDb::open(&dir, &wardwatch_store::DbOptions::default()).unwrap();
    let t = Instant::now();
    for c in index.chunks(4000) {
        idx.commit(c.last().unwrap().0, c).unwrap();
    }
    stage("fts insert (4000/tx)", t);
    let t = Instant::now();
    let mut read = 0;
    let mut cursor = 0;
    loop {
        let r = db.read_docs_after(cursor, 4000).unwrap();
        let Some(l) = r.last() else { break };
        cursor = l.0;
        read += r.len();
    }
    stage("read docs", t);
    println!("hits {hits} read {read} db_mib {}", std::fs::metadata(dir.join("wardwatch.db")).unwrap().len() >> 20);
    std::fs::remove_dir_all(&dir).unwrap();
}
