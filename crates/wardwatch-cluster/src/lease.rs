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
