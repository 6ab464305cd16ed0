//! The segmentation policy: `zones.csv`, which zone may reach which, on which ports.
//!
//! Why: a hospital separates clinical workstations, medical devices (IoMT), servers, guest
//! Wi-Fi and administration into zones, and the point of the separation is that traffic between
//! them is the exception. The operator writes the exceptions down — `clinical` may reach
//! `servers` on 443 and 445, `iomt` may reach `pacs` on DICOM's 104 — and everything between
//! two known zones that no row allows is a segmentation finding, naming the row it broke (or
//! that none allows it). Without the file there is no policy and no such finding.
//!
//! Format (CSV with a header, or a YAML list): `from_zone,to_zone,ports,note`. `ports` is a
//! `;`-separated list of ports or ranges, each with an optional `/tcp` or `/udp`
//! (`443;53/udp;8000-8100`), or `*` for any; `to_zone` may be `internet` (any address outside
//! the hospital); either zone may be `*`. A malformed row is reported with file and line and
//! skipped; the rest loads.

use super::{ContextError, Format, Location, first_error, format_of, parse_all, required};

/// The zone name for addresses outside the hospital.
pub const INTERNET: &str = "internet";

/// One port or range, for one transport or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub low: u16,
    pub high: u16,
    /// `Some("tcp")` / `Some("udp")`, or `None` for both.
    pub transport: Option<&'static str>,
}

/// What a row allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ports {
    Any,
    Some(Vec<PortRange>),
}

impl Ports {
    /// Whether `port` over `transport` (`tcp`, `udp`, or unknown) is allowed.
    pub fn allows(&self, port: u16, transport: Option<&str>) -> bool {
        match self {
            Ports::Any => true,
            Ports::Some(ranges) => ranges.iter().any(|r| {
                (r.low..=r.high).contains(&port)
                    && match (r.transport, transport) {
                        (Some(want), Some(got)) => want.eq_ignore_ascii_case(got),
                        _ => true,
                    }
            }),
        }
    }
}

/// One row of `zones.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneRule {
    pub from: String,
    pub to: String,
    pub ports: Ports,
    pub note: Option<String>,
    /// Where the row is (`zones.csv line 4`), to name it in a finding.
    pub at: String,
}

/// The allowed flows between zones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZonePolicy {
    rules: Vec<ZoneRule>,
}

fn parse_ports(text: &str) -> Option<Ports> {
    let text = text.trim();
    if text == "*" || text.eq_ignore_ascii_case("any") {
        return Some(Ports::Any);
    }
    let mut out = Vec::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (range, transport) = match part.split_once('/') {
            Some((r, t)) => match t.trim().to_ascii_lowercase().as_str() {
                "tcp" => (r, Some("tcp")),
                "udp" => (r, Some("udp")),
                _ => return None,
            },
            None => (part, None),
        };
        let (low, high) = match range.split_once('-') {
            Some((a, b)) => (a.trim().parse().ok()?, b.trim().parse().ok()?),
            None => {
                let p = range.trim().parse().ok()?;
                (p, p)
            }
        };
        if low > high {
            return None;
        }
        out.push(PortRange {
            low,
            high,
            transport,
        });
    }
    (!out.is_empty()).then_some(Ports::Some(out))
}

fn zone_name(s: &str) -> String {
    s.trim().to_ascii_lowercase()
}

impl ZonePolicy {
    pub fn new(rules: Vec<ZoneRule>) -> Self {
        ZonePolicy { rules }
    }

    pub fn rules(&self) -> &[ZoneRule] {
        &self.rules
    }

    /// The strict form: the first bad row is an error.
    pub fn load(path_name: &str, text: &str) -> Result<Self, ContextError> {
        first_error(Self::load_partial(path_name, text))
    }

    /// The good rows, and one problem per bad row (with its file and line).
    pub fn load_partial(path_name: &str, text: &str) -> (Self, Vec<ContextError>) {
        match format_of(path_name) {
            Ok(f) => Self::parse(path_name, text, f),
            Err(e) => (Self::default(), vec![e]),
        }
    }

