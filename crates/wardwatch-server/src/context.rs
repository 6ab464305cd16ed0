//! The context folder (`hunt --context DIR`, `serve`'s `incidents.context`): reading its files,
//! and handing the network analytics what it says about addresses.
//!
//! Why here: parsing is `wardwatch-incidents`' (pure, text in), the analytics are
//! `wardwatch-detect`'s and `wardwatch-privacy`'s (pure, a [`Topology`] or a `PrivacyContext`
//! in); neither may know the other, so the wiring that reads the folder and joins them lives
//! with the other wiring, and `hunt` and `serve` call the same functions.

use std::path::Path;

use wardwatch_detect::analytics::network::{NetClass, Role, Topology, ZoneAllow};
use wardwatch_incidents::context::Ports;
use wardwatch_incidents::{
    AssetMatch, CONTEXT_FILES, Context, ContextError, Encounters, Patients, PrivacyKey, Roster,
    StaffKeys,
};
use wardwatch_privacy::PrivacyContext;

/// The context files of `dir` as `(path, text)`: every `inventory`, `roster` and `zones` file
/// with a `.csv`, `.yaml` or `.yml` extension (other files belong to other features and are
/// left alone). A folder that cannot be read, or a file in it, is an error naming it.
pub fn read_dir(dir: &Path) -> std::io::Result<Vec<(String, String)>> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let Some((stem, ext)) = name.rsplit_once('.') else {
            continue;
        };
        let ext = ext.to_ascii_lowercase();
        if !CONTEXT_FILES.contains(&stem.to_ascii_lowercase().as_str())
            || !matches!(ext.as_str(), "csv" | "yaml" | "yml")
        {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        files.push((path.display().to_string(), text));
    }
    files.sort();
    Ok(files)
}

/// Read and parse a context folder: the context, and one problem per bad row (with its file
/// and line; the rest loaded).
pub fn load_dir(dir: &Path) -> std::io::Result<(Context, Vec<ContextError>)> {
    Ok(Context::from_files(&read_dir(dir)?))
}

/// The first of `names` present in `dir`, as `(path, text)`.
fn read_first(dir: &Path, names: &[&str]) -> std::io::Result<Option<(String, String)>> {
    for name in names {
        let path = dir.join(name);
        if path.exists() {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            return Ok(Some((path.display().to_string(), text)));
        }
    }
    Ok(None)
}

/// The privacy analytics' context from the folder `dir`: the roster (with its names and
/// addresses as keyed hashes under `key`), `patients` and `encounters` (CSV or YAML), with one
/// problem per bad row. `None` when the folder has neither patients nor encounters: the
/// privacy analytics would judge nothing. The key never leaves the hashes.
pub fn privacy_context(
    dir: &Path,
    key: &PrivacyKey,
) -> std::io::Result<Option<(PrivacyContext, Vec<ContextError>)>> {
    let patients = read_first(dir, &["patients.csv", "patients.yaml", "patients.yml"])?;
    let encounters = read_first(
        dir,
        &["encounters.csv", "encounters.yaml", "encounters.yml"],
    )?;
    if patients.is_none() && encounters.is_none() {
        return Ok(None);
    }
    let mut ctx = PrivacyContext::default();
    let mut problems = Vec::new();
    if let Some((path, text)) = read_first(dir, &["roster.csv", "roster.yaml", "roster.yml"])? {
        let (roster, p1) = Roster::load_partial(&path, &text);
        let (staff, p2) = StaffKeys::load_partial(&path, &text, key);
        ctx.roster = roster;
        ctx.staff = staff;
        problems.extend(p1);
        problems.extend(p2);
    }
    if let Some((path, text)) = patients {
        let (p, errs) = Patients::load_partial(&path, &text, key);
        ctx.patients = p;
        problems.extend(errs);
    }
    if let Some((path, text)) = encounters {
        let (e, errs) = Encounters::load_partial(&path, &text);
        ctx.encounters = e;
        problems.extend(errs);
    }
    Ok(Some((ctx, problems)))
}

/// What the inventory says of addresses, for the network analytics: every row that matches an
/// address or a subnet, with its class and zone (rows that match a host name say nothing of
/// addresses); and the segmentation policy, when `zones.csv` is there.
pub fn topology(ctx: &Context) -> Topology {
    let mut topo = Topology::default();
    for asset in ctx.inventory.assets() {
        let net = match &asset.matcher {
            AssetMatch::Ip(ip) => ipnet::IpNet::from(*ip),
            AssetMatch::Subnet(ip, len) => match ipnet::IpNet::new(*ip, *len) {
                Ok(n) => n,
                Err(_) => continue,
            },
            AssetMatch::Host(_) => continue,
        };
        topo.add(
            net,
            Role {
                class: NetClass::from_name(asset.class.as_str()),
                zone: asset.zone.clone(),
                name: asset.name.clone(),
            },
        );
    }
    if let Some(zones) = &ctx.zones {
        topo.set_policy(
            zones
                .rules()
                .iter()
                .map(|r| ZoneAllow {
                    from: r.from.clone(),
                    to: r.to.clone(),
                    ports: match &r.ports {
                        Ports::Any => Vec::new(),
                        Ports::Some(ranges) => ranges
                            .iter()
                            .map(|p| (p.low, p.high, p.transport.map(str::to_string)))
                            .collect(),
                    },
                    at: r.at.clone(),
                })
                .collect(),
        );
    }
    topo
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_gives_the_context_and_the_analytics_its_addresses() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("inventory.csv"),
            "match,class,criticality,zone,name\n10.0.0.0/8,workstation,2,clinical,\n\
10.9.0.5,scanner,3,admin,NESSUS01\nPACS01,pacs,5,servers,\n10.5.0.0/16,medical-device,5,iomt,\n\
10.1.2.3,toaster,2,,\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("zones.csv"),
            "from_zone,to_zone,ports,note\nclinical,servers,443;445,\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not context").unwrap();
        let (ctx, problems) = load_dir(dir.path()).unwrap();
        assert_eq!(problems.len(), 1, "the toaster row: {problems:?}");
        assert!(problems[0].to_string().contains("inventory.csv"));
        assert_eq!(ctx.inventory.assets().len(), 4);
        assert!(ctx.zones.as_ref().is_some_and(|z| z.rules().len() == 1));
        let topo = topology(&ctx);
        assert_eq!(topo.class("10.9.0.5"), NetClass::Scanner);
        assert_eq!(topo.class("10.5.3.3"), NetClass::MedicalDevice);
        assert_eq!(
            topo.role("10.2.2.2").and_then(|r| r.zone.as_deref()),
            Some("clinical")
        );
        assert!(topo.has_policy(), "zones.csv is the policy");
        assert_eq!(
            topo.verdict("10.2.2.2", "10.9.0.5", 3389, Some("tcp")),
            wardwatch_detect::analytics::network::Verdict::Forbidden
        );
        assert!(load_dir(&dir.path().join("missing")).is_err());
    }
}
