//! The event search language: `field:value` terms, `AND` / `OR` / `NOT` (and `-term`),
//! parentheses, quoted phrases and free words; adjacent terms are ANDed.
//!
//! ```text
//! host.name:ws-042 AND (EventID:4624 OR EventID:4625) NOT user.name:"svc backup" powershell
//! ```
//!
//! Field names are ECS names (`host.name`, `user.name`, `source.ip`, `event.code`, ...) or the
//! source's own (`EventID`, `CommandLine`, `TargetUserName`, dotted paths into the record).
//! Values compare case-insensitively; `*` in a value is a wildcard. Free words and phrases match
//! whole words of any value in the event, as the full-text index does.
//!
//! Queries come from the network, so their size is bounded before anything recursive sees
//! them: at most [`MAX_QUERY_CHARS`] characters and [`MAX_DEPTH`] levels of nesting
//! (parentheses and `NOT`/`-`). Without the depth limit a query of 8,000 `(` overflowed the
//! parser's stack and aborted the whole server, ingest included.

use std::fmt;

use serde_json::Value;
use wardwatch_core::Event;

/// The longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 4096;

/// The deepest nesting accepted: parentheses and `NOT` / `-`, each a level.
pub const MAX_DEPTH: usize = 32;

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// Matches everything (the empty query).
    All,
    And(Vec<Query>),
    Or(Vec<Query>),
    Not(Box<Query>),
    /// `field:value`.
    Field {
        field: String,
        value: String,
    },
    /// A free word or a quoted phrase.
    Text(String),
}

/// A query that does not parse, with the character position of the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("query error at character {pos}: {message}")]
pub struct QueryError {
    pub pos: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Quoted(String),
    Colon,
    LParen,
    RParen,
    Minus,
}

