//! The generated hospital: departments, hosts and people, all drawn from one seed.
//!
//! # What it does
//! [`Hospital::new`] builds eleven departments, about 300 workstations (`WS-RAD-014` at
//! `10.20.<dept>.<n>`), the server room (domain controllers, EPR, PACS, file, mail, lab, print),
//! network gear, medical devices in `10.30.0.0/16`, guest Wi-Fi tablets in `10.99.0.0/16`, and
//! about 400 staff with ids like `jsmith`, e-mails `j.smith@hospital.example`, and separate
//! administrator accounts (`admin-kw`) for the IT administrators. [`Hospital::inventory_csv`]
//! and [`Hospital::roster_csv`] write the context files an operator would provide.
//!
//! # Why it matters
//! The background traffic and the attack stories are drawn from this model, so every host and
//! user an alert names is also in the inventory and the roster, as in a real deployment.

use fastrand::Rng;

/// The Active Directory domain (NetBIOS name) every Windows event names.
pub const DOMAIN: &str = "HOSPITAL";
/// The DNS suffix of Windows hosts (`WS-RAD-014.hospital.local`).
pub const DNS_SUFFIX: &str = "hospital.local";
/// The mail domain of staff addresses.
pub const MAIL_DOMAIN: &str = "hospital.example";

/// A department: its name, the code in host names, its third IP octet, workstation count,
/// staff count, and the roles its staff hold (drawn in this proportion).
struct DeptSpec {
    name: &'static str,
    code: &'static str,
    octet: u8,
    workstations: u32,
    staff: u32,
    roles: &'static [&'static str],
}

const DEPARTMENTS: &[DeptSpec] = &[
    DeptSpec {
        name: "Emergency",
        code: "ED",
        octet: 1,
        workstations: 38,
        staff: 52,
        roles: &["physician", "nurse", "nurse", "nurse"],
    },
    DeptSpec {
        name: "Radiology",
        code: "RAD",
        octet: 2,
        workstations: 30,
        staff: 34,
        roles: &["radiographer", "radiographer", "physician"],
    },
    DeptSpec {
        name: "Cardiology",
        code: "CAR",
        octet: 3,
        workstations: 24,
        staff: 32,
        roles: &["physician", "nurse", "nurse"],
    },
    DeptSpec {
        name: "Oncology",
        code: "ONC",
        octet: 4,
        workstations: 24,
        staff: 30,
        roles: &["physician", "nurse", "nurse"],
    },
    DeptSpec {
        name: "Pediatrics",
        code: "PED",
        octet: 5,
        workstations: 24,
        staff: 32,
        roles: &["physician", "nurse", "nurse"],
    },
    DeptSpec {
        name: "Surgery",
        code: "SUR",
        octet: 6,
        workstations: 32,
        staff: 46,
        roles: &["physician", "nurse", "nurse"],
    },
    DeptSpec {
        name: "ICU",
        code: "ICU",
        octet: 7,
        workstations: 30,
        staff: 44,
        roles: &["physician", "nurse", "nurse", "nurse"],
    },
    DeptSpec {
        name: "Pharmacy",
        code: "PHA",
        octet: 8,
        workstations: 16,
        staff: 22,
        roles: &["pharmacist"],
    },
    DeptSpec {
        name: "Laboratory",
        code: "LAB",
        octet: 9,
        workstations: 22,
        staff: 30,
        roles: &["admin-staff", "physician"],
    },
    DeptSpec {
        name: "Administration",
        code: "ADM",
        octet: 10,
        workstations: 40,
        staff: 70,
        roles: &["admin-staff"],
    },
    DeptSpec {
        name: "IT",
        code: "IT",
        octet: 11,
        workstations: 12,
        staff: 10,
        roles: &["it-admin"],
    },
];

