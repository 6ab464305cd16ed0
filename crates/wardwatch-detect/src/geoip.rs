//! Where an address is: country and coordinates from a GeoIP database in MaxMind's format
//! (GeoLite2 / GeoIP2 City or Country, DB-IP's and IPinfo's `.mmdb` exports) that the operator
//! supplies.
//!
//! # Why
//! "A new country" and "impossible travel" need to place the address a sign-in came from;
//! Entra and Okta place their own sign-ins, but Windows, sshd, VPN concentrators and the
//! console do not. Hospitals already license or download such a database for their firewalls;
//! Wardwatch reads the same file rather than ship one.
//!
//! # How
//! [`GeoIp::from_bytes`] takes the file's bytes (the caller reads the file: this crate does no
//! I/O) and checks the header; [`GeoIp::locate`] answers a [`Place`] for an address the
//! database knows. Private, loopback and link-local addresses have no place. Reading uses the
//! `maxminddb` crate; a damaged record is no place, never a panic.

use std::net::IpAddr;

use serde::Deserialize;

/// Where the database puts an address.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Place {
    /// ISO 3166-1 alpha-2 code (`NL`); the registered country when the database has no
    /// physical one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
    /// How far off the coordinates may be, in kilometres.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy_km: Option<u16>,
}

/// A GeoIP database that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("not a usable MaxMind-format GeoIP database: {0}")]
pub struct GeoIpError(String);

/// A MaxMind-format GeoIP database, in memory.
pub struct GeoIp {
    reader: maxminddb::Reader<Vec<u8>>,
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoIp")
            .field("database_type", &self.reader.metadata().database_type)
            .field("node_count", &self.reader.metadata().node_count)
            .finish()
    }
}

#[derive(Deserialize)]
struct Country<'a> {
    #[serde(borrow)]
    iso_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct Names<'a> {
    #[serde(borrow)]
    en: Option<&'a str>,
}

#[derive(Deserialize)]
struct City<'a> {
    #[serde(borrow)]
    names: Option<Names<'a>>,
}

#[derive(Deserialize)]
struct Location {
    latitude: Option<f64>,
    longitude: Option<f64>,
    accuracy_radius: Option<u16>,
}

#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow)]
    country: Option<Country<'a>>,
    #[serde(borrow)]
    registered_country: Option<Country<'a>>,
    #[serde(borrow)]
    city: Option<City<'a>>,
    location: Option<Location>,
}

impl GeoIp {
    /// A database from the bytes of its file.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<GeoIp, GeoIpError> {
        let reader =
            maxminddb::Reader::from_source(bytes).map_err(|e| GeoIpError(e.to_string()))?;
        Ok(GeoIp { reader })
    }

    /// What the database says it is (`GeoLite2-City`).
    pub fn database_type(&self) -> &str {
        &self.reader.metadata().database_type
    }

    /// Where `ip` is, if it is a public address the database places.
    pub fn locate(&self, ip: &str) -> Option<Place> {
        let addr: IpAddr = ip.trim().trim_start_matches("::ffff:").parse().ok()?;
        if is_local(&addr) {
            return None;
        }
        let found = self.reader.lookup(addr).ok()?;
        let rec: Record<'_> = found.decode().ok()??;
        let country = rec
            .country
            .and_then(|c| c.iso_code)
            .or_else(|| rec.registered_country.and_then(|c| c.iso_code))
            .map(|c| c.to_ascii_uppercase());
        let (lat, lon, accuracy_km) = match rec.location {
            Some(Location {
                latitude: Some(a),
                longitude: Some(o),
                accuracy_radius,
            }) if a.is_finite()
                && o.is_finite()
                && (-90.0..=90.0).contains(&a)
                && (-180.0..=180.0).contains(&o) =>
            {
                (Some(a), Some(o), accuracy_radius)
            }
            _ => (None, None, None),
        };
        let city = rec
            .city
            .and_then(|c| c.names)
            .and_then(|n| n.en)
            .map(str::to_string);
        (country.is_some() || lat.is_some()).then_some(Place {
            country,
            city,
            lat,
            lon,
            accuracy_km,
        })
    }
}

