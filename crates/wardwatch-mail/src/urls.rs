//! URLs in a message: found in plain text and in HTML (links, forms, and the text a link
//! shows), unwrapped from redirectors and safe-link wrappers to the address the user would
//! really reach, and described (host, registrable domain, what is odd about it).
//!
//! Why unwrap: Microsoft 365 rewrites every link to `*.safelinks.protection.outlook.com/?url=`,
//! Proofpoint to `urldefense.com`, and phishers hide behind open redirectors (`google.com/url?q=`,
//! a marketing tracker's `?redirect=`); judged as written, every link would look like Microsoft
//! or Google. Indicators, campaigns and the click are matched on the unwrapped URL.

use serde::Serialize;

/// One URL of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UrlFact {
    /// The URL the user would reach (after unwrapping).
    pub url: String,
    /// The URL as written in the message, when unwrapping changed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
    /// The host, lower-cased (`login.micros0ft-online.com`, `203.0.113.7`); Unicode hosts in
    /// their `xn--` form.
    pub host: String,
    /// The registrable domain (`micros0ft-online.com`), or the address for an IP host.
    pub domain: String,
    /// Where it was found: `text`, `href`, `form` (a form's `action`: the message posts what
    /// the user types), `attachment` (inside an attached HTML or PDF).
    pub source: &'static str,
    /// The text the link shows, when that text itself names another domain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shown: Option<String>,
}

impl UrlFact {
    pub fn is_ip_host(&self) -> bool {
        self.host.parse::<std::net::IpAddr>().is_ok()
            || self
                .host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::Ipv6Addr>()
                .is_ok()
    }
}

/// The most URLs kept per message (a newsletter with thousands of links stays bounded).
const MAX_URLS: usize = 200;

/// Collects the URLs of a message, each once (by unwrapped URL and source).
#[derive(Default)]
pub(crate) struct Collector {
    pub urls: Vec<UrlFact>,
}

impl Collector {
    fn push(&mut self, raw: &str, source: &'static str, shown: Option<&str>) {
        if self.urls.len() >= MAX_URLS {
            return;
        }
        let raw = decode_entities(raw.trim());
        let Some(fact) = describe(&raw, source, shown) else {
            return;
        };
        if let Some(prev) = self
            .urls
            .iter_mut()
            .find(|u| u.url == fact.url && u.source == fact.source)
        {
            if prev.shown.is_none() {
                prev.shown = fact.shown;
            }
            return;
        }
        self.urls.push(fact);
    }

    /// URLs written out in plain text (`https://...`, `www....`).
    pub fn text(&mut self, text: &str, source: &'static str) {
        for url in bare_urls(text) {
            self.push(url, source, None);
        }
    }

    /// Links (`<a href>`, with the text they show), form actions, and bare URLs in HTML.
    pub fn html(&mut self, html: &str, source: &'static str) {
        let lower = html.to_ascii_lowercase();
        let mut pos = 0;
        while let Some(i) = lower[pos..].find('<') {
            let start = pos + i;
            let Some(end) = lower[start..].find('>').map(|e| start + e) else {
                break;
            };
            let tag = &lower[start + 1..end];
            pos = end + 1;
            let name: &str = tag
                .split(|c: char| c.is_whitespace() || c == '/')
                .next()
                .unwrap_or("");
            let (attr, src) = match name {
                "a" | "area" => ("href", if source == "text" { "href" } else { source }),
                "form" => ("action", "form"),
                "meta" if tag.contains("refresh") => ("content", "href"),
                _ => continue,
            };
            let Some(value) = attribute(&html[start + 1..end], tag, attr) else {
                continue;
            };
            let value = if name == "meta" {
                match value.to_ascii_lowercase().find("url=") {
                    Some(i) => &value[i + 4..],
                    None => continue,
                }
            } else {
                value
            };
            if !looks_fetchable(value) {
                continue;
            }
            let shown = (name == "a").then(|| {
                let close = lower[pos..]
                    .find("</a")
                    .map(|c| pos + c)
                    .unwrap_or(lower.len().min(pos + 400));
                strip_tags(&html[pos..close.min(pos + 2000)])
            });
            self.push(value, src, shown.as_deref());
        }
        for url in bare_urls(&strip_tags(html)) {
            self.push(url, source, None);
        }
    }
}

