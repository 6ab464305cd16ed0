//! Impersonation: a sender, link or reply address that passes itself off as the hospital
//! itself or a brand staff trust.
//!
//! Three shapes, from the most to the least certain:
//! - a look-alike domain: the same letters to the eye (`rn` for `m`, `0` for `o`, Cyrillic
//!   `а` for Latin `a`) or one or two keystrokes away (`medlne-supplies.com`);
//! - a brand's name inside someone else's domain (`paypal-secure-login.com`);
//! - a display name that names a brand, or shows an address, the sending domain does not own.
//!
//! The protected names are the operator's own domains (settings) and a built-in list of brands
//! phishing imitates most (mail and cloud providers, parcel services, payment and banking,
//! e-signature), plus the brands the operator adds (suppliers, the EHR vendor).

use crate::Settings;
use crate::urls::registrable;

/// One protected name: the word people see and the domains that really belong to it.
#[derive(Debug, Clone)]
struct Protected {
    name: String,
    /// Registrable domains it owns.
    domains: Vec<String>,
    /// The labels a look-alike would imitate (`paypal` of `paypal.com`).
    labels: Vec<String>,
    own: bool,
}

const BRANDS: &[(&str, &[&str])] = &[
    (
        "microsoft",
        &[
            "microsoft.com",
            "office.com",
            "office365.com",
            "outlook.com",
            "live.com",
            "microsoftonline.com",
            "sharepoint.com",
            "onmicrosoft.com",
            "hotmail.com",
            "msn.com",
            "windows.net",
            "azure.com",
            "microsoft365.com",
            "skype.com",
            "onedrive.com",
        ],
    ),
    (
        "office 365",
        &[
            "microsoft.com",
            "office.com",
            "office365.com",
            "microsoftonline.com",
            "outlook.com",
        ],
    ),
    (
        "outlook",
        &[
            "outlook.com",
            "microsoft.com",
            "office.com",
            "live.com",
            "office365.com",
        ],
    ),
    (
        "onedrive",
        &[
            "onedrive.com",
            "microsoft.com",
            "live.com",
            "sharepoint.com",
        ],
    ),
    ("sharepoint", &["sharepoint.com", "microsoft.com"]),
    (
        "paypal",
        &[
            "paypal.com",
            "paypal.de",
            "paypal.co.uk",
            "paypal.me",
            "paypalobjects.com",
            "xoom.com",
        ],
    ),
    (
        "apple",
        &["apple.com", "icloud.com", "me.com", "itunes.com"],
    ),
    ("icloud", &["icloud.com", "apple.com"]),
    (
        "amazon",
        &[
            "amazon.com",
            "amazon.de",
            "amazon.co.uk",
            "amazon.fr",
            "amazon.es",
            "amazon.it",
            "amazon.com.br",
            "amazonses.com",
            "amazonaws.com",
            "aws.com",
            "amazon.nl",
            "amazon.ca",
        ],
    ),
    ("netflix", &["netflix.com", "netflix.net"]),
    (
        "google",
        &[
            "google.com",
            "gmail.com",
            "googlemail.com",
            "youtube.com",
            "googleusercontent.com",
            "googleapis.com",
            "gstatic.com",
            "googletagmanager.com",
            "google-analytics.com",
            "googlegroups.com",
            "google.co.uk",
            "google.de",
            "google.com.br",
        ],
    ),
    (
        "dhl",
        &[
            "dhl.com",
            "dhl.de",
            "dhl.nl",
            "dhl.co.uk",
            "dhl.fr",
            "dpdhl.com",
            "deutschepost.de",
        ],
    ),
    ("fedex", &["fedex.com"]),
    ("ups", &["ups.com"]),
    ("docusign", &["docusign.com", "docusign.net"]),
    ("dropbox", &["dropbox.com", "dropboxmail.com"]),
    ("adobe", &["adobe.com", "adobesign.com", "echosign.com"]),
    ("linkedin", &["linkedin.com"]),
    (
        "facebook",
        &["facebook.com", "facebookmail.com", "meta.com", "fb.com"],
    ),
    (
        "instagram",
        &["instagram.com", "facebookmail.com", "meta.com"],
    ),
    ("whatsapp", &["whatsapp.com", "whatsapp.net", "meta.com"]),
    ("wells fargo", &["wellsfargo.com"]),
    ("bank of america", &["bankofamerica.com", "bofa.com"]),
    ("american express", &["americanexpress.com", "aexp.com"]),
    (
        "santander",
        &[
            "santander.com",
            "santander.co.uk",
            "santander.com.br",
            "santander.de",
            "santander.es",
        ],
    ),
    (
        "bradesco",
        &[
            "bradesco.com.br",
            "bradescoseguros.com.br",
            "bradescocartoes.com.br",
        ],
    ),
    ("itau", &["itau.com.br", "itau.com"]),
    ("caixa", &["caixa.gov.br"]),
    ("banco do brasil", &["bb.com.br"]),
    ("hsbc", &["hsbc.com", "hsbc.co.uk"]),
    ("ing", &["ing.com", "ing.nl", "ing.de"]),
    ("binance", &["binance.com"]),
    ("coinbase", &["coinbase.com"]),
    ("metamask", &["metamask.io"]),
    ("norton", &["norton.com", "nortonlifelock.com"]),
    ("mcafee", &["mcafee.com"]),
    ("zoom", &["zoom.us", "zoom.com"]),
    ("wetransfer", &["wetransfer.com"]),
    (
        "mercado livre",
        &["mercadolivre.com.br", "mercadolibre.com"],
    ),
    ("correios", &["correios.com.br"]),
    ("royal mail", &["royalmail.com", "royalmail.co.uk"]),
    ("usps", &["usps.com", "usps.gov"]),
    ("irs", &["irs.gov"]),
    ("fbi", &["fbi.gov"]),
    ("visa", &["visa.com"]),
    (
        "gls",
        &[
            "gls-group.eu",
            "gls-group.com",
            "gls-pakete.de",
            "gls-group.net",
        ],
    ),
    ("dpd", &["dpd.com", "dpd.de", "dpd.co.uk", "dpdgroup.com"]),
    ("postnl", &["postnl.nl"]),
    (
        "lidl",
        &[
            "lidl.com",
            "lidl.de",
            "lidl.nl",
            "lidl.fr",
            "lidl.co.uk",
            "lidl.es",
        ],
    ),
    ("ledger", &["ledger.com"]),
    ("trezor", &["trezor.io"]),
    ("nubank", &["nubank.com.br"]),
    ("mastercard", &["mastercard.com"]),
    ("webmail", &[]),
];

