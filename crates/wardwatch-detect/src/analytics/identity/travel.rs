//! Impossible travel and a new country: an account signing in from two places no one could
//! travel between in the time between, or from a country it was never used from.
//!
//! # What it does
//! Each successful use from a public address is placed: by the operator's GeoIP database
//! (MaxMind format, see [`crate::geoip`]) when there is one, else by the place Entra or Okta
//! reported for its own sign-ins. Private addresses have no place.
//! - **Impossible travel** (medium; high when the second place is also a new country): two
//!   placed uses of one account more than [`MIN_KM`] apart (less both places' accuracy), at
//!   a speed above [`MAX_KMH`] — faster than an airliner. At most one alert per account an
//!   hour.
//! - **New country** (after the learning window): a use from a country this account was
//!   never placed in. Medium; low when many of the organization's accounts are seen there
//!   (staff living across a border). An account's first placed use from a country common in
//!   the organization only teaches its profile.
//!
//! # Why it matters
//! A clinician's stolen password is used from wherever the attacker is; the account's owner is
//! at work. Entra ID P2 says this for its own sign-ins only; VPN concentrators, sshd and the
//! console say nothing.
//!
//! # Look-alikes
//! Roaming mobile data and VPN exits can place someone far away; the accuracy radius is
//! subtracted and the speed must be beyond any flight, so a train across a border is not
//! travel. A holiday abroad is a new country once (low when colleagues are often there).
//!
//! # References
//! ATT&CK T1078 (Valid Accounts), T1078.004 (Cloud Accounts); Microsoft Entra ID Protection
//! "atypical travel" and "unfamiliar sign-in properties".

use std::sync::Arc;

use wardwatch_core::{Entity, EntityKind, Severity};

use super::directory::Directory;
use super::profiles::{Located, Profiles, Quiet, remember};
use crate::IdentityUse;
use crate::RuleMeta;
use crate::analytics::{Hit, meta};
use crate::engine::{Detection, Finding};
use crate::geoip::distance_km;

/// Shortest distance that can be travel (kilometres, after the places' accuracy).
pub(super) const MIN_KM: f64 = 500.0;
/// Fastest believable travel (km/h): a long-haul flight with its take-off and landing.
pub(super) const MAX_KMH: f64 = 1000.0;
/// Quiet time between two travel alerts of one account.
const QUIET_SECS: i64 = 3600;
const TRAVEL_ID: &str = "analytic-identity-impossible-travel";
const COUNTRY_ID: &str = "analytic-identity-new-country";

pub(super) fn travel_rule() -> Arc<RuleMeta> {
    super::any_product(meta(
        TRAVEL_ID,
        "Account Used From Two Places Too Far Apart For The Time Between",
        Severity::Medium,
        &["attack.initial_access", "attack.t1078", "attack.t1078.004"],
        "One account signed in successfully from two places that no one could travel between in the time between them (faster than a flight). Usually one of the two is someone else using the password or a stolen session.",
        "Ask the account's owner where they are and whether they signed in from both places. If one is not theirs: reset the password, revoke sessions and tokens, check MFA methods registered recently, and review what was done from the unknown place.",
    ))
}

pub(super) fn country_rule() -> Arc<RuleMeta> {
    super::any_product(meta(
        COUNTRY_ID,
        "Account Used From A Country It Was Never Used From",
        Severity::Medium,
        &["attack.initial_access", "attack.t1078"],
        "An account signed in successfully from a country it had not been used from before. A member of staff travelling does this; so does an attacker with their password.",
        "Ask the account's owner whether they are in that country. If not, reset the password, revoke sessions, and review the sign-ins and what followed from that address.",
    ))
}

/// Where a use was, if anything places it.
fn place_of(dir: &Directory, u: &IdentityUse, t: i64) -> Option<Located> {
    if let Some(ip) = u.source_ip.as_deref()
        && let Some(p) = dir.locate(ip)
    {
        let (lat, lon) = (p.lat?, p.lon?);
        return Some(Located {
            t,
            lat,
            lon,
            country: p.country,
            from: ip.to_string(),
            accuracy_km: p.accuracy_km.unwrap_or(100),
        });
    }
    let r = u.reported_place.as_ref()?;
    Some(Located {
        t,
        lat: r.lat?,
        lon: r.lon?,
        country: r.country.clone(),
        from: u
            .source_ip
            .clone()
            .unwrap_or_else(|| "the identity provider's report".into()),
        accuracy_km: 50,
    })
}

