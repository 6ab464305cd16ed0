//! A `_bulk` request body (NDJSON action and document lines), whatever its bytes: reading it
//! never panics; a body is either refused whole with a reason or gives items, at most one
//! event per item, each of which serializes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wardwatch_listen::bulk::parse_body;

fuzz_target!(|data: &[u8]| {
    // The first byte picks whether the path named an index (`/{index}/_bulk`).
    let (index, body) = match data.split_first() {
        Some((b, rest)) if b % 2 == 1 => (Some("logs-fuzz"), rest),
        Some((_, rest)) => (None, rest),
        None => (None, data),
    };
    if let Ok((items, events)) = parse_body(body, index) {
        assert!(events.len() <= items);
        for e in &events {
            serde_json::to_vec(e).expect("a decoded event serializes");
        }
    }
});