/// The compiled protected names.
#[derive(Debug, Clone, Default)]
pub(crate) struct Impersonation {
    protected: Vec<Protected>,
}

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    /// The protected name or domain imitated.
    pub imitates: String,
    /// `look_alike`, `brand_in_domain`.
    pub how: &'static str,
    pub own: bool,
}

impl Impersonation {
    pub fn new(settings: &Settings) -> Self {
        let mut protected = Vec::new();
        for d in &settings.own_domains {
            let d = d.trim().trim_matches('.').to_ascii_lowercase();
            if d.is_empty() {
                continue;
            }
            let reg = registrable(&d);
            protected.push(Protected {
                name: reg.clone(),
                labels: vec![label_of(&reg)],
                domains: vec![reg],
                own: true,
            });
        }
        for b in &settings.brands {
            let (name, domain) = match b.split_once('=') {
                Some((n, d)) => (n.trim().to_ascii_lowercase(), d.trim().to_ascii_lowercase()),
                None => {
                    let d = b.trim().to_ascii_lowercase();
                    (label_of(&registrable(&d)), d)
                }
            };
            if domain.is_empty() {
                continue;
            }
            let reg = registrable(&domain);
            protected.push(Protected {
                name,
                labels: vec![label_of(&reg)],
                domains: vec![reg],
                own: false,
            });
        }
        for (name, domains) in BRANDS {
            let domains: Vec<String> = domains.iter().map(|d| d.to_string()).collect();
            let mut labels: Vec<String> = domains
                .iter()
                .map(|d| label_of(d))
                .filter(|l| l.len() >= 5)
                .collect();
            labels.sort();
            labels.dedup();
            protected.push(Protected {
                name: name.to_string(),
                domains,
                labels,
                own: false,
            });
        }
        Self { protected }
    }

