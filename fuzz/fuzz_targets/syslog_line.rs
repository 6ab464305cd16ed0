//! One syslog datagram or line, whatever its bytes: decoding never fails, never panics, always
//! keeps a message, and the event serializes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wardwatch_core::Origin;
use wardwatch_ingest::syslog;

fuzz_target!(|data: &[u8]| {
    // A fixed "now" keeps runs reproducible.
    let now = jiff::Timestamp::from_second(1_709_294_400).unwrap();
    let event = syslog::decode_bytes(data, Origin::default(), now);
    assert!(event.ecs.message.is_some());
    serde_json::to_vec(&event).expect("a decoded event serializes");
});
