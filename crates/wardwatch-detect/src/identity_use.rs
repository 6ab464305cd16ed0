//! What identity use an event describes: which account was used, on which host, from which
//! address and device, for which application, how (the logon type) and whether it worked.
//!
//! # Why one function
//! The identity ledger (the store's record of where each account was used) and the identity
//! analytics (a new host or device, a new country, impossible travel, privileged and service
//! accounts) must read events the same way, or the ledger would show a use the analytics never
//! judged. Every source that authenticates someone writes it differently — Windows 4624 names the
//! client in `WorkstationName`, NTLM validation in `Workstation`, Kerberos names the user as
//! `alice@HOSP.LOCAL`, Entra and Okta put the application where a host would be and report a
//! location of their own — so the reading lives here, once.
//!
//! # What counts as a use
//! An event with `event.category: authentication`, an outcome of `success` or `failure`, an
//! account that is a person's or a service's (not a machine account `WS01$`, not a well-known
//! system identity such as `SYSTEM` or `ANONYMOUS LOGON`), and an action that is the attempt
//! itself rather than something said around it:
//! - Windows Security 4624 / 4625 (logon: target host, client address and workstation, logon
//!   type), 4648 (explicit credentials: the target server, from this computer, by which
//!   program), 4768 / 4769 / 4771 (Kerberos: client address, the service asked for), 4776 (NTLM
//!   validation: the client workstation);
//! - Linux sshd, su, sudo and login (`linux_auth`): the host, the remote address, the program;
//! - Entra ID and Okta sign-ins: the application, the client address, the device and the
//!   location the identity provider itself reported;
//! - VPN, RADIUS and Wi-Fi (802.1X) authentication and the console's own sign-ins, by their
//!   `event.provider`.
//!
//! MFA prompts, interrupted sign-ins, PAM's and sshd's echoes of an attempt already counted,
//! sessions and logoffs are not uses.
//!
//! # Reduced copies
//! `hunt` hands the analytics small copies of events ([`crate::analytics::reduce`]); a copy of
//! an identity use carries the [`IdentityUse`] itself under [`REDUCED_KEY`], so a copy reads
//! exactly as its event did.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use wardwatch_core::Event;

use crate::fields::lookup;

/// Where a reduced copy keeps the identity use read from its event.
pub const REDUCED_KEY: &str = "_identity_use";

/// How an identity was presented, in the words of the ledger and the alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogonType {
    /// At the machine's keyboard (Windows 2; Linux `login` on a console).
    Interactive,
    /// Over the network to a share or service (Windows 3).
    Network,
    /// A scheduled task (Windows 4).
    Batch,
    /// A service starting (Windows 5).
    Service,
    /// Unlocking a locked session (Windows 7).
    Unlock,
    /// Network logon with the password in clear (Windows 8, e.g. IIS basic authentication).
    NetworkCleartext,
    /// `runas /netonly` (Windows 9): new credentials for outbound connections only.
    NewCredentials,
    /// Remote desktop (Windows 10).
    RemoteInteractive,
    /// Interactive with cached credentials, no domain controller reached (Windows 11).
    CachedInteractive,
    /// Windows 4648: credentials typed explicitly for another account or server.
    ExplicitCredentials,
    /// A Kerberos ticket request or pre-authentication (4768, 4769, 4771).
    Kerberos,
    /// NTLM credential validation at a domain controller (4776).
    Ntlm,
    /// An SSH login.
    Ssh,
    /// `su` or `sudo`: another identity taken on a host the user is already on.
    Elevation,
    /// A sign-in to a cloud identity provider or web application (Entra ID, Okta, the console).
    SignIn,
    /// A remote-access VPN connection.
    Vpn,
    /// Network access granted by a RADIUS server (wired 802.1X, switch or appliance logins).
    Radius,
    /// Wi-Fi access with 802.1X / EAP.
    Wireless,
    /// Another Windows logon type, by number.
    Other,
}