    /// Whether `domain` (registrable) belongs to the protected name `name`.
    fn owns(&self, p: &Protected, domain: &str) -> bool {
        p.domains.iter().any(|d| d == domain)
    }

    fn owned_by_anyone(&self, domain: &str) -> bool {
        self.protected.iter().any(|p| self.owns(p, domain))
    }

    /// Whether `host`'s registrable domain imitates a protected domain.
    pub fn domain(&self, host: &str) -> Option<Finding> {
        let reg = registrable(&unicode_host(host));
        if reg.is_empty() || self.owned_by_anyone(&reg) || reg.parse::<std::net::IpAddr>().is_ok() {
            return None;
        }
        let label = label_of(&reg);
        let skel = skeleton(&label);
        for p in &self.protected {
            for l in &p.labels {
                if l.len() < 4 {
                    continue;
                }
                let ls = skeleton(l);
                let near = skel == ls
                    || (l.len() >= 6 && distance(&skel, &ls) <= 1)
                    || (l.len() >= 10 && distance(&skel, &ls) <= 2);
                if near && label != *l {
                    return Some(Finding {
                        imitates: p.domains.first().cloned().unwrap_or_else(|| l.clone()),
                        how: "look_alike",
                        own: p.own,
                    });
                }
            }
        }
        for p in &self.protected {
            for l in &p.labels {
                let inside = label.starts_with(l.as_str())
                    || label.split(['-', '.']).any(|t| t == l)
                    || skel.starts_with(&skeleton(l));
                if l.len() >= 5 && inside && label != *l {
                    return Some(Finding {
                        imitates: p.domains.first().cloned().unwrap_or_else(|| l.clone()),
                        how: "brand_in_domain",
                        own: p.own,
                    });
                }
            }
        }
        None
    }

    /// The protected name a display name claims, when the sending domain does not own it.
    pub fn display_name(&self, display: &str, from_domain: &str) -> Option<(String, bool)> {
        let words = normalize_words(display);
        let reg = registrable(from_domain);
        for p in &self.protected {
            let claims = if p.own {
                // The hospital's own domain written in the display name.
                words.contains(&p.domains[0]) || words.split(' ').any(|w| w == p.labels[0])
            } else {
                contains_phrase(&words, &p.name)
                    // A word that is the brand to the eye (`PayPaI`, `Micr0soft`, `lCIoud`).
                    || (p.name.len() >= 5
                        && !p.name.contains(' ')
                        && words.split([' ', '-', '.']).any(|w| w.len() == p.name.len() && skeleton(w) == skeleton(&p.name)))
            };
            if claims && !self.owns(p, &reg) && !p.domains.is_empty() {
                return Some((p.name.clone(), p.own));
            }
        }
        None
    }

    /// A protected name written as a sub-domain of someone else's domain
    /// (`paypal.com.account-check.ru`, `login.microsoftonline.com.x.top`).
    pub fn brand_in_subdomain(&self, host: &str) -> Option<String> {
        let reg = registrable(host);
        if self.owned_by_anyone(&reg) {
            return None;
        }
        let sub = host.strip_suffix(&reg)?.trim_end_matches('.');
        if sub.is_empty() {
            return None;
        }
        for label in sub.split(['.', '-']) {
            for p in &self.protected {
                if p.labels.iter().any(|l| l.len() >= 5 && l == label) {
                    return Some(label.to_string());
                }
            }
        }
        None
    }

    /// Whether `domain` is one of the operator's own domains (or under one).
    pub fn is_own(&self, domain: &str) -> bool {
        let reg = registrable(domain);
        self.protected
            .iter()
            .any(|p| p.own && p.domains.contains(&reg))
    }
}

fn contains_phrase(words: &str, phrase: &str) -> bool {
    let padded = format!(" {words} ");
    padded.contains(&format!(" {phrase} "))
}