fn lex(input: &str) -> Result<Vec<(usize, Tok)>, QueryError> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push((i, Tok::LParen));
                i += 1;
            }
            ')' => {
                out.push((i, Tok::RParen));
                i += 1;
            }
            ':' => {
                out.push((i, Tok::Colon));
                i += 1;
            }
            '-' if out.last().is_none_or(|(_, t)| !matches!(t, Tok::Colon)) => {
                out.push((i, Tok::Minus));
                i += 1;
            }
            '"' => {
                let start = i;
                i += 1;
                let mut s = String::new();
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(QueryError {
                                pos: start,
                                message: "unclosed quote".into(),
                            });
                        }
                        Some('\\') if chars.get(i + 1).is_some() => {
                            s.push(chars[i + 1]);
                            i += 2;
                        }
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some(c) => {
                            s.push(*c);
                            i += 1;
                        }
                    }
                }
                out.push((start, Tok::Quoted(s)));
            }
            _ => {
                let start = i;
                let mut s = String::new();
                while let Some(&c) = chars.get(i) {
                    if c.is_whitespace() || matches!(c, '(' | ')' | '"') {
                        break;
                    }
                    // A colon ends a field name, but is part of a value (`C:\`, IPv6).
                    if c == ':' && !matches!(out.last(), Some((_, Tok::Colon))) {
                        break;
                    }
                    s.push(c);
                    i += 1;
                }
                out.push((start, Tok::Word(s)));
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    at: usize,
    len: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at).map(|(_, t)| t)
    }

    fn pos(&self) -> usize {
        self.toks.get(self.at).map_or(self.len, |(p, _)| *p)
    }

    fn err<T>(&self, message: impl Into<String>) -> Result<T, QueryError> {
        Err(QueryError {
            pos: self.pos(),
            message: message.into(),
        })
    }

    /// Enter one level of nesting, refusing to go past [`MAX_DEPTH`].
    fn deeper(&mut self) -> Result<(), QueryError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err(format!(
                "the query is nested deeper than {MAX_DEPTH} levels (parentheses and NOT)"
            ));
        }
        Ok(())
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x == w)
    }

    fn or(&mut self) -> Result<Query, QueryError> {
        let mut parts = vec![self.and()?];
        while self.is_word("OR") {
            self.at += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Query::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Query, QueryError> {
        let mut parts = vec![self.unary()?];
        loop {
            match self.peek() {
                None | Some(Tok::RParen) => break,
                Some(Tok::Word(w)) if w == "OR" => break,
                Some(Tok::Word(w)) if w == "AND" => {
                    self.at += 1;
                    parts.push(self.unary()?);
                }
                _ => parts.push(self.unary()?),
            }
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Query::And(parts)
        })
    }

    fn unary(&mut self) -> Result<Query, QueryError> {
        match self.peek() {
            Some(Tok::Minus) => {
                self.at += 1;
                self.not()
            }
            Some(Tok::Word(w)) if w == "NOT" => {
                self.at += 1;
                self.not()
            }
            _ => self.primary(),
        }
    }

    fn not(&mut self) -> Result<Query, QueryError> {
        self.deeper()?;
        let q = Query::Not(Box::new(self.unary()?));
        self.depth -= 1;
        Ok(q)
    }

    fn primary(&mut self) -> Result<Query, QueryError> {
        match self.peek().cloned() {
            Some(Tok::LParen) => {
                self.deeper()?;
                self.at += 1;
                let q = self.or()?;
                if self.peek() != Some(&Tok::RParen) {
                    return self.err("expected `)`");
                }
                self.at += 1;
                self.depth -= 1;
                Ok(q)
            }
            Some(Tok::Quoted(s)) => {
                self.at += 1;
                Ok(Query::Text(s))
            }
            Some(Tok::Word(w)) => {
                if matches!(w.as_str(), "AND" | "OR") {
                    return self.err(format!("`{w}` needs a term before it"));
                }
                self.at += 1;
                if self.peek() == Some(&Tok::Colon) {
                    self.at += 1;
                    let value = match self.peek().cloned() {
                        Some(Tok::Word(v)) | Some(Tok::Quoted(v)) => v,
                        _ => return self.err(format!("`{w}:` needs a value")),
                    };
                    self.at += 1;
                    return Ok(Query::Field { field: w, value });
                }
                Ok(Query::Text(w))
            }
            Some(Tok::RParen) => self.err("unexpected `)`"),
            Some(Tok::Colon) => self.err("a `:` needs a field name before it"),
            Some(Tok::Minus) | None => self.err("expected a term"),
        }
    }
}

/// Parse a query; the empty string is [`Query::All`]. Longer than [`MAX_QUERY_CHARS`] or
/// nested deeper than [`MAX_DEPTH`] is an error naming the limit.
pub fn parse(input: &str) -> Result<Query, QueryError> {
    if let Some((pos, _)) = input.char_indices().nth(MAX_QUERY_CHARS) {
        return Err(QueryError {
            pos: input[..pos].chars().count(),
            message: format!(
                "the query is longer than {MAX_QUERY_CHARS} characters ({} given)",
                input.chars().count()
            ),
        });
    }
    let toks = lex(input)?;
    if toks.is_empty() {
        return Ok(Query::All);
    }
    let mut p = Parser {
        toks,
        at: 0,
        len: input.chars().count(),
        depth: 0,
    };
    let q = p.or()?;
    if p.at < p.toks.len() {
        return p.err("unexpected input");
    }
    Ok(q)
}

/// Words of a text as the full-text index sees them: lowercase runs of letters and digits.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

impl Query {
    /// An FTS5 expression that every event matching this query also matches (a prefilter), or
    /// `None` when no such restriction can be derived (the query must be checked on every
    /// event in the time range).
    pub fn fts_prefilter(&self) -> Option<String> {
        match self {
            Query::All | Query::Not(_) => None,
            Query::Text(t) => phrase(t),
            Query::Field { value, .. } if value.contains('*') => None,
            Query::Field { value, .. } => phrase(value),
            Query::And(parts) => {
                let ps: Vec<String> = parts.iter().filter_map(Query::fts_prefilter).collect();
                (!ps.is_empty()).then(|| format!("({})", ps.join(" AND ")))
            }
            Query::Or(parts) => {
                let ps: Option<Vec<String>> = parts.iter().map(Query::fts_prefilter).collect();
                ps.map(|ps| format!("({})", ps.join(" OR ")))
            }
        }
    }

