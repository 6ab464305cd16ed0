//! Logsources: which Sigma `product` / `service` / `category` an event belongs to.
//!
//! Why it matters: a Sigma rule is written for one logsource and is meaningless elsewhere —
//! `EventID: 1` is a process creation in Sysmon and something else entirely in the System log.
//! SigmaHQ's own pipelines turn a rule's logsource into channel and Event ID conditions; we do
//! the same from the event's side, deriving its logsource once, and evaluate only the rules
//! whose logsource it satisfies.
//!
//! References: SigmaHQ `documentation/logsource-guides/windows`, pySigma's Windows and Sysmon
//! pipelines (channel per service, Event IDs per category).

use std::borrow::Cow;

use serde_json::Value;
use wardwatch_core::{Event, SourceKind};

use crate::fields::Operation;

/// An event's logsource: at most one product and one service, and the categories it is in
/// (a Sysmon registry value set is both `registry_set` and `registry_event`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventLogsource<'a> {
    pub product: Option<&'static str>,
    pub service: Option<Cow<'a, str>>,
    pub categories: Vec<&'static str>,
}

/// Windows channels and the Sigma service names for them (compared case-insensitively).
const WINDOWS_SERVICES: &[(&str, &str)] = &[
    ("Security", "security"),
    ("System", "system"),
    ("Application", "application"),
    ("Microsoft-Windows-Sysmon/Operational", "sysmon"),
    ("Microsoft-Windows-PowerShell/Operational", "powershell"),
    ("PowerShellCore/Operational", "powershell"),
    ("Windows PowerShell", "powershell-classic"),
    (
        "Microsoft-Windows-TaskScheduler/Operational",
        "taskscheduler",
    ),
    ("Microsoft-Windows-WMI-Activity/Operational", "wmi"),
    (
        "Microsoft-Windows-Windows Defender/Operational",
        "windefend",
    ),
    ("Microsoft-Windows-Bits-Client/Operational", "bits-client"),
    ("DNS Server", "dns-server"),
    (
        "Microsoft-Windows-DNS-Server/Analytical",
        "dns-server-analytic",
    ),
    (
        "Microsoft-Windows-DNS Client Events/Operational",
        "dns-client",
    ),
    (
        "Microsoft-Windows-CodeIntegrity/Operational",
        "codeintegrity-operational",
    ),
    (
        "Microsoft-Windows-Windows Firewall With Advanced Security/Firewall",
        "firewall-as",
    ),
    (
        "Microsoft-Windows-TerminalServices-LocalSessionManager/Operational",
        "terminalservices-localsessionmanager",
    ),
    (
        "Microsoft-Windows-TerminalServices-RemoteConnectionManager/Operational",
        "rdp",
    ),
    ("Microsoft-Windows-NTLM/Operational", "ntlm"),
    ("Microsoft-Windows-SmbClient/Security", "smbclient-security"),
    (
        "Microsoft-Windows-SmbClient/Connectivity",
        "smbclient-connectivity",
    ),
    (
        "Microsoft-Windows-SMBServer/Connectivity",
        "smbserver-connectivity",
    ),
    (
        "Microsoft-Windows-Security-Mitigations/KernelMode",
        "security-mitigations",
    ),
    (
        "Microsoft-Windows-Security-Mitigations/UserMode",
        "security-mitigations",
    ),
    (
        "Microsoft-Windows-DriverFrameworks-UserMode/Operational",
        "driver-framework",
    ),
    (
        "Microsoft-Windows-AppXDeploymentServer/Operational",
        "appxdeployment-server",
    ),
    (
        "Microsoft-Windows-AppxPackaging/Operational",
        "appxpackaging-om",
    ),
    (
        "Microsoft-Windows-AppModel-Runtime/Admin",
        "appmodel-runtime",
    ),
    ("MSExchange Management", "msexchange-management"),
    ("Microsoft-Windows-AppLocker/EXE and DLL", "applocker"),
    ("Microsoft-Windows-AppLocker/MSI and Script", "applocker"),
    (
        "Microsoft-Windows-AppLocker/Packaged app-Deployment",
        "applocker",
    ),
    (
        "Microsoft-Windows-AppLocker/Packaged app-Execution",
        "applocker",
    ),
    ("Microsoft-Windows-PrintService/Admin", "printservice-admin"),
    (
        "Microsoft-Windows-PrintService/Operational",
        "printservice-operational",
    ),
    ("OpenSSH/Operational", "openssh"),
    ("Microsoft-Windows-Shell-Core/Operational", "shell-core"),
    ("Microsoft-Windows-LSA/Operational", "lsa-server"),
    ("Microsoft-Windows-CAPI2/Operational", "capi2"),
    (
        "Microsoft-Windows-CertificateServicesClient-Lifecycle-System/Operational",
        "certificateservicesclient-lifecycle-system",
    ),
    (
        "Microsoft-Windows-Diagnosis-Scripted/Operational",
        "diagnosis-scripted",
    ),
    ("Microsoft-Windows-LDAP-Client/Debug", "ldap"),
    ("Microsoft-Windows-VHDMP-Operational", "vhdmp"),
    (
        "Microsoft-IIS-Configuration/Operational",
        "iis-configuration",
    ),
    ("Microsoft-Windows-Kerberos/Operational", "kerberos"),
    ("Microsoft-ServiceBus-Client", "microsoft-servicebus-client"),
];

