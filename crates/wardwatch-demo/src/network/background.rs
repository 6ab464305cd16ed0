//! The benign week: what every machine does on an ordinary day, and the look-alikes the
//! analytics must tell from attacks (the scanner's sweep, the backup server's nightly copies
//! and upload, the jump host's remote sessions, update checks every host makes every hour,
//! antivirus lookups with hashed names, replication between the domain controllers, a host
//! looking for a printer that is gone).

use fastrand::Rng;

use super::zeek::{Tuple, Writer};
use super::{LookAlike, NetConfig, Site, at};

/// Sites the staff browse, and the address each resolves to.
pub(super) const SITES: &[&str] = &[
    "www.nhs.uk",
    "www.nice.org.uk",
    "pubmed.ncbi.nlm.nih.gov",
    "www.bmj.com",
    "www.thelancet.com",
    "www.uptodate.com",
    "login.microsoftonline.com",
    "outlook.office365.com",
    "teams.microsoft.com",
    "www.google.com",
    "www.bbc.co.uk",
    "en.wikipedia.org",
    "www.who.int",
    "www.medscape.com",
    "cdn.jsdelivr.net",
    "fonts.googleapis.com",
    "www.gov.uk",
    "www.youtube.com",
    "weather.com",
    "www.linkedin.com",
];

/// Update services every workstation checks hourly.
const UPDATES: &[&str] = &["13.107.4.50", "20.190.159.2", "23.35.88.14"];
/// The antivirus cloud that workstations ask about file hashes through DNS.
const AV_DOMAIN: &str = "q.av-reputation.net";
/// The backup server's cloud copy.
const CLOUD_BACKUP: &str = "52.218.40.17";

/// The address `name` resolves to (stable, public, varied).
pub(super) fn address_of(name: &str) -> String {
    let h = super::super::emit::fnv(name);
    format!(
        "{}.{}.{}.{}",
        [151, 104, 142, 172, 34, 185][(h % 6) as usize],
        (h >> 8) % 250 + 1,
        (h >> 16) % 250 + 1,
        (h >> 24) % 250 + 1
    )
}

fn hex(rng: &mut Rng, n: usize) -> String {
    (0..n)
        .map(|_| char::from_digit(rng.u32(0..16), 16).unwrap_or('0'))
        .collect()
}

/// How busy an hour is: 1.0 on a weekday's working hours, less at night and at the weekend.
fn busy(day: u32, hour: u32) -> f64 {
    let weekend = day % 7 >= 5;
    let working = (7..19).contains(&hour);
    match (weekend, working) {
        (false, true) => 1.0,
        (false, false) => 0.12,
        (true, true) => 0.3,
        (true, false) => 0.08,
    }
}

