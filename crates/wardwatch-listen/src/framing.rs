//! Syslog stream framing: where one message ends and the next begins on TCP and TLS.
//!
//! # What it does
//! [`Framer`] takes the bytes of a stream in whatever pieces the socket hands them and yields
//! whole messages. Both framings of RFC 6587 are read, decided afresh for every frame, because
//! senders differ and some relays mix them:
//! - **octet counting** (RFC 6587 §3.4.1, required by RFC 5425 for TLS): `MSG-LEN SP SYSLOG-MSG`.
//!   A frame that starts with a run of at most nine digits followed by a space is octet-counted.
//! - **non-transparent framing** (RFC 6587 §3.4.2): the message ends at a line feed; a NUL byte
//!   ends it too (some senders use it), and a carriage return before the line feed is dropped.
//!
//! Empty lines between frames are skipped. A message longer than the limit is yielded cut to the
//! limit with [`Frame::oversize`] set, and the rest of it is read and thrown away (to the end of
//! its octet count, or to the next line feed). An octet count that cannot be true — ten digits or
//! more, or over 256 times the limit, such as `99999999999 x` — is a framing error: believing it
//! would swallow the rest of the stream, so the frame is read as a line instead (what rsyslog
//! does), digits included. At the end of the stream what is left is one last message; an
//! octet-counted frame cut short there is yielded with `oversize` set so it is counted.
//!
//! # Why it matters
//! A framing bug loses or merges messages silently, and a hostile length prefix must not make the
//! listener buffer gigabytes: the buffer never holds more than the limit plus one read.
//!
//! # Example
//! `b"11 <13>hi there<14>also\n"` yields `<13>hi there` (octet-counted) and `<14>also` (newline).
//!
//! # References
//! RFC 6587 §3.4 (transmission of syslog messages over TCP); RFC 5425 §4.3 (TLS transport uses
//! octet counting).

use bytes::{Buf, Bytes, BytesMut};

/// One message cut out of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The message bytes, without length prefix or terminator.
    pub data: Bytes,
    /// The message was longer than the limit (and is cut to it), or its stream ended inside it.
    pub oversize: bool,
}

/// What to throw away before the next frame starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skip {
    Nothing,
    /// The rest of an oversize octet-counted frame.
    Octets(usize),
    /// The rest of an oversize line, up to and including its terminator.
    ToTerminator,
}

/// The longest digit run read as an octet count (counts of a billion bytes or more are errors).
const MAX_COUNT_DIGITS: usize = 9;
/// An octet count over this many times the limit is taken as a framing error.
const MAX_COUNT_FACTOR: usize = 256;

/// Splits a syslog byte stream into messages (see the module documentation).
#[derive(Debug)]
pub struct Framer {
    buf: BytesMut,
    max: usize,
    skip: Skip,
    /// How far the current line has already been searched for a terminator.
    scanned: usize,
}

fn is_terminator(b: u8) -> bool {
    b == b'\n' || b == 0
}

impl Framer {
    /// A framer that keeps messages up to `max_message_bytes` whole.
    pub fn new(max_message_bytes: usize) -> Self {
        Framer {
            buf: BytesMut::new(),
            max: max_message_bytes.max(1),
            skip: Skip::Nothing,
            scanned: 0,
        }
    }

    /// Add bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held that do not make a whole frame yet.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next whole message, if the bytes pushed so far hold one.
    pub fn next_frame(&mut self) -> Option<Frame> {
        loop {
            if !self.discard() {
                return None;
            }
            // Empty lines and stray terminators between frames.
            let start = self
                .buf
                .iter()
                .position(|&b| !(is_terminator(b) || b == b'\r'))
                .unwrap_or(self.buf.len());
            if start > 0 {
                self.buf.advance(start);
                self.scanned = 0;
            }
            if self.buf.is_empty() {
                return None;
            }
            match self.octet_count(false) {
                Count::NeedMore => return None,
                Count::Octets { header, len } => match self.octet_frame(header, len) {
                    // `0 `: an empty frame, nothing to yield.
                    Some(f) if f.data.is_empty() && !f.oversize => continue,
                    other => return other,
                },
                Count::NotCounted => {}
            }
            return self.line_frame();
        }
    }

