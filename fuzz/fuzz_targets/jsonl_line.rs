//! One JSON line, whatever its bytes: decoding returns an event or an error, never panics, and a
//! decoded event serializes. The same bytes as text also go through `parse_time`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wardwatch_core::Origin;
use wardwatch_ingest::jsonl;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = jsonl::decode_line(data, Origin::default()) {
        serde_json::to_vec(&event).expect("a decoded event serializes");
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = jsonl::parse_time(text);
    }
});
