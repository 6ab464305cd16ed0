//! A small writer of MaxMind DB (`.mmdb`) files: GeoIP2-City-shaped records for a few
//! networks.
//!
//! Why it exists: the identity analytics read a GeoIP database the operator supplies (MaxMind
//! GeoLite2 / GeoIP2 City or Country, or any database in that format); tests and the generated
//! identity month need one that places the addresses they invent, and no real database may be
//! copied into the project. The format is MaxMind's published "MaxMind DB File Format
//! Specification" 2.0: a binary search tree over the address bits (IPv6, with IPv4 under
//! `::/96` as the reader expects), 24-bit records, 16 zero bytes, the data section, and the
//! metadata after `\xAB\xCD\xEFMaxMind.com`. Only what a reader needs is written: strings,
//! doubles, unsigned integers, maps and arrays.
//!
//! It is not a general writer: a few hundred networks, no record deduplication, no aliases.

use std::net::IpAddr;

/// Where a network is.
#[derive(Debug, Clone, PartialEq)]
pub struct GeoRecord {
    /// ISO 3166-1 alpha-2 (`NL`).
    pub country: String,
    pub city: Option<String>,
    pub latitude: f64,
    pub longitude: f64,
    /// How far off the location may be, in kilometres.
    pub accuracy_radius_km: u16,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    Empty,
    Node(u32),
    Data(u32),
}

/// An `.mmdb` under construction.
#[derive(Debug, Clone)]
pub struct MmdbWriter {
    database_type: String,
    nodes: Vec<[Slot; 2]>,
    data: Vec<u8>,
}

impl MmdbWriter {
    /// An empty database of `database_type` (`GeoLite2-City`).
    pub fn new(database_type: &str) -> Self {
        MmdbWriter {
            database_type: database_type.to_string(),
            nodes: vec![[Slot::Empty; 2]],
            data: Vec::new(),
        }
    }

    /// Place the network `cidr` (`81.2.69.0/24`, `2001:db8::/32`) at `record`. A network
    /// inside one inserted earlier overrides it for its own addresses; a network around one
    /// inserted earlier is refused (it would hide it).
    pub fn insert(&mut self, cidr: &str, record: &GeoRecord) -> Result<(), String> {
        let (addr, len) = cidr
            .split_once('/')
            .ok_or_else(|| format!("{cidr}: not address/prefix"))?;
        let addr: IpAddr = addr
            .parse()
            .map_err(|e| format!("{cidr}: bad address: {e}"))?;
        let len: u32 = len
            .parse()
            .map_err(|e| format!("{cidr}: bad prefix: {e}"))?;
        let (bits, depth) = match addr {
            IpAddr::V4(v4) if len <= 32 => (u128::from(u32::from(v4)), 96 + len),
            IpAddr::V6(v6) if len <= 128 => (u128::from(v6), len),
            _ => return Err(format!("{cidr}: prefix too long")),
        };
        if depth == 0 {
            return Err(format!("{cidr}: a database cannot place every address"));
        }
        let offset = self.data.len() as u32;
        encode_record(record, &mut self.data);
        let mut node = 0usize;
        for d in 0..depth {
            let bit = ((bits >> (127 - d)) & 1) as usize;
            if d == depth - 1 {
                if let Slot::Node(_) = self.nodes[node][bit] {
                    return Err(format!(
                        "{cidr}: narrower networks inside it were inserted first (insert the wider one first)"
                    ));
                }
                self.nodes[node][bit] = Slot::Data(offset);
                break;
            }
            node = match self.nodes[node][bit] {
                Slot::Node(n) => n as usize,
                other => {
                    // Empty, or a wider network's record that this one narrows: both halves
                    // of the new node keep what was there.
                    let next = self.nodes.len();
                    self.nodes.push([other, other]);
                    self.nodes[node][bit] = Slot::Node(next as u32);
                    next
                }
            };
        }
        Ok(())
    }

