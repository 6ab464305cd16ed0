//! STIX 2.1 bundles in: their indicators' patterns as values to match.
//!
//! The bundle is checked here and each pattern by `rstix` (the patterning grammar and its
//! types); a bundle with one bad indicator is refused whole, so nothing is half-imported. A pattern
//! becomes indicators when it names values a single event can show: each `=` or `IN`
//! comparison on a supported object path, joined by `OR` (within or across observations).
//! A pattern that needs several things at once (`AND`, `FOLLOWEDBY`, `REPEATS`) or that
//! compares otherwise (`LIKE`, `MATCHES`, `!=`) cannot be answered value by value; it is
//! reported as skipped with that reason, not guessed at.

use jiff::Timestamp;
use rstix::Pattern;
use serde_json::Value;

use super::{ImportError, Imported, Skipped};
use crate::indicator::{Indicator, Kind, Tlp};

/// The indicators of the STIX 2.1 bundle `json`, shared by `source`.
///
/// The bundle's shape is checked here (a `bundle` with an id and a list of objects, each with
/// a `type` and an `id` of that type, STIX 2.1); each indicator's pattern is parsed and
/// type-checked by `rstix`. References to objects outside the bundle are allowed: a bundle is
/// only transport (STIX 2.1 §8), and partners send indicators without the identity that
/// created them.
pub fn import_bundle(json: &str, source: &str) -> Result<Imported, ImportError> {
    let bad = |m: String| ImportError::Stix(m);
    let root: Value = serde_json::from_str(json).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    if root.get("type").and_then(Value::as_str) != Some("bundle") {
        return Err(bad("the document is not a `bundle`".into()));
    }
    if !root
        .get("id")
        .and_then(Value::as_str)
        .is_some_and(|id| id.starts_with("bundle--"))
    {
        return Err(bad("the bundle has no `bundle--` id".into()));
    }
    let objects = match root.get("objects") {
        Some(Value::Array(o)) => o.as_slice(),
        None => &[][..],
        Some(_) => return Err(bad("`objects` is not a list".into())),
    };
    let mut out = Imported {
        objects: objects.len(),
        ..Imported::default()
    };
    for (n, obj) in objects.iter().enumerate() {
        let ty = obj.get("type").and_then(Value::as_str);
        let id = obj.get("id").and_then(Value::as_str);
        let (Some(ty), Some(id)) = (ty, id) else {
            return Err(bad(format!("object {n} has no `type` or no `id`")));
        };
        if !id.starts_with(&format!("{ty}--")) {
            return Err(bad(format!("object {n}: id `{id}` is not of type `{ty}`")));
        }
        if ty != "indicator" {
            continue;
        }
        let field = |k: &str| obj.get(k).and_then(Value::as_str);
        let time = |k: &str| -> Result<Option<Timestamp>, ImportError> {
            field(k)
                .map(|t| {
                    t.parse::<Timestamp>()
                        .map_err(|e| bad(format!("{id}: `{k}` is not a timestamp: {e}")))
                })
                .transpose()
        };
        let spec = field("spec_version");
        if spec.is_some_and(|v| v != "2.1") {
            return Err(bad(format!(
                "{id}: spec_version {} is not 2.1",
                spec.unwrap_or("")
            )));
        }
        let (Some(pattern), Some(pattern_type)) = (field("pattern"), field("pattern_type")) else {
            return Err(bad(format!(
                "{id}: an indicator needs `pattern` and `pattern_type`"
            )));
        };
        let valid_from = time("valid_from")?
            .ok_or_else(|| bad(format!("{id}: an indicator needs `valid_from`")))?;
        let valid_until = time("valid_until")?;
        if pattern_type != "stix" {
            out.skipped.push(Skipped {
                what: id.into(),
                reason: format!("pattern type `{pattern_type}` is not STIX patterning"),
            });
            continue;
        }
        let parsed = Pattern::parse(pattern).map_err(|e| bad(format!("{id}: pattern: {e}")))?;
        let values = match values(&parsed.canonical()) {
            Ok(v) => v,
            Err(reason) => {
                out.skipped.push(Skipped {
                    what: id.into(),
                    reason,
                });
                continue;
            }
        };
        let tlp = obj
            .get("object_marking_refs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .find_map(Tlp::of_marking_id);
        let strings = |k: &str| -> Vec<String> {
            obj.get(k)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        };
        for (kind, value) in values {
            match Indicator::new(kind, &value, source) {
                Ok(mut i) => {
                    i.id = id.to_string();
                    i.name = field("name").map(str::to_string);
                    i.description = field("description").map(str::to_string);
                    i.valid_from = Some(valid_from);
                    i.valid_until = valid_until;
                    i.revoked = obj.get("revoked").and_then(Value::as_bool).unwrap_or(false);
                    i.tlp = tlp;
                    i.labels = strings("indicator_types");
                    out.indicators.push(i);
                }
                Err(reason) => out.skipped.push(Skipped {
                    what: id.into(),
                    reason,
                }),
            }
        }
    }
    Ok(out)
}

#[derive(Debug, PartialEq)]
enum Token {
    Open,
    Close,
    Word(String),
    Text(String),
}

/// The tokens of a (valid, canonical) pattern: brackets, words and paths, quoted strings.
fn tokens(p: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = p.chars().peekable();
    let quoted = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        let mut s = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(n) = chars.next() {
                        s.push(n);
                    }
                }
                '\'' => break,
                c => s.push(c),
            }
        }
        s
    };
    while let Some(&c) = chars.peek() {
        match c {
            '[' | '(' => {
                chars.next();
                out.push(Token::Open);
            }
            ']' | ')' => {
                chars.next();
                out.push(Token::Close);
            }
            '\'' => {
                chars.next();
                out.push(Token::Text(quoted(&mut chars)));
            }
            c if c.is_whitespace() || c == ',' => {
                chars.next();
            }
            _ => {
                let mut w = String::new();
                while let Some(&c) = chars.peek() {
                    if c == '\'' && w.ends_with('.') {
                        // A dictionary key inside a path: `hashes.'SHA-256'`.
                        chars.next();
                        w.push_str(&quoted(&mut chars));
                    } else if c.is_whitespace() || "[]()',".contains(c) {
                        break;
                    } else {
                        w.push(c);
                        chars.next();
                    }
                }
                out.push(Token::Word(w));
            }
        }
    }
    out
}