    /// The stream has ended: the frames still buffered, then what is left as the last message.
    /// Call until it answers `None`.
    pub fn finish(&mut self) -> Option<Frame> {
        if let Some(frame) = self.next_frame() {
            return Some(frame);
        }
        if self.skip != Skip::Nothing || self.buf.is_empty() {
            self.buf.clear();
            return None;
        }
        let frame = match self.octet_count(true) {
            Count::Octets { header, len } => {
                self.buf.advance(header);
                let mut data = self.buf.split().freeze();
                data.truncate(len.min(self.max));
                Frame {
                    data,
                    oversize: true,
                }
            }
            _ => {
                let mut data = self.buf.split().freeze();
                let oversize = data.len() > self.max;
                data.truncate(self.max);
                while data.last() == Some(&b'\r') {
                    data.truncate(data.len() - 1);
                }
                Frame { data, oversize }
            }
        };
        self.scanned = 0;
        (!frame.data.is_empty() || frame.oversize).then_some(frame)
    }

    /// Throw away what an oversize frame left; whether framing can go on with what is buffered.
    fn discard(&mut self) -> bool {
        match self.skip {
            Skip::Nothing => true,
            Skip::Octets(n) => {
                let k = n.min(self.buf.len());
                self.buf.advance(k);
                if k == n {
                    self.skip = Skip::Nothing;
                    true
                } else {
                    self.skip = Skip::Octets(n - k);
                    false
                }
            }
            Skip::ToTerminator => match self.buf.iter().position(|&b| is_terminator(b)) {
                Some(i) => {
                    self.buf.advance(i + 1);
                    self.skip = Skip::Nothing;
                    self.scanned = 0;
                    true
                }
                None => {
                    self.buf.clear();
                    false
                }
            },
        }
    }

    /// Whether the buffered frame is octet-counted. At the end of the stream (`eof`) a digit run
    /// that is not followed by anything is not a count.
    fn octet_count(&self, eof: bool) -> Count {
        let digits = self
            .buf
            .iter()
            .take(MAX_COUNT_DIGITS + 1)
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits == 0 || digits > MAX_COUNT_DIGITS {
            return Count::NotCounted;
        }
        match self.buf.get(digits) {
            None if eof => Count::NotCounted,
            None => Count::NeedMore,
            Some(b' ') => {
                let len: usize = std::str::from_utf8(&self.buf[..digits])
                    .ok()
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(usize::MAX);
                if len > self.max.saturating_mul(MAX_COUNT_FACTOR) {
                    Count::NotCounted
                } else {
                    Count::Octets {
                        header: digits + 1,
                        len,
                    }
                }
            }
            Some(_) => Count::NotCounted,
        }
    }

    fn octet_frame(&mut self, header: usize, len: usize) -> Option<Frame> {
        let kept = len.min(self.max);
        if self.buf.len() < header + kept {
            return None;
        }
        self.buf.advance(header);
        let data = self.buf.split_to(kept).freeze();
        self.scanned = 0;
        if len > kept {
            self.skip = Skip::Octets(len - kept);
        }
        Some(Frame {
            data,
            oversize: len > kept,
        })
    }

    /// A line ending at a terminator; an oversize line is cut and its rest skipped. `None` when
    /// the line is not complete yet.
    fn line_frame(&mut self) -> Option<Frame> {
        let from = self.scanned.min(self.buf.len());
        match self.buf[from..].iter().position(|&b| is_terminator(b)) {
            Some(i) => {
                let end = from + i;
                let mut data = self.buf.split_to(end).freeze();
                self.buf.advance(1);
                self.scanned = 0;
                while data.last() == Some(&b'\r') {
                    data.truncate(data.len() - 1);
                }
                let oversize = data.len() > self.max;
                data.truncate(self.max);
                Some(Frame { data, oversize })
            }
            None if self.buf.len() > self.max => {
                let data = self.buf.split_to(self.max).freeze();
                self.buf.clear();
                self.scanned = 0;
                self.skip = Skip::ToTerminator;
                Some(Frame {
                    data,
                    oversize: true,
                })
            }
            None => {
                self.scanned = self.buf.len();
                None
            }
        }
    }
}

