//! The planted cases: one or more of every network analytic, each with its parameters drawn
//! from the seed (how many hosts, ports, accounts, names, bytes; how fast; how much jitter),
//! each by a different machine at a different moment of the week.

use fastrand::Rng;
use jiff::Timestamp;

use super::background::{address_of, tcp};
use super::zeek::{Tuple, Writer};
use super::{NetConfig, Planted, Site, at};

/// Machines the cases may use as actors (no machine acts in two cases).
struct Actors {
    free: Vec<String>,
}

impl Actors {
    fn take(&mut self, rng: &mut Rng) -> String {
        let i = rng.usize(0..self.free.len());
        self.free.swap_remove(i)
    }
}

fn pick<'a>(rng: &mut Rng, v: &'a [String]) -> &'a str {
    &v[rng.usize(0..v.len())]
}

/// A random moment of the week's working hours (weekday 08:00–18:00), as seconds from start.
fn working(rng: &mut Rng, cfg: &NetConfig) -> f64 {
    let days = cfg.days.clamp(1, 5);
    f64::from(rng.u32(0..days)) * 86_400.0 + 8.0 * 3600.0 + rng.f64() * 10.0 * 3600.0
}

/// A random moment of a night (21:00–04:00), as seconds from start.
fn night(rng: &mut Rng, cfg: &NetConfig) -> f64 {
    let days = cfg.days.max(2) - 1;
    f64::from(rng.u32(0..days)) * 86_400.0 + 21.0 * 3600.0 + rng.f64() * 7.0 * 3600.0
}

fn random_name(rng: &mut Rng, len: std::ops::Range<usize>, alphabet: &[u8]) -> String {
    let len = rng.usize(len);
    (0..len)
        .map(|_| alphabet[rng.usize(0..alphabet.len())] as char)
        .collect()
}

const HEX: &[u8] = b"0123456789abcdef";
const BASE32: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyz";

