//! `[identity]`: what the identity analytics are told about the hospital beyond the context
//! folder — the GeoIP database, the working day, the service accounts' naming conventions —
//! and [`directory`], which joins those settings with the roster and inventory into the
//! analytics' `Directory`.
//!
//! Why here: the settings are the server's (and `hunt`'s flags say the same), reading the
//! GeoIP file is I/O, and neither the detector nor the incidents crate may know the other;
//! `serve` and `hunt` call the same function.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use wardwatch_detect::analytics::identity::{Directory, Machine, Person, WorkHours};
use wardwatch_detect::analytics::network::NetClass;
use wardwatch_detect::geoip::GeoIp;
use wardwatch_incidents::{AssetMatch, Context};

/// `[identity]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentitySection {
    /// A MaxMind-format GeoIP database (`.mmdb`). Empty: only the places Entra and Okta report.
    pub geoip: PathBuf,
    /// The hospital's time zone (IANA name) for "off-hours". Empty: off-hours is not judged.
    pub timezone: String,
    /// First hour of the working day (0–23).
    pub workday_start: u8,
    /// The hour the working day ends (1–24).
    pub workday_end: u8,
    /// Saturdays and Sundays are outside working hours.
    pub weekends_off: bool,
    /// Service accounts by name (`svc_*`, `*_svc`; `*` at either end) when the roster does not
    /// say. Empty: the built-in conventions.
    pub service_accounts: Vec<String>,
}

impl Default for IdentitySection {
    fn default() -> Self {
        IdentitySection {
            geoip: PathBuf::new(),
            timezone: String::new(),
            workday_start: 7,
            workday_end: 19,
            weekends_off: true,
            service_accounts: Vec::new(),
        }
    }
}

/// Read the GeoIP database at `path`; the error names the file and why.
pub fn load_geoip(path: &Path) -> Result<Arc<GeoIp>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    GeoIp::from_bytes(bytes)
        .map(Arc::new)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The identity analytics' directory from the context (roster and inventory) and the
/// settings; an error names the setting that is wrong (a time zone, hours, the GeoIP file).
pub fn directory(ctx: &Context, settings: &IdentitySection) -> Result<Directory, String> {
    let mut dir = Directory::default();
    for p in ctx.roster.people() {
        dir.add_person(
            &p.user,
            Person::from_roster(p.department.as_deref(), p.role.as_deref(), p.privileged),
        );
    }
    for a in ctx.inventory.assets() {
        let machine = Machine {
            class: NetClass::from_name(a.class.as_str()),
            department: a.department.clone(),
        };
        match &a.matcher {
            AssetMatch::Host(name) => dir.add_host(name, machine),
            AssetMatch::Ip(ip) => {
                if let Some(name) = &a.name {
                    dir.add_host(name, machine.clone());
                }
                dir.add_network(ipnet::IpNet::from(*ip), machine);
            }
            AssetMatch::Subnet(ip, len) => {
                if let Ok(net) = ipnet::IpNet::new(*ip, *len) {
                    dir.add_network(net, machine);
                }
            }
        }
    }
    if !settings.service_accounts.is_empty() {
        dir.set_service_patterns(settings.service_accounts.clone());
    }
    if !settings.timezone.trim().is_empty() {
        let tz = jiff::tz::TimeZone::get(settings.timezone.trim()).map_err(|e| {
            format!(
                "identity.timezone: `{}` is not a known time zone: {e}",
                settings.timezone
            )
        })?;
        let (start, end) = (settings.workday_start, settings.workday_end);
        if start >= end || end > 24 {
            return Err(format!(
                "identity.workday_start/workday_end: {start}..{end} is not a working day (0 <= start < end <= 24)"
            ));
        }
        dir.set_work_hours(WorkHours {
            tz,
            start,
            end,
            weekdays_only: settings.weekends_off,
        });
    }
    if !settings.geoip.as_os_str().is_empty() {
        dir.set_geoip(load_geoip(&settings.geoip).map_err(|e| format!("identity.geoip: {e}"))?);
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wardwatch_demo::mmdb::{GeoRecord, MmdbWriter};

    #[test]
    fn roster_inventory_and_settings_become_the_directory() {
        let files = vec![
            (
                "roster.csv".to_string(),
                "user,display_name,department,role,privileged\nadm-piet,Piet,ICT,on-call admin,yes\nsql-agent,SQL,ICT,service account,no\n".to_string(),
            ),
            (
                "inventory.csv".to_string(),
                "match,class,criticality,zone,name,department\nJUMP01,admin,4,admin,,ICT\n10.20.0.0/16,workstation,2,clinical,,ICU\n10.1.1.5,epr-server,5,servers,EPR01,\n".to_string(),
            ),
        ];
        let (ctx, problems) = Context::from_files(&files);
        assert!(problems.is_empty(), "{problems:?}");
        let dir = tempfile::tempdir().unwrap();
        let mut w = MmdbWriter::new("GeoLite2-Country");
        w.insert(
            "81.2.0.0/16",
            &GeoRecord {
                country: "NL".into(),
                city: None,
                latitude: 52.0,
                longitude: 5.0,
                accuracy_radius_km: 50,
            },
        )
        .unwrap();
        let db = dir.path().join("geo.mmdb");
        std::fs::write(&db, w.to_bytes()).unwrap();
        let settings = IdentitySection {
            geoip: db,
            timezone: "Europe/Amsterdam".into(),
            ..IdentitySection::default()
        };
        let d = directory(&ctx, &settings).unwrap();
        let piet = d.person("HOSP\\adm-piet").unwrap();
        assert!(piet.privileged && piet.on_call);
        assert!(d.is_service("sql-agent") && d.is_service("svc_backup"));
        assert_eq!(d.class("jump01.hosp.local"), NetClass::Admin);
        assert_eq!(d.class("10.20.3.3"), NetClass::Workstation);
        assert_eq!(d.class("epr01"), NetClass::Server, "an address row's name");
        assert_eq!(
            d.locate("81.2.3.4").and_then(|p| p.country).as_deref(),
            Some("NL")
        );
        // 2024-06-02 is a Sunday.
        let sunday = jiff::Timestamp::from_second(1_717_322_400).unwrap();
        assert!(d.off_hours(sunday).unwrap().contains("Europe/Amsterdam"));
    }

    #[test]
    fn bad_settings_are_named() {
        let ctx = Context::default();
        let tz = IdentitySection {
            timezone: "Mars/Olympus".into(),
            ..IdentitySection::default()
        };
        assert!(
            directory(&ctx, &tz)
                .unwrap_err()
                .contains("identity.timezone")
        );
        let hours = IdentitySection {
            timezone: "UTC".into(),
            workday_start: 19,
            workday_end: 7,
            ..IdentitySection::default()
        };
        assert!(directory(&ctx, &hours).unwrap_err().contains("workday"));
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.mmdb");
        std::fs::write(&junk, b"not a database").unwrap();
        let geo = IdentitySection {
            geoip: junk,
            ..IdentitySection::default()
        };
        let err = directory(&ctx, &geo).unwrap_err();
        assert!(
            err.contains("identity.geoip") && err.contains("junk.mmdb"),
            "{err}"
        );
        let missing = IdentitySection {
            geoip: dir.path().join("missing.mmdb"),
            ..IdentitySection::default()
        };
        assert!(
            directory(&ctx, &missing)
                .unwrap_err()
                .contains("missing.mmdb")
        );
    }
}