pub(super) fn generate(
    cfg: &NetConfig,
    site: &Site,
    rng: &mut Rng,
    w: &mut Writer,
) -> Vec<LookAlike> {
    let start = cfg.start;
    let hours = cfg.days * 24;
    let dc = site
        .dcs
        .first()
        .cloned()
        .unwrap_or_else(|| site.resolver.clone());
    for hour in 0..hours {
        let (day, h) = (hour / 24, hour % 24);
        let base = f64::from(hour) * 3600.0;
        let b = busy(day, h);
        for (i, ws) in site.workstations.iter().enumerate() {
            // The hourly update check: same minute each hour, a few seconds of jitter.
            let minute = (super::super::emit::fnv(ws) % 3600) as f64;
            let t = at(start, base + minute + rng.f64() * 8.0);
            let upd = UPDATES[i % UPDATES.len()];
            w.conn(
                t,
                tcp(ws, upd, 443),
                Some("ssl"),
                "SF",
                0.3,
                880 + rng.u64(0..40),
                5400,
            );
            let n = poisson(rng, 4.0 * b * cfg.scale);
            for _ in 0..n {
                let t = at(start, base + rng.f64() * 3600.0);
                activity(rng, site, ws, &dc, t, w);
            }
        }
        for g in &site.guests {
            for _ in 0..poisson(
                rng,
                if (8..22).contains(&h) { 3.0 } else { 0.3 } * cfg.scale,
            ) {
                let t = at(start, base + rng.f64() * 3600.0);
                let name = SITES[rng.usize(0..SITES.len())];
                let ip = address_of(name);
                w.conn(
                    t,
                    tcp(g, &ip, 443),
                    Some("ssl"),
                    "SF",
                    rng.f64() * 20.0,
                    rng.u64(400..20_000),
                    rng.u64(2_000..900_000),
                );
            }
        }
        devices(rng, cfg, site, hour, w);
        // Replication between the domain controllers every quarter of an hour.
        if site.dcs.len() >= 2 {
            for q in 0..4 {
                let t = at(start, base + f64::from(q) * 900.0 + rng.f64() * 30.0);
                let (a, b) = (&site.dcs[0], &site.dcs[1]);
                w.conn(
                    t,
                    tcp(b, a, 49_668),
                    Some("dce_rpc"),
                    "SF",
                    0.4,
                    2_400,
                    18_000,
                );
                w.dce_rpc(t, b, a, "drsuapi", "DRSGetNCChanges");
            }
        }
        // A workstation still looks for a printer that was removed, every two minutes.
        if let Some(ws) = site.workstations.get(7) {
            for m in 0..30 {
                let t = at(start, base + f64::from(m) * 120.0 + 3.0);
                w.dns(
                    t,
                    ws,
                    &site.resolver,
                    "oldprinter.hospital.local",
                    "NXDOMAIN",
                );
                if m % 15 == 0 {
                    w.conn(t, tcp(ws, "10.10.0.99", 445), None, "S0", 0.0, 0, 0);
                }
            }
        }
        if h == 1 {
            backup_night(rng, site, base, cfg, w);
        }
        if day % 7 == 2 && h == 22 {
            scanner_sweep(rng, site, base, cfg, w);
        }
        if day % 7 < 5 && h == 9 {
            jump_sessions(rng, site, base, cfg, w);
        }
    }
    newcomer(cfg, site, w);
    vec![
        LookAlike {
            source: site.newcomer.clone(),
            what: "a new infusion pump joining mid-week and talking like the other pumps",
            resembles: &["analytic-network-medical-device-deviation"],
        },
        LookAlike {
            source: site.scanner.clone(),
            what: "the vulnerability scanner's weekly sweep of every host and port",
            resembles: &[
                "analytic-network-horizontal-scan",
                "analytic-network-vertical-scan",
                "analytic-network-low-and-slow-scan",
            ],
        },
        LookAlike {
            source: site.backup.clone(),
            what: "the backup server's nightly copies from every server and its upload to the cloud",
            resembles: &[
                "analytic-network-lateral-movement",
                "analytic-network-large-transfer-out",
                "analytic-network-beaconing",
            ],
        },
        LookAlike {
            source: site.jump.clone(),
            what: "the administrators' jump host opening remote desktops",
            resembles: &[
                "analytic-network-remote-login-fan-out",
                "analytic-network-lateral-movement",
            ],
        },
        LookAlike {
            source: "(every workstation)".into(),
            what: "hourly update checks and antivirus lookups with hashed names",
            resembles: &[
                "analytic-network-beaconing",
                "analytic-network-dns-tunnelling",
            ],
        },
        LookAlike {
            source: site.workstations.get(7).cloned().unwrap_or_default(),
            what: "a host looking for a removed printer (NXDOMAIN and a dead share all week)",
            resembles: &[
                "analytic-network-nxdomain-burst",
                "analytic-network-horizontal-scan",
            ],
        },
        LookAlike {
            source: site.dcs.get(1).cloned().unwrap_or_default(),
            what: "replication between the domain controllers",
            resembles: &["analytic-network-dcsync"],
        },
    ]
}

pub(super) fn tcp<'a>(src: &'a str, dst: &'a str, port: u16) -> Tuple<'a> {
    Tuple {
        src,
        dst,
        port,
        proto: "tcp",
    }
}

/// A Poisson draw of mean `mean` (Knuth; means here are small).
pub(super) fn poisson(rng: &mut Rng, mean: f64) -> u32 {
    if mean <= 0.0 {
        return 0;
    }
    let limit = (-mean).exp();
    let mut k = 0;
    let mut p = rng.f64();
    while p > limit && k < 1000 {
        k += 1;
        p *= rng.f64();
    }
    k
}

