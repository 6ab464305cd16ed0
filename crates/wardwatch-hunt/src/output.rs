//! Writing findings: an aligned table for people, CSV for spreadsheets, JSON lines for tools,
//! and the closing summary.

use std::io::{self, Write};

use serde_json::json;

use crate::{Finding, Summary};

/// Output formats of `wardwatch hunt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Csv,
    Jsonl,
}

const CSV_HEADER: &[&str] = &[
    "timestamp",
    "level",
    "rule_title",
    "rule_id",
    "host",
    "user",
    "event_id",
    "channel",
    "record_id",
    "file",
    "tags",
    "details",
    "correlation",
    "alert_id",
];

/// Write the findings in `format`.
pub fn write_findings(
    out: &mut dyn Write,
    format: OutputFormat,
    findings: &[Finding],
) -> io::Result<()> {
    match format {
        OutputFormat::Jsonl => {
            for f in findings {
                serde_json::to_writer(&mut *out, &jsonl_row(f))?;
                out.write_all(b"\n")?;
            }
        }
        OutputFormat::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record(CSV_HEADER)?;
            for f in findings {
                w.write_record([
                    f.timestamp.to_string(),
                    f.level.to_string(),
                    f.rule_title.clone(),
                    f.rule_id.clone(),
                    f.host.clone().unwrap_or_default(),
                    f.user.clone().unwrap_or_default(),
                    f.event_id.clone().unwrap_or_default(),
                    f.channel.clone().unwrap_or_default(),
                    f.record_id.map(|r| r.to_string()).unwrap_or_default(),
                    f.file.clone(),
                    f.tags.join(" "),
                    f.details.clone(),
                    f.correlation.clone().unwrap_or_default(),
                    f.alert_id.clone(),
                ])?;
            }
            w.flush()?;
        }
        OutputFormat::Table => write_table(out, findings)?,
    }
    Ok(())
}

/// One JSON line: the documented keys (`rule_id`, `rule_title`, `level`, `timestamp`, `host`,
/// `user`, `file`, `record_id`, `event_id`, `channel`, `tags`, and `entities`: every
/// `{"kind", "value"}` the finding is about, the acting side first) plus details for the analyst.
pub fn jsonl_row(f: &Finding) -> serde_json::Value {
    let mut row = json!({
        "timestamp": f.timestamp.to_string(),
        "rule_id": f.rule_id,
        "rule_title": f.rule_title,
        "level": f.level,
        "host": f.host,
        "user": f.user,
        "file": f.file,
        "record_id": f.record_id,
        "event_id": f.event_id,
        "channel": f.channel,
        "tags": f.tags,
        "entities": f.alert.entities,
        "details": f.details,
        "alert_id": f.alert_id,
    });
    if let Some(r) = &f.recommendation {
        row["recommendation"] = json!(r);
    }
    if let Some(c) = &f.correlation {
        row["correlation"] = json!(c);
    }
    row
}

fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn write_table(out: &mut dyn Write, findings: &[Finding]) -> io::Result<()> {
    writeln!(
        out,
        "{:<24}  {:<13}  {:<20}  {:<7}  {:<60}  details",
        "timestamp", "level", "host", "event", "rule"
    )?;
    for f in findings {
        let ts = f.timestamp.strftime("%Y-%m-%d %H:%M:%S").to_string();
        let detail = match &f.correlation {
            Some(c) => c.clone(),
            None => f.details.clone(),
        };
        writeln!(
            out,
            "{:<24}  {:<13}  {:<20}  {:<7}  {:<60}  {}",
            ts,
            f.level.as_str(),
            clip(f.host.as_deref().unwrap_or("-"), 20),
            clip(f.event_id.as_deref().unwrap_or("-"), 7),
            clip(&f.rule_title, 60),
            clip(&detail, 160)
        )?;
    }
    Ok(())
}

/// The closing summary, as text for people.
pub fn write_summary(out: &mut dyn Write, s: &Summary) -> io::Result<()> {
    writeln!(
        out,
        "\n── Hunt summary ─────────────────────────────────────────"
    )?;
    let formats: Vec<String> = s.formats.iter().map(|(k, v)| format!("{v} {k}")).collect();
    writeln!(
        out,
        "files      {} read of {} ({}){}",
        s.files_read,
        s.files_total,
        if formats.is_empty() {
            "none".to_string()
        } else {
            formats.join(", ")
        },
        if s.files_skipped_sidecar > 0 {
            format!("; {} metadata file(s) not read", s.files_skipped_sidecar)
        } else {
            String::new()
        }
    )?;
    writeln!(
        out,
        "events     {} in {:.2} s ({:.0} events/s)",
        s.events,
        s.elapsed.as_secs_f64(),
        s.events_per_second()
    )?;
    writeln!(
        out,
        "skipped    {} record(s) that could not be decoded",
        s.skipped
    )?;
    let levels: Vec<String> = s
        .by_level
        .iter()
        .rev()
        .map(|(l, n)| format!("{l} {n}"))
        .collect();
    writeln!(
        out,
        "detections {}{}",
        s.findings(),
        if levels.is_empty() {
            String::new()
        } else {
            format!(" ({})", levels.join(", "))
        }
    )?;
    if !s.top_rules.is_empty() {
        writeln!(out, "top rules")?;
        for (r, n) in &s.top_rules {
            writeln!(out, "  {n:>7}  {r}")?;
        }
    }
    if !s.top_hosts.is_empty() {
        writeln!(out, "top hosts")?;
        for (h, n) in &s.top_hosts {
            writeln!(out, "  {n:>7}  {h}")?;
        }
    }
    if !s.failures.is_empty() {
        writeln!(out, "files not read ({})", s.failures.len())?;
        for f in &s.failures {
            writeln!(out, "  {}: {}", f.file, f.reason)?;
        }
    }
    if s.warnings_total > 0 {
        writeln!(
            out,
            "warnings ({}; first {} shown)",
            s.warnings_total,
            s.warnings.len()
        )?;
        for w in &s.warnings {
            writeln!(out, "  {w}")?;
        }
    }
    Ok(())
}
