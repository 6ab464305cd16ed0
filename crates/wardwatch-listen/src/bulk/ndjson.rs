//! The bulk body: NDJSON pairs of an action line and a document line.
//!
//! `index` and `create` actions carry a document, which is decoded into an event by
//! [`wardwatch_ingest::jsonl::decode_line`] (Winlogbeat/ECS, Suricata EVE, flat Windows, EVTX JSON or any
//! JSON object); a document that is not a JSON object fails alone, as its item (HTTP 400
//! `mapper_parsing_exception`), and the others are stored. `update` (which has a document line)
//! and `delete` (which has none) are refused per item: events are kept as they were sent. An
//! action line that is not a JSON object naming one action fails the whole request, as in
//! Elasticsearch — after it, which line is an action and which a document is unknowable.
//! An index name over 255 bytes (Elasticsearch's limit) fails its item. Empty lines are skipped,
//! and the last line need not end with a line feed.

use serde_json::{Map, Value};
use wardwatch_core::{Event, Origin};

use super::error::BulkError;

/// The action an item asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Index,
    Create,
    Update,
    Delete,
}

impl Action {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Action::Index => "index",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }
}

/// Why one item failed: its status, Elasticsearch error type and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ItemError {
    pub status: u16,
    pub kind: &'static str,
    pub reason: String,
}

/// One action of the request, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Item {
    pub action: Action,
    pub index: String,
    /// The `_id` the sender gave, if any.
    pub id: Option<String>,
    pub error: Option<ItemError>,
}

/// A parsed request: every item, and the events of the good ones in order.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub items: Vec<Item>,
    pub events: Vec<Event>,
}

impl Parsed {
    /// Items that failed.
    pub(crate) fn failed(&self) -> usize {
        self.items.iter().filter(|i| i.error.is_some()).count()
    }
}

/// Elasticsearch's limit on index names; longer names are refused per item, so a sender cannot
/// make every stored event carry an arbitrarily long `origin.source`.
const MAX_INDEX_NAME_BYTES: usize = 255;

/// `origin.source` of a document sent to `index` (`bulk` when no index was named).
pub(crate) fn source_of(index: &str) -> String {
    if index.is_empty() {
        "bulk".to_string()
    } else {
        format!("bulk:{index}")
    }
}

/// Parse a (decompressed) bulk body; `path_index` is the `{index}` of `/{index}/_bulk`.
pub(crate) fn parse(body: &[u8], path_index: Option<&str>) -> Result<Parsed, BulkError> {
    let mut lines = body
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, line)| (i + 1, line))
        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace));
    // Sized for the documents the body can hold (one in two lines), so a bulk of thousands of
    // events is not moved again and again as its vector grows (measured: a tenth of the
    // listeners' time went to that); capped, so a body of blank lines reserves little.
    let docs = (line_feeds(body) / 2 + 1).min(MAX_RESERVED_ITEMS);
    let mut parsed = Parsed {
        items: Vec::with_capacity(docs),
        events: Vec::with_capacity(docs),
    };
    while let Some((number, line)) = lines.next() {
        let (action, meta) = action_line(number, line)?;
        let index = match meta.get("_index") {
            Some(Value::String(s)) => s.clone(),
            _ => path_index.unwrap_or_default().to_string(),
        };
        let id = match meta.get("_id") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let mut item = Item {
            action,
            index,
            id,
            error: None,
        };
        match action {
            Action::Index | Action::Create => {
                let Some((_, doc)) = lines.next() else {
                    return Err(BulkError::BadRequest(format!(
                        "the `{}` action on line [{number}] has no document line after it",
                        action.as_str()
                    )));
                };
                if item.index.len() > MAX_INDEX_NAME_BYTES {
                    item.error = Some(ItemError {
                        status: 400,
                        kind: "invalid_index_name_exception",
                        reason: format!("index name is longer than {MAX_INDEX_NAME_BYTES} bytes"),
                    });
                    parsed.items.push(item);
                    continue;
                }
                let origin = Origin {
                    source: source_of(&item.index),
                    record_id: None,
                    offset: None,
                    id: item.id.clone(),
                };
                match wardwatch_ingest::jsonl::decode_line_keeping_text(doc, origin) {
                    Ok(event) => parsed.events.push(event),
                    Err(reason) => {
                        item.error = Some(ItemError {
                            status: 400,
                            kind: "mapper_parsing_exception",
                            reason: format!("failed to parse the document: {reason}"),
                        })
                    }
                }
            }
            Action::Update | Action::Delete => {
                if action == Action::Update {
                    // Its partial document or script; nothing to keep.
                    let _ = lines.next();
                }
                item.error = Some(ItemError {
                    status: 400,
                    kind: "illegal_argument_exception",
                    reason: format!(
                        "`{}` is not supported: Wardwatch keeps events as they were sent (use `index` or `create`)",
                        action.as_str()
                    ),
                });
            }
        }
        parsed.items.push(item);
    }
    Ok(parsed)
}

/// At most this many items are reserved ahead of parsing (a body with more grows as usual).
const MAX_RESERVED_ITEMS: usize = 20_000;

