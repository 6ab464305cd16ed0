//! Plain and CSV IOC lists by URL: one indicator a line (the import's rules: defanged values
//! refanged, the kind from the value's shape or a `type` column). Asked for with the
//! `ETag` / `Last-Modified` of the last download, so an unchanged list costs one `304`.
//!
//! The newest download is the list: indicators it no longer has stop matching.

use wardwatch_intel::import_list;
use wardwatch_store::{FeedGroup, FeedPoll};

use super::Feed;
use super::http::Client;

/// What a download gave: `None` when the list has not changed.
pub async fn fetch(
    client: &Client,
    feed: &Feed,
    etag: Option<&str>,
    modified: Option<&str>,
) -> Result<Option<(Vec<FeedGroup>, FeedPoll)>, String> {
    let mut headers = Vec::new();
    if let Some(e) = etag {
        headers.push(("if-none-match", e.to_string()));
    }
    if let Some(m) = modified {
        headers.push(("if-modified-since", m.to_string()));
    }
    let url = feed.cfg.url.as_str();
    let resp = client.get(url, &headers).await.map_err(|e| e.to_string())?;
    if resp.status == 304 {
        return Ok(None);
    }
    if !resp.is_success() {
        return Err(format!("{url}: HTTP {}", resp.status));
    }
    let text = std::str::from_utf8(&resp.body)
        .map_err(|_| format!("{url}: the list is not UTF-8 text"))?;
    let imported = import_list(text, &feed.cfg.name)
        .map_err(|e| format!("{url}: the list is refused whole: {e}"))?;
    let mut indicators: Vec<wardwatch_store::FeedIndicator> = Vec::new();
    for mut ind in imported.indicators {
        ind.tlp.get_or_insert(feed.tlp);
        let s = super::stored(&ind);
        if !indicators
            .iter()
            .any(|i| i.kind == s.kind && i.value == s.value)
        {
            indicators.push(s);
        }
    }
    let version = format!("{:020}", jiff::Timestamp::now().as_nanosecond().max(0));
    Ok(Some((
        vec![FeedGroup {
            grp: "list".into(),
            version,
            indicators,
        }],
        FeedPoll {
            position: resp.header("etag").map(str::to_string),
            modified: resp.header("last-modified").map(str::to_string),
            objects: imported.objects as u64,
            replace_all: true,
        },
    )))
}
