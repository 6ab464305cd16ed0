use super::*;

const INVENTORY: &str = "\
match,class,criticality,name,department,zone
WS-RAD-014.hospital.local,workstation,2,,Radiology,clinical
pacs01,pacs,5,PACS archive,Radiology,servers
10.20.1.14,workstation,2,WS-RAD-014,Radiology,clinical
10.20.0.0/16,workstation,2,,Clinical LAN,clinical
10.20.7.0/24,medical-device,4,,ICU monitors,iomt
2001:db8::/32,server,3,,,servers
";

#[test]
fn hosts_match_case_insensitively_and_by_short_name() {
    let inv = Inventory::from_csv(INVENTORY).unwrap();
    assert_eq!(inv.assets().len(), 6);
    assert_eq!(
        inv.asset_for_host("ws-rad-014")
            .unwrap()
            .department
            .as_deref(),
        Some("Radiology")
    );
    assert_eq!(
        inv.asset_for_host("WS-RAD-014.HOSPITAL.LOCAL")
            .unwrap()
            .class,
        AssetClass::Workstation
    );
    assert_eq!(
        inv.asset_for_host("PACS01.hospital.local").unwrap().class,
        AssetClass::Pacs
    );
    assert!(inv.asset_for_host("ws-rad-014.other.local").is_none());
    assert!(inv.asset_for_host("ws-9").is_none());
    assert_eq!(inv.criticality("ws-9"), 3);
    assert_eq!(inv.criticality("pacs01"), 5);
}

#[test]
fn addresses_match_exactly_then_the_most_specific_subnet() {
    let inv = Inventory::from_csv(INVENTORY).unwrap();
    assert_eq!(inv.host_for_ip("10.20.1.14"), Some("WS-RAD-014"));
    assert_eq!(inv.host_for_ip("10.20.1.15"), None);
    assert_eq!(
        inv.asset_for_ip("10.20.7.33").unwrap().class,
        AssetClass::MedicalDevice
    );
    assert_eq!(
        inv.asset_for_ip("10.20.9.1").unwrap().department.as_deref(),
        Some("Clinical LAN")
    );
    assert_eq!(
        inv.asset_for_ip("2001:db8::5").unwrap().class,
        AssetClass::Server
    );
    assert!(inv.asset_for_ip("192.168.1.1").is_none());
    assert!(inv.asset_for_ip("not-an-ip").is_none());
    assert_eq!(inv.asset_for_host("10.20.7.1").unwrap().criticality, 4);
}

#[test]
fn inventory_errors_name_file_row_and_value() {
    let e = Inventory::load(
        "inventory.csv",
        "match,class,criticality\nws-1,workstation,2\nws-2,toaster,2\n",
    )
    .unwrap_err();
    assert_eq!(
        e.to_string().split(" (").next().unwrap(),
        "`inventory.csv` line 3: bad class `toaster`"
    );
    let e = Inventory::from_csv("match,class,criticality\nws-1,server,9\n").unwrap_err();
    assert!(e.to_string().contains("line 2: bad criticality `9`"), "{e}");
    let e = Inventory::from_csv("match,class,criticality\n10.0.0.0/40,server,3\n").unwrap_err();
    assert!(e.to_string().contains("bad match `10.0.0.0/40`"), "{e}");
    let e = Inventory::from_csv("host,class\nws-1,server\n").unwrap_err();
    assert!(e.to_string().contains("missing match"), "{e}");
    let e = Inventory::load("inventory.txt", "").unwrap_err();
    assert!(matches!(e, ContextError::UnknownFormat { .. }));
    // Partial loading keeps the good rows.
    let (inv, errors) = Inventory::load_partial(
        "inv.csv",
        "match,class,criticality\nws-1,server,3\nws-2,server,x\nws-3,pacs,5\n",
    );
    assert_eq!(inv.assets().len(), 2);
    assert_eq!(errors.len(), 1);
}

#[test]
fn yaml_lists_load_like_csv() {
    let yaml = "- match: epr01\n  class: epr-server\n  criticality: 5\n  department: Clinical IT\n- match: 10.0.0.0/8\n  class: network\n";
    let inv = Inventory::load("inventory.yaml", yaml).unwrap();
    assert_eq!(inv.asset_for_host("EPR01").unwrap().criticality, 5);
    assert_eq!(inv.asset_for_ip("10.1.1.1").unwrap().criticality, 3);
    let e = Inventory::load(
        "inv.yml",
        "- match: epr01\n  class: epr-server\n  criticality: high\n",
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("`inv.yml` item 1: bad criticality `high`"),
        "{e}"
    );
    let e = Inventory::from_yaml("- match: [").unwrap_err();
    assert!(matches!(e, ContextError::Syntax { .. }), "{e}");
}

const ROSTER: &str = "\
user,name,email,department,role,privileged,manager
jsmith,Jane Smith,j.smith@hospital.example,Radiology,radiographer,false,dr.berg
Admin-KW,Karl Weber,k.weber@hospital.example,IT,system administrator,yes,
";

#[test]
fn people_are_found_by_account_in_any_spelling_or_by_mail() {
    let r = Roster::from_csv(ROSTER).unwrap();
    for q in [
        "jsmith",
        "JSMITH",
        "HOSPITAL\\jsmith",
        "jsmith@hospital.local",
        "J.Smith@hospital.example",
    ] {
        assert_eq!(
            r.person(q).map(|p| p.name.as_str()),
            Some("Jane Smith"),
            "{q}"
        );
    }
    let kw = r.person("admin-kw").unwrap();
    assert!(kw.privileged);
    assert_eq!(kw.manager, None);
    assert_eq!(
        r.person("jsmith").unwrap().manager.as_deref(),
        Some("dr.berg")
    );
    assert!(r.person("nobody").is_none());
    let y = Roster::load(
        "roster.yml",
        "- user: mmeyer\n  name: Max Meyer\n  privileged: false\n",
    )
    .unwrap();
    assert_eq!(y.person("mmeyer").unwrap().name, "Max Meyer");
}

#[test]
fn roster_errors_name_file_row_and_value() {
    let e = Roster::load("roster.csv", "user,name,privileged\njsmith,Jane,maybe\n").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("`roster.csv` line 2: bad privileged `maybe`"),
        "{e}"
    );
    let e = Roster::load("roster.csv", "user,name,email\njsmith,Jane,jane.hospital\n").unwrap_err();
    assert!(e.to_string().contains("bad email `jane.hospital`"), "{e}");
    let e = Roster::from_csv("name\nJane\n").unwrap_err();
    assert!(e.to_string().contains("missing user"), "{e}");
}

#[test]
fn the_empty_context_knows_nothing() {
    let ctx = Context::default();
    assert!(ctx.inventory.asset_for_host("ws-1").is_none());
    assert_eq!(ctx.inventory.criticality("ws-1"), DEFAULT_CRITICALITY);
    assert!(ctx.roster.person("jsmith").is_none());
}