fn is_local(addr: &IpAddr) -> bool {
    match addr {
        IpAddr::V4(v4) => {
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

/// The great-circle distance between two points, in kilometres (haversine, mean Earth radius).
pub fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lon1) = (a.0.to_radians(), a.1.to_radians());
    let (lat2, lon2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((lat2 - lat1) / 2.0).sin().powi(2)
        + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().min(1.0).asin()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wardwatch_demo::mmdb::{GeoRecord, MmdbWriter};

    fn rec(country: &str, city: Option<&str>, lat: f64, lon: f64) -> GeoRecord {
        GeoRecord {
            country: country.into(),
            city: city.map(str::to_string),
            latitude: lat,
            longitude: lon,
            accuracy_radius_km: 20,
        }
    }

    fn db() -> GeoIp {
        let mut w = MmdbWriter::new("GeoLite2-City");
        w.insert("81.2.0.0/16", &rec("NL", None, 52.37, 4.90))
            .unwrap();
        w.insert("81.2.69.0/24", &rec("NL", Some("Utrecht"), 52.09, 5.12))
            .unwrap();
        w.insert(
            "175.16.199.0/24",
            &rec("CN", Some("Changchun"), 43.88, 125.32),
        )
        .unwrap();
        w.insert("2001:db8:1::/48", &rec("BR", None, -23.55, -46.63))
            .unwrap();
        GeoIp::from_bytes(w.to_bytes()).unwrap()
    }

    #[test]
    fn a_built_database_places_its_networks_and_nothing_else() {
        let g = db();
        assert_eq!(g.database_type(), "GeoLite2-City");
        let utrecht = g.locate("81.2.69.142").unwrap();
        assert_eq!(utrecht.country.as_deref(), Some("NL"));
        assert_eq!(utrecht.city.as_deref(), Some("Utrecht"));
        assert_eq!((utrecht.lat, utrecht.lon), (Some(52.09), Some(5.12)));
        assert_eq!(utrecht.accuracy_km, Some(20));
        let wider = g.locate("81.2.1.1").unwrap();
        assert_eq!(
            (wider.city, wider.lat),
            (None, Some(52.37)),
            "the /16 outside the /24"
        );
        assert_eq!(
            g.locate("::ffff:175.16.199.3").unwrap().country.as_deref(),
            Some("CN")
        );
        assert_eq!(
            g.locate("2001:db8:1::5").unwrap().country.as_deref(),
            Some("BR")
        );
        assert_eq!(g.locate("8.8.8.8"), None, "not in the database");
        assert_eq!(g.locate("10.1.2.3"), None, "private");
        assert_eq!(g.locate("not an address"), None);
    }

    #[test]
    fn damaged_files_are_refused_with_a_reason() {
        let err = GeoIp::from_bytes(b"not a database".to_vec()).unwrap_err();
        assert!(err.to_string().contains("MaxMind"), "{err}");
        let mut bytes = {
            let mut w = MmdbWriter::new("x");
            w.insert("81.2.69.0/24", &rec("NL", None, 52.0, 5.0))
                .unwrap();
            w.to_bytes()
        };
        // A damaged search tree: lookups fail or find nothing, and never panic.
        for b in bytes.iter_mut().take(60) {
            *b = 0xff;
        }
        if let Ok(g) = GeoIp::from_bytes(bytes) {
            let _ = g.locate("81.2.69.1");
        }
    }

    #[test]
    fn distances() {
        let amsterdam = (52.37, 4.90);
        let new_york = (40.71, -74.01);
        let d = distance_km(amsterdam, new_york);
        assert!((5800.0..5900.0).contains(&d), "{d}");
        assert_eq!(distance_km(amsterdam, amsterdam), 0.0);
    }
}