    fn parse(file: &str, text: &str, format: Format) -> (Self, Vec<ContextError>) {
        let (rules, errors) = parse_all(file, text, format, |file, at: Location, map| {
            let from = zone_name(required(file, &at, map, "from_zone")?);
            let to = zone_name(required(file, &at, map, "to_zone")?);
            let ports_text = required(file, &at, map, "ports")?;
            let ports = parse_ports(ports_text).ok_or_else(|| ContextError::BadValue {
                file: file.to_string(),
                at: at.clone(),
                column: "ports",
                value: ports_text.to_string(),
                hint: "expected ports or ranges separated by ';', each optionally /tcp or /udp \
                       (443;53/udp;8000-8100), or *",
            })?;
            Ok(ZoneRule {
                from,
                to,
                ports,
                note: map.get("note").cloned(),
                at: format!("{file} {at}"),
            })
        });
        (ZonePolicy { rules }, errors)
    }

    /// The row that allows traffic from zone `from` to zone `to` on `port`, if one does.
    /// Traffic inside one zone is always allowed.
    pub fn allowing(
        &self,
        from: &str,
        to: &str,
        port: u16,
        transport: Option<&str>,
    ) -> Option<&ZoneRule> {
        self.rules.iter().find(|r| {
            (r.from == "*" || r.from.eq_ignore_ascii_case(from))
                && (r.to == "*" || r.to.eq_ignore_ascii_case(to))
                && r.ports.allows(port, transport)
        })
    }

    /// Whether the policy allows it (same zone, or a row says so).
    pub fn allows(&self, from: &str, to: &str, port: u16, transport: Option<&str>) -> bool {
        from.eq_ignore_ascii_case(to) || self.allowing(from, to, port, transport).is_some()
    }

    /// The rows about traffic from `from` to `to` (whatever the port): what the policy does
    /// allow between them, for a finding to say.
    pub fn between(&self, from: &str, to: &str) -> Vec<&ZoneRule> {
        self.rules
            .iter()
            .filter(|r| {
                (r.from == "*" || r.from.eq_ignore_ascii_case(from))
                    && (r.to == "*" || r.to.eq_ignore_ascii_case(to))
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = "from_zone,to_zone,ports,note\n\
clinical,servers,443;445;135;49152-65535/tcp,file shares and RPC\n\
clinical,internet,80;443;53/udp,web\n\
iomt,pacs,104;11112,DICOM\n\
admin,*,*,administrators reach everything\n\
guest,internet,*,guests only reach the internet\n";

    #[test]
    fn rows_allow_ports_ranges_and_transports() {
        let p = ZonePolicy::load("zones.csv", POLICY).unwrap();
        assert_eq!(p.rules().len(), 5);
        assert!(p.allows("clinical", "servers", 445, Some("tcp")));
        assert!(p.allows("clinical", "servers", 50000, Some("tcp")));
        assert!(!p.allows("clinical", "servers", 50000, Some("udp")));
        assert!(p.allows("clinical", "internet", 53, Some("udp")));
        assert!(!p.allows("clinical", "internet", 53, Some("tcp")));
        assert!(p.allows("admin", "iomt", 22, Some("tcp")));
        assert!(p.allows("iomt", "iomt", 9999, None), "inside one zone");
        assert!(!p.allows("guest", "servers", 443, Some("tcp")));
        assert!(!p.allows("iomt", "internet", 443, Some("tcp")));
        let row = p.allowing("iomt", "pacs", 104, Some("tcp")).unwrap();
        assert_eq!(row.at, "zones.csv line 4");
        assert_eq!(row.note.as_deref(), Some("DICOM"));
        assert_eq!(p.between("clinical", "servers").len(), 1);
    }

    #[test]
    fn bad_rows_are_reported_with_their_line_and_the_rest_loads() {
        let text = "from_zone,to_zone,ports\nclinical,servers,443\niomt,pacs,104-99\n\
guest,internet,80/icmp\n,servers,443\nadmin,*,*\n";
        let (p, errors) = ZonePolicy::load_partial("zones.csv", text);
        assert_eq!(p.rules().len(), 2);
        assert_eq!(errors.len(), 3, "{errors:?}");
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(
            shown[0].contains("zones.csv") && shown[0].contains("line 3"),
            "{}",
            shown[0]
        );
        assert!(shown[1].contains("80/icmp"));
        assert!(shown[2].contains("from_zone"));
    }
}