impl LogonType {
    /// The Windows logon type of a 4624 / 4625 `LogonType` value.
    pub fn windows(code: &str) -> LogonType {
        match code.trim() {
            "2" => LogonType::Interactive,
            "3" => LogonType::Network,
            "4" => LogonType::Batch,
            "5" => LogonType::Service,
            "7" => LogonType::Unlock,
            "8" => LogonType::NetworkCleartext,
            "9" => LogonType::NewCredentials,
            "10" => LogonType::RemoteInteractive,
            "11" => LogonType::CachedInteractive,
            _ => LogonType::Other,
        }
    }

    /// A person at a keyboard and screen of the machine, locally or over remote desktop
    /// (Windows 2, 10 and 11; a console `login`): what a service account never needs.
    pub fn is_interactive(self) -> bool {
        matches!(
            self,
            LogonType::Interactive | LogonType::RemoteInteractive | LogonType::CachedInteractive
        )
    }

    /// The name used in the ledger and in alerts (`remote-interactive`).
    pub fn as_str(self) -> &'static str {
        match self {
            LogonType::Interactive => "interactive",
            LogonType::Network => "network",
            LogonType::Batch => "batch",
            LogonType::Service => "service",
            LogonType::Unlock => "unlock",
            LogonType::NetworkCleartext => "network-cleartext",
            LogonType::NewCredentials => "new-credentials",
            LogonType::RemoteInteractive => "remote-interactive",
            LogonType::CachedInteractive => "cached-interactive",
            LogonType::ExplicitCredentials => "explicit-credentials",
            LogonType::Kerberos => "kerberos",
            LogonType::Ntlm => "ntlm",
            LogonType::Ssh => "ssh",
            LogonType::Elevation => "elevation",
            LogonType::SignIn => "sign-in",
            LogonType::Vpn => "vpn",
            LogonType::Radius => "radius",
            LogonType::Wireless => "wireless",
            LogonType::Other => "other",
        }
    }
}

/// A place the identity provider itself reported for the client (Entra `location`, Okta
/// `client.geographicalContext`), as it wrote it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ReportedPlace {
    /// The country as the provider names it: an ISO 3166 code (Entra) or a name (Okta).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
}

/// One use of an identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentityUse {
    /// The account, lowercased, without its domain or realm (`HOSP\Alice`, `alice@HOSP.LOCAL`
    /// and `Alice@hosp.example` are all `alice`): the roster's spelling.
    pub user: String,
    /// The domain or realm the record named with the account, as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The machine the identity was used on (the logon's target), lowercased; none when the
    /// record is a verifier's (a domain controller validating a ticket, a cloud sign-in).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The client's address, when it is a remote one (not loopback, not `-`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    /// The client device by name, id or hardware address, lowercased.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// What was signed in to or used: a cloud application, a Kerberos service, a program
    /// (`sshd`, `sudo`, `runas.exe`), a VPN or network-access service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logon_type: Option<LogonType>,
    /// Whether the attempt succeeded.
    pub success: bool,
    /// Where the identity provider says the client was, when it says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reported_place: Option<ReportedPlace>,
}

impl IdentityUse {
    /// The identity use `event` records, if it records one (see the module documentation).
    pub fn of(event: &Event) -> Option<IdentityUse> {
        if let Some(v) = event.raw.get(REDUCED_KEY) {
            return serde_json::from_value(v.clone()).ok();
        }
        read(event)
    }
}

/// The identity use `event` records, if any (same as [`IdentityUse::of`]).
pub fn identity_use(event: &Event) -> Option<IdentityUse> {
    IdentityUse::of(event)
}

/// Identities that are the system's own, never a person's or a service account's.
const SYSTEM_IDENTITIES: &[&str] = &[
    "system",
    "local service",
    "network service",
    "anonymous logon",
    "anonymous",
    "localsystem",
];

/// The account of a user name as [`IdentityUse::user`] spells it (`HOSP\Alice` → `alice`),
/// or none for machine accounts and the system's own identities.
pub(crate) fn account_of(name: &str) -> Option<String> {
    split_account(name).map(|(a, _)| a)
}

