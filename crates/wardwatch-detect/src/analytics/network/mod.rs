//! Network analytics over the sensor's records (Zeek logs, Suricata EVE): where and how many —
//! scans and blind attempts, brute force and password spraying, lateral movement (new
//! administrative edges, chains, DCSync), segmentation, beaconing, DNS tunnelling and NXDOMAIN
//! bursts, and large transfers out at unusual hours.
//!
//! Why one reading step for all of them: a Zeek `conn` record and an EVE `flow` say the same
//! things in different words (who tried to reach whom on which port, and whether anything
//! answered); a Kerberos error, an NTLM failure, an SMB logon failure and a failed SSH login
//! are all one failed authentication. [`NetFacts::of`] reads each record once into that common
//! vocabulary; the analytics count only it, so they work on either sensor, and `hunt` keeps
//! only those facts of each record (see [`super::reduce`]) while `serve` reads them from the
//! full event: both see the same thing.
//!
//! State is bounded: the counts are `analytics/window.rs`'s `WindowCounter` (shared with the
//! identity analytics: observations per key and keys are capped, the old forgotten), the
//! lateral-movement edges and chains are capped and the least recent dropped.

mod audience;
mod beacon;
mod brute;
mod device;
mod dns;
mod exfil;
mod lateral;
mod scan;
mod segment;
pub mod summary;
pub mod topology;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use wardwatch_core::{Event, SourceKind};

use super::Hit;
pub use topology::{NetClass, Role, Topology, Verdict, ZoneAllow};

/// What a connection attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attempt {
    /// Nothing answered, or the target refused (Zeek S0, REJ, RSTOS0, SH...; an EVE TCP flow
    /// with no packet back or only a reset).
    Failed,
    /// The port answered but not a byte was exchanged: a probe of an open port.
    Probe,
    /// A conversation.
    Session,
}

/// A network record in the analytics' vocabulary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetFacts {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// `tcp`, `udp`...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    /// For a connection record (Zeek `conn`, EVE `flow`): what the attempt came to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt: Option<Attempt>,
    /// For an authentication record: whether it succeeded, and the protocol.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_ok: Option<bool>,
    /// For a failed one: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_protocol: Option<String>,
    /// The account an authentication names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// An administrative action on the destination (a service created over svcctl, a task,
    /// WMI, DCOM, an admin share, WinRM, RDP, directory replication).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin: Option<Admin>,
    /// A session with a login service (SSH, RDP) whose outcome the sensor cannot see: one
    /// record per connection (Zeek `ssh`/`rdp`, EVE `ssh`, EVE `rdp` initial request).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
    /// For a connection: payload bytes the source sent, and the destination sent back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_out: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_in: Option<u64>,
    /// For a connection: the application protocol the sensor recognized (`dns`, `http`,
    /// `ssl`, `dhcp`, `dicom`...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// For a DNS record: the name asked, and whether the answer said it does not exist.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nxdomain: Option<bool>,
    /// Whether the record holds the question (a Zeek `dns` record, an EVE DNS request) rather
    /// than only the answer (an EVE DNS answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asked: Option<bool>,
    /// For a DHCP record: the device's hardware address and the name it gave.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
}

/// What a Kerberos error says of a guess, by the words in its name (Zeek writes
/// `KDC_ERR_PREAUTH_FAILED` or, in older versions, `PREAUTH_FAILED`; Suricata the RFC 4120
/// names): a wrong password (or a locked or revoked account being tried), or an account that
/// does not exist (name guessing). Other errors (`KDC_ERR_PREAUTH_REQUIRED`, the first answer of
/// every Windows logon; expired passwords; unknown services) are no guess.
fn kerberos_failure(error: &str) -> Option<Failure> {
    let e = error.to_ascii_uppercase();
    if e.contains("PREAUTH_FAILED")
        || e.contains("BAD_INTEGRITY")
        || e.contains("CLIENT_REVOKED")
        || e.contains("LOCKED_OUT")
    {
        Some(Failure::Password)
    } else if e.contains("C_PRINCIPAL_UNKNOWN") || e.contains("CLIENT_NOT_FOUND") {
        Some(Failure::UnknownAccount)
    } else {
        None
    }
}