/// Values of a pattern that one event can show, or why there are none to take. A pattern
/// whose comparisons are all joined by `OR` (inside and across observations) names values
/// that each stand alone; `AND`, `FOLLOWEDBY`, `REPEATS` and `NOT` need several things at once
/// or an absence, which one value cannot show.
fn values(pattern: &str) -> Result<Vec<(Kind, String)>, String> {
    let toks = tokens(pattern);
    for t in &toks {
        if let Token::Word(w) = t {
            match w.to_ascii_uppercase().as_str() {
                "AND" => return Err("needs several things at once (AND)".into()),
                "FOLLOWEDBY" => return Err("needs observations in sequence (FOLLOWEDBY)".into()),
                "REPEATS" => return Err("needs repeated observations (REPEATS)".into()),
                "NOT" => return Err("negated comparison (NOT)".into()),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let Token::Word(path) = &toks[i] else {
            i += 1;
            continue;
        };
        if !path.contains(':') || path.starts_with("t'") {
            i += 1;
            continue;
        }
        let kind = kind_of(path)
            .ok_or_else(|| format!("object path `{path}` is not one Wardwatch matches"))?;
        let op = match toks.get(i + 1) {
            Some(Token::Word(op)) => op.to_ascii_uppercase(),
            _ => return Err(format!("no operator after `{path}`")),
        };
        match op.as_str() {
            "=" => match toks.get(i + 2) {
                Some(Token::Text(v)) => {
                    out.push((kind, v.clone()));
                    i += 3;
                }
                _ => return Err(format!("`{path} =` compares with no string")),
            },
            "ISSUBSET" if kind == Kind::Cidr => match toks.get(i + 2) {
                Some(Token::Text(v)) => {
                    out.push((kind, v.clone()));
                    i += 3;
                }
                _ => return Err(format!("`{path} ISSUBSET` compares with no string")),
            },
            "IN" => {
                let mut j = i + 2;
                if toks.get(j) == Some(&Token::Open) {
                    j += 1;
                }
                while let Some(Token::Text(v)) = toks.get(j) {
                    out.push((kind, v.clone()));
                    j += 1;
                }
                i = j;
            }
            other => return Err(format!("comparison `{other}` is not an equality")),
        }
    }
    if out.is_empty() {
        return Err("names no value".into());
    }
    Ok(out)
}

/// The indicator kind an object path names, for the paths Wardwatch matches.
fn kind_of(path: &str) -> Option<Kind> {
    let (ty, prop) = path.split_once(':')?;
    let prop = prop.to_ascii_lowercase();
    let hash = |name: &str| match name.to_ascii_uppercase().replace('_', "-").as_str() {
        "MD5" => Some(Kind::Md5),
        "SHA-1" | "SHA1" => Some(Kind::Sha1),
        "SHA-256" | "SHA256" => Some(Kind::Sha256),
        "SHA-512" | "SHA512" => Some(Kind::Sha512),
        _ => None,
    };
    match (ty, prop.as_str()) {
        ("ipv4-addr" | "ipv6-addr", "value") => Some(Kind::Cidr),
        ("domain-name", "value") => Some(Kind::Domain),
        ("url", "value") => Some(Kind::Url),
        ("email-addr", "value") => Some(Kind::Email),
        ("email-message", "from_ref.value" | "sender_ref.value") => Some(Kind::Email),
        ("email-message", "subject") => Some(Kind::Subject),
        ("network-traffic", "dst_ref.value" | "src_ref.value") => Some(Kind::Cidr),
        ("file" | "artifact", p) => p.strip_prefix("hashes.").and_then(hash),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(patterns: &[&str]) -> String {
        let objects: Vec<serde_json::Value> = patterns
            .iter()
            .enumerate()
            .map(|(i, p)| {
                serde_json::json!({
                    "type": "indicator", "spec_version": "2.1",
                    "id": format!("indicator--00000000-0000-4000-8000-0000000000{i:02}"),
                    "created": "2026-11-01T00:00:00.000Z", "modified": "2026-11-01T00:00:00.000Z",
                    "name": format!("ind {i}"), "indicator_types": ["malicious-activity"],
                    "pattern": p, "pattern_type": "stix",
                    "valid_from": "2026-11-01T00:00:00Z",
                    "object_marking_refs": [Tlp::Amber.marking_id()]
                })
            })
            .collect();
        serde_json::json!({"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000001",
            "objects": objects})
        .to_string()
    }

    #[test]
    fn equality_patterns_become_indicators_and_compound_ones_are_skipped_with_a_reason() {
        let json = bundle(&[
            "[ipv4-addr:value = '198.51.100.7']",
            "[ipv4-addr:value ISSUBSET '203.0.113.0/24']",
            "[domain-name:value = 'Evil.Example'] OR [url:value = 'http://evil.example/a']",
            "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']",
            "[email-message:from_ref.value = 'ceo@spoofed.example' OR email-message:subject = 'Urgent payment']",
            "[domain-name:value IN ('a.example', 'b.example')]",
            "[ipv4-addr:value = '10.0.0.1'] AND [domain-name:value = 'c.example']",
            "[file:name LIKE '%.exe']",
            "[process:name = 'evil.exe']",
        ]);
        let got = import_bundle(&json, "partner-a").unwrap();
        let vals = got.values();
        assert_eq!(
            vals,
            vec![
                (Kind::Ip, "198.51.100.7"),
                (Kind::Cidr, "203.0.113.0/24"),
                (Kind::Domain, "evil.example"),
                (Kind::Url, "http://evil.example/a"),
                (
                    Kind::Sha256,
                    "aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f"
                ),
                (Kind::Email, "ceo@spoofed.example"),
                (Kind::Subject, "urgent payment"),
                (Kind::Domain, "a.example"),
                (Kind::Domain, "b.example"),
            ]
        );
        let first = &got.indicators[0];
        assert_eq!(first.source, "partner-a");
        assert_eq!(first.tlp, Some(Tlp::Amber));
        assert_eq!(first.name.as_deref(), Some("ind 0"));
        assert!(first.id.starts_with("indicator--"));
        assert_eq!(first.labels, vec!["malicious-activity"]);
        let reasons: Vec<&str> = got.skipped.iter().map(|s| s.reason.as_str()).collect();
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert!(reasons[0].contains("AND"));
        assert!(reasons[1].contains("file:name"), "{reasons:?}");
        assert!(reasons[2].contains("process:name"));
        assert_eq!(got.objects, 9);
    }

    #[test]
    fn a_bad_bundle_is_refused_whole() {
        let good = bundle(&["[domain-name:value = 'ok.example']"]);
        let broken_pattern =
            good.replace("domain-name:value = 'ok.example'", "domain-name:value = ");
        for bad in [
            "{",
            r#"{"type": "report"}"#,
            broken_pattern.as_str(),
            r#"{"type":"bundle","id":"bundle--00000000-0000-4000-8000-000000000001","objects":[{"type":"indicator"}]}"#,
        ] {
            let err = import_bundle(bad, "p").unwrap_err();
            assert!(matches!(err, ImportError::Stix(_)), "{bad}: {err}");
        }
    }
}