    /// Whether `event` (with its index words) matches.
    pub fn matches(&self, event: &Event, event_words: &[String]) -> bool {
        let seen = Seen::new(event);
        // Words given: the lazily computed ones are never needed.
        let _ = seen.words.set(event_words.to_vec());
        self.matches_seen(&seen)
    }

    /// Whether `event` matches, computing its words and normalized fields only if the query
    /// needs them (a query of fields alone never builds the event's word list, the costliest
    /// part of a check), and each at most once.
    pub fn matches_event(&self, event: &Event) -> bool {
        self.matches_seen(&Seen::new(event))
    }

    fn matches_seen(&self, seen: &Seen<'_>) -> bool {
        match self {
            Query::All => true,
            Query::And(parts) => parts.iter().all(|q| q.matches_seen(seen)),
            Query::Or(parts) => parts.iter().any(|q| q.matches_seen(seen)),
            Query::Not(q) => !q.matches_seen(seen),
            Query::Text(t) => {
                let w = words(t);
                if w.is_empty() {
                    return false;
                }
                if let Some(given) = seen.words.get() {
                    return given.windows(w.len()).any(|win| win == w.as_slice());
                }
                // The event's words as slices of its text, compared in place: `words` would
                // allocate a lowercased copy of every one (most of a check's time).
                let text = seen.text();
                let mut pieces = text
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|p| !p.is_empty());
                if let [one] = w.as_slice() {
                    return pieces.any(|p| same_word(p, one));
                }
                let pieces: Vec<&str> = pieces.collect();
                pieces
                    .windows(w.len())
                    .any(|win| win.iter().zip(&w).all(|(p, x)| same_word(p, x)))
            }
            Query::Field { field, value } => field_values_in(seen.event, seen.ecs(), field)
                .iter()
                .any(|v| glob_eq(value, v) || short_host_eq(field, value, v)),
        }
    }
}

/// Whether `piece` (a run of letters and digits of an event's text) is the word `lower` (a
/// word of [`words`]: lowercased), as `piece.to_lowercase() == lower` but without the copy
/// for an ASCII piece.
fn same_word(piece: &str, lower: &str) -> bool {
    if piece.is_ascii() {
        piece.eq_ignore_ascii_case(lower)
    } else {
        piece.to_lowercase() == lower
    }
}

/// An event being checked, with what the check derives from it, each computed on first use.
struct Seen<'a> {
    event: &'a Event,
    /// The event's words when the caller has them (see [`Query::matches`]).
    words: std::cell::OnceCell<Vec<String>>,
    /// Its text as the index sees it ([`crate::index_text`]), else.
    text: std::cell::OnceCell<String>,
    ecs: std::cell::OnceCell<Value>,
}

impl<'a> Seen<'a> {
    fn new(event: &'a Event) -> Self {
        Seen {
            event,
            words: std::cell::OnceCell::new(),
            text: std::cell::OnceCell::new(),
            ecs: std::cell::OnceCell::new(),
        }
    }

    fn text(&self) -> &str {
        self.text.get_or_init(|| crate::index_text(self.event))
    }

    fn ecs(&self) -> &Value {
        self.ecs
            .get_or_init(|| serde_json::to_value(&self.event.ecs).unwrap_or(Value::Null))
    }
}