/// What kind of administrative action a record shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AdminKind {
    /// A service created, started or changed remotely (svcctl).
    Service,
    /// A scheduled task registered or run remotely (ITaskSchedulerService, atsvc).
    Task,
    /// WMI used remotely (IWbemServices, IWbemLevel1Login).
    Wmi,
    /// A DCOM object activated remotely (IRemoteSCMActivator, ISystemActivator).
    Dcom,
    /// An executable or script written to another host's share.
    FileCopy,
    /// An administrative share (ADMIN$, C$...) mapped.
    AdminShare,
    /// WinRM / PowerShell remoting.
    WinRm,
    /// A remote desktop session.
    Rdp,
    /// Directory replication requested (drsuapi DRSGetNCChanges): DCSync when the caller is
    /// no domain controller.
    Replication,
}

impl AdminKind {
    /// Whether it runs code on the target (as opposed to reaching it).
    pub fn executes(self) -> bool {
        matches!(
            self,
            AdminKind::Service
                | AdminKind::Task
                | AdminKind::Wmi
                | AdminKind::Dcom
                | AdminKind::FileCopy
        )
    }

    pub fn words(self) -> &'static str {
        match self {
            AdminKind::Service => "remote service control (svcctl: create, start, change)",
            AdminKind::Task => "remote scheduled task",
            AdminKind::Wmi => "remote WMI",
            AdminKind::Dcom => "remote DCOM activation",
            AdminKind::FileCopy => "program copied to an administrative share",
            AdminKind::AdminShare => "administrative share mapped",
            AdminKind::WinRm => "WinRM / PowerShell remoting",
            AdminKind::Rdp => "remote desktop",
            AdminKind::Replication => "directory replication (drsuapi)",
        }
    }
}

/// An administrative action and what the record says of it (`svcctl CreateServiceW`,
/// `\\WS2\ADMIN$`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admin {
    pub kind: AdminKind,
    pub what: String,
}

/// The administrative action of a DCE/RPC call, by interface (endpoint) and operation (Zeek
/// names both; Suricata names the interface and gives the operation number).
fn rpc_admin(endpoint: &str, operation: Option<&str>, opnum: Option<u64>) -> Option<AdminKind> {
    let op = operation.unwrap_or("");
    match endpoint {
        "svcctl" => {
            let acts = op.starts_with("CreateService")
                || op.starts_with("StartService")
                || op.starts_with("ChangeServiceConfig")
                || matches!(opnum, Some(12 | 19 | 24 | 11));
            acts.then_some(AdminKind::Service)
        }
        "ITaskSchedulerService" => (op.starts_with("SchRpcRegisterTask")
            || op.starts_with("SchRpcRun")
            || matches!(opnum, Some(1 | 12)))
        .then_some(AdminKind::Task),
        "atsvc" => (op.starts_with("NetrJobAdd") || opnum == Some(0)).then_some(AdminKind::Task),
        "IWbemServices" | "IWbemLevel1Login" => Some(AdminKind::Wmi),
        "IRemoteSCMActivator" | "ISystemActivator" => Some(AdminKind::Dcom),
        "drsuapi" => {
            (op == "DRSGetNCChanges" || opnum == Some(3)).then_some(AdminKind::Replication)
        }
        _ => None,
    }
}

/// Whether an SMB share path names an administrative share (`\\HOST\ADMIN$`, `C$`, `D$`).
fn is_admin_share(path: &str) -> bool {
    let share = path
        .trim_end_matches('\\')
        .rsplit('\\')
        .next()
        .unwrap_or("")
        .to_ascii_uppercase();
    share == "ADMIN$"
        || (share.len() == 2 && share.ends_with('$') && share.as_bytes()[0].is_ascii_alphabetic())
}

/// Whether a file name is a program or script (what gets copied to be run remotely).
fn is_program(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [
        ".exe", ".dll", ".bat", ".cmd", ".ps1", ".vbs", ".js", ".hta", ".msi", ".scr",
    ]
    .iter()
    .any(|e| lower.ends_with(e))
}

/// Why an authentication failed, as far as guessing goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Failure {
    /// A wrong password (or a locked account being tried).
    Password,
    /// An account that does not exist: someone guessing names.
    UnknownAccount,
}

