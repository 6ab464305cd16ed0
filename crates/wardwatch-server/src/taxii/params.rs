//! The URL parameters of TAXII 2.1's object endpoints (§3.4): `added_after`, `limit`, `next`
//! and `match[id|type|version|spec_version]`, each value checked (a bad one is a 400 naming
//! it). Parameters an endpoint does not take are ignored, as are unknown ones.

use wardwatch_store::VersionMatch;

use super::http::TaxiiError;

/// What a request filters by.
#[derive(Debug, Clone, PartialEq)]
pub struct Filters {
    /// us: only versions added after.
    pub added_after: Option<i64>,
    pub limit: usize,
    /// us: resume after the date added our `next` named.
    pub next: Option<i64>,
    pub ids: Vec<String>,
    pub types: Vec<String>,
    pub versions: VersionMatch,
    /// Whether `match[version]` was given (DELETE takes every version without it).
    pub versions_given: bool,
    pub spec_versions: Vec<String>,
}

/// Which filters an endpoint takes.
#[derive(Debug, Clone, Copy)]
pub struct Takes {
    pub id_and_type: bool,
    pub version: bool,
}

fn timestamp_us(key: &str, text: &str) -> Result<i64, TaxiiError> {
    let t: jiff::Timestamp = text.trim().parse().map_err(|_| {
        TaxiiError::bad_request(format!(
            "`{key}` `{text}` is not a timestamp like 2026-01-31T08:00:00.000Z"
        ))
    })?;
    Ok(t.as_microsecond())
}

fn list(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The filters of `query` (the raw query string), for an endpoint that `takes` what it says;
/// pages hold at most `max_page` items.
pub fn parse(query: Option<&str>, takes: Takes, max_page: usize) -> Result<Filters, TaxiiError> {
    let mut f = Filters {
        added_after: None,
        limit: max_page,
        next: None,
        ids: Vec::new(),
        types: Vec::new(),
        versions: VersionMatch::default(),
        versions_given: false,
        spec_versions: Vec::new(),
    };
    let mut versions = VersionMatch {
        all: false,
        first: false,
        last: false,
        at: Vec::new(),
    };
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let value = value.as_ref();
        match key.as_ref() {
            "added_after" => f.added_after = Some(timestamp_us("added_after", value)?),
            "limit" => {
                let n: i64 = value.trim().parse().map_err(|_| {
                    TaxiiError::bad_request(format!("`limit` `{value}` is not a number"))
                })?;
                if n < 1 {
                    return Err(TaxiiError::bad_request(format!(
                        "`limit` {n}: ask for at least one"
                    )));
                }
                f.limit = usize::try_from(n).unwrap_or(max_page).min(max_page);
            }
            "next" => {
                let n: i64 = value.trim().parse().map_err(|_| {
                    TaxiiError::bad_request(format!(
                        "`next` `{value}` is not one this server handed out"
                    ))
                })?;
                f.next = Some(n);
            }
            "match[id]" if takes.id_and_type => f.ids.extend(list(value)),
            "match[type]" if takes.id_and_type => f.types.extend(list(value)),
            "match[spec_version]" => {
                for v in list(value) {
                    if v != "2.0" && v != "2.1" {
                        return Err(TaxiiError::bad_request(format!(
                            "`match[spec_version]` `{v}`: this server holds 2.0 and 2.1"
                        )));
                    }
                    f.spec_versions.push(v);
                }
            }
            "match[version]" if takes.version => {
                f.versions_given = true;
                for v in list(value) {
                    match v.as_str() {
                        "all" => versions.all = true,
                        "first" => versions.first = true,
                        "last" => versions.last = true,
                        t => {
                            let ns = t
                                .parse::<jiff::Timestamp>()
                                .map_err(|_| {
                                    TaxiiError::bad_request(format!(
                                        "`match[version]` `{t}`: expected first, last, all or a timestamp"
                                    ))
                                })?
                                .as_nanosecond();
                            versions.at.push(i64::try_from(ns).unwrap_or(i64::MAX));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if f.versions_given {
        f.versions = versions;
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: Takes = Takes {
        id_and_type: true,
        version: true,
    };

    #[test]
    fn every_filter_is_read() {
        let f = parse(
            Some(
                "added_after=2026-01-01T00:00:00.000001Z&limit=5&next=42\
                 &match%5Bid%5D=indicator--1,indicator--2&match[type]=indicator\
                 &match[type]=sighting&match[version]=first,2026-01-02T00:00:00Z\
                 &match[spec_version]=2.1&unknown=x",
            ),
            ALL,
            100,
        )
        .unwrap();
        assert_eq!(
            f.added_after,
            Some(
                "2026-01-01T00:00:00.000001Z"
                    .parse::<jiff::Timestamp>()
                    .unwrap()
                    .as_microsecond()
            )
        );
        assert_eq!((f.limit, f.next), (5, Some(42)));
        assert_eq!(f.ids, ["indicator--1", "indicator--2"]);
        assert_eq!(f.types, ["indicator", "sighting"]);
        assert!(f.versions.first && !f.versions.last && !f.versions.all);
        assert_eq!(f.versions.at.len(), 1);
        assert_eq!(f.spec_versions, ["2.1"]);
    }

    #[test]
    fn defaults_caps_and_what_an_endpoint_does_not_take() {
        let f = parse(None, ALL, 100).unwrap();
        assert_eq!(f.limit, 100);
        assert_eq!(f.versions, VersionMatch::default());
        assert!(!f.versions_given);
        assert_eq!(parse(Some("limit=100000"), ALL, 100).unwrap().limit, 100);
        let narrow = Takes {
            id_and_type: false,
            version: false,
        };
        let f = parse(
            Some("match[id]=x&match[version]=all&match[type]=y"),
            narrow,
            10,
        )
        .unwrap();
        assert!(f.ids.is_empty() && f.types.is_empty());
        assert_eq!(f.versions, VersionMatch::default());
    }

    #[test]
    fn bad_values_are_named() {
        for (q, word) in [
            ("added_after=yesterday", "added_after"),
            ("limit=0", "limit"),
            ("limit=many", "limit"),
            ("next=abc", "next"),
            ("match[version]=newest", "match[version]"),
            ("match[spec_version]=3.0", "match[spec_version]"),
        ] {
            let e = parse(Some(q), ALL, 10).unwrap_err();
            assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST, "{q}");
            assert!(e.description.contains(word), "{q}: {}", e.description);
        }
    }
}
