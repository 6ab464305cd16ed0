//! ArcSight Common Event Format (CEF) inside a syslog message.
//!
//! # What it does
//! Splits `CEF:Version|Device Vendor|Device Product|Device Version|Signature ID|Name|Severity|Extension`
//! into its seven header fields (with `\|` and `\\` unescaped) and the extension's `key=value`
//! pairs (values may hold spaces; `\=`, `\\`, `\n` and `\r` are unescaped; an unescaped `=` that
//! does not follow a key stays in the value, as real devices write it), and maps the common
//! extension keys to the normalized fields.
//!
//! # Why it matters
//! Firewalls, proxies, EDRs and medical-device gateways send CEF over syslog; without this their
//! addresses and user names stay buried in one message string.
//!
//! # Example
//! `CEF:0|Vendor|FW|1.0|100|Blocked connection|5|src=10.0.0.1 spt=1234 dst=10.0.0.2 dpt=443 act=blocked`
//! gives `source.ip` 10.0.0.1, `destination.port` 443, `event.action` "Blocked connection".
//!
//! # References
//! Micro Focus, "ArcSight Common Event Format (CEF) Implementation Standard", revision 25.

use serde_json::{Map, Value, json};
use wardwatch_core::Ecs;

/// A parsed CEF record.
pub(crate) struct Cef {
    /// The header fields, in order: version, vendor, product, device version, signature id,
    /// name, severity.
    header: [String; 7],
    /// Extension pairs in order of appearance.
    extension: Vec<(String, String)>,
}

/// Where `CEF:<digit>` starts in `text`, if anywhere.
pub(crate) fn find(text: &str) -> Option<usize> {
    text.match_indices("CEF:").map(|(i, _)| i).find(|&i| {
        text.as_bytes()
            .get(i + 4)
            .is_some_and(|b| b.is_ascii_digit())
    })
}

/// Parse `text`, which starts with `CEF:`. `None` when fewer than seven header fields follow.
pub(crate) fn parse(text: &str) -> Option<Cef> {
    let body = text.strip_prefix("CEF:")?;
    let mut header: [String; 7] = Default::default();
    let mut field = 0;
    let mut rest_at = None;
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, n @ ('|' | '\\'))) => header[field].push(n),
                Some((_, n)) => {
                    header[field].push('\\');
                    header[field].push(n);
                }
                None => header[field].push('\\'),
            },
            '|' => {
                field += 1;
                if field == 7 {
                    rest_at = Some(i + 1);
                    break;
                }
            }
            c => header[field].push(c),
        }
    }
    // A record without the last pipe still has its seven fields when the severity was last.
    let extension = match rest_at {
        Some(at) => parse_extension(&body[at..]),
        None if field == 6 => Vec::new(),
        None => return None,
    };
    for h in &mut header {
        let trimmed = h.trim();
        if trimmed.len() != h.len() {
            *h = trimmed.to_string();
        }
    }
    Some(Cef { header, extension })
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'[' | b']')
}

/// The extension's `key=value` pairs.
fn parse_extension(ext: &str) -> Vec<(String, String)> {
    let bytes = ext.as_bytes();
    // Unescaped `=` that follow a key: (key start, `=` position).
    let mut keys: Vec<(usize, usize)> = Vec::new();
    let mut after_last = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'=' => {
                let seg = &ext[after_last..i];
                let start = match seg.rfind(' ') {
                    Some(s) => Some(after_last + s + 1),
                    None if keys.is_empty() => Some(after_last),
                    None => None,
                };
                if let Some(start) = start
                    && start < i
                    && bytes[start..i].iter().all(|&b| is_key_byte(b))
                {
                    keys.push((start, i));
                    after_last = i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    keys.iter()
        .enumerate()
        .map(|(n, &(start, eq))| {
            let end = keys.get(n + 1).map_or(ext.len(), |&(next, _)| next);
            let key = ext[start..eq].to_string();
            (key, unescape_value(ext[eq + 1..end].trim_end()))
        })
        .collect()
}

fn unescape_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(n @ ('=' | '\\')) => out.push(n),
            Some(n) => {
                out.push('\\');
                out.push(n);
            }
            None => out.push('\\'),
        }
    }
    out
}