/// Ports of services whose answers a sensor may log with the server as the source.
fn is_service_port(port: Option<u16>) -> bool {
    matches!(port, Some(p) if p < 1024 || matches!(p, 3389 | 5985 | 5986))
}

/// SMB statuses that are a failed logon.
const SMB_LOGON_FAILURES: &[&str] = &[
    "STATUS_LOGON_FAILURE",
    "STATUS_WRONG_PASSWORD",
    "STATUS_ACCOUNT_LOCKED_OUT",
    "STATUS_ACCOUNT_DISABLED",
    "STATUS_PASSWORD_EXPIRED",
];

fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}

fn text_at(v: &Value, path: &str) -> Option<String> {
    match at(v, path)? {
        Value::String(s) if !s.is_empty() && s != "-" => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl NetFacts {
    /// The facts of `event`: read from a [`super::reduce`]d copy as it kept them, or from the
    /// sensor's record. `None` for anything that is not a network sensor's record.
    pub fn of(event: &Event) -> Option<NetFacts> {
        if !matches!(
            event.source_kind,
            SourceKind::Zeek | SourceKind::SuricataEve
        ) {
            return None;
        }
        if let Some(kept) = event.raw.get("net") {
            return NetFacts::deserialize(kept).ok();
        }
        let e = &event.ecs;
        let mut f = NetFacts {
            src: e.source_ip.clone(),
            dst: e.destination_ip.clone(),
            port: e.destination_port,
            transport: e.network_transport.clone(),
            ..NetFacts::default()
        };
        let code = e.event_code.as_deref().unwrap_or("");
        let outcome = e.event_outcome.as_deref();
        let raw = &event.raw;
        match (event.source_kind, code) {
            (SourceKind::Zeek, "conn") => {
                f.attempt = match outcome {
                    Some("failure") => Some(Attempt::Failed),
                    Some("success")
                        if e.source_bytes == Some(0) && e.destination_bytes == Some(0) =>
                    {
                        Some(Attempt::Probe)
                    }
                    Some("success") => Some(Attempt::Session),
                    _ => None,
                };
                f.bytes_out = e.source_bytes;
                f.bytes_in = e.destination_bytes;
                f.service = e.network_protocol.clone();
            }
            (SourceKind::SuricataEve, "flow") => {
                let pushed = |k: &str| {
                    text_at(raw, k)
                        .and_then(|h| u8::from_str_radix(&h, 16).ok())
                        .is_some_and(|b| b & 0x08 != 0)
                };
                f.attempt = match outcome {
                    Some("failure") => Some(Attempt::Failed),
                    Some("success")
                        if !pushed("tcp.tcp_flags_ts") && !pushed("tcp.tcp_flags_tc") =>
                    {
                        Some(Attempt::Probe)
                    }
                    Some("success") => Some(Attempt::Session),
                    _ => None,
                };
                f.bytes_out = e.source_bytes;
                f.bytes_in = e.destination_bytes;
                f.service = text_at(raw, "app_proto").filter(|p| p != "failed" && p != "unknown");
            }
            (SourceKind::Zeek, "dns") => {
                f.query = e.dns_question_name.clone();
                f.nxdomain = text_at(raw, "rcode_name").map(|r| r == "NXDOMAIN");
                f.asked = Some(true);
            }
            (SourceKind::SuricataEve, "dns") => {
                f.query = e.dns_question_name.clone();
                let answer =
                    text_at(raw, "dns.type").is_some_and(|t| t == "answer" || t == "response");
                if answer {
                    f.nxdomain = Some(text_at(raw, "dns.rcode").as_deref() == Some("NXDOMAIN"));
                }
                f.asked = Some(!answer);
            }
            (SourceKind::Zeek, "dhcp") => {
                f.mac = e.source_mac.clone();
                f.hostname = e.host_name.clone();
            }
            (SourceKind::Zeek, "kerberos") => {
                f.auth_protocol = Some("kerberos".into());
                f.account = e.user_name.clone();
                match outcome {
                    Some("success") => f.auth_ok = Some(true),
                    Some("failure") => {
                        f.failure = text_at(raw, "error_msg").and_then(|m| kerberos_failure(&m));
                        f.auth_ok = f.failure.map(|_| false);
                    }
                    _ => {}
                }
            }
            (SourceKind::SuricataEve, "krb5") => {
                f.auth_protocol = Some("kerberos".into());
                f.account = e.user_name.clone();
                f.failure = text_at(raw, "krb5.error_code").and_then(|m| kerberos_failure(&m));
                f.auth_ok = f.failure.map(|_| false);
            }
            (SourceKind::Zeek, "ntlm") => {
                f.auth_protocol = Some("ntlm".into());
                f.account = e.user_name.clone();
                f.auth_ok = outcome.map(|o| o == "success");
            }
            (SourceKind::SuricataEve, "smb")
                if text_at(raw, "smb.status")
                    .is_some_and(|s| SMB_LOGON_FAILURES.contains(&s.as_str())) =>
            {
                f.auth_protocol = Some("smb".into());
                f.account = e.user_name.clone();
                f.auth_ok = Some(false);
            }
            (SourceKind::Zeek, "ssh") => {
                f.auth_protocol = Some("ssh".into());
                f.auth_ok = outcome.map(|o| o == "success");
                f.login = Some("ssh".into());
            }
            (SourceKind::Zeek, "rdp") => {
                f.login = Some("rdp".into());
                f.account = e.user_name.clone();
            }
            (SourceKind::Zeek, "dce_rpc") => {
                if let Some(endpoint) = text_at(raw, "endpoint") {
                    let op = e.event_action.as_deref();
                    f.admin = rpc_admin(&endpoint, op, None).map(|kind| Admin {
                        kind,
                        what: format!("{endpoint} {}", op.unwrap_or(""))
                            .trim()
                            .to_string(),
                    });
                }
            }
            (SourceKind::SuricataEve, "dcerpc")
                if text_at(raw, "dcerpc.request").as_deref() == Some("REQUEST") =>
            {
                let opnum = at(raw, "dcerpc.req.opnum").and_then(Value::as_u64);
                let services: Vec<String> = at(raw, "dcerpc.interfaces")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|i| i.get("service").and_then(Value::as_str).map(str::to_string))
                    .collect();
                f.admin = services.iter().find_map(|svc| {
                    rpc_admin(svc, None, opnum).map(|kind| Admin {
                        kind,
                        what: format!(
                            "{svc} opnum {}",
                            opnum.map_or("?".into(), |o| o.to_string())
                        ),
                    })
                });
            }
            (SourceKind::Zeek, "smb_mapping") => {
                if let Some(path) = e.file_path.as_deref().filter(|p| is_admin_share(p)) {
                    f.admin = Some(Admin {
                        kind: AdminKind::AdminShare,
                        what: path.to_string(),
                    });
                }
            }
            (SourceKind::Zeek, "smb_files") => {
                let writes = e
                    .event_action
                    .as_deref()
                    .is_some_and(|a| a.contains("write"));
                let share = text_at(raw, "path").unwrap_or_default();
                let name = text_at(raw, "name").unwrap_or_default();
                if writes && is_admin_share(&share) && is_program(&name) {
                    f.admin = Some(Admin {
                        kind: AdminKind::FileCopy,
                        what: e.file_path.clone().unwrap_or(name),
                    });
                }
            }
            (SourceKind::SuricataEve, "smb") => {
                let command = text_at(raw, "smb.command").unwrap_or_default();
                let share = text_at(raw, "smb.share").unwrap_or_default();
                let file = text_at(raw, "smb.filename").unwrap_or_default();
                let ok = text_at(raw, "smb.status").as_deref() == Some("STATUS_SUCCESS");
                f.admin = if !ok {
                    None
                } else if command.ends_with("TREE_CONNECT") && is_admin_share(&share) {
                    Some(Admin {
                        kind: AdminKind::AdminShare,
                        what: share,
                    })
                } else if command.ends_with("WRITE") && is_program(&file) {
                    Some(Admin {
                        kind: AdminKind::FileCopy,
                        what: file,
                    })
                } else if command.ends_with("CREATE") && file.eq_ignore_ascii_case("svcctl") {
                    Some(Admin {
                        kind: AdminKind::Service,
                        what: "service control manager opened over SMB (svcctl pipe)".into(),
                    })
                } else if command.ends_with("CREATE") && file.eq_ignore_ascii_case("atsvc") {
                    Some(Admin {
                        kind: AdminKind::Task,
                        what: "task scheduler opened over SMB (atsvc pipe)".into(),
                    })
                } else {
                    None
                };
            }
            (SourceKind::Zeek | SourceKind::SuricataEve, "http") => {
                let wsman = e
                    .url_full
                    .as_deref()
                    .is_some_and(|u| u.to_ascii_lowercase().contains("/wsman"));
                if wsman || matches!(e.destination_port, Some(5985 | 5986)) {
                    f.admin = Some(Admin {
                        kind: AdminKind::WinRm,
                        what: "WS-Management (/wsman)".into(),
                    });
                }
            }
            (SourceKind::SuricataEve, "ssh") => f.login = Some("ssh".into()),
            (SourceKind::SuricataEve, "rdp")
                if text_at(raw, "rdp.event_type").as_deref() == Some("initial_request") =>
            {
                f.login = Some("rdp".into());
                f.account = e.user_name.clone();
            }
            _ => {}
        }
        if f.login.as_deref() == Some("rdp") {
            f.admin = Some(Admin {
                kind: AdminKind::Rdp,
                what: "remote desktop".into(),
            });
        }
        if f.attempt == Some(Attempt::Session) && matches!(f.port, Some(5985 | 5986)) {
            f.admin = Some(Admin {
                kind: AdminKind::WinRm,
                what: format!("WinRM port {}", f.port.unwrap_or(0)),
            });
        }
        if f.attempt.is_none()
            && f.auth_ok.is_none()
            && f.login.is_none()
            && f.admin.is_none()
            && f.query.is_none()
            && f.mac.is_none()
        {
            return None;
        }
        if f.auth_ok == Some(false) && f.failure.is_none() {
            f.failure = Some(Failure::Password);
        }
        // A sensor logs a server's answer (a Kerberos error, an SMB status) with the server as
        // the source: the one who tried is the client.
        if f.attempt.is_none()
            && is_service_port(e.source_port)
            && !is_service_port(e.destination_port)
        {
            std::mem::swap(&mut f.src, &mut f.dst);
            f.port = e.source_port;
        }
        Some(f)
    }
}

/// Whether the network analytics read `event`.
pub(super) fn wants(event: &Event) -> bool {
    NetFacts::of(event).is_some()
}

/// The network analytics, with their state.
#[derive(Default, Serialize, Deserialize)]
pub(super) struct Network {
    scan: scan::Scan,
    brute: brute::Brute,
    #[serde(default)]
    lateral: lateral::Lateral,
    #[serde(default)]
    segmentation: segment::Segmentation,
    #[serde(default)]
    beaconing: beacon::Beaconing,
    #[serde(default)]
    dns: dns::Dns,
    #[serde(default)]
    transfers: exfil::Transfers,
    #[serde(default)]
    devices: device::Devices,
    #[serde(skip)]
    topology: std::sync::Arc<Topology>,
}

impl Network {
    pub(super) fn set_topology(&mut self, topology: std::sync::Arc<Topology>) {
        self.topology = topology;
    }

    pub(super) fn observe(&mut self, event: &Event, out: &mut Vec<Hit>) {
        let Some(facts) = NetFacts::of(event) else {
            return;
        };
        let t = event.timestamp.as_second();
        let before = out.len();
        self.scan.observe(&facts, t, &self.topology, out);
        self.brute.observe(&facts, t, &self.topology, out);
        self.lateral.observe(&facts, t, &self.topology, out);
        self.segmentation.observe(&facts, t, &self.topology, out);
        self.beaconing.observe(&facts, t, &self.topology, out);
        self.dns.observe(&facts, t, &self.topology, out);
        self.transfers.observe(&facts, t, &self.topology, out);
        self.devices.observe(&facts, t, &self.topology, out);
        for hit in &mut out[before..] {
            self.name_hosts(hit);
        }
    }

    /// Name the host behind a finding's source address where the inventory (or a device's
    /// DHCP lease) knows it: a `host` entity right after the address, so the alert reads (and
    /// an exception can be scoped) by host. Only the source: a `host` entity links the alert
    /// into that host's incidents, and the targets of a scan or a guess were only tried (even
    /// a lateral edge's target stays an address: taking it as a host joined a later, unrelated
    /// logon on that server to the attack's incident).
    fn name_hosts(&self, hit: &mut Hit) {
        use wardwatch_core::{Entity, EntityKind};
        let Some(first) = hit.entities.first().filter(|e| e.kind == EntityKind::Ip) else {
            return;
        };
        if let Some(n) = self.host_name(&first.value) {
            let host = Entity::new(EntityKind::Host, n);
            if !hit.entities.contains(&host) {
                hit.entities.insert(1, host);
            }
        }
    }

    /// The machine's name: the inventory's, else the one a device leased by DHCP.
    fn host_name(&self, ip: &str) -> Option<String> {
        self.topology
            .role(ip)
            .and_then(|r| r.name.clone())
            .or_else(|| self.devices.leased_name(ip).map(str::to_string))
            .filter(|n| !n.trim().is_empty())
    }
}

pub(super) fn rules() -> Vec<std::sync::Arc<crate::RuleMeta>> {
    let mut out = scan::rules();
    out.extend(brute::rules());
    out.extend(lateral::rules());
    out.extend(segment::rules());
    out.extend(beacon::rules());
    out.extend(dns::rules());
    out.extend(exfil::rules());
    out.extend(device::rules());
    out
}

/// A map saved as a list of pairs: JSON object keys must be text, and these keys are tuples.
pub(crate) mod as_pairs {
    use std::collections::HashMap;
    use std::hash::Hash;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, K: Serialize, V: Serialize>(
        map: &HashMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter())
    }

    pub fn deserialize<'de, D, K, V>(d: D) -> Result<HashMap<K, V>, D::Error>
    where
        D: Deserializer<'de>,
        K: Deserialize<'de> + Eq + Hash,
        V: Deserialize<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}

