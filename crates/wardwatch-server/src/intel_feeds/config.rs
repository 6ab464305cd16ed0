//! `[[intel.feeds]]`: the partners' TAXII collections, MISP feeds and IOC lists `serve` polls.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use wardwatch_intel::Tlp;

/// What a feed speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FeedKind {
    /// A TAXII 2.1 collection (a partner's Wardwatch, MISP's or OpenCTI's TAXII server).
    #[default]
    Taxii,
    /// A MISP feed: `manifest.json` and one `<uuid>.json` a event beside it.
    Misp,
    /// A plain or CSV list of indicators, one a line.
    Ioc,
}

impl FeedKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedKind::Taxii => "taxii",
            FeedKind::Misp => "misp",
            FeedKind::Ioc => "ioc",
        }
    }
}

/// One feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeedConfig {
    /// The partner's name as alerts show it (`intel:<name>:<kind>`): letters, digits, `.`,
    /// `_` and `-`. Required, unique.
    pub name: String,
    /// `taxii`, `misp` or `ioc`. Default `taxii`.
    pub kind: FeedKind,
    /// TAXII: the collection's URL (`.../collections/<id>/`), or the API root's with
    /// `collection`. MISP: the feed's folder (where `manifest.json` is). IOC: the list's URL.
    pub url: String,
    /// TAXII: the collection id, when `url` is the API root.
    pub collection: String,
    /// A bearer token (`env:NAME` reads it from the environment). Empty: none.
    pub token: String,
    /// HTTP Basic user and password (`env:NAME` for either). Empty: none.
    pub user: String,
    pub password: String,
    /// A PEM file of the CA that signed the partner's certificate, when it is not a public
    /// one. Empty: the public roots only.
    pub ca: PathBuf,
    /// Seconds between polls. Default 300 (a failed poll is retried sooner at first, then
    /// backing off up to this, or 1 hour when this is shorter).
    pub interval_secs: u64,
    /// How far back a newly received indicator is hunted for in the stored events, days.
    /// Default 30.
    pub lookback_days: u32,
    /// Tell the producer when one of its indicators is seen here (TAXII only: STIX
    /// `sighting` objects POSTed to the same collection; no internal data). Default false.
    pub sightings: bool,
    /// The TLP assumed for indicators the feed sends without a marking: `clear`, `green`,
    /// `amber`, `amber+strict` or `red`. Default `amber`.
    pub tlp: String,
}

impl Default for FeedConfig {
    fn default() -> Self {
        FeedConfig {
            name: String::new(),
            kind: FeedKind::Taxii,
            url: String::new(),
            collection: String::new(),
            token: String::new(),
            user: String::new(),
            password: String::new(),
            ca: PathBuf::new(),
            interval_secs: 300,
            lookback_days: 30,
            sightings: false,
            tlp: "amber".into(),
        }
    }
}

/// A secret as configured, or read from the environment for `env:NAME`.
fn secret(value: &str, what: &str, feed: &str) -> Result<String, String> {
    match value.strip_prefix("env:") {
        Some(var) => std::env::var(var).map_err(|_| {
            format!("intel feed `{feed}`: {what} is `env:{var}` but ${var} is not set")
        }),
        None => Ok(value.to_string()),
    }
}

/// A feed checked and ready to poll.
#[derive(Debug, Clone)]
pub struct Feed {
    pub cfg: FeedConfig,
    pub tlp: Tlp,
    /// The `Authorization` header value.
    pub auth: Option<String>,
    pub ca_pem: Option<Vec<u8>>,
}

impl Feed {
    /// TAXII: the collection's objects endpoint.
    pub fn objects_url(&self) -> String {
        let base = self.cfg.url.trim().trim_end_matches('/');
        if self.cfg.collection.trim().is_empty() {
            format!("{base}/objects/")
        } else {
            format!("{base}/collections/{}/objects/", self.cfg.collection.trim())
        }
    }

    pub fn lookback(&self) -> jiff::SignedDuration {
        jiff::SignedDuration::from_hours(24 * i64::from(self.cfg.lookback_days.max(1)))
    }
}

