//! `[taxii]`: the TAXII 2.1 server's collections and the partners who read and write them.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use wardwatch_intel::Tlp;
use wardwatch_store::TaxiiCollection;

/// `[taxii]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TaxiiSection {
    /// Serve TAXII 2.1 under `/taxii2/` on the HTTP listener. Default false.
    pub enabled: bool,
    /// The server's title in discovery. Default "Wardwatch TAXII server".
    pub title: String,
    /// The server's description in discovery. Default empty.
    pub description: String,
    /// Who to contact about this server (an address, a phone number). Default empty.
    pub contact: String,
    /// The API root's name in URLs: `/taxii2/{api_root}/`. Default "intel".
    pub api_root: String,
    /// The address partners reach this server at (behind a reverse proxy), e.g.
    /// `https://xdr.hospital.example`; empty: taken from each request. Default empty.
    pub public_url: String,
    /// The producing hospital's name in what is shared (`identity`). Default "Wardwatch site".
    pub producer: String,
    /// The largest POST accepted, KiB (the API root's `max_content_length`). Default 10240.
    pub max_content_kb: u64,
    /// Most objects in one page. Default 1000.
    pub max_page_size: usize,
    /// The TLP an object without a TLP marking is read under. Default "amber".
    pub unmarked_tlp: String,
    /// How long a collection keeps what was added to it (our objects, partners' posts and
    /// their status resources), days; 0 keeps everything. A collection's own `retention_days`
    /// overrides it. Default 365.
    pub retention_days: u32,
    /// The collections served.
    pub collections: Vec<CollectionConfig>,
    /// The partners, each with its own token (`wardwatch tokens add NAME --kind taxii`).
    pub partners: Vec<PartnerConfig>,
}

impl Default for TaxiiSection {
    fn default() -> Self {
        TaxiiSection {
            enabled: false,
            title: "Wardwatch TAXII server".into(),
            description: String::new(),
            contact: String::new(),
            api_root: "intel".into(),
            public_url: String::new(),
            producer: "Wardwatch site".into(),
            max_content_kb: 10_240,
            max_page_size: 1000,
            unmarked_tlp: "amber".into(),
            retention_days: DEFAULT_RETENTION_DAYS,
            collections: Vec::new(),
            partners: Vec::new(),
        }
    }
}

/// `[[taxii.collections]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct CollectionConfig {
    /// The name used in `--collection`, the API and URLs (letters, digits, `-`, `_`, `.`).
    pub alias: String,
    /// A UUID; empty: one derived from the alias (stable across restarts).
    pub id: String,
    /// Shown to partners; empty: the alias.
    pub title: String,
    pub description: String,
    /// Days this collection keeps what is added to it (0: everything); unset: the section's
    /// `retention_days`.
    pub retention_days: Option<u32>,
}

/// `[[taxii.partners]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PartnerConfig {
    /// The partner's name: also its token's name.
    pub name: String,
    /// Collections (alias or id) it may read.
    pub read: Vec<String>,
    /// Collections (alias or id) it may post to (indicators, sightings).
    pub write: Vec<String>,
    /// The highest TLP it may read: green, amber, amber+strict or red (clear and green are
    /// for every reader). Default "green".
    pub max_tlp: String,
}

impl Default for PartnerConfig {
    fn default() -> Self {
        PartnerConfig {
            name: String::new(),
            read: Vec::new(),
            write: Vec::new(),
            max_tlp: "green".into(),
        }
    }
}

/// A partner as the server judges it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partner {
    pub name: String,
    /// Collection ids.
    pub read: HashSet<String>,
    pub write: HashSet<String>,
    pub max_tlp: Tlp,
}

/// A year: shared indicators and incidents older than that are history a partner polling
/// today has had the whole time to read, and a collection must not grow without end.
pub const DEFAULT_RETENTION_DAYS: u32 = 365;

/// `[taxii]` checked: collections with their ids, partners with their rights.
#[derive(Debug, Clone)]
pub struct TaxiiSetup {
    pub section: TaxiiSection,
    pub collections: Vec<TaxiiCollection>,
    /// Per collection id: the days it keeps what is added (0: everything).
    pub retention_days: HashMap<String, u32>,
    pub partners: HashMap<String, Partner>,
    pub unmarked: Tlp,
}

/// UUID namespace of collection ids derived from aliases.
const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x2b6f_3c1e_9d4a_4f57_8e21_c0a9_5b7d_1e34);

