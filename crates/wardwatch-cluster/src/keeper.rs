//! One lease kept by a task of its own, for work that must run in one process of the cluster
//! at a time but whose steps may be slow: the notification worker (the `notify` lease), which
//! waits on mail servers and webhooks for up to their timeout per message.
//!
//! Why a task of its own rather than renewing between steps (as the incident stage does): a
//! mail server that takes 20 s to answer must not let the lease expire under a process that
//! is alive and working, or a standby would take over and send the same message again. The
//! keeper renews every third of the lease's time whatever the work is doing; the work asks
//! [`Keeper::held`] before each step with an effect (planning, each send). `held` turns false
//! before the lease can have expired in NATS — two thirds of its time after the last renewal
//! was asked for — so a process that stalls (a frozen VM) stops acting before a standby can
//! take the lease, except for a step it had already begun.
//!
//! A standby tries to take the lease every half second (and to reach NATS, while it does not
//! answer, with a growing pause); the holder gives it up when stopped,
//! so a graceful restart hands over at once and a killed holder's lease expires within its time
//! (`[cluster] ack_wait_secs`, 3 to 30 s).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::lease::{Held, Leases, lease_ttl};
use crate::{ClusterConfig, ClusterError};

/// How often a standby asks for the lease.
const STANDBY_POLL: Duration = Duration::from_millis(500);

/// Whether this process holds one lease now; clones share it.
#[derive(Debug, Clone)]
pub struct Keeper {
    key: String,
    /// Until when acting is safe: two thirds of the lease's time after the last successful
    /// take or renewal was asked for; `None` while not held.
    until: Arc<Mutex<Option<Instant>>>,
}

impl Keeper {
    /// The lease's key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether this process holds the lease and may act now.
    pub fn held(&self) -> bool {
        self.until
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|u| Instant::now() < u)
    }

    fn set(&self, until: Option<Instant>) {
        *self.until.lock().unwrap_or_else(|e| e.into_inner()) = until;
    }

    /// Keep the lease `key` of the `ww-leases` bucket as `name` until `stop` turns true (then
    /// give it up): a task connects to NATS (retrying while it does not answer, so a node
    /// starts while NATS is away and stands by), takes the lease when free and renews it while
    /// held. Fails only on a configuration NATS cannot be asked with.
    pub fn start(
        cfg: &ClusterConfig,
        name: &str,
        key: &str,
        stop: watch::Receiver<bool>,
    ) -> Result<(Keeper, JoinHandle<()>), ClusterError> {
        cfg.check()?;
        let keeper = Keeper {
            key: key.to_string(),
            until: Arc::default(),
        };
        let task = tokio::spawn(keep(keeper.clone(), cfg.clone(), name.to_string(), stop));
        Ok((keeper, task))
    }
}

/// The leases' bucket, once NATS answers; `None` when stopped first.
async fn open(cfg: &ClusterConfig, name: &str, stop: &mut watch::Receiver<bool>) -> Option<Leases> {
    let mut delay = Duration::from_millis(500);
    loop {
        let opened = match crate::connect(cfg, name, true).await {
            Ok(client) => Leases::open(cfg, &jetstream::new(client), name, lease_ttl(cfg)).await,
            Err(e) => Err(e),
        };
        match opened {
            Ok(leases) => return Some(leases),
            Err(e) => tracing::warn!(error = %e, "cannot reach the leases; retrying"),
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return None,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

async fn keep(keeper: Keeper, cfg: ClusterConfig, name: String, mut stop: watch::Receiver<bool>) {
    let Some(leases) = open(&cfg, &name, &mut stop).await else {
        return;
    };
    let valid = leases.ttl * 2 / 3;
    let mut held: Option<Held> = None;
    let mut first = true;
    loop {
        let wait = if held.is_some() {
            leases.ttl / 3
        } else {
            STANDBY_POLL
        };
        // Asked at once the first time; then a standby asks every STANDBY_POLL and the holder
        // renews after a third of the lease's time.
        if !std::mem::take(&mut first) {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                _ = tokio::time::sleep(wait) => {}
            }
        }
        if *stop.borrow() {
            break;
        }
        let asked = Instant::now();
        held = match held.take() {
            Some(h) => match leases.renew(&h).await {
                Some(h) => {
                    keeper.set(Some(asked + valid));
                    Some(h)
                }
                None => {
                    keeper.set(None);
                    tracing::warn!(lease = %keeper.key, "lease lost; standing by");
                    None
                }
            },
            None => match leases.take(&keeper.key).await {
                Some(h) => {
                    keeper.set(Some(asked + valid));
                    tracing::info!(lease = %keeper.key, owner = %leases.owner, "lease taken; active");
                    Some(h)
                }
                None => None,
            },
        };
    }
    keeper.set(None);
    if let Some(h) = held {
        leases.release(&h).await;
        tracing::info!(lease = %keeper.key, "lease given up");
    }
}
