//! Plain IOC lists in: one indicator a line, or CSV with a header.
//!
//! What feeds publish (abuse.ch, OpenPhish, a partner's spreadsheet): lines of addresses,
//! domains, URLs, hashes or e-mail addresses, often "defanged" (`hxxp://`, `[.]`), with `#`
//! comments. Each line's kind is read from its shape. A CSV file (its first line names a
//! column `value`, `ioc`, `indicator` or `observable`, optionally `type`) takes the value from
//! that column and the kind from `type` when given. A line that is no indicator of any kind is
//! an error naming the line, so a file in another format is not read as garbage.

use super::{ImportError, Imported, Skipped};
use crate::indicator::{Indicator, Kind, refang};

/// The indicators of the list `text`.
pub fn import_list(text: &str, source: &str) -> Result<Imported, ImportError> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#') && !l.starts_with("//"));
    let mut out = Imported::default();
    let Some((first_no, first)) = lines.next() else {
        return Ok(out);
    };
    let header = csv_header(first);
    let rest: Vec<(usize, &str)> = match header {
        Some(_) => lines.collect(),
        None => std::iter::once((first_no, first)).chain(lines).collect(),
    };
    for (line, text) in rest {
        out.objects += 1;
        let (value, declared) = match &header {
            Some(h) => {
                let cells = split_csv(text);
                let value = cells.get(h.value).map(String::as_str).unwrap_or("");
                let declared = h
                    .kind
                    .and_then(|k| cells.get(k))
                    .and_then(|t| kind_named(t));
                (value.to_string(), declared)
            }
            None => (text.to_string(), None),
        };
        let value = refang(&value);
        if value.is_empty() {
            out.skipped.push(Skipped {
                what: format!("line {line}"),
                reason: "empty value".into(),
            });
            continue;
        }
        let kind = declared
            .or_else(|| guess(&value))
            .ok_or_else(|| ImportError::List {
                line,
                reason: format!(
                    "`{value}` is no address, network, domain, URL, hash or e-mail address"
                ),
            })?;
        let value = if matches!(kind, Kind::Ip | Kind::Cidr) {
            strip_port(&value)
        } else {
            &value
        };
        match Indicator::new(kind, value, source) {
            Ok(i) => out.indicators.push(i),
            Err(reason) => {
                return Err(ImportError::List { line, reason });
            }
        }
    }
    Ok(out)
}

struct Header {
    value: usize,
    kind: Option<usize>,
}

fn csv_header(line: &str) -> Option<Header> {
    if !line.contains(',') && !line.contains(';') {
        return None;
    }
    let cells: Vec<String> = split_csv(line)
        .into_iter()
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let value = cells.iter().position(|c| {
        matches!(
            c.as_str(),
            "value" | "ioc" | "indicator" | "observable" | "ioc_value"
        )
    })?;
    let kind = cells
        .iter()
        .position(|c| matches!(c.as_str(), "type" | "ioc_type" | "kind"));
    Some(Header { value, kind })
}

/// The cells of one CSV line (comma- or semicolon-separated, quotes as RFC 4180 has them).
fn split_csv(line: &str) -> Vec<String> {
    let sep = if line.contains(',') { b',' } else { b';' };
    csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(sep)
        .flexible(true)
        .from_reader(line.as_bytes())
        .records()
        .next()
        .and_then(Result::ok)
        .map(|r| r.iter().map(|c| c.trim().to_string()).collect())
        .unwrap_or_default()
}

/// A kind named in a `type` column (ThreatFox's `ip:port`, MISP's `ip-dst`, plain words).
fn kind_named(t: &str) -> Option<Kind> {
    let t = t.trim().to_ascii_lowercase();
    Some(match t.as_str() {
        "ip" | "ip:port" | "ipv4" | "ipv6" | "ip-dst" | "ip-src" | "cidr" => Kind::Cidr,
        "domain" | "hostname" | "fqdn" => Kind::Domain,
        "url" | "uri" => Kind::Url,
        "md5" | "md5_hash" => Kind::Md5,
        "sha1" | "sha1_hash" => Kind::Sha1,
        "sha256" | "sha256_hash" => Kind::Sha256,
        "sha512" => Kind::Sha512,
        "email" | "email-src" | "sender" => Kind::Email,
        "subject" | "email-subject" => Kind::Subject,
        _ => return None,
    })
}

/// The kind of a value by its shape.
fn guess(v: &str) -> Option<Kind> {
    if v.contains("://") {
        return Some(Kind::Url);
    }
    if v.contains('@') {
        return Some(Kind::Email);
    }
    let bare = strip_port(v);
    if bare.parse::<std::net::IpAddr>().is_ok() || bare.parse::<ipnet::IpNet>().is_ok() {
        return Some(Kind::Cidr);
    }
    if v.bytes().all(|b| b.is_ascii_hexdigit())
        && let Some(k) = Kind::hash_of_len(v.len())
    {
        return Some(k);
    }
    crate::indicator::domain(v).ok().map(|_| Kind::Domain)
}

/// `1.2.3.4:443` → `1.2.3.4` (IPv6 keeps its colons).
fn strip_port(v: &str) -> &str {
    match v.rsplit_once(':') {
        Some((host, port))
            if host.contains('.') && !host.contains(':') && port.parse::<u16>().is_ok() =>
        {
            host
        }
        _ => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_are_read_by_their_shape_and_defanged_ones_refanged() {
        let text = "# feed of the week\n198.51.100.7\n203.0.113.0/24\nhxxps://bad[.]example/login\n\
                    Evil.Example\n44d88612fea8a8f36de82e1278abb02f\nceo[at]spoofed.example\n";
        let got = import_list(text, "feed").unwrap();
        let vals = got.values();
        assert_eq!(
            vals,
            vec![
                (Kind::Ip, "198.51.100.7"),
                (Kind::Cidr, "203.0.113.0/24"),
                (Kind::Url, "https://bad.example/login"),
                (Kind::Domain, "evil.example"),
                (Kind::Md5, "44d88612fea8a8f36de82e1278abb02f"),
                (Kind::Email, "ceo@spoofed.example"),
            ]
        );
        assert_eq!(got.indicators[0].id, "feed:ip:198.51.100.7");
    }

    #[test]
    fn csv_with_a_header_takes_value_and_type_columns() {
        let text = "first_seen,ioc_value,ioc_type,malware\n\
                    2026-11-01,\"203.0.113.5:8080\",ip:port,QakBot\n\
                    2026-11-02,update-check.example,domain,QakBot\n";
        let got = import_list(text, "threatfox").unwrap();
        let vals: Vec<&str> = got.indicators.iter().map(|i| i.value.as_str()).collect();
        assert_eq!(vals, vec!["203.0.113.5", "update-check.example"]);
    }

    #[test]
    fn a_line_that_is_no_indicator_names_its_line() {
        let err = import_list("198.51.100.7\nthis is prose\n", "feed").unwrap_err();
        assert_eq!(err.to_string().split(':').next(), Some("line 2"));
        assert!(import_list("", "feed").unwrap().indicators.is_empty());
    }
}