/// Sysmon Event IDs and the Sigma categories they are in.
fn sysmon_categories(event_id: u64) -> &'static [&'static str] {
    match event_id {
        1 => &["process_creation"],
        2 => &["file_change"],
        3 => &["network_connection"],
        4 | 16 => &["sysmon_status"],
        5 => &["process_termination"],
        6 => &["driver_load"],
        7 => &["image_load"],
        8 => &["create_remote_thread"],
        9 => &["raw_access_thread"],
        10 => &["process_access"],
        11 => &["file_event"],
        12 => &["registry_add", "registry_delete", "registry_event"],
        13 => &["registry_set", "registry_event"],
        14 => &["registry_rename", "registry_event"],
        15 => &["create_stream_hash"],
        17 | 18 => &["pipe_created"],
        19..=21 => &["wmi_event"],
        22 => &["dns_query"],
        23 => &["file_delete"],
        24 => &["clipboard_capture"],
        25 => &["process_tampering"],
        26 => &["file_delete_detected", "file_delete"],
        27 => &["file_block_executable"],
        28 => &["file_block_shredding"],
        29 => &["file_executable_detected"],
        255 => &["sysmon_error"],
        _ => &[],
    }
}

/// Categories that other Windows channels feed, by service and Event ID.
fn windows_categories(service: &str, event_id: u64) -> &'static [&'static str] {
    match (service, event_id) {
        ("sysmon", id) => sysmon_categories(id),
        ("security", 4688) => &["process_creation"],
        // A connection the Filtering Platform permitted: Sysmon's Event ID 3 (see
        // `fields::security_5156`); pySigma's Windows audit pipeline maps it the same way.
        ("security", 5156) => &["network_connection"],
        ("powershell", 4103) => &["ps_module"],
        ("powershell", 4104) => &["ps_script"],
        // The engine's start names its command line: a process creation too (fields/powershell_400).
        ("powershell-classic", 400) => &["ps_classic_start", "process_creation"],
        ("powershell-classic", 600) => &["ps_classic_provider_start"],
        ("powershell-classic", 800) => &["ps_classic_script"],
        _ => &[],
    }
}

/// The Sigma service of a Windows channel, if Sigma has one.
pub fn windows_service(channel: &str) -> Option<&'static str> {
    WINDOWS_SERVICES
        .iter()
        .find(|(c, _)| c.eq_ignore_ascii_case(channel))
        .map(|(_, s)| *s)
}

/// The Event IDs of channels other than Sysmon's that feed a category (see
/// [`windows_categories`]); Sysmon's are 1 to 255.
const CATEGORY_RECORDS: &[(&str, u64)] = &[
    ("security", 4688),
    ("security", 5156),
    ("powershell", 4103),
    ("powershell", 4104),
    ("powershell-classic", 400),
    ("powershell-classic", 600),
    ("powershell-classic", 800),
];

