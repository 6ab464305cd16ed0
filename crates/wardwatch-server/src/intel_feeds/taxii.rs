//! TAXII 2.1 client: a partner's collection read page by page after the durable `added_after`
//! position (TAXII 2.1 §3.4 and §5.4: `GET .../objects/?added_after=&limit=&next=`, the
//! envelope's `more` and `next`, the `X-TAXII-Date-Added-Last` header), and sightings POSTed
//! back to it (§5.5).
//!
//! Each page is imported whole (a page with a bad object is refused, named, and nothing of it
//! is stored) and committed with the position it reached, so the position never runs ahead of
//! what is stored and a restart goes on where the last commit stood. The position is kept as
//! the server wrote it (servers compare their own stamps, at their own precision).

use serde_json::Value;
use wardwatch_intel::import_bundle;
use wardwatch_store::{FeedGroup, FeedPoll};

use super::Feed;
use super::http::{Client, with_query};

/// The TAXII 2.1 media type, in `Accept` and `Content-Type`.
pub const MEDIA_TYPE: &str = "application/taxii+json;version=2.1";
/// Objects asked for per page.
pub const PAGE: usize = 500;
/// Pages read in one poll at most (the rest next time, from the position reached).
pub const MAX_PAGES: usize = 200;

/// One page: its groups and the poll state to commit with them.
pub struct Page {
    pub groups: Vec<FeedGroup>,
    pub poll: FeedPoll,
}

/// The request of the next page.
#[derive(Debug, Clone, PartialEq)]
pub struct Ask {
    pub added_after: Option<String>,
    pub next: Option<String>,
}

/// GET one page of `feed` as `ask` says; `Ok((page, more))`, where `more` is the request of
/// the following page.
pub async fn page(client: &Client, feed: &Feed, ask: &Ask) -> Result<(Page, Option<Ask>), String> {
    let limit = PAGE.to_string();
    let mut query: Vec<(&str, &str)> = Vec::new();
    if let Some(a) = &ask.added_after {
        query.push(("added_after", a));
    }
    // Sent with `next` too: servers (medallion) want the same parameters on every page.
    query.push(("limit", &limit));
    if let Some(n) = &ask.next {
        query.push(("next", n));
    }
    let url = with_query(&feed.objects_url(), &query);
    let resp = client
        .get(&url, &[("accept", MEDIA_TYPE.to_string())])
        .await
        .map_err(|e| e.to_string())?;
    if !resp.is_success() {
        return Err(format!(
            "{url}: HTTP {}{}",
            resp.status,
            match resp.status {
                401 | 403 => " (the token or user is refused, or has no read access)",
                404 => " (no such API root or collection)",
                406 | 415 => " (not a TAXII 2.1 server?)",
                _ => "",
            }
        ));
    }
    let envelope: Value = serde_json::from_slice(&resp.body)
        .map_err(|e| format!("{url}: the answer is not a TAXII envelope (JSON): {e}"))?;
    let objects = match envelope.get("objects") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(o)) => o.clone(),
        Some(_) => return Err(format!("{url}: the envelope's `objects` is not a list")),
    };
    let more = envelope
        .get("more")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let next = envelope
        .get("next")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    let last = resp
        .header("x-taxii-date-added-last")
        .map(str::to_string)
        .filter(|s| !s.is_empty());
    let groups = groups(&objects, feed)?;
    let following = match (more, next) {
        (true, Some(next)) => Some(Ask {
            added_after: ask.added_after.clone(),
            next: Some(next),
        }),
        // `more` without `next`: the server pages by `added_after` alone.
        (true, None) if last.is_some() && last != ask.added_after => Some(Ask {
            added_after: last.clone(),
            next: None,
        }),
        _ => None,
    };
    Ok((
        Page {
            groups,
            poll: FeedPoll {
                position: last,
                modified: None,
                objects: objects.len() as u64,
                replace_all: false,
            },
        },
        following,
    ))
}

/// The indicator objects of a page as groups: each object's indicators under its id and
/// `modified` (a newer version replaces them; a revoked one ends them). When a page holds
/// several versions of one object, the newest stands.
pub fn groups(objects: &[Value], feed: &Feed) -> Result<Vec<FeedGroup>, String> {
    // The whole page is checked (a bad object anywhere refuses it), then the newest version
    // of each indicator is read.
    let check = serde_json::json!({
        "type": "bundle",
        "id": "bundle--00000000-0000-4000-8000-000000000000",
        "objects": objects,
    });
    let imported = import_bundle(&check.to_string(), &feed.cfg.name)
        .map_err(|e| format!("a page of the collection is refused whole: {e}"))?;
    for s in &imported.skipped {
        tracing::debug!(feed = %feed.cfg.name, object = %s.what, reason = %s.reason, "indicator skipped");
    }
    let mut newest: Vec<(&str, String, &Value)> = Vec::new();
    let mut versions = 0;
    for obj in objects
        .iter()
        .filter(|o| o.get("type").and_then(Value::as_str) == Some("indicator"))
    {
        versions += 1;
        let Some(id) = obj.get("id").and_then(Value::as_str) else {
            continue;
        };
        let version = obj
            .get("modified")
            .or_else(|| obj.get("created"))
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .map_or_else(String::new, version_stamp);
        match newest.iter_mut().find(|(i, _, _)| *i == id) {
            Some(n) if version > n.1 => *n = (id, version, obj),
            Some(_) => {}
            None => newest.push((id, version, obj)),
        }
    }
    let imported = if newest.len() == versions {
        imported
    } else {
        let only: Vec<&Value> = newest.iter().map(|(_, _, o)| *o).collect();
        let bundle = serde_json::json!({
            "type": "bundle",
            "id": "bundle--00000000-0000-4000-8000-000000000000",
            "objects": only,
        });
        import_bundle(&bundle.to_string(), &feed.cfg.name)
            .map_err(|e| format!("a page of the collection is refused whole: {e}"))?
    };
    let mut out: Vec<FeedGroup> = newest
        .into_iter()
        .map(|(id, version, _)| FeedGroup {
            grp: id.to_string(),
            version,
            indicators: Vec::new(),
        })
        .collect();
    for mut ind in imported.indicators {
        let Some(g) = out.iter_mut().find(|g| g.grp == ind.id) else {
            continue;
        };
        if g.indicators
            .iter()
            .any(|i| i.kind == ind.kind.as_str() && i.value == ind.value)
        {
            continue;
        }
        ind.tlp.get_or_insert(feed.tlp);
        g.indicators.push(super::stored(&ind));
    }
    Ok(out)
}

