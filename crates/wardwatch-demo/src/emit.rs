//! Record builders: Windows events in `evtx_dump` JSON layout, RFC 5424 syslog lines, Suricata
//! EVE records and mail-gateway JSON.
//!
//! # What it does
//! [`Out`] collects [`Record`]s while the background and the stories are generated. Windows
//! events get `{"Event": {"System": {..}, "EventData": {..}}}` with the provider, channel,
//! `Computer` (FQDN), `TimeCreated.SystemTime`, a per-host `EventRecordID` and the
//! `Security.UserID`, exactly as `evtx_dump -o jsonl` renders a real record, so the ingest
//! decoders and Sigma field mappings treat them like real logs. Sysmon process GUIDs are made
//! from the host and the process counter, so parent → child chains are consistent.
//!
//! # References
//! RFC 5424 (syslog); Suricata "Eve JSON Format"; Sysmon event schema; Microsoft Security
//! auditing event reference (4624, 4625, 4672, 4688, 4720, 4732, 7045).

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use crate::hospital::{DOMAIN, Host};
use crate::{Feed, Record, Sink, Story};

pub const SECURITY: (&str, &str) = ("Security", "Microsoft-Windows-Security-Auditing");
pub const SYSMON: (&str, &str) = (
    "Microsoft-Windows-Sysmon/Operational",
    "Microsoft-Windows-Sysmon",
);
pub const SYSTEM_SCM: (&str, &str) = ("System", "Service Control Manager");
pub const POWERSHELL: (&str, &str) = (
    "Microsoft-Windows-PowerShell/Operational",
    "Microsoft-Windows-PowerShell",
);

/// A process Sysmon knows: its GUID, id and image, to be named as a parent later.
#[derive(Debug, Clone)]
pub struct Proc {
    pub guid: String,
    pub pid: u32,
    pub image: String,
    pub command_line: String,
}

/// Records under construction, with the per-host counters that make ids realistic.
pub struct Out {
    pub records: Vec<Record>,
    pub story: Option<Story>,
    record_ids: std::collections::BTreeMap<String, u64>,
    next_proc: u64,
    next_pid: u32,
    next_flow: u64,
    next_logon: u64,
}

impl Out {
    pub fn new() -> Out {
        Out {
            records: Vec::new(),
            story: None,
            record_ids: Default::default(),
            next_proc: 0x1000,
            next_pid: 1200,
            next_flow: 1_163_022_870_016,
            next_logon: 0x3e7_0000,
        }
    }

    fn push(&mut self, time: Timestamp, feed: Feed) {
        self.records.push(Record {
            time,
            feed,
            story: self.story,
        });
    }

    /// Zeek log lines (JSON), as the network sensor's shipper posts them.
    pub fn zeek(&mut self, lines: impl IntoIterator<Item = crate::network::ZeekLine>) {
        for l in lines {
            self.push(l.time, Feed::Bulk(l.line, Sink::Zeek));
        }
    }

    /// A bulk document, kept as text.
    fn push_doc(&mut self, time: Timestamp, doc: &Value, sink: Sink) {
        self.push(time, Feed::Bulk(doc.to_string(), sink));
    }

    /// A Windows event on `host` in the given channel, with `data` as `EventData`.
    pub fn windows(
        &mut self,
        t: Timestamp,
        host: &Host,
        (channel, provider): (&str, &str),
        event_id: u32,
        user_sid: &str,
        data: Value,
    ) {
        let computer = host.fqdn();
        let rid = self
            .record_ids
            .entry(format!("{computer}/{channel}"))
            .or_insert(1000);
        *rid += 1;
        let mut system = Map::new();
        system.insert(
            "Provider".into(),
            json!({"#attributes": {"Name": provider}}),
        );
        system.insert("EventID".into(), json!(event_id));
        system.insert("Level".into(), json!(if event_id == 4625 { 0 } else { 4 }));
        system.insert(
            "TimeCreated".into(),
            json!({"#attributes": {"SystemTime": systime(t)}}),
        );
        system.insert("EventRecordID".into(), json!(*rid));
        system.insert("Channel".into(), json!(channel));
        system.insert("Computer".into(), json!(computer));
        system.insert(
            "Security".into(),
            json!({"#attributes": {"UserID": user_sid}}),
        );
        let doc = json!({"Event": {"System": system, "EventData": data}});
        self.push_doc(t, &doc, Sink::Windows);
    }

    /// A new logon id (`0x3e7...`) as Windows prints it.
    pub fn logon_id(&mut self) -> String {
        self.next_logon += 0x1d3;
        format!("0x{:x}", self.next_logon)
    }