const FIRST: &[&str] = &[
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "William",
    "Elizabeth",
    "David",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Daniel",
    "Nancy",
    "Matthew",
    "Lisa",
    "Anthony",
    "Betty",
    "Mark",
    "Margaret",
    "Paul",
    "Sandra",
    "Steven",
    "Ashley",
    "Andrew",
    "Kimberly",
    "Kenneth",
    "Emily",
    "Joshua",
    "Donna",
    "Kevin",
    "Michelle",
    "Brian",
    "Carol",
    "George",
    "Amanda",
    "Edward",
    "Melissa",
    "Ronald",
    "Deborah",
    "Timothy",
    "Stephanie",
    "Jason",
    "Rebecca",
    "Ryan",
    "Laura",
    "Jacob",
    "Helen",
    "Gary",
    "Sharon",
    "Nicholas",
    "Cynthia",
    "Eric",
    "Kathleen",
    "Amira",
    "Hannah",
    "Omar",
    "Priya",
    "Wei",
    "Yuki",
    "Fatima",
    "Lucas",
    "Sofia",
    "Mateo",
    "Chloe",
];

const LAST: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Gomez",
    "Phillips",
    "Evans",
    "Turner",
    "Diaz",
    "Parker",
    "Cruz",
    "Edwards",
    "Collins",
    "Reyes",
    "Stewart",
    "Morris",
    "Morales",
    "Murphy",
    "Cook",
    "Rogers",
    "Gutierrez",
    "Ortiz",
    "Morgan",
    "Cooper",
    "Peterson",
    "Bailey",
    "Reed",
    "Kelly",
    "Howard",
    "Ramos",
    "Kim",
    "Cox",
    "Ward",
    "Richardson",
    "Watson",
    "Brooks",
    "Chavez",
    "Wood",
    "James",
    "Bennett",
    "Gray",
    "Mendoza",
    "Ruiz",
    "Hughes",
    "Price",
    "Alvarez",
    "Castillo",
    "Sanders",
    "Patel",
    "Myers",
    "Long",
    "Ross",
    "Foster",
    "Kowalski",
];

/// The kind of a host, as the inventory's `class` column names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Workstation,
    Server,
    DomainController,
    EprServer,
    Pacs,
    MedicalDevice,
    GuestWifi,
    Network,
}

impl Class {
    /// The inventory name of the class.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Workstation => "workstation",
            Class::Server => "server",
            Class::DomainController => "domain-controller",
            Class::EprServer => "epr-server",
            Class::Pacs => "pacs",
            Class::MedicalDevice => "medical-device",
            Class::GuestWifi => "guest-wifi",
            Class::Network => "network",
        }
    }
}

/// One host of the hospital.
#[derive(Debug, Clone)]
pub struct Host {
    /// Short host name, upper case (`WS-RAD-014`, `DC01`).
    pub name: String,
    pub ip: String,
    pub class: Class,
    /// 1 (least) to 5 (patient safety).
    pub criticality: u8,
    /// Index into [`Hospital::departments`], when the host belongs to one.
    pub department: Option<usize>,
    /// Whether the host runs Linux (syslog instead of Windows event logs).
    pub linux: bool,
}

impl Host {
    /// The name Windows writes as `Computer` (`WS-RAD-014.hospital.local`).
    pub fn fqdn(&self) -> String {
        format!("{}.{DNS_SUFFIX}", self.name)
    }
}

/// One person (or administrator account) in the roster.
#[derive(Debug, Clone)]
pub struct User {
    /// Account name (`jsmith`, `admin-kw`).
    pub id: String,
    /// Display name (`John Smith`).
    pub name: String,
    pub email: String,
    /// Index into [`Hospital::departments`].
    pub department: usize,
    pub role: &'static str,
    pub privileged: bool,
    /// Account id of the department head, empty for the heads themselves.
    pub manager: String,
    /// Index into [`Hospital::hosts`] of the workstation the person usually works at.
    pub workstation: usize,
    /// The account's security identifier.
    pub sid: String,
}

/// The generated hospital model: departments, hosts and users.
#[derive(Debug, Clone)]
pub struct Hospital {
    pub departments: Vec<&'static str>,
    pub hosts: Vec<Host>,
    pub users: Vec<User>,
    /// Department codes, parallel to `departments` (`RAD`).
    pub(crate) codes: Vec<&'static str>,
}

