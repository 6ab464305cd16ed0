//! `wardwatch mail scan PATH... [--format table|jsonl]`: a verdict with its reasons for every
//! message in `.eml` files, mbox files and Maildir folders (and for files saved out of mails,
//! scanned as attachments on their own).
//!
//! One row per message: `{"file", "message_id", "from", "subject", "verdict", "score",
//! "reasons": [...]}`; a message in an mbox is named `FILE#N` (N from 1). Files are scanned in
//! parallel; rows come out in path order whatever the thread count.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand, ValueEnum};
use rayon::prelude::*;
use wardwatch_mail::{Indicators, MailError, Report, Scanner, Settings, Verdict};

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Scan .eml files, mbox files and Maildir folders: one verdict (phishing, spam,
    /// suspicious, clean) per message, with the score and every reason.
    Scan(ScanArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Jsonl,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Files and folders (walked; a Maildir's `cur/` and `new/` are read).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// The organization's own mail domain (look-alikes and spoofs of it are judged hardest);
    /// repeatable.
    #[arg(long = "own-domain", value_name = "DOMAIN")]
    own_domains: Vec<String>,
    /// A brand to protect besides the built-in list, as `name=domain` or a domain; repeatable.
    #[arg(long = "brand", value_name = "NAME=DOMAIN")]
    brands: Vec<String>,
    /// Indicators: one SHA-256, URL or domain per line (`#` comments).
    #[arg(long, value_name = "FILE")]
    indicators: Option<PathBuf>,
}

/// One scanned message, or one input that could not be.
struct Row {
    file: String,
    outcome: Result<Report, MailError>,
}

pub fn run(cmd: MailCommand) -> Result<ExitCode> {
    match cmd {
        MailCommand::Scan(args) => scan(args),
    }
}

fn scan(args: ScanArgs) -> Result<ExitCode> {
    let mut indicators = Indicators::default();
    if let Some(path) = &args.indicators {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read indicators `{}`", path.display()))?;
        let (ind, problems) = Indicators::parse_lines(&text);
        for p in problems {
            eprintln!("warning: {}: {p}", path.display());
        }
        indicators = ind;
    }
    let scanner = Scanner::new(Settings {
        own_domains: args.own_domains.clone(),
        brands: args.brands.clone(),
        indicators,
        keep_body: false,
    });
    let files = collect_files(&args.paths)?;
    let rows: Vec<Vec<Row>> = files.par_iter().map(|f| scan_file(&scanner, f)).collect();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut counts = [0usize; 5];
    for row in rows.iter().flatten() {
        match &row.outcome {
            Ok(r) => counts[r.verdict as usize] += 1,
            Err(_) => counts[4] += 1,
        }
        match args.format {
            Format::Jsonl => writeln!(out, "{}", jsonl(row))?,
            Format::Table => write_table_row(&mut out, row)?,
        }
    }
    out.flush()?;
    if matches!(args.format, Format::Table) {
        eprintln!(
            "{} messages: {} phishing, {} suspicious, {} spam, {} clean, {} not scanned",
            counts.iter().sum::<usize>(),
            counts[Verdict::Phishing as usize],
            counts[Verdict::Suspicious as usize],
            counts[Verdict::Spam as usize],
            counts[Verdict::Clean as usize],
            counts[4]
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The files under the paths, in path order: folders walked (hidden files and a Maildir's
/// `tmp/` skipped), a missing path an error.
fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in paths {
        let meta =
            std::fs::metadata(p).with_context(|| format!("cannot read `{}`", p.display()))?;
        if meta.is_file() {
            files.push(p.clone());
            continue;
        }
        let mut found: Vec<PathBuf> = walkdir::WalkDir::new(p)
            .into_iter()
            .filter_entry(|e| {
                let name = e.file_name().to_string_lossy();
                e.depth() == 0
                    || !(name.starts_with('.') || (e.file_type().is_dir() && name == "tmp"))
            })
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_file())
            .map(|e| e.into_path())
            .collect();
        found.sort();
        files.extend(found);
    }
    Ok(files)
}

fn scan_file(scanner: &Scanner, path: &Path) -> Vec<Row> {
    let name = path.display().to_string();
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            return vec![Row {
                file: name,
                outcome: Err(MailError::Unparseable(format!("cannot read the file: {e}"))),
            }];
        }
    };
    if wardwatch_mail::is_mbox(&bytes) {
        let messages = wardwatch_mail::split_mbox(&bytes);
        if messages.len() > 1 {
            return messages
                .into_iter()
                .enumerate()
                .map(|(i, (_, m))| Row {
                    file: format!("{name}#{}", i + 1),
                    outcome: scanner.scan(m),
                })
                .collect();
        }
    }
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    vec![Row {
        outcome: scanner.scan_any(&file_name, &bytes),
        file: name,
    }]
}

fn jsonl(row: &Row) -> String {
    let v = match &row.outcome {
        Ok(r) => serde_json::json!({
            "file": row.file,
            "message_id": r.message_id,
            "from": r.from.as_ref().map(|f| &f.address),
            "subject": r.subject,
            "verdict": r.verdict.as_str(),
            "score": r.score,
            "reasons": r.reasons.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
        }),
        Err(e) => serde_json::json!({"file": row.file, "error": e.to_string()}),
    };
    v.to_string()
}

fn write_table_row(out: &mut impl std::io::Write, row: &Row) -> std::io::Result<()> {
    match &row.outcome {
        Ok(r) => {
            let from = r.from.as_ref().map(|f| f.address.as_str()).unwrap_or("-");
            let subject: String = r
                .subject
                .as_deref()
                .unwrap_or("-")
                .chars()
                .take(60)
                .collect();
            writeln!(
                out,
                "{:<10} {:>3}  {}  {}  \"{}\"",
                r.verdict.as_str(),
                r.score,
                row.file,
                from,
                subject
            )?;
            for reason in &r.reasons {
                writeln!(out, "{:16}{reason}", "")?;
            }
            Ok(())
        }
        Err(e) => writeln!(out, "{:<10} {:>3}  {}  {e}", "refused", "-", row.file),
    }
}