/// The country of a use even without coordinates (a Country database, or a report naming the
/// country only).
fn country_of(dir: &Directory, u: &IdentityUse) -> Option<String> {
    u.source_ip
        .as_deref()
        .and_then(|ip| dir.locate(ip))
        .and_then(|p| p.country)
        .or_else(|| u.reported_place.as_ref().and_then(|r| r.country.clone()))
}

fn entities(u: &IdentityUse, from: &str) -> Vec<Entity> {
    let mut e = Vec::new();
    if from.parse::<std::net::IpAddr>().is_ok() {
        e.push(Entity::new(EntityKind::Ip, from));
    }
    e.push(Entity::new(EntityKind::User, &u.user));
    if let Some(d) = &u.device {
        e.push(Entity::new(EntityKind::Device, d));
    }
    e
}

pub(super) fn check(
    profiles: &mut Profiles,
    dir: &Directory,
    u: &IdentityUse,
    t: i64,
    quiet: &mut Quiet,
    out: &mut Vec<Hit>,
) {
    let place = place_of(dir, u, t);
    let country = place
        .as_ref()
        .and_then(|p| p.country.clone())
        .or_else(|| country_of(dir, u));
    if place.is_none() && country.is_none() {
        return;
    }
    let common = country
        .as_deref()
        .is_some_and(|c| profiles.common_country(c));
    let (profile, learning) = profiles.get(&u.user, t);
    let new_country = country
        .as_deref()
        .is_some_and(|c| !profile.countries.iter().any(|k| k == c));
    let had_countries = !profile.countries.is_empty();
    let previous = profile.last_place.clone();
    let mut travelled = false;
    if let (Some(here), Some(before)) = (&place, &previous)
        && here.t >= before.t
    {
        let km = distance_km((before.lat, before.lon), (here.lat, here.lon));
        let margin = f64::from(before.accuracy_km) + f64::from(here.accuracy_km);
        let hours = (here.t - before.t) as f64 / 3600.0;
        let speed = if hours > 0.0 {
            km / hours
        } else {
            f64::INFINITY
        };
        if km - margin > MIN_KM
            && speed > MAX_KMH
            && here.t - before.t <= 24 * 3600
            && quiet.may(&u.user, TRAVEL_ID, t, QUIET_SECS)
        {
            travelled = true;
            let level = if new_country && !learning {
                Severity::High
            } else {
                Severity::Medium
            };
            let mut rule = (*travel_rule()).clone();
            rule.level = level;
            let mins = (here.t - before.t) / 60;
            out.push(Detection {
                rule: Arc::new(rule),
                correlation: None,
                entities: entities(u, &here.from),
                finding: Some(Arc::new(Finding {
                    facts: vec![
                        ("identity.previous_from".into(), before.from.clone()),
                        (
                            "identity.previous_country".into(),
                            before.country.clone().unwrap_or_else(|| "unknown".into()),
                        ),
                        (
                            "identity.country".into(),
                            here.country.clone().unwrap_or_else(|| "unknown".into()),
                        ),
                        ("identity.distance_km".into(), format!("{km:.0}")),
                        ("identity.minutes_between".into(), mins.to_string()),
                        (
                            "identity.speed_kmh".into(),
                            if speed.is_finite() {
                                format!("{speed:.0}")
                            } else {
                                "at the same moment".into()
                            },
                        ),
                    ],
                })),
            });
        }
    }
    if !travelled && new_country && !learning && (had_countries || !common) {
        let c = country.clone().unwrap_or_default();
        let level = if common {
            Severity::Low
        } else {
            Severity::Medium
        };
        let mut rule = (*country_rule()).clone();
        rule.level = level;
        let from = place
            .as_ref()
            .map(|p| p.from.clone())
            .or_else(|| u.source_ip.clone())
            .unwrap_or_default();
        out.push(Detection {
            rule: Arc::new(rule),
            correlation: None,
            entities: entities(u, &from),
            finding: Some(Arc::new(Finding {
                facts: vec![
                    ("identity.country".into(), c),
                    (
                        "identity.known_countries".into(),
                        profile.countries.join(", "),
                    ),
                    ("identity.country_common_here".into(), common.to_string()),
                ],
            })),
        });
    }
    if let Some(p) = place {
        profile.last_place = Some(p);
    }
    if let Some(c) = country {
        remember(&mut profile.countries, &c);
        if new_country {
            profiles.count_country(&c, !had_countries);
        }
    }
}
