//! The benign background of the week: what a hospital's logs look like when nothing is wrong.
//!
//! # What it does
//! For every hour of the week it draws a number of activities from a daily curve (a day peak
//! from 07:00 to 19:00, a quieter evening, a low night where mostly the Emergency department,
//! the ICU and Surgery work, and about half the volume at weekends) and writes each one as the
//! records it would leave: workstation logons (4624 type 2 on the workstation, type 3 at a
//! domain controller) and logoffs, the applications people start (Sysmon 1 and 3: Outlook,
//! Word, browsers, the EPR client, the PACS viewer), file-share and PACS access, the odd
//! mistyped password, administrators' RDP sessions with special privileges, service state
//! changes, server process creation (4688), a new starter's account created each weekday
//! morning (4720, 4728 at DC01), Linux and network-gear syslog, Suricata flow / DNS / TLS /
//! HTTP records and the mail gateway's deliveries.
//!
//! # Why it matters
//! Detections are only credible if the same rule pack stays quiet on a normal week; the tests
//! hold the background to a handful of alerts above low severity per day.

use fastrand::Rng;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use crate::DemoConfig;
use crate::emit::{Out, SYSMON, SYSTEM_SCM, dom};
use crate::hospital::{Class, Hospital, User};
use crate::security::{Logon, SYSTEM_SID};

mod network;
use network::{linux_and_network, network_sensor};

/// Activity in an hour relative to a weekday's daytime peak.
fn weight(day: u32, hour: i8) -> f64 {
    let base = match hour {
        0..=5 => 0.18,
        6 => 0.45,
        7..=18 => 1.0,
        19..=21 => 0.45,
        _ => 0.28,
    };
    if day % 7 >= 5 { base * 0.5 } else { base }
}

/// A count drawn around `mean` (±25%), so hours differ.
fn count(rng: &mut Rng, mean: f64) -> u32 {
    let jitter = 0.75 + rng.f64() * 0.5;
    let x = mean * jitter;
    let whole = x.floor();
    whole as u32 + u32::from(rng.f64() < x - whole)
}

fn at(hour_start: Timestamp, rng: &mut Rng) -> Timestamp {
    hour_start + SignedDuration::from_micros(rng.i64(0..3_600_000_000))
}

fn pick<'a, T>(rng: &mut Rng, items: &'a [T]) -> &'a T {
    &items[rng.usize(..items.len())]
}

const OFFICE: &str = "C:\\Program Files\\Microsoft Office\\root\\Office16\\";
const EDGE: &str = "C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe";
const CHROME: &str = "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe";
const EPR_CLIENT: &str = "C:\\Program Files\\CareSuite\\EPR Client\\EPRClient.exe";
const PACS_VIEWER: &str = "C:\\Program Files\\RadView\\PACS Viewer\\RadView.exe";

const DOCS: &[&str] = &[
    "Discharge_letter",
    "Shift_handover",
    "Rota_December",
    "Referral",
    "Meeting_minutes",
    "Audit_checklist",
    "Incident_report",
    "Policy_update",
    "Theatre_list",
    "Budget_Q4",
];

const INTRANET: &[&str] = &[
    "https://intranet.hospital.local/news",
    "https://intranet.hospital.local/rota",
    "https://intranet.hospital.local/policies/infection-control",
    "https://www.nice.org.uk/guidance",
    "https://www.uptodate.com/contents/search",
    "https://bnf.nice.org.uk/drugs/",
];

const DNS_NAMES: &[&str] = &[
    "outlook.office365.com",
    "login.microsoftonline.com",
    "www.uptodate.com",
    "bnf.nice.org.uk",
    "intranet.hospital.local",
    "epr01.hospital.local",
    "pacs01.hospital.local",
    "file01.hospital.local",
    "ctldl.windowsupdate.com",
    "update.googleapis.com",
    "www.nice.org.uk",
    "teams.microsoft.com",
    "ocsp.digicert.com",
    "www.bbc.co.uk",
];

const TLS_SITES: &[(&str, &str)] = &[
    ("outlook.office365.com", "52.97.146.162"),
    ("login.microsoftonline.com", "20.190.159.4"),
    ("www.uptodate.com", "104.18.20.71"),
    ("teams.microsoft.com", "52.113.194.132"),
    ("update.googleapis.com", "142.250.180.3"),
    ("www.nice.org.uk", "151.101.2.109"),
    ("bnf.nice.org.uk", "151.101.66.109"),
];

