//! The head of a file, whatever its bytes: format detection answers, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = wardwatch_ingest::detect_format(data);
});
