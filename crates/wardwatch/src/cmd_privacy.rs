//! The privacy analytics in `hunt --context DIR`: the context folder's roster, patients and
//! encounters, loaded with names and addresses keyed under a random key made for this run
//! (nothing is written), and the adapter that puts the analytics in hunt's ordered stage.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use wardwatch_core::Event;
use wardwatch_detect::Detection;
use wardwatch_incidents::{ContextError, PrivacyKey};
use wardwatch_privacy::PrivacyAnalytics;

pub struct HuntPrivacy(PrivacyAnalytics);

fn report(problems: &[ContextError], quiet: bool) {
    if quiet {
        return;
    }
    for p in problems.iter().take(20) {
        eprintln!("wardwatch: context: {p} (row skipped)");
    }
    if problems.len() > 20 {
        eprintln!(
            "wardwatch: context: {} more rows skipped",
            problems.len() - 20
        );
    }
}

impl HuntPrivacy {
    /// Load the privacy context from `dir`; a folder without `patients.csv` and
    /// `encounters.csv` is an error (the privacy analytics would judge nothing).
    pub fn load(dir: &Path, quiet: bool) -> Result<Self> {
        if !dir.is_dir() {
            anyhow::bail!("--context `{}` is not a folder", dir.display());
        }
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)
            .map_err(|e| anyhow::anyhow!("no random key for this run: {e}"))?;
        let key = PrivacyKey::new(&secret);
        let Some((ctx, problems)) = wardwatch_server::context::privacy_context(dir, &key)
            .with_context(|| format!("cannot read the context folder `{}`", dir.display()))?
        else {
            anyhow::bail!(
                "--context `{}` has neither patients.csv nor encounters.csv: the privacy analytics need them",
                dir.display()
            );
        };
        report(&problems, quiet);
        if !quiet {
            eprintln!(
                "wardwatch: privacy context: {} staff, {} patients, {} encounters",
                ctx.roster.people().len(),
                ctx.patients.len(),
                ctx.encounters.len()
            );
        }
        Ok(HuntPrivacy(PrivacyAnalytics::new(Arc::new(ctx))))
    }
}

impl wardwatch_hunt::OrderedAnalytic for HuntPrivacy {
    fn wants(&self) -> fn(&Event) -> bool {
        wardwatch_privacy::wants
    }

    fn reduce(&self) -> fn(&Event) -> Event {
        wardwatch_privacy::reduce
    }

    fn observe(&mut self, event: &Event) -> Vec<Detection> {
        self.0.observe(event)
    }
}