/// The reverse of [`of_event`] for a Windows rule's logsource: the channel and Event ID of a
/// record that is in `category` (Sysmon's first, where Sysmon writes one) and of `service`, or
/// the channel of `service` alone (no Event ID) when the rule names no category. `None` when no
/// record we read is in that logsource. For tools that build the record a rule describes (the
/// Sigma self-test); categories whose membership depends on a record's fields (4657's
/// operation, 5145's share, 4656/4663's object) are not returned.
pub fn windows_record_of(
    service: Option<&str>,
    category: Option<&str>,
) -> Option<(&'static str, Option<u64>)> {
    let channel = |s: &str| {
        WINDOWS_SERVICES
            .iter()
            .find(|(_, svc)| svc.eq_ignore_ascii_case(s))
            .map(|(c, _)| *c)
    };
    let Some(category) = category else {
        return channel(service?).map(|c| (c, None));
    };
    let sysmon = (1..=255).map(|id| ("sysmon", id));
    sysmon
        .chain(CATEGORY_RECORDS.iter().copied())
        .filter(|(s, _)| service.is_none_or(|want| want.eq_ignore_ascii_case(s)))
        .find(|(s, id)| {
            windows_categories(s, *id)
                .iter()
                .any(|c| c.eq_ignore_ascii_case(category))
        })
        .and_then(|(s, id)| channel(s).map(|c| (c, Some(id))))
}

/// Windows channel and Event ID of an event, whatever layout it came in.
pub fn windows_channel_and_id(event: &Event) -> Option<(&str, Option<u64>)> {
    let channel = event.ecs.channel.as_deref()?;
    let id = event.ecs.event_code.as_deref().and_then(|c| c.parse().ok());
    Some((channel, id))
}

/// Linux syslog programs that Sigma names as services.
fn linux_service(app: &str) -> Option<&'static str> {
    Some(match app {
        "sshd" => "sshd",
        "sudo" => "sudo",
        "cron" | "CRON" | "crond" => "cron",
        "auditd" | "audit" => "auditd",
        "vsftpd" => "vsftpd",
        "clamd" | "clamav" | "freshclam" => "clamav",
        "guacd" | "guacamole" => "guacamole",
        _ => return None,
    })
}

/// The logsource of an event.
pub fn of_event(event: &Event) -> EventLogsource<'_> {
    match event.source_kind {
        SourceKind::Evtx | SourceKind::WinlogbeatEcs | SourceKind::FlatWindows => {
            let Some((channel, id)) = windows_channel_and_id(event) else {
                return EventLogsource {
                    product: Some("windows"),
                    ..Default::default()
                };
            };
            let service = windows_service(channel);
            let categories = match (service, id) {
                // Registry auditing: which registry categories depends on the operation.
                (Some("security"), Some(4657)) => crate::fields::lookup(event, "OperationType")
                    .and_then(|op| Operation::parse(&op))
                    .map_or(&[][..], Operation::categories)
                    .to_vec(),
                // File share auditing: a named pipe opened over IPC$ is Sysmon's pipe event.
                (Some("security"), Some(5145)) => {
                    let share = crate::fields::lookup(event, "ShareName");
                    let target = crate::fields::lookup(event, "RelativeTargetName");
                    if crate::fields::security_5145_is_pipe(share.as_deref(), target.as_deref()) {
                        vec!["pipe_created"]
                    } else {
                        Vec::new()
                    }
                }
                // Object access auditing: by the object opened (a process, a file read or deleted).
                (Some("security"), Some(4656 | 4663)) => crate::fields::FieldView::new(event)
                    .object_access()
                    .map_or(&[][..], crate::fields::ObjectAccess::categories)
                    .to_vec(),
                (Some(s), Some(id)) => windows_categories(s, id).to_vec(),
                _ => Vec::new(),
            };
            EventLogsource {
                product: Some("windows"),
                service: service.map(Cow::Borrowed),
                categories,
            }
        }
        SourceKind::Syslog => {
            // The normalized program and facility (a shipper's document has no `appname`);
            // events stored before those fields existed name them in the syslog parts.
            let app = (event.ecs.process_name.as_deref())
                .or_else(|| event.raw.get("appname").and_then(Value::as_str));
            let facility = (event.ecs.syslog_facility.as_deref())
                .or_else(|| event.raw.get("facility").and_then(Value::as_str));
            // auth / authpriv facility messages are Sigma's `auth` service.
            let service = Some(app.and_then(linux_service).map_or_else(
                || match facility {
                    Some("auth" | "authpriv") => Cow::Borrowed("auth"),
                    _ => Cow::Borrowed("syslog"),
                },
                Cow::Borrowed,
            ));
            EventLogsource {
                product: Some("linux"),
                service,
                categories: Vec::new(),
            }
        }
        // A generic JSON record that states its ECS `event.category` as `email` (a mail
        // gateway's delivery log) is Sigma's `category: email`, whatever product wrote it.
        SourceKind::Json if event.ecs.event_category.as_deref() == Some("email") => {
            EventLogsource {
                categories: vec!["email"],
                ..Default::default()
            }
        }
        SourceKind::SuricataEve | SourceKind::Zeek | SourceKind::Json => EventLogsource::default(),
    }
}