impl Hospital {
    /// Build the hospital for `seed`; the same seed always gives the same hospital.
    pub fn new(seed: u64) -> Hospital {
        let mut rng = Rng::with_seed(seed ^ 0x4805_5917_A1ED_0001);
        let mut hosts = Vec::new();
        let server = |name: &str, ip: &str, class: Class, crit: u8, linux: bool| Host {
            name: name.into(),
            ip: ip.into(),
            class,
            criticality: crit,
            department: None,
            linux,
        };
        hosts.push(server(
            "DC01",
            "10.10.0.10",
            Class::DomainController,
            5,
            false,
        ));
        hosts.push(server(
            "DC02",
            "10.10.0.11",
            Class::DomainController,
            5,
            false,
        ));
        hosts.push(server("EPR01", "10.10.0.20", Class::EprServer, 5, false));
        hosts.push(server("PACS01", "10.10.0.30", Class::Pacs, 5, false));
        hosts.push(server("FILE01", "10.10.0.40", Class::Server, 4, false));
        hosts.push(server("MAIL01", "10.10.0.50", Class::Server, 4, true));
        hosts.push(server("LAB01", "10.10.0.60", Class::Server, 4, true));
        hosts.push(server("PRINT01", "10.10.0.70", Class::Server, 3, false));
        hosts.push(server("CORE-SW01", "10.1.0.1", Class::Network, 4, true));
        hosts.push(server("FW01", "10.1.0.254", Class::Network, 5, true));
        hosts.push(server("WLC01", "10.1.0.10", Class::Network, 3, true));
        hosts.push(server("IDS01", "10.1.0.20", Class::Network, 3, true));
        let mut departments = Vec::new();
        let mut codes = Vec::new();
        let mut first_ws = Vec::new();
        for (d, spec) in DEPARTMENTS.iter().enumerate() {
            departments.push(spec.name);
            codes.push(spec.code);
            first_ws.push(hosts.len());
            // A few workstations more or fewer per department, from the seed.
            let n = spec.workstations + rng.u32(0..5) - 2;
            for i in 1..=n {
                let crit = if matches!(spec.code, "ED" | "ICU") {
                    4
                } else {
                    3
                };
                hosts.push(Host {
                    name: format!("WS-{}-{i:03}", spec.code),
                    ip: format!("10.20.{}.{}", spec.octet, 10 + i),
                    class: Class::Workstation,
                    criticality: crit,
                    department: Some(d),
                    linux: false,
                });
            }
        }
        let devices: &[(&str, usize, u32)] = &[
            ("PUMP-ICU", 6, 24),
            ("MON-ICU", 6, 16),
            ("PUMP-ONC", 3, 12),
            ("MON-ED", 0, 10),
            ("CT-RAD", 1, 2),
            ("MRI-RAD", 1, 2),
            ("ECG-CAR", 2, 4),
        ];
        for (k, (prefix, dept, count)) in devices.iter().enumerate() {
            for i in 1..=*count {
                hosts.push(Host {
                    name: format!("{prefix}-{i:02}"),
                    ip: format!("10.30.{}.{}", k + 1, 10 + i),
                    class: Class::MedicalDevice,
                    criticality: 5,
                    department: Some(*dept),
                    linux: true,
                });
            }
        }
        for i in 0..24u32 {
            let (a, b) = (1 + i / 8, 10 + rng.u32(0..200));
            hosts.push(Host {
                name: format!("TABLET-{a}{b:02X}"),
                ip: format!("10.99.{a}.{b}"),
                class: Class::GuestWifi,
                criticality: 1,
                department: None,
                linux: true,
            });
        }
        // The spraying tablet of the story has a fixed address.
        hosts.push(Host {
            name: "TABLET-3F17".into(),
            ip: "10.99.3.17".into(),
            class: Class::GuestWifi,
            criticality: 1,
            department: None,
            linux: true,
        });

        let mut users: Vec<User> = Vec::new();
        let mut taken = std::collections::BTreeSet::new();
        let mut rid = 1105u32;
        for (d, spec) in DEPARTMENTS.iter().enumerate() {
            let ws_count = hosts
                .iter()
                .filter(|h| h.department == Some(d) && h.class == Class::Workstation)
                .count();
            let head_index = users.len();
            for i in 0..spec.staff {
                let first = FIRST[rng.usize(..FIRST.len())];
                let last = LAST[rng.usize(..LAST.len())];
                let base = format!("{}{}", &first[..1], last).to_lowercase();
                let mut id = base.clone();
                let mut n = 2;
                while !taken.insert(id.clone()) {
                    id = format!("{base}{n}");
                    n += 1;
                }
                let suffix = id.strip_prefix(&base).unwrap_or("").to_string();
                let email = format!(
                    "{}.{}{suffix}@{MAIL_DOMAIN}",
                    first[..1].to_lowercase(),
                    last.to_lowercase()
                );
                let role = if i == 0 && spec.roles.contains(&"physician") {
                    "physician"
                } else {
                    spec.roles[rng.usize(..spec.roles.len())]
                };
                let manager = if i == 0 {
                    String::new()
                } else {
                    users[head_index].id.clone()
                };
                rid += 1 + rng.u32(0..3);
                users.push(User {
                    id,
                    name: format!("{first} {last}"),
                    email,
                    department: d,
                    role,
                    privileged: role == "it-admin",
                    manager,
                    workstation: first_ws[d] + rng.usize(..ws_count),
                    sid: format!("S-1-5-21-3623811015-3361044348-30300820-{rid}"),
                });
            }
        }
        // IT administrators work day to day as themselves and administer with a second account.
        let admins: Vec<User> = users
            .iter()
            .filter(|u| u.role == "it-admin")
            .map(|u| {
                let initials: String = u
                    .name
                    .split(' ')
                    .filter_map(|p| p.chars().next())
                    .collect::<String>()
                    .to_lowercase();
                (u, initials)
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|(u, initials)| {
                let mut id = format!("admin-{initials}");
                let mut n = 2;
                while !taken.insert(id.clone()) {
                    id = format!("admin-{initials}{n}");
                    n += 1;
                }
                rid += 1;
                User {
                    id,
                    name: format!("{} (admin)", u.name),
                    email: u.email.clone(),
                    privileged: true,
                    sid: format!("S-1-5-21-3623811015-3361044348-30300820-{rid}"),
                    manager: u.id.clone(),
                    ..u.clone()
                }
            })
            .collect();
        users.extend(admins);
        Hospital {
            departments,
            hosts,
            users,
            codes,
        }
    }

    /// The host named `name` (short name, case-insensitive).
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
    }