    /// Sysmon event 1 for a new process on `host`, child of `parent`; returns the new process.
    #[allow(clippy::too_many_arguments)]
    pub fn sysmon_process(
        &mut self,
        t: Timestamp,
        host: &Host,
        user: &str,
        parent: &Proc,
        image: &str,
        command_line: &str,
        integrity: &str,
    ) -> Proc {
        let child = self.proc(host, image, command_line);
        let original = image.rsplit('\\').next().unwrap_or(image).to_uppercase();
        let dir = if user.ends_with('$') || user.contains("SYSTEM") {
            "C:\\Windows\\system32\\".to_string()
        } else {
            format!("C:\\Users\\{}\\", user.rsplit('\\').next().unwrap_or(user))
        };
        let data = json!({
            "RuleName": "-",
            "UtcTime": utctime(t),
            "ProcessGuid": child.guid,
            "ProcessId": child.pid,
            "Image": image,
            "OriginalFileName": original,
            "CommandLine": command_line,
            "CurrentDirectory": dir,
            "User": user,
            "LogonId": "0x5a3e1",
            "TerminalSessionId": 1,
            "IntegrityLevel": integrity,
            "Hashes": format!("SHA256={:064X}", fnv(image)),
            "ParentProcessGuid": parent.guid,
            "ParentProcessId": parent.pid,
            "ParentImage": parent.image,
            "ParentCommandLine": parent.command_line,
            "ParentUser": user,
        });
        self.windows(t, host, SYSMON, 1, "S-1-5-18", data);
        child
    }

    /// A process Sysmon would already know (started before the week), for use as a parent.
    pub fn proc(&mut self, host: &Host, image: &str, command_line: &str) -> Proc {
        self.next_proc += 1;
        self.next_pid = 1200 + (self.next_pid + 4 * 37) % 14000;
        let h = fnv(&host.name);
        Proc {
            guid: format!(
                "{:08X}-{:04X}-6922-{:04X}-{:012X}",
                h as u32,
                (self.next_proc >> 16) & 0xffff,
                self.next_proc & 0xffff,
                (h >> 16) & 0xffff_ffff_ffff
            ),
            pid: self.next_pid,
            image: image.into(),
            command_line: command_line.into(),
        }
    }

    /// An RFC 5424 syslog line (`procid` 0 for none).
    #[allow(clippy::too_many_arguments)]
    pub fn syslog(
        &mut self,
        t: Timestamp,
        facility: u8,
        severity: u8,
        host: &str,
        app: &str,
        procid: u32,
        message: &str,
    ) {
        let pri = u32::from(facility) * 8 + u32::from(severity);
        // RFC 5424 writes a missing PROCID as the nil value `-`.
        let procid = if procid == 0 {
            "-".to_string()
        } else {
            procid.to_string()
        };
        let line = format!(
            "<{pri}>1 {} {host} {app} {procid} - - {message}",
            systime(t)
        );
        self.push(t, Feed::Syslog(line));
    }

    /// A Suricata EVE record of `event_type` between two endpoints, with its protocol object.
    #[allow(clippy::too_many_arguments)]
    pub fn eve(
        &mut self,
        t: Timestamp,
        event_type: &str,
        src: (&str, u16),
        dest: (&str, u16),
        proto: &str,
        app_proto: Option<&str>,
        extra: Value,
    ) {
        self.next_flow += 7_919 * 1_031;
        let mut doc = json!({
            "timestamp": t.strftime("%Y-%m-%dT%H:%M:%S%.6f+0000").to_string(),
            "flow_id": self.next_flow % 2_251_799_813_685_247,
            "in_iface": "ens5",
            "event_type": event_type,
            "src_ip": src.0,
            "src_port": src.1,
            "dest_ip": dest.0,
            "dest_port": dest.1,
            "proto": proto,
            "host": "IDS01",
        });
        if let (Some(app), Value::Object(o)) = (app_proto, &mut doc) {
            o.insert("app_proto".into(), json!(app));
        }
        if let (Value::Object(o), Value::Object(e)) = (&mut doc, extra) {
            o.extend(e);
        }
        self.push_doc(t, &doc, Sink::Eve);
    }

    /// A mail-gateway record (ECS names) for one delivered message.
    #[allow(clippy::too_many_arguments)]
    pub fn mail(
        &mut self,
        t: Timestamp,
        from: &str,
        to: &str,
        recipient: &str,
        subject: &str,
        sender_ip: &str,
        url: Option<&str>,
        attachments: &[&str],
    ) {
        // Internal mail and the known senders authenticate; a look-alike domain does too (its
        // owner set up SPF and DKIM): what gives it away is the name, the link and the words.
        let doc = crate::mail::document_of(
            &crate::mail::Delivery {
                t,
                from,
                to,
                subject,
                sender_ip,
                url,
                attachments,
                authenticated: true,
            },
            recipient,
        );
        self.push_doc(t, &doc, Sink::Mail);
    }
}

/// `DOMAIN\user`, as Sysmon writes the `User` field.
pub fn dom(user: &str) -> String {
    format!("{DOMAIN}\\{user}")
}

/// `TimeCreated.SystemTime` text: RFC 3339 UTC with microseconds.
pub fn systime(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Sysmon's `UtcTime`: `2026-11-23 10:14:00.123`.
fn utctime(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S%.3f").to_string()
}

/// FNV-1a, for stable made-up hashes and GUID parts.
pub fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
