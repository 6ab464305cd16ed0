//! `hunt --summary network`: the network summariser in hunt's ordered stage (events in time
//! order, the reduced copies the analytics keep), and its answer as text for a terminal.
//! With `--format jsonl` the binary prints the same [`NetworkSummary`] as JSON, the answer of
//! `GET /api/v1/network/summary`.

use std::io::{self, Write};

use wardwatch_core::Event;
use wardwatch_detect::Detection;
use wardwatch_detect::analytics::network::summary::{
    ActivitySummary, Count, NetworkSummary, Summariser,
};

use crate::OrderedAnalytic;

/// The summariser as an ordered-stage analytic (it raises nothing).
pub struct SummaryStage(pub Summariser);

impl OrderedAnalytic for SummaryStage {
    fn wants(&self) -> fn(&Event) -> bool {
        Summariser::wants
    }

    fn reduce(&self) -> fn(&Event) -> Event {
        wardwatch_detect::analytics::reduce
    }

    fn observe(&mut self, event: &Event) -> Vec<Detection> {
        self.0.observe(event);
        Vec::new()
    }
}

fn time(t: &Option<jiff::Timestamp>) -> String {
    t.map_or_else(|| "-".into(), |t| t.to_string())
}

fn counts(c: &[Count]) -> String {
    c.iter()
        .map(|c| format!("{} ({})", c.value, c.count))
        .collect::<Vec<_>>()
        .join(", ")
}

fn activity(w: &mut dyn Write, what: &str, a: &ActivitySummary, kinds: &str) -> io::Result<()> {
    let at_least = if a.hosts_at_least { "at least " } else { "" };
    writeln!(
        w,
        "  {what}: {} attempt(s) to {at_least}{} host(s), {} to {}",
        a.attempts,
        a.hosts,
        time(&a.first),
        time(&a.last)
    )?;
    for (label, c) in [
        ("targets", &a.targets),
        ("subnets", &a.subnets),
        ("zones", &a.zones),
        ("ports", &a.ports),
        (kinds, &a.kinds),
    ] {
        if !c.is_empty() {
            writeln!(w, "    {label}: {}", counts(c))?;
        }
    }
    Ok(())
}

/// `s` as text: the sources, the host graph, the devices.
pub fn write_network_summary(w: &mut dyn Write, s: &NetworkSummary) -> io::Result<()> {
    writeln!(
        w,
        "Network summary {} to {}: {} record(s); baseline {} ({} to {})",
        time(&s.from),
        time(&s.to),
        s.records,
        s.baseline.rule,
        time(&s.baseline.from),
        time(&s.baseline.to)
    )?;
    if s.overflow > 0 {
        writeln!(
            w,
            "({} record(s) about sources or edges past the caps are counted but not named)",
            s.overflow
        )?;
    }
    writeln!(
        w,
        "\nSources with blind attempts, lateral attempts or failed logons: {} (the busiest first)",
        s.sources_total
    )?;
    for src in &s.sources {
        let name = src
            .name
            .as_deref()
            .map(|n| format!(" {n}"))
            .unwrap_or_default();
        writeln!(
            w,
            "\n{}{name} (zone {}, {})",
            src.source, src.zone, src.class
        )?;
        if let Some(a) = &src.blind {
            activity(w, "blind attempts", a, "kinds")?;
        }
        if src.scans_total > src.scans.len() as u64 {
            writeln!(
                w,
                "  scans: {} ({}); the first {} listed",
                src.scans_total,
                counts(&src.scan_kinds),
                src.scans.len()
            )?;
        }
        for scan in &src.scans {
            writeln!(
                w,
                "  scan ({}, {}) at {}: {} host(s), {} port(s), {} attempt(s)",
                scan.kind,
                scan.level,
                time(&scan.at),
                scan.hosts,
                scan.ports,
                scan.attempts
            )?;
        }
        if let Some(a) = &src.lateral {
            activity(w, "lateral attempts", a, "protocols")?;
        }
        if let Some(a) = &src.failed_logons {
            activity(w, "failed logons", a, "accounts")?;
        }
    }
    let g = &s.graph;
    writeln!(
        w,
        "\nHost graph (administrative protocols): {} host(s), {} edge(s), {} first seen",
        g.hosts, g.edges_total, g.first_seen_total
    )?;
    for e in &g.edges {
        let name = |ip: &str, n: &Option<String>| match n {
            Some(n) => format!("{ip} ({n})"),
            None => ip.to_string(),
        };
        writeln!(
            w,
            "  {}{} → {}: {}, ×{}, ports {} ({} to {})",
            if e.first_seen { "NEW " } else { "    " },
            name(&e.source, &e.source_name),
            name(&e.target, &e.target_name),
            e.kind.words(),
            e.count,
            counts(&e.ports),
            time(&e.first),
            time(&e.last)
        )?;
    }
    writeln!(w, "\nMedical devices: {}", s.devices.len())?;
    for d in &s.devices {
        writeln!(
            w,
            "  {} {} class {} zone {} [{}] mac {}: {} baseline edge(s), {} deviation(s)",
            d.ip,
            d.name.as_deref().unwrap_or("-"),
            d.class,
            d.zone,
            d.protocols.join(", "),
            d.mac.as_deref().unwrap_or("-"),
            d.baseline_total,
            d.deviations.len()
        )?;
        if !d.baseline.is_empty() {
            writeln!(w, "    baseline: {}", d.baseline.join(", "))?;
        }
        for dev in &d.deviations {
            writeln!(w, "    new at {}: {}", time(&dev.at), dev.edge)?;
        }
    }
    Ok(())
}
