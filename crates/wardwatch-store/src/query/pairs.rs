//! An event flattened into what the search language compares, for stores that cannot run
//! [`Query::matches_event`] on each document: every `(field, value)` a `field:value` term
//! looks at, and the event's words.
//!
//! Why here: the pairs must be exactly what [`field_values`] finds for any field name (the
//! ECS field, `@timestamp`, `organization.id`, EVTX `EventData` and `System`, Winlogbeat
//! `winlog.event_data`, a top-level key as written, else a dotted path walked into the
//! record), so a store that matches on them gives the same results as the checks here. Both
//! live side by side so they change together; `pairs_tests` holds them to each other.
//!
//! [`Query::matches_event`]: super::Query::matches_event
//! [`field_values`]: super::field_values

use serde_json::Value;
use wardwatch_core::Event;

use super::{HOST_FIELDS, text_of, words};

/// What a `field:value` term and a free word compare, for one event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPairs {
    /// `(field, value lowercased)`, each pair once.
    pub fields: Vec<(String, String)>,
    /// `(host field, first label lowercased)` of host names with a dot: what `host.name:PACS01`
    /// compares with `PACS01.hospital.local`.
    pub short_hosts: Vec<(String, String)>,
    /// The event's words in order, as the full-text index sees them.
    pub words: Vec<String>,
}

/// How deep a record is walked for dotted paths (JSON parsed here is at most 128 deep).
const MAX_WALK_DEPTH: usize = 128;

