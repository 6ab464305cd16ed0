//! The event search language, whatever the text: parsing never panics nor overflows the stack
//! (the length and depth limits), and what parses can be printed, turned into a full-text
//! prefilter and matched against an event.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wardwatch_core::{Event, SourceKind};
use wardwatch_store::query;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(q) = query::parse(&text) else {
        return;
    };
    let _ = q.to_string();
    let _ = q.fts_prefilter();
    let mut e = Event::new(
        SourceKind::FlatWindows,
        jiff::Timestamp::UNIX_EPOCH,
        serde_json::json!({"EventID": 4625, "Computer": "ws-1", "CommandLine": "powershell -enc AAA", "winlog": {"event_data": {"TargetUserName": "alice"}}}),
    );
    e.ecs.host_name = Some("ws-1".into());
    let words = query::words("ws-1 powershell -enc AAA alice 4625");
    let _ = q.matches(&e, &words);
});