    /// The database as a file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let count = self.nodes.len() as u32;
        let mut out = Vec::with_capacity(self.nodes.len() * 6 + self.data.len() + 256);
        for pair in &self.nodes {
            for slot in pair {
                let v = match *slot {
                    Slot::Empty => count,
                    Slot::Node(n) => n,
                    Slot::Data(off) => count + 16 + off,
                };
                out.extend_from_slice(&v.to_be_bytes()[1..]);
            }
        }
        out.extend_from_slice(&[0u8; 16]);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
        let mut meta = Vec::new();
        map_header(9, &mut meta);
        string("binary_format_major_version", &mut meta);
        uint(5, 2, &mut meta);
        string("binary_format_minor_version", &mut meta);
        uint(5, 0, &mut meta);
        string("build_epoch", &mut meta);
        uint(9, 1_780_000_000, &mut meta);
        string("database_type", &mut meta);
        string(&self.database_type, &mut meta);
        string("description", &mut meta);
        map_header(1, &mut meta);
        string("en", &mut meta);
        string("Wardwatch test geography (not real locations)", &mut meta);
        string("ip_version", &mut meta);
        uint(5, 6, &mut meta);
        string("languages", &mut meta);
        control(11, 1, &mut meta);
        string("en", &mut meta);
        string("node_count", &mut meta);
        uint(6, u64::from(count), &mut meta);
        string("record_size", &mut meta);
        uint(5, 24, &mut meta);
        out.extend_from_slice(&meta);
        out
    }
}

fn encode_record(r: &GeoRecord, out: &mut Vec<u8>) {
    let with_city = r.city.is_some();
    map_header(if with_city { 3 } else { 2 }, out);
    string("country", out);
    map_header(1, out);
    string("iso_code", out);
    string(&r.country, out);
    string("location", out);
    map_header(3, out);
    string("accuracy_radius", out);
    uint(5, u64::from(r.accuracy_radius_km), out);
    string("latitude", out);
    double(r.latitude, out);
    string("longitude", out);
    double(r.longitude, out);
    if let Some(city) = &r.city {
        string("city", out);
        map_header(1, out);
        string("names", out);
        map_header(1, out);
        string("en", out);
        string(city, out);
    }
}

/// A control byte for `kind` (1–15) and `size`, with the extended-type and size bytes.
fn control(kind: u8, size: usize, out: &mut Vec<u8>) {
    let (low, extra): (u8, Vec<u8>) = if size < 29 {
        (size as u8, Vec::new())
    } else if size < 285 {
        (29, vec![(size - 29) as u8])
    } else if size < 65_821 {
        (30, ((size - 285) as u16).to_be_bytes().to_vec())
    } else {
        (31, ((size - 65_821) as u32).to_be_bytes()[1..].to_vec())
    };
    if kind <= 7 {
        out.push((kind << 5) | low);
    } else {
        out.push(low);
        out.push(kind - 7);
    }
    out.extend_from_slice(&extra);
}

fn map_header(pairs: usize, out: &mut Vec<u8>) {
    control(7, pairs, out);
}

fn string(s: &str, out: &mut Vec<u8>) {
    control(2, s.len(), out);
    out.extend_from_slice(s.as_bytes());
}

fn double(v: f64, out: &mut Vec<u8>) {
    control(3, 8, out);
    out.extend_from_slice(&v.to_be_bytes());
}

/// An unsigned integer of `kind` (5: uint16, 6: uint32, 9: uint64) in as few bytes as it needs.
fn uint(kind: u8, v: u64, out: &mut Vec<u8>) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    control(kind, 8 - skip, out);
    out.extend_from_slice(&bytes[skip..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_extended_types_are_encoded_as_the_format_says() {
        let mut out = Vec::new();
        control(2, 3, &mut out);
        assert_eq!(out, [0x43]);
        out.clear();
        control(2, 40, &mut out);
        assert_eq!(out, [0x5d, 11]);
        out.clear();
        control(11, 1, &mut out);
        assert_eq!(out, [0x01, 0x04], "array: extended type 11 = 7 + 4");
        out.clear();
        uint(5, 0, &mut out);
        assert_eq!(out, [0xa0]);
        out.clear();
        uint(6, 300, &mut out);
        assert_eq!(out, [0xc2, 0x01, 0x2c]);
    }

    #[test]
    fn bad_networks_are_refused() {
        let r = GeoRecord {
            country: "NL".into(),
            city: None,
            latitude: 52.0,
            longitude: 5.0,
            accuracy_radius_km: 50,
        };
        let mut w = MmdbWriter::new("test");
        assert!(w.insert("10.0.0.0", &r).is_err());
        assert!(w.insert("10.0.0.0/33", &r).is_err());
        assert!(w.insert("::/0", &r).is_err());
        assert!(w.insert("10.1.0.0/16", &r).is_ok());
        assert!(w.insert("10.0.0.0/8", &r).is_err(), "would hide the /16");
        assert!(w.insert("10.1.2.0/24", &r).is_ok(), "narrows the /16");
        assert!(
            w.to_bytes()
                .windows(14)
                .any(|x| x == b"\xAB\xCD\xEFMaxMind.com")
        );
    }
}
