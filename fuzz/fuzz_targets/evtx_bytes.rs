//! Bytes as an EVTX file, read from memory (nothing is written to disk): a damaged file is an
//! error or a series of warnings, never a panic. Inputs that do not start with the EVTX magic
//! get it, so the fuzzer spends its time past the first check.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use wardwatch_ingest::evtx;

fuzz_target!(|data: &[u8]| {
    let mut buf = Vec::with_capacity(data.len() + 8);
    if !data.starts_with(b"ElfFile\0") {
        buf.extend_from_slice(b"ElfFile\0");
    }
    buf.extend_from_slice(data);
    let _ = evtx::read(
        Path::new("fuzz.evtx"),
        "fuzz.evtx",
        Some(buf),
        1,
        |item| item.map(|e| serde_json::to_vec(&e).expect("an event serializes")),
        |_| {},
    );
});