/// `HOSP\Alice`, `alice@HOSP.LOCAL` → (`alice`, domain).
fn split_account(name: &str) -> Option<(String, Option<String>)> {
    let name = name.trim();
    let (domain, account) = if let Some((d, a)) = name.split_once('\\') {
        (Some(d), a)
    } else if let Some((a, d)) = name.rsplit_once('@') {
        (Some(d), a)
    } else {
        (None, name)
    };
    let account = account.trim().to_lowercase();
    if account.is_empty()
        || account == "-"
        || account.ends_with('$')
        || SYSTEM_IDENTITIES.contains(&account.as_str())
        || account.starts_with("dwm-")
        || account.starts_with("umfd-")
    {
        return None;
    }
    let domain = domain
        .map(str::trim)
        .filter(|d| !d.is_empty() && *d != "-")
        .map(str::to_string);
    Some((account, domain))
}

/// A remote client address (`-`, empty, loopback and unspecified addresses are none).
fn remote_ip(ip: Option<&str>) -> Option<String> {
    let ip = ip?.trim().trim_start_matches("::ffff:");
    match ip {
        "" | "-" | "127.0.0.1" | "::1" | "0.0.0.0" | "::" => None,
        _ => Some(ip.to_string()),
    }
}

fn text(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty() && s != "-")
}

fn lower(v: Option<String>) -> Option<String> {
    text(v).map(|s| s.to_lowercase())
}

/// `C:\Windows\System32\runas.exe` → `runas.exe`.
fn program(path: &str) -> String {
    path.rsplit(['\\', '/'])
        .next()
        .unwrap_or(path)
        .to_ascii_lowercase()
}

/// The product a VPN, RADIUS or Wi-Fi decoder names in `event.provider`, and how it admits.
fn network_access(provider: &str) -> Option<LogonType> {
    match provider {
        "openvpn" | "strongswan" | "cisco-asa" | "fortigate" | "globalprotect" => {
            Some(LogonType::Vpn)
        }
        "freeradius" => Some(LogonType::Radius),
        "hostapd" => Some(LogonType::Wireless),
        _ => None,
    }
}

