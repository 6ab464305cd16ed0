use serde_json::json;
use wardwatch_core::{Event, SourceKind};

use super::*;

fn check(input: &str, expected: &str) {
    assert_eq!(parse(input).unwrap().to_string(), expected, "{input}");
}

#[test]
fn parses_terms_operators_and_precedence() {
    check("", "*");
    check("powershell", "\"powershell\"");
    check("host.name:ws-042", "host.name:\"ws-042\"");
    check("a b", "(\"a\" AND \"b\")");
    check("a OR b c", "(\"a\" OR (\"b\" AND \"c\"))");
    check("NOT a -b", "(NOT \"a\" AND NOT \"b\")");
    check(
        "user.name:\"svc backup\" AND (EventID:4624 OR EventID:4625)",
        "(user.name:\"svc backup\" AND (EventID:\"4624\" OR EventID:\"4625\"))",
    );
    check(
        "file.path:C:\\Windows\\*",
        "file.path:\"C:\\\\Windows\\\\*\"",
    );
    check("source.ip:fe80::1", "source.ip:\"fe80::1\"");
}

#[test]
fn errors_name_the_position() {
    assert_eq!(parse("\"open").unwrap_err().pos, 0);
    assert_eq!(parse("a AND").unwrap_err().message, "expected a term");
    assert_eq!(parse("(a").unwrap_err().message, "expected `)`");
    assert_eq!(parse("host.name:").unwrap_err().pos, 10);
    assert!(parse("OR a").is_err());
}

fn event() -> Event {
    let mut e = Event::new(
        SourceKind::Evtx,
        jiff::Timestamp::UNIX_EPOCH,
        json!({"Event": {"System": {"EventID": 4624, "Computer": "WS-042"},
            "EventData": {"TargetUserName": "alice", "CommandLine": "powershell -enc AAA"}}}),
    );
    e.ecs.host_name = Some("WS-042".into());
    e
}

fn hits(q: &str) -> bool {
    let e = event();
    let w = words(&crate::index_text(&e));
    parse(q).unwrap().matches(&e, &w)
}

#[test]
fn matches_fields_words_phrases_and_wildcards() {
    assert!(hits("host.name:ws-042"));
    assert!(hits("EventID:4624 TargetUserName:ALICE"));
    assert!(hits("CommandLine:*-enc*"));
    assert!(!hits("CommandLine:-enc"));
    assert!(hits("\"powershell -enc\""));
    assert!(!hits("\"enc powershell\""));
    assert!(hits("NOT user.name:bob"));
    assert!(!hits("alice AND NOT EventID:4624"));
    assert!(hits("Event.System.Computer:ws-042"));
}

#[test]
fn prefilter_is_a_superset_and_skips_negations() {
    let q = parse("host.name:ws-042 NOT bob (x OR y:\"a b\")").unwrap();
    assert_eq!(
        q.fts_prefilter().unwrap(),
        "((\"ws\" AND \"042\") AND (\"x\" OR (\"a\" AND \"b\")))"
    );
    assert_eq!(parse("NOT a").unwrap().fts_prefilter(), None);
    assert_eq!(parse("a OR host.name:w*").unwrap().fts_prefilter(), None);
}

#[test]
fn deep_nesting_and_long_queries_are_refused_naming_the_limit() {
    // 8,000 levels overflowed the parser's stack (the whole server aborted); now an error.
    let deep = format!("{}a{}", "(".repeat(8000), ")".repeat(8000));
    let e = parse(&deep).unwrap_err();
    assert!(e.message.contains("longer than 4096 characters"), "{e}");
    let deep = format!("{}a{}", "(".repeat(2000), ")".repeat(2000));
    let e = parse(&deep).unwrap_err();
    assert!(e.message.contains("deeper than 32 levels"), "{e}");
    assert_eq!(e.pos, 32, "at the parenthesis that goes one level too deep");
    let nots = format!("{}a", "NOT ".repeat(MAX_DEPTH + 1));
    assert!(parse(&nots).unwrap_err().message.contains("deeper than"));
    let minus = format!("{}a", "-".repeat(1000));
    assert!(parse(&minus).unwrap_err().message.contains("deeper than"));
    // At the limit is fine, and siblings do not add up.
    let ok = format!("{}a{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
    assert_eq!(parse(&ok).unwrap(), Query::Text("a".into()));
    let wide = vec!["(a OR b)"; 250].join(" AND ");
    assert!(parse(&wide).is_ok());
    assert!(parse(&"a ".repeat(MAX_QUERY_CHARS / 2)).is_ok());
    assert!(parse(&"a ".repeat(MAX_QUERY_CHARS / 2 + 1)).is_err());
}

#[test]
fn host_names_match_with_or_without_their_dns_domain() {
    let mut e = event();
    e.ecs.host_name = Some("PACS01.hospital.local".into());
    let w = words(&crate::index_text(&e));
    let hit = |q: &str| parse(q).unwrap().matches(&e, &w);
    assert!(hit("host.name:PACS01"));
    assert!(hit("host.name:pacs01.hospital.local"));
    assert!(hit("host.name:PACS*"));
    assert!(!hit("host.name:PACS01.other.local"));
    assert!(!hit("host.name:hospital"));
    // Only host fields: a user name is not cut at a dot.
    assert!(!hit("user.name:PACS01"));
    assert!(hit("organization.id:default"));
}

#[test]
fn words_compared_in_place_agree_with_the_word_list() {
    // `matches_event` compares the event's words in place; `matches` takes its word list. Both
    // must say the same, for ASCII and for letters whose lowercase is longer or contextual.
    let mut e = Event::new(
        SourceKind::Syslog,
        jiff::Timestamp::UNIX_EPOCH,
        json!({"message": "User MNguyen opened ΟΔΟΣ İstanbul STRAẞE record 4711-b",
               "n": 42, "list": ["Alpha", {"x": "Beta gamma"}]}),
    );
    e.ecs.host_name = Some("PACS01.hospital.local".into());
    let w = words(&crate::index_text(&e));
    for q in [
        "mnguyen",
        "MNGUYEN",
        "mnguye",
        "\"user mnguyen opened\"",
        "\"mnguyen user\"",
        "οδοσ",
        "οδος",
        "ΟΔΟΣ",
        "istanbul",
        "i̇stanbul",
        "straße",
        "strasse",
        "\"record 4711 b\"",
        "4711",
        "42",
        "\"alpha beta gamma\"",
        "\"gamma pacs01\"",
        "pacs01 AND hospital",
        "\"hospital local\"",
        "nothing",
        "alpha -beta",
    ] {
        let query = parse(q).unwrap();
        assert_eq!(query.matches_event(&e), query.matches(&e, &w), "{q}");
    }
    assert!(parse("\"user mnguyen opened\"").unwrap().matches_event(&e));
    assert!(parse("\"alpha beta gamma\"").unwrap().matches_event(&e));
    assert!(!parse("\"mnguyen user\"").unwrap().matches_event(&e));
}