/// An FTS5 expression requiring every word of `text` (the index keeps no positions; the
/// exact phrase is checked on the candidates), or `None` when it has no words.
fn phrase(text: &str) -> Option<String> {
    let w = words(text);
    match w.len() {
        0 => None,
        1 => Some(format!("\"{}\"", w[0])),
        _ => Some(format!(
            "({})",
            w.iter()
                .map(|x| format!("\"{x}\""))
                .collect::<Vec<_>>()
                .join(" AND ")
        )),
    }
}

/// Fields that hold a host's name, which a person writes with or without its DNS domain.
pub const HOST_FIELDS: &[&str] = &["host.name", "host.hostname", "Computer", "WorkstationName"];

/// `host.name:PACS01` finds `PACS01.hospital.local`: a host name without a dot matches a
/// stored name's first label (narratives and pages name hosts short; agents send them whole).
fn short_host_eq(field: &str, pattern: &str, value: &str) -> bool {
    !pattern.contains('.')
        && HOST_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(field))
        && value
            .split_once('.')
            .is_some_and(|(short, _)| glob_eq(pattern, short))
}

/// Case-insensitive equality with `*` wildcards in the pattern.
pub(crate) fn glob_eq(pattern: &str, value: &str) -> bool {
    let p = pattern.to_lowercase();
    let v = value.to_lowercase();
    if !p.contains('*') {
        return p == v;
    }
    let parts: Vec<&str> = p.split('*').collect();
    let mut rest = v.as_str();
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            continue;
        }
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            let Some(at) = rest.find(part) else {
                return false;
            };
            rest = &rest[at + part.len()..];
        }
    }
    true
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Object(o) => o.get("#text").and_then(text_of),
        _ => None,
    }
}

fn path<'a>(v: &'a Value, dotted: &str) -> Option<&'a Value> {
    if let Some(direct) = v.get(dotted) {
        return Some(direct);
    }
    dotted.split('.').try_fold(v, |cur, key| cur.get(key))
}

/// Every value `field` names in `event`: the ECS field of that name, the source's own field
/// (EVTX `EventData`/`System`, Winlogbeat `winlog.event_data`), or a dotted path in the record.
pub fn field_values(event: &Event, field: &str) -> Vec<String> {
    let ecs = serde_json::to_value(&event.ecs).unwrap_or(Value::Null);
    field_values_in(event, &ecs, field)
}

/// [`field_values`] with the event's normalized fields already as JSON (`ecs`).
fn field_values_in(event: &Event, ecs: &Value, field: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Value::Object(ecs) = ecs
        && let Some(v) = ecs.get(field).and_then(text_of)
    {
        out.push(v);
    }
    if field == "@timestamp" {
        out.push(event.timestamp.to_string());
    }
    if field == "organization.id" {
        out.push(event.organization.clone());
    }
    let raw = &event.raw;
    let candidates = [
        raw.pointer("/Event/EventData").and_then(|d| d.get(field)),
        raw.pointer("/Event/System").and_then(|d| d.get(field)),
        raw.pointer("/winlog/event_data").and_then(|d| d.get(field)),
        path(raw, field),
    ];
    for v in candidates.into_iter().flatten() {
        match v {
            Value::Array(items) => out.extend(items.iter().filter_map(text_of)),
            v => out.extend(text_of(v)),
        }
    }
    out
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Query::All => write!(f, "*"),
            Query::And(p) => write!(
                f,
                "({})",
                p.iter()
                    .map(|q| q.to_string())
                    .collect::<Vec<_>>()
                    .join(" AND ")
            ),
            Query::Or(p) => write!(
                f,
                "({})",
                p.iter()
                    .map(|q| q.to_string())
                    .collect::<Vec<_>>()
                    .join(" OR ")
            ),
            Query::Not(q) => write!(f, "NOT {q}"),
            Query::Field { field, value } => write!(f, "{field}:{value:?}"),
            Query::Text(t) => write!(f, "{t:?}"),
        }
    }
}

mod pairs;
mod sql;
pub use pairs::FieldPairs;
pub(crate) use sql::sure_sql;

#[cfg(test)]
mod tests;