/// The metadata of a network analytic's alerts (product `network`).
fn meta(
    id: &str,
    title: &str,
    level: wardwatch_core::Severity,
    tags: &[&str],
    description: &str,
    recommendation: &str,
) -> std::sync::Arc<crate::RuleMeta> {
    let mut m = (*super::meta(id, title, level, tags, description, recommendation)).clone();
    m.product = Some("network".into());
    std::sync::Arc::new(m)
}

/// The same rule at another level (a known scanner's sweep is informational, not medium).
fn at_level(
    rule: &std::sync::Arc<crate::RuleMeta>,
    level: wardwatch_core::Severity,
) -> std::sync::Arc<crate::RuleMeta> {
    if rule.level == level {
        return rule.clone();
    }
    let mut m = (**rule).clone();
    m.level = level;
    std::sync::Arc::new(m)
}

/// A finding naming the source first, then the targets, with its counts.
fn found(
    rule: &std::sync::Arc<crate::RuleMeta>,
    src: &str,
    targets: &[&str],
    accounts: &[&str],
    facts: Vec<(String, String)>,
) -> Hit {
    use wardwatch_core::{Entity, EntityKind};
    let mut entities = vec![Entity::new(EntityKind::Ip, src)];
    entities.extend(targets.iter().map(|t| Entity::new(EntityKind::Ip, *t)));
    entities.extend(accounts.iter().map(|a| Entity::new(EntityKind::User, *a)));
    entities.dedup();
    crate::Detection {
        rule: rule.clone(),
        correlation: None,
        entities,
        finding: Some(std::sync::Arc::new(crate::Finding { facts })),
    }
}

/// The /24 (IPv4) or /64 (IPv6) an address is in, for "which subnets".
fn subnet_of(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        Ok(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Err(_) => ip.to_string(),
    }
}

/// `a, b, c` of at most `n` items, with "and N more".
fn listed<'a>(items: impl IntoIterator<Item = &'a str>, total: usize, n: usize) -> String {
    let shown: Vec<&str> = items.into_iter().take(n).collect();
    let more = total.saturating_sub(shown.len());
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

#[cfg(test)]
pub(crate) mod testkit;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod tests_outbound;