impl Cef {
    fn ext(&self, key: &str) -> Option<&str> {
        self.extension
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The record as JSON for [`wardwatch_core::Event::raw`]: the header fields by name and the
    /// extension as an object (a repeated key keeps its last value).
    pub(crate) fn to_json(&self) -> Value {
        let [
            version,
            vendor,
            product,
            device_version,
            signature_id,
            name,
            severity,
        ] = &self.header;
        let extension: Map<String, Value> = self
            .extension
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        json!({
            "version": version, "device_vendor": vendor, "device_product": product,
            "device_version": device_version, "signature_id": signature_id, "name": name,
            "severity": severity, "extension": extension,
        })
    }

    /// The normalized fields this record states.
    pub(crate) fn ecs(&self) -> Ecs {
        let s = |k: &str| self.ext(k).map(str::to_string);
        let header = |i: usize| Some(self.header[i].clone()).filter(|h| !h.is_empty());
        Ecs {
            event_code: header(4),
            event_action: header(5),
            event_provider: header(2),
            source_ip: s("src").or_else(|| s("c6a2")),
            source_port: self.ext("spt").and_then(|p| p.parse().ok()),
            destination_ip: s("dst").or_else(|| s("c6a3")),
            destination_port: self.ext("dpt").and_then(|p| p.parse().ok()),
            user_name: s("duser").or_else(|| s("suser")),
            host_name: s("dvchost"),
            host_ip: s("dvc"),
            process_pid: self.ext("spid").and_then(|p| p.parse().ok()),
            file_path: s("filePath").or_else(|| s("fname")),
            url_full: s("request"),
            network_protocol: s("app").or_else(|| s("proto")).map(|p| p.to_lowercase()),
            message: s("msg"),
            ..Ecs::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_extension_and_ecs() {
        let text = r"CEF:0|Fortinet|FortiGate|7.0|13|Blocked \| denied|5|src=10.0.0.1 spt=51000 dst=10.0.0.2 dpt=443 duser=alice msg=user said 1+1\=2 == two act=deny request=https://x.example/a?b=c";
        let cef = parse(text).unwrap();
        let j = cef.to_json();
        assert_eq!(j["device_vendor"], "Fortinet");
        assert_eq!(j["name"], "Blocked | denied");
        assert_eq!(j["severity"], "5");
        assert_eq!(j["extension"]["msg"], "user said 1+1=2 == two");
        assert_eq!(j["extension"]["request"], "https://x.example/a?b=c");
        let ecs = cef.ecs();
        assert_eq!(ecs.source_ip.as_deref(), Some("10.0.0.1"));
        assert_eq!(ecs.source_port, Some(51000));
        assert_eq!(ecs.destination_port, Some(443));
        assert_eq!(ecs.user_name.as_deref(), Some("alice"));
        assert_eq!(ecs.event_action.as_deref(), Some("Blocked | denied"));
        assert_eq!(ecs.event_code.as_deref(), Some("13"));
        assert_eq!(ecs.url_full.as_deref(), Some("https://x.example/a?b=c"));
    }

    #[test]
    fn escapes_in_values() {
        let cef = parse(r"CEF:0|V|P|1|1|n|1|fname=C:\\a\=b.txt cs1=line1\nline2 cs2=x\y").unwrap();
        let j = cef.to_json();
        assert_eq!(j["extension"]["fname"], r"C:\a=b.txt");
        assert_eq!(j["extension"]["cs1"], "line1\nline2");
        assert_eq!(j["extension"]["cs2"], r"x\y");
    }

    #[test]
    fn short_and_broken_records() {
        assert!(parse("CEF:0|V|P|1|1|name").is_none());
        let no_ext = parse("CEF:0|V|P|1|1|name|3").unwrap();
        assert!(no_ext.extension.is_empty());
        assert_eq!(parse("CEF:0|V|P|1|1|n|3|").unwrap().extension.len(), 0);
        let odd = parse("CEF:0|V|P|1|1|n|3|=x ==y a= b=\\").unwrap();
        let j = odd.to_json();
        assert_eq!(j["extension"]["a"], "");
        assert_eq!(j["extension"]["b"], "\\");
        assert_eq!(find("host CEF:0|x"), Some(5));
        assert_eq!(find("CEF: nothing CEF:1|"), Some(13));
        assert_eq!(find("no cef"), None);
    }
}