fn name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl TaxiiSection {
    /// The section checked; every problem is named with its key.
    pub fn setup(&self) -> Result<TaxiiSetup, String> {
        if !name_ok(&self.api_root) {
            return Err(format!(
                "taxii.api_root `{}`: letters, digits, `-`, `_` and `.` only",
                self.api_root
            ));
        }
        let unmarked = Tlp::parse(&self.unmarked_tlp).ok_or_else(|| {
            format!(
                "taxii.unmarked_tlp `{}`: expected clear, green, amber, amber+strict or red",
                self.unmarked_tlp
            )
        })?;
        if self.max_page_size == 0 || self.max_content_kb == 0 {
            return Err("taxii.max_page_size and taxii.max_content_kb must be above 0".into());
        }
        let public = self.public_url.trim();
        if !(public.is_empty() || public.starts_with("https://") || public.starts_with("http://")) {
            return Err(format!(
                "taxii.public_url `{public}`: expected http:// or https:// and a host"
            ));
        }
        let mut collections = Vec::new();
        let mut retention_days = HashMap::new();
        let mut by_name: HashMap<String, String> = HashMap::new();
        for c in &self.collections {
            if !name_ok(&c.alias) {
                return Err(format!(
                    "taxii.collections: alias `{}`: letters, digits, `-`, `_` and `.` only",
                    c.alias
                ));
            }
            let id = if c.id.trim().is_empty() {
                uuid::Uuid::new_v5(&NAMESPACE, c.alias.as_bytes()).to_string()
            } else {
                uuid::Uuid::try_parse(c.id.trim())
                    .map_err(|_| {
                        format!(
                            "taxii.collections `{}`: id `{}` is not a UUID",
                            c.alias, c.id
                        )
                    })?
                    .to_string()
            };
            for key in [&c.alias, &id] {
                if by_name.insert(key.clone(), id.clone()).is_some() {
                    return Err(format!("taxii.collections: `{key}` is named twice"));
                }
            }
            retention_days.insert(id.clone(), c.retention_days.unwrap_or(self.retention_days));
            collections.push(TaxiiCollection {
                id,
                alias: c.alias.clone(),
                title: if c.title.trim().is_empty() {
                    c.alias.clone()
                } else {
                    c.title.clone()
                },
                description: c.description.clone(),
            });
        }
        let mut partners = HashMap::new();
        for p in &self.partners {
            if !name_ok(&p.name) {
                return Err(format!(
                    "taxii.partners: name `{}`: letters, digits, `-`, `_` and `.` only",
                    p.name
                ));
            }
            let max_tlp = match Tlp::parse(&p.max_tlp) {
                Some(Tlp::Clear) => {
                    return Err(format!(
                        "taxii.partners `{}`: max_tlp `clear`: clear and green go to every reader; the lowest ceiling is green",
                        p.name
                    ));
                }
                Some(t) => t,
                None => {
                    return Err(format!(
                        "taxii.partners `{}`: max_tlp `{}`: expected green, amber, amber+strict or red",
                        p.name, p.max_tlp
                    ));
                }
            };
            let resolve = |list: &[String], key: &str| -> Result<HashSet<String>, String> {
                list.iter()
                    .map(|n| {
                        by_name.get(n).cloned().ok_or_else(|| {
                            format!(
                                "taxii.partners `{}`: {key}: no collection `{n}` in [[taxii.collections]]",
                                p.name
                            )
                        })
                    })
                    .collect()
            };
            let partner = Partner {
                name: p.name.clone(),
                read: resolve(&p.read, "read")?,
                write: resolve(&p.write, "write")?,
                max_tlp,
            };
            if partners.insert(p.name.clone(), partner).is_some() {
                return Err(format!("taxii.partners: `{}` is named twice", p.name));
            }
        }
        Ok(TaxiiSetup {
            section: self.clone(),
            collections,
            retention_days,
            partners,
            unmarked,
        })
    }
}

impl TaxiiSetup {
    /// The collection named `name` (alias or id).
    pub fn collection(&self, name: &str) -> Option<&TaxiiCollection> {
        self.collections
            .iter()
            .find(|c| c.id == name || c.alias == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(text: &str) -> TaxiiSection {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn collections_get_stable_ids_and_partners_their_rights() {
        let s = section(
            r#"
            [[collections]]
            alias = "incidents"
            [[collections]]
            alias = "phishing"
            id = "5C1E2B3A-0000-4000-8000-000000000001"
            title = "Phishing waves"
            [[partners]]
            name = "st-north"
            read = ["incidents", "phishing"]
            write = ["5c1e2b3a-0000-4000-8000-000000000001"]
            max_tlp = "amber"
            "#,
        );
        let a = s.setup().unwrap();
        let b = s.setup().unwrap();
        assert_eq!(a.collections, b.collections, "ids are stable");
        assert_eq!(a.collections[0].title, "incidents");
        let phishing = a.collection("phishing").unwrap();
        assert_eq!(phishing.id, "5c1e2b3a-0000-4000-8000-000000000001");
        let p = &a.partners["st-north"];
        assert_eq!(p.read.len(), 2);
        assert!(p.write.contains(&phishing.id));
        assert_eq!(p.max_tlp, Tlp::Amber);
        assert_eq!(a.unmarked, Tlp::Amber);
        // A year unless a collection says otherwise.
        assert_eq!(a.retention_days[&a.collections[0].id], 365);
        let s = section(
            "retention_days = 90\n[[collections]]\nalias = \"a\"\n[[collections]]\nalias = \"b\"\nretention_days = 0",
        );
        let c = s.setup().unwrap();
        assert_eq!(c.retention_days[&c.collections[0].id], 90);
        assert_eq!(
            c.retention_days[&c.collections[1].id], 0,
            "0 keeps everything"
        );
    }

    #[test]
    fn mistakes_are_named() {
        let err = |text: &str| section(text).setup().unwrap_err();
        assert!(err("api_root = \"a/b\"").contains("taxii.api_root"));
        assert!(err("unmarked_tlp = \"pink\"").contains("unmarked_tlp"));
        assert!(err("[[collections]]\nalias = \"x\"\nid = \"nope\"").contains("not a UUID"));
        assert!(
            err("[[collections]]\nalias = \"x\"\n[[collections]]\nalias = \"x\"")
                .contains("named twice")
        );
        assert!(
            err("[[partners]]\nname = \"p\"\nread = [\"missing\"]")
                .contains("no collection `missing`")
        );
        assert!(err("[[partners]]\nname = \"p\"\nmax_tlp = \"clear\"").contains("lowest ceiling"));
        assert!(err("[[partners]]\nname = \"p\"\nmax_tlp = \"purple\"").contains("purple"));
        assert!(err("public_url = \"ftp://x\"").contains("public_url"));
    }
}
