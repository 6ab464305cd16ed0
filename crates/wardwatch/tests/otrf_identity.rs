//! The OTRF identity simulations (`../shared/data/identity/otrf-host`, Windows Security and
//! Sysmon logs inside `.zip` files) through `hunt`: the DCSync simulation raises the DCSync
//! detection naming the account that asked for replication and the domain controller, and no
//! other simulation does. (The set holds no password spraying or Kerberoasting simulation:
//! `empire_shell_rubeus_asktgt_ptt` is a ticket request and pass-the-ticket, not a roast.)

mod common;

use std::process::Command;

const DCSYNC_RULE: &str = "43c7851a-a004-4c38-9605-74c316c8984c";

#[test]
fn the_otrf_dcsync_simulation_raises_the_dcsync_detection_through_hunt() {
    let Some(data) =
        common::shared("the_otrf_dcsync_simulation_raises_the_dcsync_detection_through_hunt")
    else {
        return;
    };
    let sims = data.join("identity/otrf-host");
    if !sims.is_dir() {
        eprintln!("skipped: {} is absent", sims.display());
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args(["hunt", sims.to_str().unwrap(), "--format", "jsonl", "-q"])
        .output()
        .unwrap();
    assert!(
        out.status.success() || out.status.code() == Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let findings: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let dcsync: Vec<&serde_json::Value> = findings
        .iter()
        .filter(|f| f["rule_id"] == DCSYNC_RULE)
        .collect();
    assert!(
        !dcsync.is_empty(),
        "no DCSync detection in {} findings",
        findings.len()
    );
    for f in &dcsync {
        let file = f["file"].as_str().unwrap();
        assert!(
            file.contains("covenant_dcsync_dcerpc_drsuapi_DsGetNCChanges.zip!"),
            "DCSync raised on another simulation: {f}"
        );
        assert_eq!(f["level"], "critical", "{f}");
        assert_eq!(
            f["user"], "pgustavo",
            "the account that asked for replication: {f}"
        );
        let entities = f["entities"].to_string();
        assert!(
            entities.contains("pgustavo") && entities.to_lowercase().contains("mordordc"),
            "the account and the domain controller are named: {entities}"
        );
    }
}