    /// The user with account name `id`.
    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    /// Indices of hosts of one class.
    pub(crate) fn of_class(&self, class: Class) -> Vec<usize> {
        (0..self.hosts.len())
            .filter(|&i| self.hosts[i].class == class)
            .collect()
    }

    /// The inventory file: `match,class,criticality,name,department`, one row per host plus
    /// CIDR rows for the medical-device, guest Wi-Fi and workstation networks.
    pub fn inventory_csv(&self) -> String {
        let mut out = String::from("match,class,criticality,name,department\n");
        for h in &self.hosts {
            let dept = h.department.map(|d| self.departments[d]).unwrap_or("");
            let label = match h.class {
                Class::MedicalDevice => format!("{} (medical device)", h.name),
                _ => h.name.clone(),
            };
            out.push_str(&format!(
                "{},{},{},{},{}\n",
                h.name,
                h.class.as_str(),
                h.criticality,
                label,
                dept
            ));
        }
        // The network sensor sees addresses: every host again by its address (the network
        // analytics' classes and names, and an address resolved to its host when incidents
        // are grouped), and the machines that reach everything by design.
        for h in &self.hosts {
            let dept = h.department.map(|d| self.departments[d]).unwrap_or("");
            out.push_str(&format!(
                "{},{},{},{},{dept}\n",
                h.ip,
                h.class.as_str(),
                h.criticality,
                h.name
            ));
        }
        for (ip, name, class) in crate::network::ADMIN_HOSTS {
            out.push_str(&format!("{ip},{class},4,{name},IT\n"));
        }
        out.push_str("10.30.0.0/16,medical-device,5,Medical device network,\n");
        out.push_str("10.99.0.0/16,guest-wifi,1,Guest Wi-Fi,\n");
        out.push_str("10.20.0.0/16,workstation,3,Clinical workstations,\n");
        out.push_str("10.10.0.0/24,server,4,Server room,IT\n");
        out
    }

    /// The roster file: `user,name,email,department,role,privileged,manager`.
    pub fn roster_csv(&self) -> String {
        let mut out = String::from("user,name,email,department,role,privileged,manager\n");
        for u in &self.users {
            out.push_str(&format!(
                "{},{},{},{},{},{},{}\n",
                u.id,
                u.name,
                u.email,
                self.departments[u.department],
                u.role,
                u.privileged,
                u.manager
            ));
        }
        out
    }
}