pub(super) fn generate(
    cfg: &NetConfig,
    site: &Site,
    rng: &mut Rng,
    w: &mut Writer,
) -> Vec<Planted> {
    // Actors: workstations other than the one the background keeps busy with a lost printer.
    let mut actors = Actors {
        free: site
            .workstations
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 7)
            .map(|(_, ip)| ip.clone())
            .collect(),
    };
    let mut out: Vec<Planted> = Vec::new();
    let start = cfg.start;
    let case = |w: &mut Writer, out: &mut Vec<Planted>, p: Planted| {
        w.case = Some(out.len());
        out.push(p);
    };
    let plant = |analytic, source: &str, target: Option<&str>, t: f64| Planted {
        analytic,
        source: source.to_string(),
        target: target.map(str::to_string),
        start: at(start, t),
        involved: Vec::new(),
    };

    // Horizontal scan: many hosts of the clinical subnets, one port, within minutes.
    {
        let src = actors.take(rng);
        let t0 = working(rng, cfg);
        case(
            w,
            &mut out,
            plant("analytic-network-horizontal-scan", &src, None, t0),
        );
        let port = [445u16, 3389, 22, 5985, 135][rng.usize(0..5)];
        let n = 12 + rng.usize(0..70);
        let span = 60.0 + rng.f64() * 400.0;
        for k in 0..n {
            let dst = format!("10.20.{}.{}", rng.u32(1..12), rng.u32(2..250));
            let state = if rng.bool() { "S0" } else { "REJ" };
            w.conn(
                at(start, t0 + span * k as f64 / n as f64),
                tcp(&src, &dst, port),
                None,
                state,
                0.0,
                0,
                0,
            );
        }
    }
    // Vertical scan: many ports of one server.
    {
        let src = actors.take(rng);
        let dst = pick(rng, &site.servers).to_string();
        let t0 = working(rng, cfg);
        case(
            w,
            &mut out,
            plant("analytic-network-vertical-scan", &src, Some(&dst), t0),
        );
        let n = 20 + rng.usize(0..300);
        let first = rng.u16(1..2000);
        for k in 0..n {
            let port = first + k as u16 * (1 + rng.u16(0..3));
            let t = at(start, t0 + k as f64 * (0.05 + rng.f64()));
            w.conn(t, tcp(&src, &dst, port), None, "REJ", 0.0, 0, 0);
        }
    }
    // Low and slow: a blind attempt every 8 to 16 minutes, for hours.
    {
        let src = actors.take(rng);
        let t0 = working(rng, cfg) - 4.0 * 3600.0;
        case(
            w,
            &mut out,
            plant("analytic-network-low-and-slow-scan", &src, None, t0),
        );
        let n = 24 + rng.usize(0..16);
        let mut t = t0;
        for _ in 0..n {
            let dst = format!(
                "10.{}.{}.{}",
                [10, 20, 20][rng.usize(0..3)],
                rng.u32(0..12),
                rng.u32(2..250)
            );
            let port = [22u16, 80, 135, 139, 443, 445, 1433, 3389, 5900, 8080][rng.usize(0..10)];
            w.conn(at(start, t), tcp(&src, &dst, port), None, "S0", 0.0, 0, 0);
            t += 480.0 + rng.f64() * 480.0;
        }
    }
    let dc = site
        .dcs
        .first()
        .cloned()
        .unwrap_or_else(|| site.resolver.clone());
    // Brute force: one account, many wrong passwords.
    {
        let src = actors.take(rng);
        let t0 = working(rng, cfg);
        case(
            w,
            &mut out,
            plant("analytic-network-brute-force", &src, Some(&dc), t0),
        );
        let user = ["administrator", "svc_backup", "pacsadmin", "j.smith"][rng.usize(0..4)];
        let n = 12 + rng.usize(0..50);
        let gap = 2.0 + rng.f64() * 8.0;
        for k in 0..n {
            w.kerberos(
                at(start, t0 + k as f64 * gap),
                &src,
                &dc,
                user,
                Some("KDC_ERR_PREAUTH_FAILED"),
            );
        }
    }
    // Password spraying: many accounts, one or two tries each.
    {
        let src = actors.take(rng);
        let t0 = working(rng, cfg);
        case(
            w,
            &mut out,
            plant("analytic-network-password-spraying", &src, Some(&dc), t0),
        );
        let n = 8 + rng.usize(0..32);
        let gap = 5.0 + rng.f64() * 40.0;
        for k in 0..n {
            let user = format!(
                "{}.{}",
                random_name(rng, 1..2, LETTERS),
                random_name(rng, 6..7, LETTERS)
            );
            let err = if rng.u32(0..4) == 0 {
                "KDC_ERR_C_PRINCIPAL_UNKNOWN"
            } else {
                "KDC_ERR_PREAUTH_FAILED"
            };
            w.kerberos(at(start, t0 + k as f64 * gap), &src, &dc, &user, Some(err));
        }
    }
    // Lateral movement and a chain: A → B by a service, B → C within the hour.
    {
        let a = actors.take(rng);
        let b = actors.take(rng);
        let c = if rng.bool() {
            actors.take(rng)
        } else {
            pick(rng, &site.servers).to_string()
        };
        let t0 = working(rng, cfg);
        let mut p = plant("analytic-network-lateral-chain", &a, Some(&c), t0);
        p.involved = vec![b.clone(), c.clone()];
        case(w, &mut out, p);
        let how = rng.u32(0..3);
        hop(w, &a, &b, t0, how, start);
        hop(
            w,
            &b,
            &c,
            t0 + 300.0 + rng.f64() * 3000.0,
            (how + 1) % 3,
            start,
        );
        let mut p = plant("analytic-network-lateral-movement", &a, Some(&b), t0);
        p.involved = vec![b.clone(), c.clone()];
        case(w, &mut out, p);
    }
    // DCSync from a workstation.
    {
        let src = actors.take(rng);
        let t0 = working(rng, cfg);
        case(
            w,
            &mut out,
            plant("analytic-network-dcsync", &src, Some(&dc), t0),
        );
        w.conn(
            at(start, t0),
            tcp(&src, &dc, 49_667),
            Some("dce_rpc"),
            "SF",
            2.0,
            4_000,
            900_000,
        );
        w.dce_rpc(at(start, t0 + 0.2), &src, &dc, "drsuapi", "DRSBind");
        w.dce_rpc(at(start, t0 + 0.5), &src, &dc, "drsuapi", "DRSGetNCChanges");
    }
    // Segmentation: a guest tablet reaching a server, or a medical device the internet.
    {
        let guest = rng.bool() || site.devices.is_empty();
        let (src, dst, port) = if guest && !site.guests.is_empty() {
            (
                pick(rng, &site.guests).to_string(),
                pick(rng, &site.servers).to_string(),
                [445u16, 3389, 1433][rng.usize(0..3)],
            )
        } else {
            (
                pick(rng, &site.devices).to_string(),
                format!(
                    "185.{}.{}.{}",
                    rng.u8(1..250),
                    rng.u8(1..250),
                    rng.u8(1..250)
                ),
                443,
            )
        };
        let t0 = working(rng, cfg);
        case(
            w,
            &mut out,
            plant(
                "analytic-network-segmentation-violation",
                &src,
                Some(&dst),
                t0,
            ),
        );
        w.conn(
            at(start, t0),
            tcp(&src, &dst, port),
            None,
            "SF",
            3.0,
            2_000 + rng.u64(0..20_000),
            9_000,
        );
    }
    // Beaconing: a regular check-in with jitter, for hours.
    for _ in 0..2 {
        let src = actors.take(rng);
        let dst = format!(
            "{}.{}.{}.{}",
            [45u8, 91, 193, 194][rng.usize(0..4)],
            rng.u8(1..250),
            rng.u8(1..250),
            rng.u8(1..250)
        );
        let every = [30.0, 60.0, 120.0, 300.0, 600.0, 900.0][rng.usize(0..6)];
        let jitter = rng.f64() * 0.4;
        let size = 150 + rng.u64(0..3000);
        // An implant calls home for hours.
        let beats = ((2.0 + rng.f64() * 6.0) * 3600.0 / every).clamp(20.0, 400.0) as usize;
        let t0 = working(rng, cfg) - 4.0 * 3600.0;
        case(
            w,
            &mut out,
            plant("analytic-network-beaconing", &src, Some(&dst), t0),
        );
        let port = [443u16, 80, 8443][rng.usize(0..3)];
        let mut t = t0;
        for _ in 0..beats {
            t += every * (1.0 - jitter * rng.f64());
            if rng.u32(0..20) == 0 {
                continue; // a missed beat
            }
            let sent = size + rng.u64(0..(size / 20 + 1));
            w.conn(
                at(start, t),
                tcp(&src, &dst, port),
                Some("ssl"),
                "SF",
                0.5,
                sent,
                200 + rng.u64(0..400),
            );
        }
    }
    // DNS tunnelling: encoded labels under one domain.
    {
        let src = actors.take(rng);
        let domain = format!(
            "{}.{}",
            random_name(rng, 6..12, LETTERS),
            ["com", "net", "info", "xyz"][rng.usize(0..4)]
        );
        let t0 = working(rng, cfg);
        case(
            w,
            &mut out,
            plant("analytic-network-dns-tunnelling", &src, None, t0),
        );
        let alphabet = if rng.bool() { HEX } else { BASE32 };
        let n = 40 + rng.usize(0..300);
        let gap = 0.5 + rng.f64() * 9.0;
        let sub = random_name(rng, 1..4, LETTERS);
        for k in 0..n {
            let l1 = random_name(rng, 24..63, alphabet);
            let l2 = random_name(rng, 8..28, alphabet);
            w.dns(
                at(start, t0 + k as f64 * gap),
                &src,
                &site.resolver,
                &format!("{l1}.{l2}.{sub}.{domain}"),
                "NOERROR",
            );
        }
    }
    // NXDOMAIN burst: generated domains until one answers.
    {
        let src = actors.take(rng);
        let t0 = working(rng, cfg);
        case(
            w,
            &mut out,
            plant("analytic-network-nxdomain-burst", &src, None, t0),
        );
        let n = 50 + rng.usize(0..250);
        let span = 30.0 + rng.f64() * 200.0;
        for k in 0..n {
            let name = format!(
                "{}.{}",
                random_name(rng, 8..20, LETTERS),
                ["com", "net", "org", "info", "biz", "ru"][rng.usize(0..6)]
            );
            let rcode = if k + 1 == n { "NOERROR" } else { "NXDOMAIN" };
            w.dns(
                at(start, t0 + span * k as f64 / n as f64),
                &src,
                &site.resolver,
                &name,
                rcode,
            );
        }
    }
    // A large transfer out at night.
    {
        let src = actors.take(rng);
        let dst = address_of(&format!("mega{}", rng.u32(0..1000)));
        let t0 = night(rng, cfg);
        case(
            w,
            &mut out,
            plant("analytic-network-large-transfer-out", &src, Some(&dst), t0),
        );
        let total = 1_100_000_000 + rng.u64(0..5_000_000_000);
        let chunks = 10 + rng.u64(0..40);
        let span = 600.0 + rng.f64() * 2400.0;
        for k in 0..chunks {
            let t = at(start, t0 + span * k as f64 / chunks as f64);
            w.conn(
                t,
                tcp(&src, &dst, 443),
                Some("ssl"),
                "SF",
                span / chunks as f64,
                total / chunks,
                80_000,
            );
        }
    }
    // Medical devices leaving their baseline once it is learnt (after their first day): a
    // new port of a known peer or a new peer inside, and a peer outside the hospital.
    let mut devices = site.devices.clone();
    for k in 0..2 {
        if devices.is_empty() {
            break;
        }
        let dev = devices.swap_remove(rng.usize(0..devices.len()));
        let t0 = 2.0 * 86_400.0 + working(rng, cfg).rem_euclid(3.0 * 86_400.0);
        let (dst, port) = match (k, rng.bool()) {
            (0, true) => (site.hl7.clone(), [22u16, 23, 80, 445][rng.usize(0..4)]),
            (0, false) => (
                pick(rng, &site.workstations).to_string(),
                [445u16, 3389, 22][rng.usize(0..3)],
            ),
            _ => (
                format!(
                    "{}.{}.{}.{}",
                    [89u8, 103, 176][rng.usize(0..3)],
                    rng.u8(1..250),
                    rng.u8(1..250),
                    rng.u8(1..250)
                ),
                [443u16, 8443, 22][rng.usize(0..3)],
            ),
        };
        case(
            w,
            &mut out,
            plant(
                "analytic-network-medical-device-deviation",
                &dev,
                Some(&dst),
                t0,
            ),
        );
        let state = if rng.bool() { "SF" } else { "S0" };
        w.conn(
            at(start, t0),
            tcp(&dev, &dst, port),
            None,
            state,
            1.0,
            1_500,
            3_000,
        );
    }
    w.case = None;
    out
}

