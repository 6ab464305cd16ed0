//! Logsource is honoured: a rule for one product / service / category never fires on another's
//! events. Hunts real Security, System, Sysmon and PowerShell logs with every SigmaHQ rule
//! (Linux, macOS, cloud and network rules included) and checks each finding's rule against the
//! channel and Event ID of the event it fired on.
//!
//! Needs `../shared/data` (CI always has it); skipped with a reason when absent.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use wardwatch_core::Severity;
use wardwatch_detect::{Correlator, Detector, RuleMeta};
use wardwatch_hunt::{HuntOptions, hunt};

/// The Sigma service a channel belongs to (the test's own table, written from SigmaHQ's
/// Windows logsource guide, independent of the engine's). A finding on a channel missing here
/// fails the test: the table must grow with the data rather than let unknown channels pass.
fn service_of(channel: &str) -> Option<&'static str> {
    Some(match channel {
        "Security" => "security",
        "System" => "system",
        "Application" => "application",
        "Microsoft-Windows-Sysmon/Operational" => "sysmon",
        "Microsoft-Windows-PowerShell/Operational" | "PowerShellCore/Operational" => "powershell",
        "Windows PowerShell" => "powershell-classic",
        "Microsoft-Windows-TaskScheduler/Operational" => "taskscheduler",
        "Microsoft-Windows-WMI-Activity/Operational" => "wmi",
        "Microsoft-Windows-Windows Defender/Operational" => "windefend",
        "Microsoft-Windows-Bits-Client/Operational" => "bits-client",
        "Microsoft-Windows-CodeIntegrity/Operational" => "codeintegrity-operational",
        "Microsoft-Windows-Windows Firewall With Advanced Security/Firewall" => "firewall-as",
        "Microsoft-Windows-TerminalServices-LocalSessionManager/Operational" => {
            "terminalservices-localsessionmanager"
        }
        "Microsoft-Windows-NTLM/Operational" => "ntlm",
        "Microsoft-Windows-SmbClient/Security" => "smbclient-security",
        "Microsoft-Windows-PrintService/Admin" => "printservice-admin",
        "Microsoft-Windows-PrintService/Operational" => "printservice-operational",
        "Microsoft-Windows-DNS Client Events/Operational" => "dns-client",
        "Microsoft-Windows-Shell-Core/Operational" => "shell-core",
        "Microsoft-Windows-LSA/Operational" => "lsa-server",
        "Microsoft-Windows-Kerberos/Operational" => "kerberos",
        "OpenSSH/Operational" => "openssh",
        "DNS Server" => "dns-server",
        "MSExchange Management" => "msexchange-management",
        "Microsoft-Windows-CAPI2/Operational" => "capi2",
        _ => return None,
    })
}

/// Whether `category` may fire on `channel` / `event_id`.
fn category_allowed(category: &str, channel: &str, event_id: u64) -> bool {
    match (channel, category) {
        ("Microsoft-Windows-Sysmon/Operational", "process_creation") => event_id == 1,
        ("Microsoft-Windows-Sysmon/Operational", "network_connection") => event_id == 3,
        ("Microsoft-Windows-Sysmon/Operational", "image_load") => event_id == 7,
        ("Microsoft-Windows-Sysmon/Operational", "process_access") => event_id == 10,
        ("Microsoft-Windows-Sysmon/Operational", "file_event") => event_id == 11,
        ("Microsoft-Windows-Sysmon/Operational", c) if c.starts_with("registry_") => {
            (12..=14).contains(&event_id)
        }
        ("Microsoft-Windows-Sysmon/Operational", "pipe_created") => matches!(event_id, 17 | 18),
        ("Microsoft-Windows-Sysmon/Operational", "dns_query") => event_id == 22,
        ("Microsoft-Windows-Sysmon/Operational", _) => true,
        ("Security", "process_creation") => event_id == 4688,
        // Registry auditing and named pipes opened over IPC$ answer to Sysmon's categories
        // (`fields/security_4657.rs`, `fields/security_5145.rs`; the share is checked there).
        ("Security", c) if c.starts_with("registry_") => event_id == 4657,
        ("Security", "pipe_created") => event_id == 5145,
        // An outbound connection the Filtering Platform permitted (`fields/security_5156.rs`).
        ("Security", "network_connection") => event_id == 5156,
        // Object access auditing answers by the object opened (`fields/security_object_access.rs`).
        ("Security", "process_access" | "file_delete" | "file_access" | "file_event") => {
            matches!(event_id, 4656 | 4663)
        }
        ("Microsoft-Windows-PowerShell/Operational", "ps_script") => event_id == 4104,
        ("Microsoft-Windows-PowerShell/Operational", "ps_module") => event_id == 4103,
        ("Windows PowerShell", "ps_classic_start") => event_id == 400,
        // The engine's start carries its command line (`fields/powershell_400.rs`).
        ("Windows PowerShell", "process_creation") => event_id == 400,
        ("Windows PowerShell", "ps_classic_provider_start") => event_id == 600,
        _ => false,
    }
}

#[test]
fn rules_never_fire_outside_their_logsource() {
    let Some(data) = common::shared("rules_never_fire_outside_their_logsource") else {
        return;
    };
    let (texts, _) = wardwatch_hunt::rule_texts(&common::sigmahq_dirs(&data));
    let pack = wardwatch_detect::RulePack::load(texts);
    let metas: HashMap<String, RuleMeta> =
        pack.metas().map(|m| (m.id.clone(), m.clone())).collect();
    assert!(
        metas
            .values()
            .any(|m| m.product.as_deref() == Some("linux"))
    );
    let (detector, _) = Detector::build(&pack);
    let (correlator, _) = Correlator::build(&pack);
    let opts = HuntOptions {
        paths: vec![
            data.join("evtx/dense-samples"),
            data.join("evtx/evtx-to-mitre-attack"),
        ],
        min_level: Severity::Informational,
        threads: 0,
    };
    let report = hunt(&opts, Arc::new(detector), correlator, &|_| {});
    assert!(
        report.findings.len() > 1000,
        "too few findings to judge: {}",
        report.findings.len()
    );
    let mut wrong = Vec::new();
    for f in &report.findings {
        let Some(meta) = metas.get(&f.rule_id) else {
            continue;
        };
        if meta.kind != wardwatch_detect::RuleKind::Detection {
            continue;
        }
        let channel = f.channel.as_deref().unwrap_or("");
        let event_id: u64 = f
            .event_id
            .as_deref()
            .and_then(|e| e.parse().ok())
            .unwrap_or(0);
        let product_ok = meta.product.as_deref().is_none_or(|p| p == "windows");
        // A rule naming a service or a category fires only where the test knows the channel:
        // an unknown channel is a failure, never a pass.
        let service_ok = meta
            .service
            .as_deref()
            .is_none_or(|s| service_of(channel) == Some(s));
        let category_ok = meta.category.as_deref().is_none_or(|c| {
            service_of(channel).is_some() && category_allowed(c, channel, event_id)
        });
        if !(product_ok && service_ok && category_ok) {
            wrong.push(format!(
                "{} ({:?}/{:?}/{:?}) fired on {channel} {event_id} in {}",
                meta.title, meta.product, meta.service, meta.category, f.file
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} finding(s) outside their logsource:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