const MAIL_SENDERS: &[(&str, &str)] = &[
    ("noreply@docusign.net", "64.207.219.7"),
    ("newsletter@medscape.com", "198.51.100.23"),
    ("orders@medline-supplies.com", "203.0.113.45"),
    ("no-reply@nhs.net", "194.72.238.61"),
    ("events@rcr.ac.uk", "198.51.100.77"),
];

const MAIL_SUBJECTS: &[&str] = &[
    "Shift swap next week",
    "Re: patient transfer",
    "Updated rota",
    "Team meeting Thursday",
    "Training reminder",
    "Your order has shipped",
    "Newsletter: clinical updates",
    "Re: discharge summary",
    "Annual leave request",
    "IT maintenance window",
];

/// Generate the benign background for the whole configured period into `out`.
pub fn generate(h: &Hospital, cfg: &DemoConfig, rng: &mut Rng, out: &mut Out) {
    let end = cfg.start + SignedDuration::from_hours(24 * i64::from(cfg.days));
    let clinicians: Vec<&User> = h
        .users
        .iter()
        .filter(|u| !u.id.starts_with("admin-"))
        .collect();
    let night_staff: Vec<&User> = clinicians
        .iter()
        .copied()
        .filter(|u| matches!(h.codes[u.department], "ED" | "ICU" | "SUR"))
        .collect();
    let admins: Vec<&User> = h
        .users
        .iter()
        .filter(|u| u.id.starts_with("admin-"))
        .collect();
    let workstations = h.of_class(Class::Workstation);
    let devices = h.of_class(Class::MedicalDevice);
    let servers: Vec<usize> = ["DC01", "DC02", "EPR01", "PACS01", "FILE01", "PRINT01"]
        .iter()
        .filter_map(|n| h.hosts.iter().position(|x| x.name == *n))
        .collect();
    let host = |name: &str| h.host(name).expect("fixed host");
    let s = cfg.scale;
    for hour in 0..(cfg.days * 24) {
        let start = cfg.start + SignedDuration::from_hours(i64::from(hour));
        let w = weight(hour / 24, (hour % 24) as i8);
        let night = w < 0.3;

        // Workstation sessions.
        for _ in 0..count(rng, 125.0 * w * s) {
            let u = if night && rng.f64() < 0.7 {
                *pick(rng, &night_staff)
            } else {
                *pick(rng, &clinicians)
            };
            session(h, u, at(start, rng), end, rng, out);
        }
        // A mistyped password, then the session.
        for _ in 0..count(rng, 1.5 * w * s) {
            let u = *pick(rng, &clinicians);
            let ws = &h.hosts[u.workstation];
            let t = at(start, rng);
            out.logon_failed(
                t,
                ws,
                &Logon {
                    user: &u.id,
                    sid: &u.sid,
                    logon_type: 2,
                    ip: "127.0.0.1",
                    workstation: &ws.name,
                },
            );
            session(
                h,
                u,
                t + SignedDuration::from_secs(rng.i64(6..40)),
                end,
                rng,
                out,
            );
        }
        // Administrators at work: RDP to a server, special privileges, a management console.
        for _ in 0..count(rng, 0.8 * w * s) {
            let a = *pick(rng, &admins);
            let srv = &h.hosts[*pick(rng, &servers)];
            let from = &h.hosts[a.workstation];
            let t = at(start, rng);
            let id = out.logon(
                t,
                srv,
                &Logon {
                    user: &a.id,
                    sid: &a.sid,
                    logon_type: 10,
                    ip: &from.ip,
                    workstation: &from.name,
                },
            );
            out.special_privileges(t, srv, a, &id);
            let tool = pick(
                rng,
                &[
                    (
                        "C:\\Windows\\System32\\mmc.exe",
                        "\"C:\\Windows\\system32\\mmc.exe\" \"C:\\Windows\\system32\\services.msc\"",
                    ),
                    (
                        "C:\\Windows\\System32\\ServerManager.exe",
                        "\"C:\\Windows\\system32\\ServerManager.exe\"",
                    ),
                    (
                        "C:\\Windows\\System32\\eventvwr.exe",
                        "\"C:\\Windows\\system32\\eventvwr.exe\"",
                    ),
                ],
            );
            out.process_4688(
                t + SignedDuration::from_secs(20),
                srv,
                tool.0,
                tool.1,
                "C:\\Windows\\explorer.exe",
            );
            let t_off = t + SignedDuration::from_mins(rng.i64(10..90));
            if t_off < end {
                out.logoff(t_off, srv, &a.id, &a.sid, &id, 10);
            }
        }
        // A new starter's account on a weekday morning: created and put in the department's
        // group by an administrator at a domain controller. The benign twin of the night-admin
        // story (a domain account, in office hours, in an ordinary group).
        if hour % 24 == 9 && (hour / 24) % 7 < 5 {
            new_starter(h, at(start, rng), hour / 24, &admins, rng, out);
        }
        // Service state changes (updates, print spooler restarts, backups).
        for _ in 0..count(rng, 3.0 * s) {
            let hidx = if rng.bool() {
                *pick(rng, &servers)
            } else {
                *pick(rng, &workstations)
            };
            let (name, state) = *pick(
                rng,
                &[
                    ("Windows Update", "running"),
                    ("Windows Update", "stopped"),
                    ("Background Intelligent Transfer Service", "running"),
                    ("Windows Modules Installer", "running"),
                    ("Windows Modules Installer", "stopped"),
                    ("Print Spooler", "running"),
                    ("Volume Shadow Copy", "running"),
                    ("Volume Shadow Copy", "stopped"),
                ],
            );
            out.windows(
                at(start, rng),
                &h.hosts[hidx],
                SYSTEM_SCM,
                7036,
                SYSTEM_SID,
                json!({"param1": name, "param2": state}),
            );
        }
        // Server-side process creation (Security 4688).
        for _ in 0..count(rng, 6.0 * s) {
            let srv = &h.hosts[*pick(rng, &servers)];
            let (img, cmd, parent) = *pick(
                rng,
                &[
                    (
                        "C:\\Windows\\System32\\taskhostw.exe",
                        "taskhostw.exe",
                        "C:\\Windows\\System32\\svchost.exe",
                    ),
                    (
                        "C:\\Windows\\System32\\svchost.exe",
                        "C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule",
                        "C:\\Windows\\System32\\services.exe",
                    ),
                    (
                        "C:\\Windows\\System32\\conhost.exe",
                        "\\??\\C:\\Windows\\system32\\conhost.exe 0xffffffff -ForceV1",
                        "C:\\Program Files\\Veeam\\Endpoint Backup\\Veeam.EndPoint.Service.exe",
                    ),
                    (
                        "C:\\Windows\\System32\\SearchProtocolHost.exe",
                        "\"C:\\Windows\\system32\\SearchProtocolHost.exe\" Global\\UsGthrFltPipeMssGthrPipe1",
                        "C:\\Windows\\System32\\SearchIndexer.exe",
                    ),
                    (
                        "C:\\Program Files\\Veeam\\Endpoint Backup\\Veeam.Backup.Agent.exe",
                        "\"C:\\Program Files\\Veeam\\Endpoint Backup\\Veeam.Backup.Agent.exe\" /job daily",
                        "C:\\Windows\\System32\\services.exe",
                    ),
                ],
            );
            out.process_4688(at(start, rng), srv, img, cmd, parent);
        }
        // The EPR application's service account at the EPR server, all day and night.
        for _ in 0..count(rng, 4.0 * s) {
            let t = at(start, rng);
            let epr = host("EPR01");
            let id = out.logon(
                t,
                epr,
                &Logon {
                    user: "svc_epr",
                    sid: "S-1-5-21-3623811015-3361044348-30300820-1021",
                    logon_type: 3,
                    ip: "10.10.0.21",
                    workstation: "-",
                },
            );
            out.logoff(
                t + SignedDuration::from_secs(rng.i64(1..30)),
                epr,
                "svc_epr",
                "S-1-5-21-3623811015-3361044348-30300820-1021",
                &id,
                3,
            );
        }
        linux_and_network(h, start, w, s, rng, out);
        network_sensor(h, start, w, s, &workstations, &devices, rng, out);
        // Mail deliveries.
        for _ in 0..count(rng, 80.0 * w * s) {
            let to = *pick(rng, &clinicians);
            let t = at(start, rng);
            if rng.f64() < 0.55 {
                let from = *pick(rng, &clinicians);
                out.mail(
                    t,
                    &from.email,
                    &to.email,
                    &to.id,
                    MAIL_SUBJECTS[rng.usize(..MAIL_SUBJECTS.len())],
                    "10.10.0.50",
                    None,
                    &[],
                );
            } else {
                let (from, ip) = *pick(rng, MAIL_SENDERS);
                let url = (rng.f64() < 0.5).then(|| *pick(rng, INTRANET));
                out.mail(
                    t,
                    from,
                    &to.email,
                    &to.id,
                    MAIL_SUBJECTS[rng.usize(..MAIL_SUBJECTS.len())],
                    ip,
                    url,
                    &[],
                );
            }
        }
    }
}