/// Line feeds in `body`.
fn line_feeds(body: &[u8]) -> usize {
    body.iter().filter(|&&b| b == b'\n').count()
}

/// An action line: `{"<action>": {<metadata>}}`.
fn action_line(number: usize, line: &[u8]) -> Result<(Action, Map<String, Value>), BulkError> {
    let malformed = |what: String| {
        BulkError::BadRequest(format!("malformed action/metadata line [{number}]: {what}"))
    };
    let value: Value = serde_json::from_slice(line)
        .map_err(|e| malformed(format!("not JSON ({e}); expected {{\"index\": {{..}}}}")))?;
    let Value::Object(object) = value else {
        return Err(malformed(
            "expected a JSON object such as {\"index\": {..}}".into(),
        ));
    };
    if object.len() != 1 {
        return Err(malformed(format!(
            "expected exactly one action, found {}",
            object.len()
        )));
    }
    let Some((name, meta)) = object.into_iter().next() else {
        return Err(malformed("expected one action".into()));
    };
    let action = match name.as_str() {
        "index" => Action::Index,
        "create" => Action::Create,
        "update" => Action::Update,
        "delete" => Action::Delete,
        other => {
            return Err(malformed(format!(
                "expected one of [create, delete, index, update] but found [{other}]"
            )));
        }
    };
    match meta {
        Value::Object(meta) => Ok((action, meta)),
        Value::Null => Ok((action, Map::new())),
        _ => Err(malformed(format!(
            "the metadata of `{name}` must be an object"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parse `body` and render each item as `action index id -> ok|status kind`, or the error.
    fn check(body: &str, path_index: Option<&str>, expected: &[&str]) {
        let got: Vec<String> = match parse(body.as_bytes(), path_index) {
            Ok(parsed) => {
                let good = parsed.items.iter().filter(|i| i.error.is_none()).count();
                assert_eq!(good, parsed.events.len());
                parsed
                    .items
                    .iter()
                    .map(|i| {
                        let outcome = match &i.error {
                            None => "ok".to_string(),
                            Some(e) => format!("{} {}", e.status, e.kind),
                        };
                        format!(
                            "{} {} {} -> {outcome}",
                            i.action.as_str(),
                            i.index,
                            i.id.as_deref().unwrap_or("-")
                        )
                    })
                    .collect()
            }
            Err(BulkError::BadRequest(reason)) => vec![format!("400: {reason}")],
            Err(e) => vec![format!("{e:?}")],
        };
        assert_eq!(got, expected, "body: {body}");
    }

    #[test]
    fn index_and_create() {
        check(
            "{\"index\":{\"_index\":\"a\",\"_id\":\"1\"}}\n{\"x\":1}\n{\"create\":{}}\n{\"y\":2}\n",
            Some("p"),
            &["index a 1 -> ok", "create p - -> ok"],
        );
        // No final line feed, blank and CRLF lines.
        check(
            "\r\n{\"create\":{\"_index\":\"a\",\"_id\":7}}\r\n\r\n{\"x\":1}",
            None,
            &["create a 7 -> ok"],
        );
        check("", None, &[]);
    }

    #[test]
    fn bad_documents_fail_alone() {
        check(
            "{\"index\":{}}\n[1,2]\n{\"index\":{}}\n{not json\n{\"index\":{}}\n{\"ok\":true}\n",
            Some("i"),
            &[
                "index i - -> 400 mapper_parsing_exception",
                "index i - -> 400 mapper_parsing_exception",
                "index i - -> ok",
            ],
        );
    }

    #[test]
    fn overlong_index_names_are_refused_per_item() {
        let long = "i".repeat(256);
        check(
            &format!("{{\"index\":{{\"_index\":\"{long}\"}}}}\n{{}}\n{{\"index\":{{}}}}\n{{}}\n"),
            Some("ok"),
            &[
                &format!("index {long} - -> 400 invalid_index_name_exception"),
                "index ok - -> ok",
            ],
        );
    }

    #[test]
    fn update_and_delete_are_refused_per_item() {
        check(
            "{\"delete\":{\"_index\":\"i\",\"_id\":\"1\"}}\n{\"update\":{\"_index\":\"i\",\"_id\":\"2\"}}\n{\"doc\":{}}\n{\"index\":{\"_index\":\"i\"}}\n{\"a\":1}\n",
            None,
            &[
                "delete i 1 -> 400 illegal_argument_exception",
                "update i 2 -> 400 illegal_argument_exception",
                "index i - -> ok",
            ],
        );
    }

    #[test]
    fn broken_action_lines_fail_the_request() {
        check(
            "{\"index\":{}}\n{\"a\":1}\nnope\n",
            None,
            &[
                "400: malformed action/metadata line [3]: not JSON (expected ident at line 1 column 2); expected {\"index\": {..}}",
            ],
        );
        check(
            "{\"upsert\":{}}\n{}\n",
            None,
            &[
                "400: malformed action/metadata line [1]: expected one of [create, delete, index, update] but found [upsert]",
            ],
        );
        check(
            "{\"index\":{}}\n",
            None,
            &["400: the `index` action on line [1] has no document line after it"],
        );
    }
}