/// The feeds of the configuration, checked: each problem names the feed.
pub fn check(feeds: &[FeedConfig]) -> Result<Vec<Feed>, String> {
    let mut out: Vec<Feed> = Vec::new();
    for (n, f) in feeds.iter().enumerate() {
        let name = f.name.trim();
        let label = if name.is_empty() {
            format!("intel feed {}", n + 1)
        } else {
            format!("intel feed `{name}`")
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(format!(
                "{label}: `name` must be letters, digits, `.`, `_` or `-` (it names the alerts)"
            ));
        }
        if out.iter().any(|o| o.cfg.name == name) {
            return Err(format!("{label}: two feeds have this name"));
        }
        let url = f.url.trim();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(format!(
                "{label}: `url` must be an http:// or https:// address"
            ));
        }
        if url.starts_with("http://") && !loopback(url) {
            tracing::warn!(
                feed = name,
                "the feed is read over plain HTTP: what it sends can be changed on the way"
            );
        }
        let tlp = Tlp::parse(&f.tlp).ok_or_else(|| {
            format!(
                "{label}: tlp `{}` is not clear, green, amber, amber+strict or red",
                f.tlp
            )
        })?;
        if f.sightings && f.kind != FeedKind::Taxii {
            return Err(format!(
                "{label}: sightings go back over TAXII only (kind = \"taxii\")"
            ));
        }
        if f.interval_secs == 0 {
            return Err(format!("{label}: interval_secs must be at least 1"));
        }
        let token = secret(&f.token, "token", name)?;
        let user = secret(&f.user, "user", name)?;
        let password = secret(&f.password, "password", name)?;
        let ca_pem = if f.ca.as_os_str().is_empty() {
            None
        } else {
            Some(std::fs::read(&f.ca).map_err(|e| {
                format!("{label}: cannot read the CA file `{}`: {e}", f.ca.display())
            })?)
        };
        let mut cfg = f.clone();
        cfg.name = name.to_string();
        cfg.url = url.to_string();
        out.push(Feed {
            auth: super::http::authorization(&token, &user, &password),
            cfg,
            tlp,
            ca_pem,
        });
    }
    Ok(out)
}

fn loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split(['/', ':']).next().unwrap_or("");
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
        || rest.starts_with("[::1]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feeds_are_checked_and_each_problem_names_the_feed() {
        let good = FeedConfig {
            name: "partner-a".into(),
            url: "https://taxii.partner.example/api1".into(),
            collection: "91a7b528-80eb-42ed-a74d-c6fbd5a26116".into(),
            ..FeedConfig::default()
        };
        let feeds = check(std::slice::from_ref(&good)).unwrap();
        assert_eq!(
            feeds[0].objects_url(),
            "https://taxii.partner.example/api1/collections/91a7b528-80eb-42ed-a74d-c6fbd5a26116/objects/"
        );
        assert_eq!(feeds[0].tlp, Tlp::Amber);
        let mut whole = good.clone();
        whole.collection.clear();
        whole.url = "https://t.example/api1/collections/abc/".into();
        assert_eq!(
            check(&[whole]).unwrap()[0].objects_url(),
            "https://t.example/api1/collections/abc/objects/"
        );
        for (change, expect) in [
            (
                FeedConfig {
                    name: "a b".into(),
                    ..good.clone()
                },
                "letters, digits",
            ),
            (
                FeedConfig {
                    url: "ftp://x".into(),
                    ..good.clone()
                },
                "`partner-a`: `url`",
            ),
            (
                FeedConfig {
                    tlp: "purple".into(),
                    ..good.clone()
                },
                "tlp `purple`",
            ),
            (
                FeedConfig {
                    kind: FeedKind::Ioc,
                    sightings: true,
                    ..good.clone()
                },
                "sightings go back over TAXII only",
            ),
            (
                FeedConfig {
                    token: "env:WARDWATCH_TEST_UNSET_TOKEN".into(),
                    ..good.clone()
                },
                "$WARDWATCH_TEST_UNSET_TOKEN is not set",
            ),
        ] {
            let err = check(&[change]).unwrap_err();
            assert!(err.contains(expect), "{err}");
        }
        let err = check(&[good.clone(), good]).unwrap_err();
        assert!(err.contains("two feeds"), "{err}");
    }
}
