//! One message on the events stream: a batch of one partition's events as the decoders made
//! them, one JSON document a line, with headers saying when they were received and how many
//! there are.
//!
//! Why not stamped: the received time is a header, not part of the documents, so the same
//! batch sent again is the same bytes with the same `Nats-Msg-Id` (a hash of them), which
//! JetStream keeps once within its duplicate window. The worker stamps each event with the
//! header's time as the single binary's journal does on the way in.

use bytes::Bytes;
use sha2::{Digest, Sha256};
use wardwatch_core::Event;

/// When the ingest node received the batch, ns since the epoch.
pub const RECEIVED: &str = "Wardwatch-Received";
/// How many events the message holds.
pub const EVENTS: &str = "Wardwatch-Events";

/// Most events in one message (a worker's unit of work and of redelivery).
pub const MAX_EVENTS: usize = 2000;
/// Room left under the server's `max_payload` for headers.
const HEADER_ROOM: usize = 1024;

/// One partition's share of a sender's batch, cut into messages.
#[derive(Debug, Default)]
pub struct Batch {
    pub part: u32,
    /// The organization of the first event (the subject's token; a batch may mix).
    pub org: String,
    /// The events' documents, one a line once joined.
    pub docs: Vec<String>,
}

impl Batch {
    /// The messages' payloads: at most [`MAX_EVENTS`] documents and `max_payload` bytes each.
    /// A single document over `max_payload` is an error naming its size.
    pub fn payloads(&self, max_payload: usize) -> Result<Vec<(Bytes, usize)>, String> {
        let limit = max_payload.saturating_sub(HEADER_ROOM).max(1);
        let mut out = Vec::new();
        let mut cur = Vec::new();
        let mut n = 0;
        for d in &self.docs {
            if d.len() > limit {
                return Err(format!(
                    "an event of {} bytes is over the NATS server's max_payload ({max_payload} bytes); raise max_payload on the servers",
                    d.len()
                ));
            }
            if n == MAX_EVENTS || (!cur.is_empty() && cur.len() + 1 + d.len() > limit) {
                out.push((Bytes::from(std::mem::take(&mut cur)), n));
                n = 0;
            }
            if !cur.is_empty() {
                cur.push(b'\n');
            }
            cur.extend_from_slice(d.as_bytes());
            n += 1;
        }
        if n > 0 {
            out.push((Bytes::from(cur), n));
        }
        Ok(out)
    }
}

/// The message id JetStream deduplicates on: the partition and a hash of the payload.
pub fn message_id(part: u32, payload: &[u8]) -> String {
    let digest = Sha256::digest(payload);
    let mut id = format!("ww-{part}-");
    for b in &digest[..16] {
        id.push_str(&format!("{b:02x}"));
    }
    id
}

/// The events of a message's payload, in order: each line an event, or why it is not one.
/// A payload that is not UTF-8 is one undecodable line.
pub fn decode_docs(payload: &[u8]) -> Vec<Result<(Event, &str), String>> {
    let Ok(text) = std::str::from_utf8(payload) else {
        return vec![Err("the message is not UTF-8".into())];
    };
    text.split('\n')
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str::<Event>(l)
                .map(|e| (e, l))
                .map_err(|e| format!("not an event document: {e}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(i: usize) -> String {
        let mut e = Event::new(
            wardwatch_core::SourceKind::Syslog,
            jiff::Timestamp::from_second(1_700_000_000 + i as i64).unwrap(),
            serde_json::json!({"message": format!("line {i}")}),
        );
        e.origin.source = "syslog-tcp".into();
        e.origin.record_id = Some(i as u64);
        e.ecs.host_name = Some("ws-1".into());
        serde_json::to_string(&e).unwrap()
    }

    #[test]
    fn a_batch_is_cut_by_count_and_size_and_reads_back_in_order() {
        let b = Batch {
            part: 3,
            org: "default".into(),
            docs: (0..4500).map(doc).collect(),
        };
        let msgs = b.payloads(1 << 20).unwrap();
        assert!(msgs.len() >= 3, "{}", msgs.len());
        assert!(
            msgs.iter()
                .all(|(p, n)| *n <= MAX_EVENTS && p.len() < 1 << 20)
        );
        let mut seen = 0;
        for (p, n) in &msgs {
            let events = decode_docs(p);
            assert_eq!(events.len(), *n);
            for e in events {
                let (e, _) = e.unwrap();
                assert_eq!(e.origin.record_id, Some(seen));
                seen += 1;
            }
        }
        assert_eq!(seen, 4500);
        // Small payload limit: more messages, same events.
        let small = b.payloads(64 * 1024).unwrap();
        assert!(small.len() > msgs.len());
        assert_eq!(small.iter().map(|(_, n)| n).sum::<usize>(), 4500);
        // One event over the limit is named.
        let err = b.payloads(100).unwrap_err();
        assert!(err.contains("max_payload"), "{err}");
    }

    #[test]
    fn the_same_batch_has_the_same_id_and_bad_lines_are_named() {
        let p = Bytes::from(format!("{}\n{}", doc(1), doc(2)));
        assert_eq!(message_id(1, &p), message_id(1, &p.clone()));
        assert_ne!(message_id(1, &p), message_id(2, &p));
        assert_ne!(message_id(1, &p), message_id(1, doc(1).as_bytes()));
        let mixed = format!("{}\n{{\"not\": \"an event\"}}\n\n{}", doc(1), doc(2));
        let out = decode_docs(mixed.as_bytes());
        assert_eq!(out.len(), 3);
        assert!(out[0].is_ok() && out[2].is_ok());
        assert!(
            out[1]
                .as_ref()
                .unwrap_err()
                .contains("not an event document")
        );
        let bad = decode_docs(&[0xff, 0xfe, b'{']);
        assert_eq!(bad.len(), 1);
        assert!(bad[0].is_err());
    }
}