/// One person's working session at a workstation, with what they do during it.
fn session(h: &Hospital, u: &User, t: Timestamp, end: Timestamp, rng: &mut Rng, out: &mut Out) {
    let ws = if rng.f64() < 0.75 {
        &h.hosts[u.workstation]
    } else {
        // Shared clinical workstations: another one in the same department.
        let same: Vec<usize> = (0..h.hosts.len())
            .filter(|&i| {
                h.hosts[i].department == Some(u.department)
                    && h.hosts[i].class == Class::Workstation
            })
            .collect();
        &h.hosts[*pick(rng, &same)]
    };
    let dc = h
        .host(if rng.bool() { "DC01" } else { "DC02" })
        .expect("dc");
    let id = out.logon(
        t,
        ws,
        &Logon {
            user: &u.id,
            sid: &u.sid,
            logon_type: 2,
            ip: "127.0.0.1",
            workstation: &ws.name,
        },
    );
    let dc_id = out.logon(
        t - SignedDuration::from_millis(300),
        dc,
        &Logon {
            user: &u.id,
            sid: &u.sid,
            logon_type: 3,
            ip: &ws.ip,
            workstation: "-",
        },
    );
    out.logoff(
        t + SignedDuration::from_secs(2),
        dc,
        &u.id,
        &u.sid,
        &dc_id,
        3,
    );
    let user = dom(&u.id);
    let explorer = out.proc(ws, "C:\\Windows\\explorer.exe", "C:\\Windows\\Explorer.EXE");
    let mut tt = t + SignedDuration::from_secs(rng.i64(20..90));
    let dept = h.codes[u.department];
    let apps = 2 + rng.usize(..3);
    for _ in 0..apps {
        tt += SignedDuration::from_secs(rng.i64(30..900));
        if tt >= end {
            break;
        }
        match rng.u32(0..10) {
            0..=2 => {
                let p = out.sysmon_process(
                    tt,
                    ws,
                    &user,
                    &explorer,
                    &format!("{OFFICE}OUTLOOK.EXE"),
                    &format!("\"{OFFICE}OUTLOOK.EXE\" "),
                    "Medium",
                );
                if rng.f64() < 0.01 {
                    // Opening a link from a mail: normal, and exactly what the phishing story does.
                    let url = pick(rng, INTRANET);
                    out.sysmon_process(
                        tt + SignedDuration::from_secs(rng.i64(60..600)),
                        ws,
                        &user,
                        &p,
                        EDGE,
                        &format!("\"{EDGE}\" --single-argument {url}"),
                        "Medium",
                    );
                }
            }
            3 => {
                let doc = format!(
                    "C:\\Users\\{}\\Documents\\{}_{}.docx",
                    u.id,
                    pick(rng, DOCS),
                    rng.u32(100..999)
                );
                out.sysmon_process(
                    tt,
                    ws,
                    &user,
                    &explorer,
                    &format!("{OFFICE}WINWORD.EXE"),
                    &format!("\"{OFFICE}WINWORD.EXE\" /n \"{doc}\" /o \"\""),
                    "Medium",
                );
            }
            4 | 5 => {
                let (img, url) = (if rng.bool() { EDGE } else { CHROME }, pick(rng, INTRANET));
                out.sysmon_process(
                    tt,
                    ws,
                    &user,
                    &explorer,
                    img,
                    &format!("\"{img}\" {url}"),
                    "Medium",
                );
            }
            _ => {
                let (img, srv, port) = if dept == "RAD" && rng.bool() {
                    (PACS_VIEWER, "PACS01", 104)
                } else {
                    (EPR_CLIENT, "EPR01", 443)
                };
                let p = out.sysmon_process(
                    tt,
                    ws,
                    &user,
                    &explorer,
                    img,
                    &format!("\"{img}\""),
                    "Medium",
                );
                let s = h.host(srv).expect("server");
                out.windows(tt + SignedDuration::from_secs(3), ws, SYSMON, 3, SYSTEM_SID, json!({
                    "RuleName": "-", "UtcTime": tt.strftime("%Y-%m-%d %H:%M:%S%.3f").to_string(),
                    "ProcessGuid": p.guid, "ProcessId": p.pid, "Image": img, "User": user,
                    "Protocol": "tcp", "Initiated": true, "SourceIsIpv6": false,
                    "SourceIp": ws.ip, "SourceHostname": ws.fqdn(), "SourcePort": 49152 + rng.u32(..16000),
                    "DestinationIsIpv6": false, "DestinationIp": s.ip, "DestinationHostname": s.fqdn(),
                    "DestinationPort": port,
                }));
                if srv == "PACS01" {
                    let pacs = h.host("PACS01").expect("pacs");
                    let pid = out.logon(
                        tt + SignedDuration::from_secs(2),
                        pacs,
                        &Logon {
                            user: &u.id,
                            sid: &u.sid,
                            logon_type: 3,
                            ip: &ws.ip,
                            workstation: "-",
                        },
                    );
                    out.logoff(
                        tt + SignedDuration::from_secs(rng.i64(30..600)),
                        pacs,
                        &u.id,
                        &u.sid,
                        &pid,
                        3,
                    );
                }
            }
        }
    }
    // Departments that keep documents on the file server map their share.
    if matches!(dept, "ADM" | "PHA" | "LAB" | "IT") && tt < end {
        let file = h.host("FILE01").expect("file");
        let fid = out.logon(
            tt,
            file,
            &Logon {
                user: &u.id,
                sid: &u.sid,
                logon_type: 3,
                ip: &ws.ip,
                workstation: "-",
            },
        );
        out.logoff(
            tt + SignedDuration::from_mins(rng.i64(5..60)),
            file,
            &u.id,
            &u.sid,
            &fid,
            3,
        );
    }
    let off = t + SignedDuration::from_mins(rng.i64(30..480));
    if off < end {
        out.logoff(off, ws, &u.id, &u.sid, &id, 2);
    }
}