/// A display name as lower-case words, confusable letters folded.
fn normalize_words(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii() { c } else { fold(c) };
        if c.is_alphanumeric() || c == '.' || c == '-' {
            out.push(c);
        } else {
            out.push(' ');
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The first label of a registrable domain (`paypal` of `paypal.com`, `banco` of `banco.com.br`).
fn label_of(domain: &str) -> String {
    domain.split('.').next().unwrap_or(domain).to_string()
}

/// The host with `xn--` labels shown in Unicode (so confusables can be folded).
fn unicode_host(host: &str) -> String {
    if host.contains("xn--") {
        let (u, r) = idna::domain_to_unicode(host);
        if r.is_ok() {
            return u;
        }
    }
    host.to_ascii_lowercase()
}

/// Letters that look alike in Latin, Cyrillic and Greek scripts, folded to one.
fn fold(c: char) -> char {
    match c {
        'а' | 'α' | '@' => 'a',
        'е' | 'ε' | 'ё' => 'e',
        'о' | 'ο' | 'σ' | '0' => 'o',
        'р' | 'ρ' => 'p',
        'с' | 'ϲ' => 'c',
        'х' | 'χ' => 'x',
        'у' | 'γ' => 'y',
        // Upper-case I and lower-case l look the same in most sans-serif faces.
        'і' | 'ι' | 'ı' | '1' | '|' | 'ӏ' | 'l' | 'I' | 'i' => 'l',
        'ј' => 'j',
        'ѕ' | '5' | '$' => 's',
        'ԁ' => 'd',
        'ɡ' => 'g',
        'ν' => 'v',
        'к' | 'κ' => 'k',
        'м' => 'm',
        'н' | 'η' => 'n',
        'т' | 'τ' => 't',
        'в' | 'β' => 'b',
        'з' | '3' => 'e',
        '4' => 'a',
        '7' => 't',
        '8' => 'b',
        _ => c,
    }
}

/// The skeleton of a label: confusable letters folded, `rn` → `m`, `vv` → `w`, `cl` → `d`,
/// hyphens dropped.
fn skeleton(label: &str) -> String {
    let folded: String = label
        .chars()
        .map(fold)
        .filter(|&c| c != '-')
        .collect::<String>()
        .to_lowercase();
    folded
        .replace("rn", "m")
        .replace("vv", "w")
        .replace("cl", "d")
}

/// Optimal string alignment distance (edits, with adjacent transpositions).
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > 2 {
        return 3;
    }
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn imp() -> Impersonation {
        Impersonation::new(&Settings {
            own_domains: vec!["st-mary-hospital.org".into()],
            brands: vec!["medline-supplies.com".into()],
            ..Settings::default()
        })
    }

    #[test]
    fn look_alikes_of_own_domains_brands_and_suppliers() {
        let i = imp();
        let f = i.domain("mail.st-rnary-hospital.org").unwrap();
        assert_eq!((f.how, f.own), ("look_alike", true));
        assert_eq!(
            i.domain("rnedline-supplies.com").unwrap().imitates,
            "medline-supplies.com"
        );
        assert_eq!(i.domain("paypa1.com").unwrap().how, "look_alike");
        assert_eq!(
            i.domain("xn--pypal-4ve.com").unwrap().how,
            "look_alike",
            "Cyrillic а"
        );
        assert_eq!(
            i.domain("paypal-secure-login.com").unwrap().how,
            "brand_in_domain"
        );
        assert_eq!(i.domain("www.paypal.com"), None);
        assert_eq!(i.domain("st-mary-hospital.org"), None);
        assert_eq!(i.domain("example.org"), None);
    }

    #[test]
    fn display_names_claiming_a_brand_the_domain_does_not_own() {
        let i = imp();
        assert_eq!(
            i.display_name("PayPal Service", "mailer.ru")
                .map(|x| x.0)
                .as_deref(),
            Some("paypal")
        );
        assert_eq!(i.display_name("PayPal", "paypal.com"), None);
        assert_eq!(i.display_name("Microsoft 365 Team", "office365.com"), None);
        assert_eq!(
            i.display_name("Alice Upshaw", "example.org"),
            None,
            "ups inside a word"
        );
        assert_eq!(
            i.display_name("lCIoud Almacenamiento", "tt.com")
                .map(|x| x.0)
                .as_deref(),
            Some("icloud")
        );
    }
}
