//! Patients and staff as the privacy analytics need them: who is a VIP, who is an employee, and
//! family names and addresses as keyed hashes only.
//!
//! # What it does
//! [`Patients`] reads `patients.csv` (`patient_id,family_name,given_name,address,vip,
//! employee_user`) and [`StaffKeys`] the `family_name` (or the display name after its first
//! word) and `address` of `roster.csv`. Names and addresses are turned into [`Keyed`] values —
//! HMAC-SHA256 under the operator's [`PrivacyKey`], of the text lowercased with everything but
//! letters and digits collapsed to single spaces — as they are read; the text itself is not
//! kept. Two equal names give equal keyed values under one key, so the analytics can say "same
//! family name" or "same address" without the names being in memory, on disk or in an alert.
//!
//! # Why it matters
//! A list of every patient's name and address is the most sensitive file in a hospital;
//! snooping detection must not become a second copy of it.
//!
//! # Example
//! `P100001,de Vries,Anna,"Kerkstraat 12, Utrecht",false,` gives patient `P100001` whose family
//! name compares equal to the roster's `Bram de Vries` (`De  VRIES` too) under the same key.
//!
//! # References
//! RFC 2104 (HMAC); GDPR art. 32 (pseudonymisation as a security measure).

use std::collections::HashMap;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{ContextError, Format, format_of, parse_all, required};

/// The secret under which names and addresses are hashed (the server keeps one per store).
#[derive(Clone)]
pub struct PrivacyKey(Vec<u8>);

impl std::fmt::Debug for PrivacyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivacyKey(..)")
    }
}

impl PrivacyKey {
    /// A key from secret bytes (at least 16 of them make sense; any length works).
    pub fn new(secret: &[u8]) -> Self {
        PrivacyKey(secret.to_vec())
    }

    /// The keyed value of `text` of kind `what` (`family`, `address`): different kinds never
    /// compare equal, however alike their texts.
    pub fn keyed(&self, what: &str, text: &str) -> Option<Keyed> {
        let norm = normalize(text);
        if norm.is_empty() {
            return None;
        }
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(what.as_bytes());
        mac.update(&[0]);
        mac.update(norm.as_bytes());
        let out = mac.finalize().into_bytes();
        let mut k = [0u8; 16];
        k.copy_from_slice(&out[..16]);
        Some(Keyed(k))
    }
}

/// Lowercase; runs of anything but letters and digits become one space.
fn normalize(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A name or address as a keyed hash (128 bits of HMAC-SHA256).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Keyed([u8; 16]);

impl std::fmt::Debug for Keyed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keyed(")?;
        for b in &self.0[..4] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "..)")
    }
}

/// One `patients.csv` row, names and address keyed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientRecord {
    pub id: String,
    pub family: Option<Keyed>,
    pub given: Option<Keyed>,
    pub address: Option<Keyed>,
    pub vip: bool,
    /// The account of the staff member this patient is, lowercased.
    pub employee_user: Option<String>,
}

/// The patients the operator listed.
#[derive(Debug, Clone, Default)]
pub struct Patients {
    by_id: HashMap<String, PatientRecord>,
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "1" | "x" => Some(true),
        "false" | "no" | "n" | "0" | "" => Some(false),
        _ => None,
    }
}

impl Patients {
    /// Parse `text` (CSV or YAML by the extension of `path_name`), keeping every good row and
    /// reporting every bad one; names and addresses are keyed with `key` as they are read.
    pub fn load_partial(
        path_name: &str,
        text: &str,
        key: &PrivacyKey,
    ) -> (Self, Vec<ContextError>) {
        let format = match format_of(path_name) {
            Ok(f) => f,
            Err(e) => return (Self::default(), vec![e]),
        };
        Self::parse(path_name, text, format, key)
    }