impl FieldPairs {
    /// The pairs and words of `event`.
    pub fn of(event: &Event) -> FieldPairs {
        let mut fields = Vec::new();
        if let Ok(Value::Object(ecs)) = serde_json::to_value(&event.ecs) {
            for (k, v) in &ecs {
                if let Some(t) = text_of(v) {
                    fields.push((k.clone(), t));
                }
            }
        }
        fields.push(("@timestamp".into(), event.timestamp.to_string()));
        fields.push(("organization.id".into(), event.organization.clone()));
        let raw = &event.raw;
        for pointer in ["/Event/EventData", "/Event/System", "/winlog/event_data"] {
            if let Some(Value::Object(m)) = raw.pointer(pointer) {
                for (k, v) in m {
                    push_values(&mut fields, k, v);
                }
            }
        }
        if let Value::Object(top) = raw {
            // A top-level key as written (dots and all)...
            for (k, v) in top {
                push_values(&mut fields, k, v);
            }
            // ...else a path of dot-free keys walked into nested objects.
            for (k, v) in top {
                if !k.contains('.') {
                    walk(&mut fields, top, k, v, 1);
                }
            }
        }
        let mut short_hosts: Vec<(String, String)> = Vec::new();
        for (k, v) in &fields {
            if let Some((short, _)) = v.split_once('.')
                && HOST_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(k))
            {
                // The label cut from the value as stored, then lowercased on its own, as the
                // check does.
                let pair = (k.clone(), short.to_lowercase());
                if !short_hosts.contains(&pair) {
                    short_hosts.push(pair);
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        let fields: Vec<(String, String)> = fields
            .into_iter()
            .map(|(k, v)| (k, v.to_lowercase()))
            .filter(|p| seen.insert(p.clone()))
            .collect();
        FieldPairs {
            fields,
            short_hosts,
            words: words(&crate::index_text(event)),
        }
    }
}

/// `v` as the values a field lookup finds: each item of an array, else the value itself.
fn push_values(out: &mut Vec<(String, String)>, key: &str, v: &Value) {
    match v {
        Value::Array(items) => out.extend(
            items
                .iter()
                .filter_map(text_of)
                .map(|t| (key.to_string(), t)),
        ),
        v => out.extend(text_of(v).map(|t| (key.to_string(), t))),
    }
}

/// The paths below `prefix` (a dot-free top-level key, or a path of them) into nested objects,
/// each path one of its own only where the record has no top-level key spelled like it.
fn walk(
    out: &mut Vec<(String, String)>,
    top: &serde_json::Map<String, Value>,
    prefix: &str,
    v: &Value,
    depth: usize,
) {
    let Value::Object(m) = v else {
        return;
    };
    if depth >= MAX_WALK_DEPTH {
        return;
    }
    for (k, child) in m {
        if k.contains('.') {
            // `a.b.c` walks `a` → `b` → `c`: a key with a dot is never reached.
            continue;
        }
        let path = format!("{prefix}.{k}");
        if !top.contains_key(&path) {
            push_values(out, &path, child);
        }
        walk(out, top, &path, child, depth + 1);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::json;
    use wardwatch_core::{Event, SourceKind};

    use super::FieldPairs;
    use crate::query::field_values;

    fn events() -> Vec<Event> {
        let evtx = json!({"Event": {
            "System": {"EventID": 4624, "Computer": "PACS01.Hospital.local", "Channel": "Security"},
            "EventData": {"TargetUserName": "Alice", "LogonType": "3", "Data": {"#text": "x"}},
        }});
        let beat = json!({
            "winlog": {"event_data": {"CommandLine": "powershell -enc AAA", "Image": "C:\\ps.exe"}},
            "host": {"name": "WS-7.corp", "ip": ["10.0.0.7", "fe80::1"]},
            "tags": ["a", {"#text": "b"}, 3, null, true],
        });
        let dotted = json!({
            "a.b": "literal",
            "a": {"b": "walked", "b.c": "unreachable", "d": {"e": 5}},
            "Straße": "GROß",
            "WorkstationName": "Ωmega.x",
        });
        let mut out = Vec::new();
        for (kind, raw) in [
            (SourceKind::Evtx, evtx),
            (SourceKind::WinlogbeatEcs, beat),
            (SourceKind::FlatWindows, dotted),
        ] {
            let mut e = Event::new(
                kind,
                jiff::Timestamp::from_second(1_770_000_000).unwrap(),
                raw,
            );
            e.ecs.host_name = Some("PACS01.Hospital.local".into());
            e.ecs.user_name = Some("ALICE".into());
            e.organization = "North".into();
            out.push(e);
        }
        out
    }

    /// For every field name: the values of the pairs are the values a lookup finds.
    #[test]
    fn the_pairs_are_what_a_field_lookup_finds_for_every_name() {
        for e in events() {
            let p = FieldPairs::of(&e);
            let mut names: BTreeSet<String> = p.fields.iter().map(|(k, _)| k.clone()).collect();
            names.extend(
                [
                    "a.b",
                    "a.b.c",
                    "a.d.e",
                    "a.d",
                    "host.ip",
                    "host",
                    "tags",
                    "missing",
                    "HOST.NAME",
                    "Data",
                    "EventID",
                    "event.code",
                    "Straße",
                ]
                .map(String::from),
            );
            for name in names {
                let want: BTreeSet<String> = field_values(&e, &name)
                    .iter()
                    .map(|v| v.to_lowercase())
                    .collect();
                let got: BTreeSet<String> = p
                    .fields
                    .iter()
                    .filter(|(k, _)| *k == name)
                    .map(|(_, v)| v.clone())
                    .collect();
                assert_eq!(got, want, "field {name:?} of {}", e.raw);
            }
        }
    }

    #[test]
    fn host_names_give_their_first_label_and_words_come_in_order() {
        let e = &events()[2];
        let p = FieldPairs::of(e);
        assert!(
            p.short_hosts
                .contains(&("host.name".into(), "pacs01".into()))
        );
        assert!(
            p.short_hosts
                .contains(&("WorkstationName".into(), "ωmega".into()))
        );
        assert!(!p.short_hosts.iter().any(|(k, _)| k == "a.b"));
        assert_eq!(p.words, crate::query::words(&crate::index_text(e)));
        // The walked path, the literal key, and nothing for a key with a dot below the top.
        assert!(p.fields.contains(&("a.b".into(), "literal".into())));
        assert!(!p.fields.contains(&("a.b".into(), "walked".into())));
        assert!(p.fields.contains(&("a.d.e".into(), "5".into())));
        assert!(!p.fields.iter().any(|(_, v)| v == "unreachable"));
    }
}
