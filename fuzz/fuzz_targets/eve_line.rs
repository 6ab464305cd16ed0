//! One Suricata EVE line: format sniffing on the text, and, when it is JSON, the EVE decoder
//! applied to whatever value it holds (not only objects), never panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wardwatch_core::Origin;
use wardwatch_ingest::eve;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = eve::looks_like_eve(&text);
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let event = eve::decode_value(v, Origin::default());
        serde_json::to_vec(&event).expect("a decoded event serializes");
    }
});
