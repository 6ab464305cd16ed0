//! What the operator tells the scanner: the hospital's own domains (whose look-alikes and
//! spoofs are the most dangerous mail it receives), extra brands to protect, indicators shared
//! by other hospitals, and whether message bodies are kept.

use std::collections::HashSet;

use serde::Deserialize;

/// Scanner settings (`[mail]` in the server's configuration; `mail scan --own-domain`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// The organization's own mail domains (`example-hospital.org`). Mail from look-alikes of
    /// them, display names naming them, and unauthenticated mail claiming them are judged
    /// hardest. Default: none.
    pub own_domains: Vec<String>,
    /// Brands to protect besides the built-in list (suppliers, the EHR vendor, the regional
    /// health network), as `name=domain` (`medline=medline.com`) or a bare domain. Default: none.
    pub brands: Vec<String>,
    /// Known-bad URLs, domains and attachment hashes.
    pub indicators: Indicators,
    /// Keep the message text in the report (and so in stored events). Default: false: only
    /// headers, URLs, attachment names and hashes are kept.
    pub keep_body: bool,
}

/// Indicators to match: every URL (after unwrapping), its host and every attachment hash is
/// looked up.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Indicators {
    /// Full URLs, compared without the scheme and a trailing `/`, case-insensitively.
    pub urls: HashSet<String>,
    /// Domains; a URL's host or a sender's domain matches the domain or any sub-domain of it.
    pub domains: HashSet<String>,
    /// SHA-256 hashes of files (lower-case hex).
    pub sha256: HashSet<String>,
}

impl Indicators {
    /// Reads an indicator list: one per line (a SHA-256, a URL, or a domain); `#` starts a
    /// comment. Lines that are none of these are returned as problems with their line number.
    pub fn parse_lines(text: &str) -> (Self, Vec<String>) {
        let mut out = Self::default();
        let mut problems = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let lower = line.to_ascii_lowercase();
            if lower.len() == 64 && lower.bytes().all(|b| b.is_ascii_hexdigit()) {
                out.sha256.insert(lower);
            } else if lower.contains("://") {
                out.urls.insert(normalize_url_key(&lower));
            } else if lower.contains('.') && !lower.contains(' ') && !lower.contains('/') {
                out.domains.insert(lower.trim_matches('.').to_string());
            } else {
                problems.push(format!(
                    "line {}: `{line}` is neither a SHA-256, a URL nor a domain",
                    n + 1
                ));
            }
        }
        (out, problems)
    }

    pub fn is_empty(&self) -> bool {
        self.urls.is_empty() && self.domains.is_empty() && self.sha256.is_empty()
    }

    pub(crate) fn url(&self, url: &str) -> bool {
        !self.urls.is_empty()
            && self
                .urls
                .contains(&normalize_url_key(&url.to_ascii_lowercase()))
    }

    /// The indicator domain `host` is, or is under.
    pub(crate) fn domain(&self, host: &str) -> Option<&str> {
        if self.domains.is_empty() {
            return None;
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let mut rest = host.as_str();
        loop {
            if let Some(d) = self.domains.get(rest) {
                return Some(d);
            }
            match rest.split_once('.') {
                Some((_, tail)) if !tail.is_empty() => rest = tail,
                _ => return None,
            }
        }
    }
}

/// A URL as compared against indicators: no scheme, no trailing slash.
fn normalize_url_key(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    rest.trim_end_matches('/').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indicator_lines_sorted_by_kind_and_bad_lines_named() {
        let (ind, problems) = Indicators::parse_lines(
            "# shared by the regional CERT\nhttps://evil.example/login/\nevil.example\n\
             E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855\nnot an indicator\n",
        );
        assert!(ind.url("http://evil.example/login"));
        assert_eq!(ind.domain("www.evil.example"), Some("evil.example"));
        assert_eq!(ind.domain("example"), None);
        assert!(
            ind.sha256
                .contains("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        assert_eq!(problems.len(), 1);
        assert!(problems[0].starts_with("line 5:"), "{problems:?}");
    }
}