/// Account names of the week's new starters, one per weekday.
const NEW_STARTERS: &[&str] = &[
    "lbianchi",
    "okowalczyk",
    "snakamura",
    "rdubois",
    "mferreira",
];

/// 4720 and 4728 at DC01: an administrator creates a new starter's domain account and adds it to
/// a department group.
fn new_starter(
    h: &Hospital,
    t: Timestamp,
    day: u32,
    admins: &[&User],
    rng: &mut Rng,
    out: &mut Out,
) {
    let admin = *pick(rng, admins);
    let dc = h.host("DC01").expect("dc01");
    let from = &h.hosts[admin.workstation];
    let id = out.logon(
        t,
        dc,
        &Logon {
            user: &admin.id,
            sid: &admin.sid,
            logon_type: 3,
            ip: &from.ip,
            workstation: "-",
        },
    );
    let name = NEW_STARTERS[day as usize % NEW_STARTERS.len()];
    let sid = format!("S-1-5-21-3623811015-3361044348-30300820-{}", 4100 + day);
    let dept = h.departments[rng.usize(..h.departments.len() - 1)];
    let subject = |v: serde_json::Value| {
        let mut v = v;
        v["SubjectUserSid"] = json!(admin.sid);
        v["SubjectUserName"] = json!(admin.id);
        v["SubjectDomainName"] = json!(crate::hospital::DOMAIN);
        v["SubjectLogonId"] = json!(id);
        v
    };
    let t1 = t + SignedDuration::from_secs(rng.i64(20..120));
    out.windows(
        t1,
        dc,
        crate::emit::SECURITY,
        4720,
        SYSTEM_SID,
        subject(json!({
            "TargetUserName": name, "TargetDomainName": crate::hospital::DOMAIN, "TargetSid": sid,
            "PrivilegeList": "-", "SamAccountName": name, "DisplayName": "%%1793",
            "UserPrincipalName": format!("{name}@{}", crate::hospital::DNS_SUFFIX),
            "PrimaryGroupId": "513", "OldUacValue": "0x0", "NewUacValue": "0x15",
            "UserAccountControl": "\r\n\t\t%%2080\r\n\t\t%%2082\r\n\t\t%%2084",
        })),
    );
    out.windows(t1 + SignedDuration::from_secs(rng.i64(30..180)), dc, crate::emit::SECURITY, 4728, SYSTEM_SID, subject(json!({
        "MemberName": format!("CN={name},OU=Staff,DC=hospital,DC=local"), "MemberSid": sid,
        "TargetUserName": format!("{dept} Staff"), "TargetDomainName": crate::hospital::DOMAIN,
        "TargetSid": format!("S-1-5-21-3623811015-3361044348-30300820-{}", 2200 + day), "PrivilegeList": "-",
    })));
}
