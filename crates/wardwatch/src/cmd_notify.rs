//! `wardwatch notify test --config FILE [--to ADDR]`: send a test message over every
//! configured channel and say plainly what is wrong with each that fails.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use wardwatch_notify::{Content, Deliverer, Mail, Recipient, render};

#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Send a test message to every routed recipient and webhook (or only to --to).
    Test(TestArgs),
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The configuration file `serve` reads.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Send the test mail to this address only.
    #[arg(long, value_name = "ADDR")]
    to: Option<String>,
}

pub fn run(cmd: NotifyCommand) -> Result<ExitCode> {
    let NotifyCommand::Test(args) = cmd;
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("cannot read `{}`", args.config.display()))?;
    let config = wardwatch_server::Config::from_toml(&text)
        .with_context(|| format!("in `{}`", args.config.display()))?;
    let n = &config.notify;
    n.validate()
        .with_context(|| format!("in `{}`", args.config.display()))?;
    if !n.enabled() {
        anyhow::bail!(
            "`{}` configures no channel: add [notify.smtp] or a [[notify.webhooks]] (see `wardwatch serve --print-config`)",
            args.config.display()
        );
    }
    let mut recipients: Vec<Recipient> = Vec::new();
    match &args.to {
        Some(a) => {
            wardwatch_notify::config::parse_address(a).map_err(|e| anyhow::anyhow!("--to: {e}"))?;
            recipients.push(Recipient::Mail(a.clone()));
        }
        None => {
            for r in &n.routes {
                for a in &r.to {
                    push(&mut recipients, Recipient::Mail(a.clone()));
                }
                for w in &r.webhooks {
                    push(&mut recipients, Recipient::Webhook(w.clone()));
                }
            }
            for w in &n.webhooks {
                push(&mut recipients, Recipient::Webhook(w.name.clone()));
            }
        }
    }
    if recipients.is_empty() {
        anyhow::bail!("no recipient: add `to` to a [[notify.routes]], or give --to ADDR");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let deliverer = Deliverer::new(n).map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let stamp = jiff::Timestamp::now()
        .strftime("%Y-%m-%d %H:%M:%S UTC")
        .to_string();
    let subject = format!("[Wardwatch] Test message ({stamp})");
    let intro = format!(
        "This is a test from Wardwatch, sent by `wardwatch notify test` at {stamp}. Incident messages will look like this and link to {}.",
        render::link(&n.console_url, "ID")
    );
    let mail = render::list_mail(&subject, &intro, &[], None, &n.console_url);
    let json = serde_json::json!({"event": "test", "text": intro}).to_string();
    let mut failed = 0;
    runtime.block_on(async {
        if let Some(smtp) = deliverer.smtp()
            && recipients.iter().any(|r| matches!(r, Recipient::Mail(_)))
        {
            let server = n.smtp.as_ref().map_or("", |s| s.server.as_str());
            match smtp.check().await {
                Ok(()) => println!("smtp {server}: connected, greeted and secured as configured"),
                Err(e) => {
                    println!("smtp {server}: FAILED: {}", e.message);
                    failed += recipients
                        .iter()
                        .filter(|r| matches!(r, Recipient::Mail(_)))
                        .count();
                    recipients.retain(|r| !matches!(r, Recipient::Mail(_)));
                }
            }
        }
        for r in &recipients {
            let content = match r {
                Recipient::Mail(_) => Content::Mail(Mail { ..mail.clone() }),
                Recipient::Webhook(name) => {
                    let format = n
                        .webhooks
                        .iter()
                        .find(|w| w.name == *name)
                        .map(|w| w.format)
                        .unwrap_or_default();
                    Content::Json(match format {
                        wardwatch_notify::WebhookFormat::Generic => json.clone(),
                        f => {
                            render::webhook_list_body(f, "test", &intro, &[], None, &n.console_url)
                                .to_string()
                        }
                    })
                }
            };
            let id = format!("test/{stamp}/{}", r.key());
            match deliverer.send(&id, r, &content).await {
                Ok(()) => println!("{}: sent", r.key()),
                Err(e) => {
                    failed += 1;
                    println!("{}: FAILED: {}", r.key(), e.message);
                }
            }
        }
    });
    if failed > 0 {
        eprintln!("wardwatch: {failed} test message(s) not delivered (see above)");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn push(list: &mut Vec<Recipient>, r: Recipient) {
    if !list.contains(&r) {
        list.push(r);
    }
}
