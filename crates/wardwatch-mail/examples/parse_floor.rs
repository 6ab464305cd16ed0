//! The floor under `wardwatch mail scan` in `bench/mail.sh`: the same files read and every
//! message parsed with `mail-parser` alone (headers, MIME parts decoded), nothing judged.
//!
//! `cargo run --release -p wardwatch-mail --example parse_floor -- PATH...` prints
//! `messages seconds` (folders are read one level deep, like the bench's corpus).

use std::time::Instant;

use mail_parser::MessageParser;

fn main() {
    let mut files = Vec::new();
    for arg in std::env::args().skip(1) {
        let p = std::path::PathBuf::from(&arg);
        if p.is_dir() {
            let mut entries: Vec<_> = std::fs::read_dir(&p)
                .expect("read folder")
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            entries.sort();
            files.extend(entries);
        } else {
            files.push(p);
        }
    }
    let start = Instant::now();
    let mut messages = 0u64;
    let mut parts = 0usize;
    for f in &files {
        let bytes = std::fs::read(f).expect("read file");
        for (_, raw) in wardwatch_mail::split_mbox(&bytes) {
            if let Some(m) = MessageParser::default().parse(raw) {
                messages += 1;
                parts += m.parts.len();
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!("{parts} MIME parts");
    println!("{messages} {secs:.4}");
}