fn looks_fetchable(v: &str) -> bool {
    let v = v.trim_start().to_ascii_lowercase();
    v.starts_with("http://")
        || v.starts_with("https://")
        || v.starts_with("//")
        || v.starts_with("www.")
}

/// The value of `attr` in a tag (`lower` is the tag lower-cased, `tag` as written).
fn attribute<'a>(tag: &'a str, lower: &str, attr: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(i) = lower[from..].find(attr) {
        let at = from + i;
        from = at + attr.len();
        let before_ok = at == 0 || lower.as_bytes()[at - 1].is_ascii_whitespace();
        let rest = lower[from..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let vstart = tag.len() - rest.len() + 1;
        let v = tag[vstart..].trim_start();
        let offset = tag.len() - v.len();
        return Some(match v.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let inner = &tag[offset + 1..];
                &inner[..inner.find(q).unwrap_or(inner.len())]
            }
            _ => &v[..v.find(|c: char| c.is_whitespace()).unwrap_or(v.len())],
        });
    }
    None
}

/// The text of HTML: tags removed, entities decoded, white space collapsed.
pub(crate) fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut in_tag = false;
    let mut skip_until: Option<&str> = None;
    let lower = html.to_ascii_lowercase();
    let mut i = 0;
    let bytes = html.as_bytes();
    while i < bytes.len() {
        if let Some(end) = skip_until {
            match lower[i..].find(end) {
                Some(e) => {
                    i += e + end.len();
                    skip_until = None;
                    continue;
                }
                None => break,
            }
        }
        let c = bytes[i];
        if c == b'<' {
            if lower[i..].starts_with("<style") {
                skip_until = Some("</style>");
            } else if lower[i..].starts_with("<script") {
                skip_until = Some("</script>");
            } else if lower[i..].starts_with("<!--") {
                skip_until = Some("-->");
            }
            in_tag = true;
            out.push(' ');
        } else if c == b'>' && in_tag {
            in_tag = false;
        } else if !in_tag {
            let ch_len = utf8_len(c);
            if let Some(s) = html.get(i..i + ch_len) {
                out.push_str(s);
            }
            i += ch_len;
            continue;
        }
        i += 1;
    }
    let text = decode_entities(&out);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xF7 => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// Decodes the HTML entities that matter in URLs and link text.
fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest[..rest.len().min(12)].find(';');
        let decoded = end.and_then(|e| {
            let name = &rest[1..e];
            let c = match name {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                "nbsp" => ' ',
                _ if name.starts_with("#x") || name.starts_with("#X") => {
                    char::from_u32(u32::from_str_radix(&name[2..], 16).ok()?)?
                }
                _ if name.starts_with('#') => char::from_u32(name[1..].parse().ok()?)?,
                _ => return None,
            };
            Some((c, e + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// URLs written out in text: from `http://`, `https://` or `www.` to the first character
/// that cannot be part of one.
fn bare_urls(text: &str) -> Vec<&str> {
    let lower = text.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < lower.len() {
        let next = ["http://", "https://", "www."]
            .iter()
            .filter_map(|p| lower[pos..].find(p).map(|i| pos + i))
            .min();
        let Some(start) = next else { break };
        // `www.` inside a longer URL was already taken with it.
        let end = text[start..]
            .find(|c: char| {
                c.is_whitespace()
                    || matches!(
                        c,
                        '<' | '>' | '"' | '\'' | '`' | '{' | '}' | '|' | '\\' | '^'
                    )
            })
            .map(|e| start + e)
            .unwrap_or(text.len());
        let url = text[start..end].trim_end_matches(['.', ',', ';', ':', ')', ']', '!', '?']);
        if url.len() > 11 {
            out.push(url);
        }
        pos = end.max(start + 1);
        while !text.is_char_boundary(pos) {
            pos += 1;
        }
    }
    out
}

/// Parses and unwraps one URL, and names its host and registrable domain.
fn describe(raw: &str, source: &'static str, shown: Option<&str>) -> Option<UrlFact> {
    let with_scheme = if raw.starts_with("//") {
        format!("http:{raw}")
    } else if raw.to_ascii_lowercase().starts_with("www.") {
        format!("http://{raw}")
    } else {
        raw.to_string()
    };
    let first = url::Url::parse(&with_scheme).ok()?;
    let mut current = first.clone();
    for _ in 0..5 {
        match unwrap_once(&current) {
            Some(inner) => current = inner,
            None => break,
        }
    }
    let host = current
        .host_str()?
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    let domain = registrable(&host);
    let shown = shown.and_then(shown_domain).filter(|d| {
        let d = registrable(d);
        d != domain && d != registrable(first.host_str().unwrap_or(""))
    });
    let url = current.to_string();
    let original = (current != first).then(|| first.to_string());
    Some(UrlFact {
        url,
        original,
        host,
        domain,
        source,
        shown,
    })
}

/// The URL a wrapper or redirector leads to, if `u` is one.
fn unwrap_once(u: &url::Url) -> Option<url::Url> {
    let host = u.host_str()?.to_ascii_lowercase();
    let param = |names: &[&str]| {
        u.query_pairs()
            .find(|(k, _)| names.contains(&k.to_ascii_lowercase().as_str()))
            .map(|(_, v)| v.into_owned())
    };
    let inner = if host.ends_with("safelinks.protection.outlook.com") {
        param(&["url"])
    } else if host == "urldefense.proofpoint.com" {
        // v2: `u=` with `-` for `%` and `_` for `/`.
        param(&["u"]).map(|v| percent_decode(&v.replace('-', "%").replace('_', "/")))
    } else if host == "urldefense.com" {
        // v3: `/v3/__URL__;token`.
        let path = u.as_str();
        path.find("/v3/__").and_then(|i| {
            let rest = &path[i + 6..];
            rest.find("__").map(|e| rest[..e].to_string())
        })
    } else if is_google(&host) && u.path() == "/url" {
        param(&["q", "url"])
    } else if is_google(&host) && u.path().starts_with("/amp/") {
        // Google AMP viewer: `/amp/s/HOST/PATH` (https) or `/amp/HOST/PATH`.
        let rest = &u.path()[5..];
        let (scheme, rest) = match rest.strip_prefix("s/") {
            Some(r) => ("https", r),
            None => ("http", rest),
        };
        rest.split('/')
            .next()
            .filter(|h| h.contains('.'))
            .map(|_| format!("{scheme}://{rest}"))
    } else {
        // An open redirector: a parameter holding a whole URL.
        param(&[
            "url",
            "u",
            "redirect",
            "redirect_url",
            "redirect_to",
            "target",
            "dest",
            "destination",
            "goto",
            "link",
            "next",
            "continue",
            "r",
            "to",
        ])
    }?;
    let inner = inner.trim();
    let lower = inner.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return None;
    }
    url::Url::parse(inner).ok()
}

/// `google.com`, `www.google.co.uk`, `google.de`...
fn is_google(host: &str) -> bool {
    let reg = registrable(host);
    reg.split('.').next() == Some("google")
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(v) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The domain a link's text names, when the text is itself an address (`www.paypal.com`,
/// `https://portal.hospital.org/login`) rather than words.
fn shown_domain(text: &str) -> Option<String> {
    let t = text.trim().trim_end_matches(['.', ',', ':', ';']);
    if t.is_empty() || t.contains(char::is_whitespace) || t.len() > 300 {
        return None;
    }
    let lower = t.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .unwrap_or(&lower);
    let host = rest.split(['/', '?', '#', ':']).next()?;
    let labels: Vec<&str> = host.split('.').collect();
    let tld = labels.last()?;
    let looks_like_host = labels.len() >= 2
        && tld.len() >= 2
        && tld.chars().all(|c| c.is_ascii_alphabetic())
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    // "file.pdf" or "invoice.docx" are names, not hosts.
    let file_like = matches!(
        *tld,
        "pdf"
            | "doc"
            | "docx"
            | "xls"
            | "xlsx"
            | "zip"
            | "exe"
            | "htm"
            | "html"
            | "png"
            | "jpg"
            | "txt"
    ) && !rest.contains('/');
    (looks_like_host && !file_like).then(|| host.to_string())
}

/// The second-level labels under which registrations are made (`example.co.uk`).
const SECOND_LEVEL: &[&str] = &[
    "co", "com", "net", "org", "gov", "ac", "edu", "nhs", "ne", "or", "gob", "gouv", "mil", "nom",
];

/// The registrable domain of a host: its last two labels, or three under a country's
/// second-level domain (`co.uk`, `com.br`). An IP address is its own.
pub(crate) fn registrable(host: &str) -> String {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') {
        return host;
    }
    let labels: Vec<&str> = host.split('.').collect();
    let n = labels.len();
    if n <= 2 {
        return host;
    }
    let take = if labels[n - 1].len() == 2 && SECOND_LEVEL.contains(&labels[n - 2]) {
        3
    } else {
        2
    };
    labels[n - take.min(n)..].join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect_html(html: &str) -> Vec<UrlFact> {
        let mut c = Collector::default();
        c.html(html, "text");
        c.urls
    }

    #[test]
    fn safelinks_and_proofpoint_unwrap_to_the_real_target() {
        let mut c = Collector::default();
        c.text(
            "see https://eur01.safelinks.protection.outlook.com/?url=https%3A%2F%2Fevil.example%2Flogin&data=05 and \
             https://urldefense.proofpoint.com/v2/url?u=https-3A__bad.example_x&d=DwMF and \
             https://urldefense.com/v3/__https://third.example/p__;!!abc$ and \
             https://www.google.com/url?q=https://fourth.example/&sa=D",
            "text",
        );
        let hosts: Vec<&str> = c.urls.iter().map(|u| u.host.as_str()).collect();
        assert_eq!(
            hosts,
            [
                "evil.example",
                "bad.example",
                "third.example",
                "fourth.example"
            ]
        );
        let mut amp = Collector::default();
        amp.text(
            "https://www.google.co.uk/amp/revision-online.example/VkZl",
            "text",
        );
        assert_eq!(amp.urls[0].url, "http://revision-online.example/VkZl");
        assert!(c.urls[0].original.as_deref().unwrap().contains("safelinks"));
    }

    #[test]
    fn link_text_naming_another_domain_is_kept_as_shown() {
        let urls = collect_html(
            r#"<p>Sign in at <a href="http://198.51.100.7/paypal/login.php">https://www.paypal.com/signin</a></p>
               <a href='https://portal.hospital.example/x'>portal.hospital.example</a>
               <a href="https://news.example/track">Read more</a>
               <form method=post action="https://collect.example/p.php">"#,
        );
        assert_eq!(urls[0].shown.as_deref(), Some("www.paypal.com"));
        assert!(urls[0].is_ip_host());
        assert_eq!(urls[1].shown, None, "same domain shown and linked");
        assert_eq!(urls[2].shown, None, "words are not a domain");
        assert_eq!(urls[3].source, "form");
    }

    #[test]
    fn registrable_domains() {
        assert_eq!(registrable("a.b.login.example.com"), "example.com");
        assert_eq!(registrable("mail.nhs.uk"), "mail.nhs.uk");
        assert_eq!(registrable("www.banco.com.br"), "banco.com.br");
        assert_eq!(registrable("203.0.113.9"), "203.0.113.9");
    }

    #[test]
    fn text_urls_end_at_punctuation_and_entities_decode() {
        let mut c = Collector::default();
        c.text(
            "Visit www.example.org/a?b=1&amp;c=2. Or (https://x.example/y).",
            "text",
        );
        assert_eq!(c.urls[0].url, "http://www.example.org/a?b=1&c=2");
        assert_eq!(c.urls[1].url, "https://x.example/y");
    }
}