/// What the start of a frame says about its framing.
enum Count {
    NeedMore,
    NotCounted,
    Octets { header: usize, len: usize },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Push `chunks` one by one into a framer with limit `max`, collect every frame, then finish
    /// the stream; each frame is rendered as its text, with ` [oversize]` after a cut one.
    fn check_max(max: usize, chunks: &[&[u8]], expected: &[&str]) {
        let mut framer = Framer::new(max);
        let mut got = Vec::new();
        let render = |f: Frame| {
            let text = String::from_utf8_lossy(&f.data).into_owned();
            if f.oversize {
                format!("{text} [oversize]")
            } else {
                text
            }
        };
        for chunk in chunks {
            framer.push(chunk);
            while let Some(f) = framer.next_frame() {
                got.push(render(f));
            }
            assert!(framer.buffered() <= max + chunk.len() + MAX_COUNT_DIGITS + 1);
        }
        while let Some(f) = framer.finish() {
            got.push(render(f));
        }
        assert_eq!(got, expected, "chunks: {chunks:?}");
    }

    fn check(chunks: &[&[u8]], expected: &[&str]) {
        check_max(64, chunks, expected);
    }

    /// Every way of cutting `input` in two gives the same frames.
    fn check_every_split(input: &[u8], expected: &[&str]) {
        for at in 0..=input.len() {
            check(&[&input[..at], &input[at..]], expected);
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        check(&bytes, expected);
    }

    #[test]
    fn newline_framing() {
        check(&[b"<13>one\n<13>two\n"], &["<13>one", "<13>two"]);
        check(
            &[b"<13>crlf\r\n<13>nul\0<13>last"],
            &["<13>crlf", "<13>nul", "<13>last"],
        );
        check(
            &[b"\n\n<13>after blank lines\n\n"],
            &["<13>after blank lines"],
        );
        check(&[b""], &[]);
    }

    #[test]
    fn octet_counting() {
        check(&[b"7 <13>one7 <13>two"], &["<13>one", "<13>two"]);
        check(&[b"8 <13>one\n8 <13>two\n"], &["<13>one\n", "<13>two\n"]);
        check(&[b"0 "], &[]);
        // The count is in bytes, not characters.
        check(&["9 <13>é ok".as_bytes()], &["<13>é ok"]);
        // A message may contain line feeds when it is octet-counted.
        check(&[b"10 <13>a\nb\nc\n"], &["<13>a\nb\nc\n"]);
    }

    #[test]
    fn mixed_framing_is_decided_per_frame() {
        check(
            &[b"7 <13>one<13>two\n9 <13>three\n"],
            &["<13>one", "<13>two", "<13>three"],
        );
        check(
            &[b"<13>line\n6 <13>oc<13>x\n"],
            &["<13>line", "<13>oc", "<13>x"],
        );
    }

    #[test]
    fn digits_not_followed_by_a_space_are_a_line() {
        check(&[b"2024-01-01 host msg\n"], &["2024-01-01 host msg"]);
        check(&[b"12345\n"], &["12345"]);
        check(&[b"12345"], &["12345"]);
    }

    #[test]
    fn frames_split_across_reads() {
        check_every_split(
            b"12 <13>hello yo<14>line\r\n4 <1>x\0",
            &["<13>hello yo", "<14>line", "<1>x"],
        );
    }

    #[test]
    fn oversize_octet_counted_frame_is_cut_and_its_rest_skipped() {
        check_max(4, &[b"10 0123456789<1>x\n"], &["0123 [oversize]", "<1>x"]);
        check_max(
            4,
            &[b"10 01", b"2345", b"6789", b"3 abc"],
            &["0123 [oversize]", "abc"],
        );
    }

    #[test]
    fn oversize_line_is_cut_and_its_rest_skipped() {
        check_max(4, &[b"0123456789\n<1>x\n"], &["0123 [oversize]", "<1>x"]);
        check_max(
            4,
            &[b"01234", b"56789", b"abc\n<1>y\n"],
            &["0123 [oversize]", "<1>y"],
        );
        check_max(4, &[b"012345"], &["0123 [oversize]"]);
    }

    #[test]
    fn garbage_length_prefix_is_read_as_a_line() {
        check(
            &[b"99999999999 x\n<13>next\n"],
            &["99999999999 x", "<13>next"],
        );
        // Nine digits is a count, but more than 256 times the limit: a framing error.
        check(&[b"999999999 x\n<13>next\n"], &["999999999 x", "<13>next"]);
        // Under the believable bound: read as a count, the next message is part of its rest.
        check_max(4, &[b"1000 abcdef\n<13>x\n"], &["abcd [oversize]"]);
    }

    #[test]
    fn stream_ending_inside_a_frame() {
        check(&[b"10 <13>ab"], &["<13>ab [oversize]"]);
        check(&[b"<13>no newline"], &["<13>no newline"]);
        check(&[b"42"], &["42"]);
    }
}