fn read(event: &Event) -> Option<IdentityUse> {
    let ecs = &event.ecs;
    if ecs.event_category.as_deref() != Some("authentication") {
        return None;
    }
    let success = match ecs.event_outcome.as_deref()? {
        "success" => true,
        "failure" => false,
        _ => return None,
    };
    let action = ecs.event_action.as_deref()?;
    if !matches!(
        action,
        "logged-in"
            | "logon-failed"
            | "sign-in"
            | "explicit-credentials"
            | "kerberos-tgt-requested"
            | "kerberos-service-ticket-requested"
            | "kerberos-preauth-failed"
            | "credentials-validated"
    ) {
        return None;
    }
    let windows = ecs
        .channel
        .as_deref()
        .is_some_and(|c| c.eq_ignore_ascii_case("Security"));
    let (user, domain) = split_account(ecs.user_name.as_deref()?)?;
    let domain = domain.or_else(|| text(ecs.user_domain.clone()));
    let mut u = IdentityUse {
        user,
        domain,
        host: lower(ecs.host_name.clone()),
        source_ip: remote_ip(ecs.source_ip.as_deref()),
        device: lower(ecs.source_mac.clone()).or_else(|| lower(ecs.source_address.clone())),
        application: None,
        logon_type: None,
        success,
        reported_place: None,
    };
    if windows {
        windows_use(event, &mut u);
        return Some(u);
    }
    let provider = ecs.event_provider.as_deref().unwrap_or("");
    match provider {
        "entra-id" => {
            u.application = text(ecs.host_name.clone());
            u.host = None;
            u.device = lower(lookup(event, "properties.deviceDetail.displayName"))
                .or_else(|| lower(lookup(event, "properties.deviceDetail.deviceId")))
                .or_else(|| lower(lookup(event, "deviceDetail.displayName")))
                .or_else(|| lower(lookup(event, "deviceDetail.deviceId")));
            u.logon_type = Some(LogonType::SignIn);
            let loc = |p: &str| {
                lookup(event, &format!("properties.location.{p}"))
                    .or_else(|| lookup(event, &format!("location.{p}")))
            };
            u.reported_place = place(
                text(loc("countryOrRegion")),
                number(
                    event,
                    &[
                        "properties.location.geoCoordinates.latitude",
                        "location.geoCoordinates.latitude",
                    ],
                ),
                number(
                    event,
                    &[
                        "properties.location.geoCoordinates.longitude",
                        "location.geoCoordinates.longitude",
                    ],
                ),
            );
        }
        "okta" => {
            u.application = text(ecs.host_name.clone());
            u.host = None;
            u.device =
                lower(lookup(event, "device.name")).or_else(|| lower(lookup(event, "device.id")));
            u.logon_type = Some(LogonType::SignIn);
            u.reported_place = place(
                text(lookup(event, "client.geographicalContext.country")),
                number(event, &["client.geographicalContext.geolocation.lat"]),
                number(event, &["client.geographicalContext.geolocation.lon"]),
            );
        }
        "wardwatch-console" => {
            u.application = Some("wardwatch console".into());
            u.logon_type = Some(LogonType::SignIn);
        }
        p => {
            if let Some(kind) = network_access(p) {
                u.application = Some(p.to_string());
                u.logon_type = Some(kind);
            } else if let Some(prog) = ecs.process_name.as_deref() {
                let prog = prog.trim().to_ascii_lowercase();
                u.logon_type = match prog.as_str() {
                    "sshd" => Some(LogonType::Ssh),
                    "su" | "sudo" => Some(LogonType::Elevation),
                    "login" => Some(LogonType::Interactive),
                    _ => None,
                };
                u.application = Some(prog);
            }
        }
    }
    Some(u)
}

/// A reported place, when it says anything.
fn place(country: Option<String>, lat: Option<f64>, lon: Option<f64>) -> Option<ReportedPlace> {
    let (lat, lon) = match (lat, lon) {
        // Providers write 0,0 for "unknown".
        (Some(a), Some(o))
            if (-90.0..=90.0).contains(&a)
                && (-180.0..=180.0).contains(&o)
                && (a, o) != (0.0, 0.0) =>
        {
            (Some(a), Some(o))
        }
        _ => (None, None),
    };
    (country.is_some() || lat.is_some()).then_some(ReportedPlace { country, lat, lon })
}

/// The first of `paths` that holds a number (or a number as text).
fn number(event: &Event, paths: &[&str]) -> Option<f64> {
    paths.iter().find_map(|p| {
        let mut v = &event.raw;
        for part in p.split('.') {
            v = v.get(part)?;
        }
        match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .filter(|f: &f64| f.is_finite())
    })
}

fn windows_use(event: &Event, u: &mut IdentityUse) {
    let get = |name: &str| text(lookup(event, name));
    let code = event.ecs.event_code.as_deref().unwrap_or("");
    match code {
        "4624" | "4625" => {
            u.logon_type = get("LogonType").map(|t| LogonType::windows(&t));
            u.device = lower(get("WorkstationName"));
        }
        "4648" => {
            // Written on the machine where the credentials were typed, naming the server they
            // were for (`localhost` when for this machine).
            u.device = u.host.take();
            u.host = lower(get("TargetServerName"))
                .filter(|s| s != "localhost")
                .or_else(|| u.device.clone());
            u.application = get("ProcessName").map(|p| program(&p));
            u.logon_type = Some(LogonType::ExplicitCredentials);
        }
        "4768" | "4769" | "4771" => {
            // The domain controller verifies; where the ticket is used is the client.
            u.host = None;
            u.application = lower(get("ServiceName"));
            u.logon_type = Some(LogonType::Kerberos);
        }
        "4776" => {
            u.host = None;
            u.device = lower(get("Workstation"));
            u.logon_type = Some(LogonType::Ntlm);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