/// One thing a workstation does: a share, a web page, a logon, an antivirus lookup, a typo.
fn activity(rng: &mut Rng, site: &Site, ws: &str, dc: &str, t: jiff::Timestamp, w: &mut Writer) {
    let roll = rng.u32(0..100);
    if roll < 40 && !site.servers.is_empty() {
        let server = &site.servers[rng.usize(0..site.servers.len())];
        let (port, service) = [
            (445, "smb"),
            (443, "ssl"),
            (389, "ldap"),
            (135, "dce_rpc"),
            (9100, ""),
        ][rng.usize(0..5)];
        w.dns(
            t,
            ws,
            &site.resolver,
            &format!("srv{}.hospital.local", &server[6..]),
            "NOERROR",
        );
        let svc = (!service.is_empty()).then_some(service);
        w.conn(
            t,
            tcp(ws, server, port),
            svc,
            "SF",
            rng.f64() * 30.0,
            rng.u64(300..200_000),
            rng.u64(300..2_000_000),
        );
    } else if roll < 85 {
        let name = SITES[rng.usize(0..SITES.len())];
        w.dns(t, ws, &site.resolver, name, "NOERROR");
        let ip = address_of(name);
        w.conn(
            t,
            tcp(ws, &ip, 443),
            Some("ssl"),
            "SF",
            rng.f64() * 60.0,
            rng.u64(400..60_000),
            rng.u64(2_000..3_000_000),
        );
    } else if roll < 92 {
        w.kerberos(t, ws, dc, &format!("u{}", &ws[6..].replace('.', "")), None);
    } else if roll < 94 {
        // A mistyped password, then the right one.
        let user = format!("u{}", &ws[6..].replace('.', ""));
        w.kerberos(t, ws, dc, &user, Some("KDC_ERR_PREAUTH_FAILED"));
        w.kerberos(at(t, 6.0), ws, dc, &user, None);
    } else if roll < 96 {
        // A mistyped address.
        let name = format!(
            "www.{}.com",
            SITES[rng.usize(0..SITES.len())].replace('.', "")
        );
        w.dns(t, ws, &site.resolver, &name, "NXDOMAIN");
    } else {
        let name = format!("{}.{}.{AV_DOMAIN}", hex(rng, 32), hex(rng, 8));
        w.dns(t, ws, &site.resolver, &name, "NOERROR");
    }
}

/// Medical devices: HL7 results to the interface engine, images to the PACS, time, a daily
/// DHCP lease.
fn devices(rng: &mut Rng, cfg: &NetConfig, site: &Site, hour: u32, w: &mut Writer) {
    let base = f64::from(hour) * 3600.0;
    for (i, d) in site.devices.iter().enumerate() {
        let host = site.hosts.iter().find(|h| &h.ip == d);
        let imaging = host.is_some_and(|h| h.name.starts_with("CT-") || h.name.starts_with("MRI-"));
        for _ in 0..poisson(rng, 3.0 * cfg.scale.max(0.2)) {
            let t = at(cfg.start, base + rng.f64() * 3600.0);
            if imaging {
                w.conn(
                    t,
                    tcp(d, &site.pacs, 104),
                    Some("dicom"),
                    "SF",
                    rng.f64() * 40.0,
                    rng.u64(2_000_000..40_000_000),
                    rng.u64(500..4_000),
                );
            } else {
                w.conn(
                    t,
                    tcp(d, &site.hl7, 2575),
                    Some("hl7"),
                    "SF",
                    rng.f64() * 2.0,
                    rng.u64(400..6_000),
                    rng.u64(60..200),
                );
            }
        }
        if hour.is_multiple_of(6) {
            let t = at(cfg.start, base + rng.f64() * 60.0);
            let ntp = super::zeek::Tuple {
                src: d,
                dst: &site.resolver,
                port: 123,
                proto: "udp",
            };
            w.conn(t, ntp, Some("ntp"), "SF", 0.01, 48, 48);
        }
        if hour % 24 == 3 {
            let (mac, name) = host.map_or((String::new(), String::new()), |h| {
                (h.mac.clone(), h.name.clone())
            });
            w.dhcp(
                at(cfg.start, base + 60.0 + i as f64),
                &site.resolver,
                d,
                &mac,
                &name,
            );
        }
    }
}

