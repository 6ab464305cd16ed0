//! The syslog stream framer (RFC 6587 octet counting and newline framing), whatever the bytes
//! and however the socket splits them: it never panics, never yields a message over the limit,
//! and never holds more than the limit plus one read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wardwatch_listen::framing::Framer;

fuzz_target!(|data: &[u8]| {
    // Two bytes choose the message limit and the size of the socket's reads.
    let (Some(&a), Some(&b)) = (data.first(), data.get(1)) else {
        return;
    };
    let max = 1 + usize::from(a) * 4;
    let read = 1 + usize::from(b);
    let mut framer = Framer::new(max);
    let check = |f: &wardwatch_listen::framing::Frame| {
        assert!(
            f.data.len() <= max,
            "frame of {} over the limit {max}",
            f.data.len()
        );
    };
    for chunk in data[2..].chunks(read) {
        framer.push(chunk);
        while let Some(f) = framer.next_frame() {
            check(&f);
        }
        assert!(
            framer.buffered() <= max + read + 16,
            "buffered {} with limit {max}",
            framer.buffered()
        );
    }
    while let Some(f) = framer.finish() {
        check(&f);
    }
});