    fn parse(
        file: &str,
        text: &str,
        format: Format,
        key: &PrivacyKey,
    ) -> (Self, Vec<ContextError>) {
        let (rows, errors) = parse_all(file, text, format, |file, at, map| {
            let id = required(file, &at, map, "patient_id")?.to_string();
            let vip = match map.get("vip") {
                None => false,
                Some(v) => parse_bool(v).ok_or_else(|| ContextError::BadValue {
                    file: file.to_string(),
                    at: at.clone(),
                    column: "vip",
                    value: v.clone(),
                    hint: "expected true or false",
                })?,
            };
            Ok(PatientRecord {
                family: map.get("family_name").and_then(|n| key.keyed("family", n)),
                given: map.get("given_name").and_then(|n| key.keyed("given", n)),
                address: map.get("address").and_then(|a| key.keyed("address", a)),
                vip,
                employee_user: map
                    .get("employee_user")
                    .map(|u| super::account_name(u))
                    .filter(|u| !u.is_empty()),
                id,
            })
        });
        let mut by_id = HashMap::with_capacity(rows.len());
        for r in rows {
            by_id.entry(r.id.clone()).or_insert(r);
        }
        (Patients { by_id }, errors)
    }

    pub fn get(&self, id: &str) -> Option<&PatientRecord> {
        self.by_id.get(id)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

/// A staff member's family name and address, keyed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaffKey {
    pub family: Option<Keyed>,
    pub address: Option<Keyed>,
}

/// The roster's names and addresses, keyed, by account.
#[derive(Debug, Clone, Default)]
pub struct StaffKeys {
    by_user: HashMap<String, StaffKey>,
}

impl StaffKeys {
    /// Read `family_name` (else the display name without its first word) and `address` of
    /// every roster row of `text`, keyed with `key`. Rows without a user are reported.
    pub fn load_partial(
        path_name: &str,
        text: &str,
        key: &PrivacyKey,
    ) -> (Self, Vec<ContextError>) {
        let format = match format_of(path_name) {
            Ok(f) => f,
            Err(e) => return (Self::default(), vec![e]),
        };
        let (rows, errors) = parse_all(path_name, text, format, |file, at, map| {
            let user = super::account_name(required(file, &at, map, "user")?);
            let family = map.get("family_name").cloned().or_else(|| {
                map.get("display_name")
                    .or_else(|| map.get("name"))
                    .and_then(|n| n.trim().split_once(' ').map(|(_, rest)| rest.to_string()))
            });
            Ok((
                user,
                StaffKey {
                    family: family.and_then(|f| key.keyed("family", &f)),
                    address: map.get("address").and_then(|a| key.keyed("address", a)),
                },
            ))
        });
        (
            StaffKeys {
                by_user: rows.into_iter().collect(),
            },
            errors,
        )
    }

    pub fn get(&self, user: &str) -> Option<&StaffKey> {
        self.by_user.get(&super::account_name(user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_by_keyed_value_only() {
        let key = PrivacyKey::new(b"0123456789abcdef");
        let csv = "patient_id,family_name,given_name,address,vip,employee_user\nP1,de Vries,Anna,\"Kerkstraat 12, Utrecht\",true,\nP2,Jansen,Bram,Molenweg 3,no,HOSP\\BJansen\nP3,,,,maybe,\n,x,y,z,false,\n";
        let (p, errors) = Patients::load_partial("patients.csv", csv, &key);
        assert_eq!(p.len(), 2);
        assert_eq!(errors.len(), 2, "{errors:?}");
        let roster = "user,display_name,department,role,privileged,email,address\nbvries,Bram de Vries,ICU,nurse,false,b@h.example,kerkstraat 12 utrecht\n";
        let (staff, errors) = StaffKeys::load_partial("roster.csv", roster, &key);
        assert!(errors.is_empty());
        let s = staff.get("BVRIES").unwrap();
        let p1 = p.get("P1").unwrap();
        assert_eq!(
            s.family, p1.family,
            "same family name, any case and spacing"
        );
        assert_eq!(s.address, p1.address);
        assert!(p1.vip);
        assert_eq!(
            p.get("P2").unwrap().employee_user.as_deref(),
            Some("bjansen")
        );
        // Another key gives other values; kinds never mix.
        let other = PrivacyKey::new(b"another key 1234");
        assert_ne!(
            other.keyed("family", "de Vries"),
            key.keyed("family", "de Vries")
        );
        assert_ne!(key.keyed("family", "x"), key.keyed("address", "x"));
        assert_eq!(key.keyed("family", " - "), None);
        // The text itself is nowhere in the value.
        assert!(!format!("{p1:?}").to_lowercase().contains("vries"));
    }
}