/// The pump that joins in the middle of the week: a DHCP lease, HL7 to the interface engine
/// like every pump, and from its second day on the time server its class uses (an edge it
/// never used while it was learning, but its class did). Its own generator, so the rest of the
/// week stays as it was.
fn newcomer(cfg: &NetConfig, site: &Site, w: &mut Writer) {
    let mut rng = Rng::with_seed(cfg.seed ^ 0x4E3C_0E5E);
    let hours = cfg.days * 24;
    let join = hours / 2 + 10;
    let d = site.newcomer.as_str();
    let Some(host) = site.hosts.iter().find(|h| h.ip == d) else {
        return;
    };
    for hour in join..hours {
        let base = f64::from(hour) * 3600.0;
        if hour == join || hour % 24 == 3 {
            w.dhcp(
                at(cfg.start, base + 5.0),
                &site.resolver,
                d,
                &host.mac,
                &host.name,
            );
        }
        for _ in 0..poisson(&mut rng, 3.0 * cfg.scale.max(0.2)) {
            let t = at(cfg.start, base + 10.0 + rng.f64() * 3500.0);
            w.conn(
                t,
                tcp(d, &site.hl7, 2575),
                Some("hl7"),
                "SF",
                rng.f64() * 2.0,
                rng.u64(400..6_000),
                rng.u64(60..200),
            );
        }
        if hour >= join + 24 && hour.is_multiple_of(6) {
            let ntp = Tuple {
                src: d,
                dst: &site.resolver,
                port: 123,
                proto: "udp",
            };
            w.conn(
                at(cfg.start, base + rng.f64() * 60.0),
                ntp,
                Some("ntp"),
                "SF",
                0.01,
                48,
                48,
            );
        }
    }
}

/// The backup server at night: every server's administrative share, then the upload to the
/// cloud copy.
fn backup_night(rng: &mut Rng, site: &Site, base: f64, cfg: &NetConfig, w: &mut Writer) {
    let mut t = base + 60.0;
    for s in &site.servers {
        let host = site
            .hosts
            .iter()
            .find(|h| &h.ip == s)
            .map_or(s.as_str(), |h| h.name.as_str());
        w.smb_mapping(at(cfg.start, t), &site.backup, s, host, "C$");
        w.conn(
            at(cfg.start, t),
            tcp(&site.backup, s, 445),
            Some("smb"),
            "SF",
            600.0,
            40_000,
            rng.u64(200_000_000..900_000_000),
        );
        t += 30.0 + rng.f64() * 30.0;
    }
    let chunks = 30 + rng.u32(0..20);
    for c in 0..chunks {
        let t = at(cfg.start, base + 1800.0 + f64::from(c) * 60.0);
        w.conn(
            t,
            tcp(&site.backup, CLOUD_BACKUP, 443),
            Some("ssl"),
            "SF",
            55.0,
            rng.u64(60_000_000..120_000_000),
            40_000,
        );
    }
}

/// The scanner's weekly sweep: every host on a set of ports, most refused or unanswered.
fn scanner_sweep(rng: &mut Rng, site: &Site, base: f64, cfg: &NetConfig, w: &mut Writer) {
    const PORTS: &[u16] = &[
        21, 22, 23, 25, 80, 135, 139, 443, 445, 1433, 3306, 3389, 5432, 5900, 5985, 8080, 8443,
        9100,
    ];
    let mut t = base + 30.0;
    for h in site.workstations.iter().chain(&site.servers) {
        for &p in PORTS {
            let state = match rng.u32(0..10) {
                0 => "SF",
                1..=4 => "REJ",
                _ => "S0",
            };
            // An open port answers, and the scanner closes without a byte.
            w.conn(
                at(cfg.start, t),
                tcp(&site.scanner, h, p),
                None,
                state,
                0.01,
                0,
                0,
            );
            t += 0.05;
        }
    }
}

/// The jump host: remote desktops to a handful of servers and workstations each morning.
fn jump_sessions(rng: &mut Rng, site: &Site, base: f64, cfg: &NetConfig, w: &mut Writer) {
    let n = 10 + rng.usize(0..10);
    for k in 0..n {
        let pool = if k % 2 == 0 {
            &site.servers
        } else {
            &site.workstations
        };
        if pool.is_empty() {
            continue;
        }
        let dst = &pool[rng.usize(0..pool.len())];
        let t = at(cfg.start, base + k as f64 * 40.0 + rng.f64() * 20.0);
        w.rdp(t, &site.jump, dst, "itadmin");
        w.conn(
            t,
            tcp(&site.jump, dst, 3389),
            Some("rdp"),
            "SF",
            900.0,
            400_000,
            9_000_000,
        );
    }
}
