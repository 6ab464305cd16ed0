//! Who works on what: leases in a JetStream key-value bucket. A worker owns a partition (or
//! the incident stage) while its key names it; it renews the key well within the bucket's
//! `max_age`, and a worker that dies stops renewing, so its keys expire and another takes them
//! (with the state saved at its last commit). Creating a key that exists fails: two workers
//! never hold one lease.
//!
//! Why not one consumer shared by several workers: JetStream would spread one partition's
//! messages over them and the order — what the ordered stage needs — would be lost.

use std::time::Duration;

use async_nats::jetstream::{self, kv};
use futures_util::StreamExt;

use crate::{ClusterConfig, ClusterError, nats_error};

/// The leases' bucket.
pub const BUCKET: &str = "ww-leases";

/// How long a lease lives without a renewal: `[cluster] ack_wait_secs` within 3 to 30 s, the
/// same for every holder (the detect workers, the incident stage, the notification worker),
/// since the bucket's `max_age` is set by whichever process makes it first.
pub fn lease_ttl(cfg: &ClusterConfig) -> Duration {
    Duration::from_secs(cfg.ack_wait_secs.clamp(3, 30))
}

/// The leases of one worker (its owner name in every key it holds).
#[derive(Clone)]
pub struct Leases {
    kv: kv::Store,
    pub owner: String,
    /// A lease not renewed for this long expires.
    pub ttl: Duration,
}

/// A lease held: its key and the revision the next renewal must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub key: String,
    pub revision: u64,
}

impl Leases {
    /// The bucket (made when missing) with leases of `ttl`, for worker `owner`.
    pub async fn open(
        cfg: &ClusterConfig,
        js: &jetstream::Context,
        owner: &str,
        ttl: Duration,
    ) -> Result<Leases, ClusterError> {
        let kv = match js.get_key_value(BUCKET).await {
            Ok(kv) => kv,
            Err(_) => js
                .create_key_value(kv::Config {
                    bucket: BUCKET.into(),
                    description: "Wardwatch: which worker holds which partition".into(),
                    history: 1,
                    max_age: ttl,
                    num_replicas: cfg.replicas,
                    storage: jetstream::stream::StorageType::File,
                    ..Default::default()
                })
                .await
                .map_err(|e| nats_error(cfg, format!("cannot make the leases bucket: {e}")))?,
        };
        Ok(Leases {
            kv,
            owner: owner.to_string(),
            ttl,
        })
    }

    /// Take `key` when nobody holds it.
    pub async fn take(&self, key: &str) -> Option<Held> {
        self.kv
            .create(key, self.owner.clone().into())
            .await
            .ok()
            .map(|revision| Held {
                key: key.to_string(),
                revision,
            })
    }

    /// Renew a lease; `None` when it was lost (expired and taken by another, or NATS refused).
    pub async fn renew(&self, held: &Held) -> Option<Held> {
        self.kv
            .update(&held.key, self.owner.clone().into(), held.revision)
            .await
            .ok()
            .map(|revision| Held {
                key: held.key.clone(),
                revision,
            })
    }

    /// Give a lease up (another worker may take it at once).
    pub async fn release(&self, held: &Held) {
        let _ = self
            .kv
            .delete_expect_revision(&held.key, Some(held.revision))
            .await;
    }

    /// The keys held now that start with `prefix`, with their owners.
    pub async fn held(&self, prefix: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let Ok(mut keys) = self.kv.keys().await else {
            return out;
        };
        while let Some(Ok(k)) = keys.next().await {
            if !k.starts_with(prefix) {
                continue;
            }
            if let Ok(Some(v)) = self.kv.get(&k).await {
                out.push((k, String::from_utf8_lossy(&v).into_owned()));
            }
        }
        out
    }
}

/// Run `active` in this process whenever it holds `key`, until `stop`: a stage of which one
/// process works at a time (the partners' feeds' poller), others standing by. The lease is
/// renewed every third of its time; when it is lost (NATS unreachable past the lease, or
/// another took it after a stall) the running term is told to stop (its receiver turns
/// `true`) and awaited before this process tries to take the lease again.
pub async fn while_held<F, Fut>(
    leases: &Leases,
    key: &str,
    mut stop: tokio::sync::watch::Receiver<bool>,
    mut active: F,
) where
    F: FnMut(tokio::sync::watch::Receiver<bool>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let renew_every = leases.ttl / 3;
    loop {
        if *stop.borrow() {
            return;
        }
        let Some(mut held) = leases.take(key).await else {
            // Standby: try again within a third of the lease's time.
            tokio::select! {
                _ = stopped(&mut stop) => return,
                _ = tokio::time::sleep(renew_every.min(Duration::from_secs(2))) => {}
            }
            continue;
        };
        tracing::info!(lease = key, owner = %leases.owner, "lease taken: this process is active");
        let (term, term_rx) = tokio::sync::watch::channel(false);
        let work = active(term_rx);
        tokio::pin!(work);
        let mut stopping = false;
        loop {
            tokio::select! {
                _ = &mut work => break,
                _ = stopped(&mut stop), if !stopping => {
                    stopping = true;
                    let _ = term.send(true);
                }
                _ = tokio::time::sleep(renew_every), if !stopping => {
                    match leases.renew(&held).await {
                        Some(h) => held = h,
                        None => {
                            tracing::warn!(lease = key, "lease lost: standing by");
                            stopping = true;
                            let _ = term.send(true);
                        }
                    }
                }
            }
        }
        leases.release(&held).await;
        if *stop.borrow() {
            return;
        }
    }
}

/// Until `stop` turns `true` (its guard dropped, so the waiting future stays `Send`).
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// A process's link for a stage of which one process works at a time outside the detection
/// workers (the partners' feeds' poller): its leases, and the alerts stream to hand what it
/// finds to the incident stage.
#[derive(Clone)]
pub struct Singleton {
    pub leases: Leases,
    js: jetstream::Context,
}

impl Singleton {
    /// Connect as `owner`, with leases of `ttl`.
    pub async fn connect(
        cfg: &ClusterConfig,
        owner: &str,
        ttl: Duration,
    ) -> Result<Singleton, ClusterError> {
        let client = crate::connect(cfg, owner, true).await?;
        let js = jetstream::new(client);
        let leases = Leases::open(cfg, &js, owner, ttl).await?;
        Ok(Singleton { leases, js })
    }

    /// Hand `alerts` to the incident stage (see [`crate::incidents::publish_alerts`]).
    pub async fn publish_alerts(
        &self,
        part: u32,
        id: &str,
        alerts: &[(wardwatch_core::Alert, i64, i64)],
    ) -> Result<(), String> {
        crate::incidents::publish_alerts(&self.js, part, id, alerts).await
    }
}