impl EventLogsource<'_> {
    /// Every rule logsource key (`product`, `service`, `category`; empty for "not named") this
    /// event satisfies: a rule that names a subset of the event's logsource applies to it.
    pub fn rule_keys(&self) -> Vec<(&str, &str, &str)> {
        let products: &[&str] = match self.product {
            Some(p) => &[p, ""],
            None => &[""],
        };
        let services: Vec<&str> = match &self.service {
            Some(s) => vec![s.as_ref(), ""],
            None => vec![""],
        };
        let mut keys =
            Vec::with_capacity(products.len() * services.len() * (1 + self.categories.len()));
        for p in products {
            for s in &services {
                keys.push((*p, *s, ""));
                for c in &self.categories {
                    keys.push((*p, *s, *c));
                }
            }
        }
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wardwatch_core::Event;

    fn win(channel: &str, id: u64) -> Event {
        let mut e = Event::new(SourceKind::Evtx, jiff::Timestamp::UNIX_EPOCH, Value::Null);
        e.ecs.channel = Some(channel.into());
        e.ecs.event_code = Some(id.to_string());
        e
    }

    #[test]
    fn sysmon_registry_set_is_in_both_registry_categories() {
        let e = win("Microsoft-Windows-Sysmon/Operational", 13);
        let ls = of_event(&e);
        assert_eq!(ls.service.as_deref(), Some("sysmon"));
        assert_eq!(ls.categories, vec!["registry_set", "registry_event"]);
        let keys = ls.rule_keys();
        assert!(keys.contains(&("windows", "", "registry_set")));
        assert!(keys.contains(&("windows", "sysmon", "")));
        assert!(keys.contains(&("", "", "")));
        assert!(!keys.contains(&("windows", "", "process_creation")));
    }

    #[test]
    fn security_4688_is_process_creation_and_channels_compare_case_insensitively() {
        let e = win("security", 4688);
        let ls = of_event(&e);
        assert_eq!(ls.service.as_deref(), Some("security"));
        assert_eq!(ls.categories, vec!["process_creation"]);
        assert!(of_event(&win("Security", 4624)).categories.is_empty());
    }

    #[test]
    fn security_5156_is_a_network_connection_and_5157_is_not() {
        assert_eq!(
            of_event(&win("Security", 5156)).categories,
            vec!["network_connection"]
        );
        assert!(of_event(&win("Security", 5157)).categories.is_empty());
    }

    #[test]
    fn security_4657_is_in_the_registry_categories_of_its_operation() {
        let with_op = |op: &str| {
            let mut e = win("Security", 4657);
            e.raw = serde_json::json!({"Event": {"EventData": {"OperationType": op}}});
            of_event(&e).categories
        };
        assert_eq!(with_op("%%1904"), vec!["registry_set", "registry_event"]);
        assert_eq!(with_op("%%1905"), vec!["registry_set", "registry_event"]);
        assert_eq!(with_op("%%1906"), vec!["registry_delete", "registry_event"]);
        assert!(with_op("%%1234").is_empty());
        assert!(of_event(&win("Security", 4657)).categories.is_empty());
    }

    #[test]
    fn security_5145_is_a_pipe_event_only_on_ipc() {
        let share = |share: &str, target: &str| {
            let mut e = win("Security", 5145);
            e.raw = serde_json::json!({"Event": {"EventData": {
                "ShareName": share, "RelativeTargetName": target}}});
            of_event(&e).categories
        };
        assert_eq!(share("\\\\*\\IPC$", "svcctl"), vec!["pipe_created"]);
        assert!(share("\\\\*\\C$", "Windows\\x.exe").is_empty());
        assert!(share("\\\\*\\IPC$", "").is_empty());
        assert!(of_event(&win("Security", 5145)).categories.is_empty());
    }

    #[test]
    fn security_4656_and_4663_are_in_the_category_of_the_object_opened() {
        let opened = |id: u64, kind: &str, mask: &str| {
            let mut e = win("Security", id);
            e.raw = serde_json::json!({"Event": {"EventData": {
                "ObjectType": kind, "ObjectName": "C:\\x", "AccessMask": mask}}});
            of_event(&e).categories
        };
        assert_eq!(opened(4656, "Process", "0x1410"), vec!["process_access"]);
        assert_eq!(opened(4663, "File", "0x10000"), vec!["file_delete"]);
        assert_eq!(opened(4663, "File", "0x1"), vec!["file_access"]);
        assert_eq!(
            opened(4663, "File", "0x2"),
            vec!["file_event", "file_access"]
        );
        assert!(opened(4663, "File", "0x100").is_empty());
        assert!(opened(4656, "SAM_USER", "0x10000").is_empty());
        assert!(of_event(&win("Security", 4663)).categories.is_empty());
    }

    #[test]
    fn a_rule_logsource_gives_back_a_record_in_it() {
        for (service, category) in [
            (None, Some("process_creation")),
            (None, Some("registry_set")),
            (None, Some("ps_script")),
            (Some("security"), Some("process_creation")),
            (Some("powershell-classic"), Some("ps_classic_start")),
        ] {
            let (channel, id) = windows_record_of(service, category).unwrap();
            let e = win(channel, id.unwrap());
            let ls = of_event(&e);
            assert!(ls.categories.iter().any(|c| Some(*c) == category));
            assert!(service.is_none_or(|s| ls.service.as_deref() == Some(s)));
        }
        assert_eq!(
            windows_record_of(None, Some("process_creation")),
            Some(("Microsoft-Windows-Sysmon/Operational", Some(1)))
        );
        assert_eq!(
            windows_record_of(Some("system"), None),
            Some(("System", None))
        );
        assert_eq!(windows_record_of(None, Some("no_such_category")), None);
        assert_eq!(windows_record_of(Some("no-such-service"), None), None);
    }

    #[test]
    fn system_event_1_is_not_a_process_creation() {
        let e = win("System", 1);
        let ls = of_event(&e);
        assert!(ls.categories.is_empty());
        assert!(!ls.rule_keys().iter().any(|k| k.2 == "process_creation"));
    }

    #[test]
    fn generic_json_with_ecs_email_category_is_category_email() {
        let mut e = Event::new(
            SourceKind::Json,
            jiff::Timestamp::UNIX_EPOCH,
            serde_json::json!({"event": {"category": "email"}}),
        );
        e.ecs.event_category = Some("email".into());
        let ls = of_event(&e);
        assert_eq!(ls.product, None);
        assert_eq!(ls.categories, vec!["email"]);
        assert!(ls.rule_keys().contains(&("", "", "email")));
        e.ecs.event_category = Some("network".into());
        assert_eq!(of_event(&e), EventLogsource::default());
        e.source_kind = SourceKind::SuricataEve;
        e.ecs.event_category = Some("email".into());
        assert_eq!(of_event(&e), EventLogsource::default());
    }

    #[test]
    fn linux_syslog_is_never_windows() {
        let mut e = Event::new(
            SourceKind::Syslog,
            jiff::Timestamp::UNIX_EPOCH,
            serde_json::json!({"appname": "sshd", "facility": "auth"}),
        );
        e.ecs.message = Some("x".into());
        let ls = of_event(&e);
        assert_eq!(ls.product, Some("linux"));
        assert_eq!(ls.service.as_deref(), Some("sshd"));
        assert!(!ls.rule_keys().iter().any(|k| k.0 == "windows"));
    }
}
