//! MISP feeds over HTTP: the feed's `manifest.json` (event uuid → `timestamp`, `info`...) and
//! one `<uuid>.json` a event, fetched only when the manifest says the event is newer than the
//! version kept (MISP's own feed format, as `misp-feed` and MISP's "export as feed" write it).
//!
//! Each event is imported whole or refused (named, with the feed), and committed on its own: a
//! feed of a thousand events that fails at the five-hundredth keeps the first ones and goes on
//! from there next time.

use serde_json::Value;
use wardwatch_intel::import_misp;
use wardwatch_store::FeedGroup;

use super::Feed;
use super::http::Client;

/// The events a manifest lists, as (uuid, version), oldest first. The version is the event's
/// `timestamp` (seconds) zero-padded so that it orders as text.
pub fn manifest(body: &[u8]) -> Result<Vec<(String, String)>, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("manifest.json is not JSON: {e}"))?;
    let Some(map) = v.as_object() else {
        return Err("manifest.json is not an object of events by uuid".into());
    };
    let mut out = Vec::new();
    for (uuid, e) in map {
        if uuid.len() != 36 || !uuid.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Err(format!("manifest.json: `{uuid}` is not an event uuid"));
        }
        let ts = match e.get("timestamp") {
            Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
            Some(Value::Number(n)) => n.as_u64(),
            _ => None,
        }
        .ok_or_else(|| format!("manifest.json: event {uuid} has no numeric `timestamp`"))?;
        out.push((uuid.clone(), format!("{ts:020}")));
    }
    out.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    Ok(out)
}

/// The feed folder's URL of `file`.
pub fn file_url(feed: &Feed, file: &str) -> String {
    format!("{}/{file}", feed.cfg.url.trim().trim_end_matches('/'))
}

/// GET and import one event as a group.
pub async fn event(
    client: &Client,
    feed: &Feed,
    uuid: &str,
    version: &str,
) -> Result<(FeedGroup, u64), String> {
    let url = file_url(feed, &format!("{uuid}.json"));
    let resp = client.get(&url, &[]).await.map_err(|e| e.to_string())?;
    if !resp.is_success() {
        return Err(format!("{url}: HTTP {}", resp.status));
    }
    let text = std::str::from_utf8(&resp.body)
        .map_err(|_| format!("{url}: the event is not UTF-8 text"))?;
    let imported = import_misp(text, &feed.cfg.name)
        .map_err(|e| format!("{url}: the event is refused whole: {e}"))?;
    let objects = imported.objects as u64;
    let mut indicators = Vec::new();
    for mut ind in imported.indicators {
        ind.tlp.get_or_insert(feed.tlp);
        let s = super::stored(&ind);
        if !indicators
            .iter()
            .any(|i: &wardwatch_store::FeedIndicator| i.kind == s.kind && i.value == s.value)
        {
            indicators.push(s);
        }
    }
    Ok((
        FeedGroup {
            grp: uuid.to_string(),
            version: version.to_string(),
            indicators,
        },
        objects,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_lists_events_oldest_first_and_a_bad_one_is_named() {
        let m = br#"{
            "5f3c1d2e-0000-4000-8000-000000000002": {"info": "b", "timestamp": "1700000200"},
            "5f3c1d2e-0000-4000-8000-000000000001": {"info": "a", "timestamp": 1700000100}
        }"#;
        let got = manifest(m).unwrap();
        assert_eq!(got[0].0, "5f3c1d2e-0000-4000-8000-000000000001");
        assert_eq!(got[0].1, "00000000001700000100");
        assert!(got[0].1 < got[1].1);
        let err = manifest(br#"{"not-a-uuid": {"timestamp": "1"}}"#).unwrap_err();
        assert!(err.contains("not-a-uuid"), "{err}");
        let err =
            manifest(br#"{"5f3c1d2e-0000-4000-8000-000000000001": {"info": "x"}}"#).unwrap_err();
        assert!(err.contains("timestamp"), "{err}");
    }
}