/// One lateral hop from `a` to `b`: a service over svcctl with ADMIN$, a scheduled task, or WMI.
fn hop(w: &mut Writer, a: &str, b: &str, t: f64, how: u32, start: Timestamp) {
    let name = format!("HOST-{}", b.replace('.', "-"));
    hop_to(w, a, b, &name, t, how, start);
}

/// [`hop`] to `b` named `name` (the host in its share paths).
pub(super) fn hop_to(
    w: &mut Writer,
    a: &str,
    b: &str,
    name: &str,
    t: f64,
    how: u32,
    start: Timestamp,
) {
    w.conn(
        at(start, t),
        tcp(a, b, 445),
        Some("smb"),
        "SF",
        4.0,
        90_000,
        20_000,
    );
    match how {
        0 => {
            w.smb_mapping(at(start, t + 0.1), a, b, name, "ADMIN$");
            w.dce_rpc(at(start, t + 1.0), a, b, "svcctl", "CreateServiceW");
            w.dce_rpc(at(start, t + 1.2), a, b, "svcctl", "StartServiceW");
        }
        1 => {
            w.dce_rpc(
                at(start, t + 1.0),
                a,
                b,
                "ITaskSchedulerService",
                "SchRpcRegisterTask",
            );
        }
        _ => {
            let rpc = Tuple {
                src: a,
                dst: b,
                port: 135,
                proto: "tcp",
            };
            w.conn(
                at(start, t + 0.5),
                rpc,
                Some("dce_rpc"),
                "SF",
                1.0,
                3_000,
                3_000,
            );
            w.dce_rpc(
                at(start, t + 1.0),
                a,
                b,
                "IRemoteSCMActivator",
                "RemoteCreateInstance",
            );
            w.dce_rpc(at(start, t + 1.5), a, b, "IWbemServices", "ExecMethod");
        }
    }
}