/// A STIX timestamp as a version that orders as text: RFC 3339 in UTC with nanoseconds.
pub fn version_stamp(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.9fZ").to_string()
}

/// POST `objects` to the feed's collection; the status resource's failures are errors.
pub async fn post(client: &Client, feed: &Feed, objects: Vec<Value>) -> Result<(), String> {
    let url = feed.objects_url();
    let body = serde_json::json!({ "objects": objects }).to_string();
    let resp = client
        .post(
            &url,
            &[("accept", MEDIA_TYPE.to_string())],
            MEDIA_TYPE,
            body,
        )
        .await
        .map_err(|e| e.to_string())?;
    if !resp.is_success() {
        return Err(format!(
            "{url}: HTTP {}{}",
            resp.status,
            if matches!(resp.status, 401 | 403) {
                " (no write access to the collection)"
            } else {
                ""
            }
        ));
    }
    // A status resource (TAXII 2.1 §4.3): objects it failed count as not sent, unless the
    // server failed them for being there already.
    let status: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
    let failed = status
        .get("failure_count")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if failed > 0 {
        let already = status
            .get("failures")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .all(|f| {
                f.get("id")
                    .and_then(Value::as_str)
                    .is_some_and(|id| !id.starts_with("sighting--"))
                    || f.get("message")
                        .and_then(Value::as_str)
                        .is_some_and(|m| m.contains("Unable to process") || m.contains("exist"))
            });
        if !already {
            return Err(format!(
                "{url}: the server refused {failed} object(s): {status}"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed() -> Feed {
        super::super::check(&[super::super::FeedConfig {
            name: "partner".into(),
            url: "https://t.example/api1/collections/c/".into(),
            tlp: "green".into(),
            ..Default::default()
        }])
        .unwrap()
        .remove(0)
    }

    fn ind(id: &str, pattern: &str, modified: &str, extra: serde_json::Value) -> Value {
        let mut v = serde_json::json!({"type": "indicator", "spec_version": "2.1", "id": id,
            "created": "2026-11-01T00:00:00Z", "modified": modified, "pattern": pattern,
            "pattern_type": "stix", "valid_from": "2026-11-01T00:00:00Z"});
        if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        v
    }

    #[test]
    fn a_page_becomes_groups_by_object_with_the_newest_version_and_the_feeds_tlp() {
        let a = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f";
        let b = "indicator--0b7f0d4e-5d6c-4d1e-9a49-2f6f3c0e7a11";
        let page = vec![
            ind(
                a,
                "[domain-name:value = 'old.example']",
                "2026-11-01T00:00:00Z",
                serde_json::json!({}),
            ),
            ind(
                a,
                "[domain-name:value = 'new.example']",
                "2026-11-02T00:00:00.5Z",
                serde_json::json!({}),
            ),
            ind(
                b,
                "[ipv4-addr:value = '203.0.113.7' OR ipv4-addr:value = '203.0.113.8']",
                "2026-11-01T00:00:00Z",
                serde_json::json!({"revoked": true,
                    "object_marking_refs": [wardwatch_intel::Tlp::Red.marking_id()]}),
            ),
            serde_json::json!({"type": "malware", "spec_version": "2.1",
                "id": "malware--11111111-1111-4111-8111-111111111111", "name": "x",
                "is_family": true, "created": "2026-11-01T00:00:00Z", "modified": "2026-11-01T00:00:00Z"}),
        ];
        let got = groups(&page, &feed()).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].grp, a);
        assert_eq!(got[0].version, "2026-11-02T00:00:00.500000000Z");
        let values: Vec<&str> = got[0].indicators.iter().map(|i| i.value.as_str()).collect();
        assert_eq!(
            values,
            ["new.example"],
            "the newest version of the page stands"
        );
        let doc: wardwatch_intel::Indicator =
            serde_json::from_str(&got[0].indicators[0].doc).unwrap();
        assert_eq!(
            doc.tlp,
            Some(wardwatch_intel::Tlp::Green),
            "the feed's TLP when unmarked"
        );
        assert_eq!(doc.source, "partner");
        assert_eq!(got[1].indicators.len(), 2);
        assert!(got[1].indicators.iter().all(|i| i.revoked));
        let doc: wardwatch_intel::Indicator =
            serde_json::from_str(&got[1].indicators[0].doc).unwrap();
        assert_eq!(
            doc.tlp,
            Some(wardwatch_intel::Tlp::Red),
            "the object's own marking"
        );
        // One bad object: the page is refused whole, naming it.
        let mut bad = page.clone();
        bad.push(ind(
            "indicator--22222222-2222-4222-8222-222222222222",
            "[domain-name:value = ",
            "2026-11-01T00:00:00Z",
            serde_json::json!({}),
        ));
        let err = groups(&bad, &feed()).unwrap_err();
        assert!(err.contains("indicator--22222222"), "{err}");
    }
}
