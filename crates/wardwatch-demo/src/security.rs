//! Security-log events shared by the background and the stories: logons, failures, logoffs,
//! special privileges, process creation (4688) and account management.
//!
//! Field names and values follow Microsoft's "Audit logon" reference: 4624 with `LogonType`
//! 2 (interactive), 3 (network), 10 (remote interactive); 4625 with `Status`/`SubStatus`
//! (0xC000006D / 0xC000006A for a bad password).

use jiff::Timestamp;
use serde_json::json;

use crate::emit::{Out, SECURITY};
use crate::hospital::{DOMAIN, Host, User};

/// The machine account SID every Security event on a host is logged under.
pub const SYSTEM_SID: &str = "S-1-5-18";

/// Who logs on, from where, and how.
pub struct Logon<'a> {
    pub user: &'a str,
    pub sid: &'a str,
    pub logon_type: u32,
    /// Client address and name (`-` for local logons).
    pub ip: &'a str,
    pub workstation: &'a str,
}

impl Out {
    /// 4624: an account successfully logged on to `host`. Returns the new logon id.
    pub fn logon(&mut self, t: Timestamp, host: &Host, l: &Logon<'_>) -> String {
        let id = self.logon_id();
        let (process, auth, package) = match l.logon_type {
            3 => ("-", "Kerberos", "Kerberos"),
            10 => (
                "C:\\Windows\\System32\\svchost.exe",
                "Negotiate",
                "Kerberos",
            ),
            _ => (
                "C:\\Windows\\System32\\svchost.exe",
                "Negotiate",
                "Kerberos",
            ),
        };
        let (auth, package) = if l.ip.starts_with("10.99.") {
            ("NtLmSsp ", "NTLM")
        } else {
            (auth, package)
        };
        let data = json!({
            "SubjectUserSid": SYSTEM_SID,
            "SubjectUserName": if l.logon_type == 3 { "-".to_string() } else { format!("{}$", host.name) },
            "SubjectDomainName": DOMAIN,
            "SubjectLogonId": "0x3e7",
            "TargetUserSid": l.sid,
            "TargetUserName": l.user,
            "TargetDomainName": DOMAIN,
            "TargetLogonId": id,
            "LogonType": l.logon_type,
            "LogonProcessName": auth,
            "AuthenticationPackageName": package,
            "WorkstationName": l.workstation,
            "LogonGuid": "{00000000-0000-0000-0000-000000000000}",
            "TransmittedServices": "-",
            "LmPackageName": if package == "NTLM" { "NTLM V2" } else { "-" },
            "KeyLength": 0,
            "ProcessId": if l.logon_type == 3 { "0x0" } else { "0x2d4" },
            "ProcessName": process,
            "IpAddress": l.ip,
            "IpPort": if l.ip == "-" { "-".to_string() } else { format!("{}", 49152 + (self.records.len() % 16000)) },
            "ImpersonationLevel": "%%1833",
            "RestrictedAdminMode": "-",
            "VirtualAccount": "%%1843",
            "ElevatedToken": if l.logon_type == 3 { "%%1843" } else { "%%1842" },
        });
        self.windows(t, host, SECURITY, 4624, SYSTEM_SID, data);
        id
    }

    /// 4625: a logon to `host` failed with a bad password (`0xC000006A`).
    pub fn logon_failed(&mut self, t: Timestamp, host: &Host, l: &Logon<'_>) {
        let data = json!({
            "SubjectUserSid": if l.logon_type == 3 { "S-1-0-0" } else { SYSTEM_SID },
            "SubjectUserName": if l.logon_type == 3 { "-".to_string() } else { format!("{}$", host.name) },
            "SubjectDomainName": if l.logon_type == 3 { "-" } else { DOMAIN },
            "SubjectLogonId": if l.logon_type == 3 { "0x0" } else { "0x3e7" },
            "TargetUserSid": "S-1-0-0",
            "TargetUserName": l.user,
            "TargetDomainName": DOMAIN,
            "Status": "0xc000006d",
            "FailureReason": "%%2313",
            "SubStatus": "0xc000006a",
            "LogonType": l.logon_type,
            "LogonProcessName": "NtLmSsp ",
            "AuthenticationPackageName": "NTLM",
            "WorkstationName": l.workstation,
            "TransmittedServices": "-",
            "LmPackageName": "-",
            "KeyLength": 0,
            "ProcessId": "0x0",
            "ProcessName": "-",
            "IpAddress": l.ip,
            "IpPort": if l.ip == "-" { "-" } else { "0" },
        });
        self.windows(t, host, SECURITY, 4625, SYSTEM_SID, data);
    }

    /// 4672: special privileges assigned to a new (administrator) logon.
    pub fn special_privileges(&mut self, t: Timestamp, host: &Host, user: &User, logon_id: &str) {
        let data = json!({
            "SubjectUserSid": user.sid,
            "SubjectUserName": user.id,
            "SubjectDomainName": DOMAIN,
            "SubjectLogonId": logon_id,
            "PrivilegeList": "SeSecurityPrivilege\r\n\t\t\tSeBackupPrivilege\r\n\t\t\tSeRestorePrivilege\r\n\t\t\tSeTakeOwnershipPrivilege\r\n\t\t\tSeDebugPrivilege\r\n\t\t\tSeSystemEnvironmentPrivilege\r\n\t\t\tSeLoadDriverPrivilege\r\n\t\t\tSeImpersonatePrivilege",
        });
        self.windows(t, host, SECURITY, 4672, SYSTEM_SID, data);
    }

    /// 4634: an account was logged off.
    pub fn logoff(
        &mut self,
        t: Timestamp,
        host: &Host,
        user: &str,
        sid: &str,
        logon_id: &str,
        logon_type: u32,
    ) {
        let data = json!({
            "TargetUserSid": sid,
            "TargetUserName": user,
            "TargetDomainName": DOMAIN,
            "TargetLogonId": logon_id,
            "LogonType": logon_type,
        });
        self.windows(t, host, SECURITY, 4634, SYSTEM_SID, data);
    }

    /// 4688: a new process was created (Security log, with command line auditing on).
    pub fn process_4688(
        &mut self,
        t: Timestamp,
        host: &Host,
        image: &str,
        command_line: &str,
        parent: &str,
    ) {
        let pid = 0x400 + (self.records.len() as u32 % 0x3000) * 4;
        let data = json!({
            "SubjectUserSid": SYSTEM_SID,
            "SubjectUserName": format!("{}$", host.name),
            "SubjectDomainName": DOMAIN,
            "SubjectLogonId": "0x3e7",
            "NewProcessId": format!("0x{pid:x}"),
            "NewProcessName": image,
            "TokenElevationType": "%%1936",
            "ProcessId": "0x2a8",
            "CommandLine": command_line,
            "TargetUserSid": "S-1-0-0",
            "TargetUserName": "-",
            "TargetDomainName": "-",
            "TargetLogonId": "0x0",
            "ParentProcessName": parent,
            "MandatoryLabel": "S-1-16-16384",
        });
        self.windows(t, host, SECURITY, 4688, SYSTEM_SID, data);
    }
}
