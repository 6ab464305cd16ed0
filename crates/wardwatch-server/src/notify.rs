//! The notification worker: incident events into queued messages, and queued messages out.
//!
//! Why a worker of its own, behind the detection commit: the detection worker only records
//! which incidents changed (in its own transaction, so a kill -9 loses no event); planning
//! (routes, quiet hours, rate limits, rendering) and delivery (a mail server that is down for
//! an hour) must never slow detection. Planning commits the messages with the planner's state
//! and position in one transaction; delivery marks a message sent only after the server took
//! it, and retries the rest with exponential backoff, across restarts.
//!
//! Where it runs: in `serve`, over the SQLite store; on a cluster, in every process with the
//! incidents role, over the shared state (`roles::notify`), where it acts only while its
//! process holds the `notify` lease: a [`Turn`] it asks before planning and before each send,
//! so one node plans and delivers at a time and a standby takes over from the queue and the
//! planner's position in the shared state when the holder dies.
//!
//! The worker reads the time from a [`Clock`]: the wall clock in `serve`, a clock the caller
//! moves in tests (quiet hours that end in the morning, a rate-limit hour, a digest window),
//! so those are watched through the real queue and a real mail server without waiting.

use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::watch;
use wardwatch_console::OpenStore;
use wardwatch_incidents::{Context, IncidentDoc};
use wardwatch_notify::{Content, Deliverer, Mail, NotifyConfig, PlanState, Planner, Recipient};
use wardwatch_store::{NewMessage, OutboxRow, Store, StoreError};

/// How often the worker looks for work.
const TICK: Duration = Duration::from_millis(500);

/// Whether this process may plan and send now: always on one machine ([`always`]); on a
/// cluster, while it holds the `notify` lease.
pub type Turn = Arc<dyn Fn() -> bool + Send + Sync>;

/// The single binary's [`Turn`]: it is the only notification worker.
pub fn always() -> Turn {
    Arc::new(|| true)
}

/// The notification worker's notion of "now".
///
/// Why a seam: quiet hours end in the morning, a rate-limit window after an hour, a digest
/// after half an hour; a test that watches them happen through the real queue and a real mail
/// server cannot wait that long. Only the worker reads it — planning (quiet hours, digest and
/// rate windows, the report schedule) and delivery (what is due, when to retry, when a message
/// was sent); events, alerts and incidents keep their own times, and queue rows their
/// creation time. `wardwatch serve` always runs on the wall clock: no configuration key or
/// environment variable selects another; only a caller of
/// [`start_with_clock`](crate::start_with_clock) can.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// The wall clock.
    #[default]
    System,
    /// A time the caller sets and moves.
    Manual(ManualClock),
}

impl Clock {
    /// The time now.
    pub fn now(&self) -> Timestamp {
        match self {
            Clock::System => Timestamp::now(),
            Clock::Manual(m) => m.now(),
        }
    }
}

/// A clock that stands still until it is set or moved; shared by its clones.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<Timestamp>>);

impl ManualClock {
    /// A clock standing at `at`.
    pub fn new(at: Timestamp) -> ManualClock {
        ManualClock(Arc::new(Mutex::new(at)))
    }

    pub fn now(&self) -> Timestamp {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stand at `at` (also back in time: the worker copes as after a wall-clock step).
    pub fn set(&self, at: Timestamp) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }

    /// Move on by `by`.
    pub fn advance(&self, by: jiff::SignedDuration) {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *t = t.saturating_add(by).unwrap_or(*t);
    }
}

/// Live figures for `/metrics`.
#[derive(Debug, Default)]
pub struct NotifyMetrics {
    queued: AtomicI64,
    sent: AtomicI64,
    failed: AtomicI64,
    retrying: AtomicI64,
    attempts_failed: AtomicU64,
}

impl NotifyMetrics {
    /// Prometheus text.
    pub fn render(&self) -> String {
        let mut out = String::from(
            "# HELP wardwatch_notifications Queued notification messages per status (queued includes held and retrying).\n# TYPE wardwatch_notifications gauge\n",
        );
        for (status, v) in [
            ("queued", &self.queued),
            ("sent", &self.sent),
            ("failed", &self.failed),
            ("retrying", &self.retrying),
        ] {
            out.push_str(&format!(
                "wardwatch_notifications{{status=\"{status}\"}} {}\n",
                v.load(Ordering::Relaxed)
            ));
        }
        out.push_str(&format!(
            "# HELP wardwatch_notification_failures_total Delivery attempts that failed since start.\n# TYPE wardwatch_notification_failures_total counter\nwardwatch_notification_failures_total {}\n",
            self.attempts_failed.load(Ordering::Relaxed)
        ));
        out
    }
}

/// A message body as stored: the webhook's JSON, or the mail's two parts.
pub fn encode(content: &Content) -> String {
    match content {
        Content::Json(s) => s.clone(),
        Content::Mail(m) => {
            serde_json::json!({"subject": m.subject, "text": m.text, "html": m.html}).to_string()
        }
    }
}

fn decode(row: &OutboxRow) -> Option<(Recipient, Content)> {
    let to = Recipient::from_key(&row.recipient)?;
    let content = match &to {
        Recipient::Mail(_) => {
            let v: serde_json::Value = serde_json::from_str(&row.body).ok()?;
            Content::Mail(Mail {
                subject: row.subject.clone(),
                text: v["text"].as_str()?.to_string(),
                html: v["html"].as_str()?.to_string(),
            })
        }
        Recipient::Webhook(_) => Content::Json(row.body.clone()),
    };
    Some((to, content))
}

/// A message ready for the queue.
pub fn new_message(o: &wardwatch_notify::Outgoing) -> NewMessage {
    NewMessage {
        id: o.id.clone(),
        kind: o.kind.to_string(),
        incident: o.incident.clone(),
        recipient: o.recipient.key(),
        subject: o.subject.clone(),
        body: encode(&o.content),
        not_before: ns(o.not_before),
    }
}

fn ns(t: Timestamp) -> i64 {
    i64::try_from(t.as_nanosecond()).unwrap_or(i64::MAX)
}

/// The delay before attempt `attempts + 1`: `base` doubled per failure, at most an hour.
pub fn backoff(base: Duration, attempts: i64) -> Duration {
    let factor = 1u32 << attempts.clamp(0, 16);
    (base * factor).min(Duration::from_secs(3600))
}

struct Worker {
    cfg: NotifyConfig,
    ctx: Arc<Context>,
    db: Mutex<Box<dyn Store>>,
    deliverer: Deliverer,
    metrics: Arc<NotifyMetrics>,
    clock: Clock,
    turn: Turn,
}

impl Worker {
    /// Turn new incident events (and elapsed digest and rate windows) into queued messages.
    fn plan(&self) -> Result<usize, StoreError> {
        if !(self.turn)() {
            return Ok(0);
        }
        let mut db = self.db.lock().unwrap_or_else(|e| e.into_inner());
        let (seq, stored) = db.notify_state()?;
        let mut state: PlanState = stored
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default();
        let before = serde_json::to_string(&state).unwrap_or_default();
        let events = db.incident_events_after(seq, 2000)?;
        let last = events.last().map_or(seq, |e| e.0);
        let planner = Planner {
            cfg: &self.cfg,
            ctx: &self.ctx,
        };
        let now = self.clock.now();
        let mut out = Vec::new();
        // Each changed incident once, as it is now (several changes in one pass are one).
        let mut seen = HashSet::new();
        for (_, id) in &events {
            if !seen.insert(id.as_str()) {
                continue;
            }
            let Some(doc) = db.incident_doc(id)? else {
                continue;
            };
            match serde_json::from_str::<IncidentDoc>(&doc) {
                Ok(doc) => out.extend(planner.incident(&mut state, &doc, now)),
                Err(e) => {
                    tracing::warn!(incident = %id, error = %e, "incident unreadable; not notified")
                }
            }
        }
        out.extend(planner.tick(&mut state, now));
        out.extend(self.scheduled_report(&**db, &mut state, now)?);
        let after = serde_json::to_string(&state).unwrap_or_default();
        if events.is_empty() && out.is_empty() && after == before {
            return Ok(0);
        }
        if !(self.turn)() {
            // The lease was lost while planning: the new holder plans the same events from
            // the committed position (and the same messages have the same ids, queued once).
            tracing::warn!("notification lease lost while planning; nothing committed");
            return Ok(0);
        }
        let messages: Vec<NewMessage> = out.iter().map(new_message).collect();
        db.commit_plan(&messages, last, &after)
    }

    /// The management report when its schedule says so, to each of `report.to`, once.
    fn scheduled_report(
        &self,
        db: &dyn Store,
        state: &mut PlanState,
        now: Timestamp,
    ) -> Result<Vec<wardwatch_notify::Outgoing>, StoreError> {
        let Some((key, end)) =
            wardwatch_notify::report_due(&self.cfg, state.last_report.as_deref(), now)
        else {
            return Ok(Vec::new());
        };
        let period = self.cfg.report.period.as_str();
        let Ok((from, to)) = crate::report::period(period, end) else {
            return Ok(Vec::new());
        };
        let data = crate::report::gather(db, period, from, to, &self.ctx)?;
        let mail = wardwatch_notify::report::render(&data, &self.cfg.console_url);
        state.last_report = Some(key.clone());
        tracing::info!(report = %key, "scheduled report queued");
        Ok(self
            .cfg
            .report
            .to
            .iter()
            .map(|a| wardwatch_notify::Outgoing {
                id: format!("report/{key}/mail:{a}"),
                recipient: Recipient::Mail(a.clone()),
                kind: "report",
                incident: None,
                not_before: now,
                subject: mail.subject.clone(),
                content: Content::Mail(mail.clone()),
            })
            .collect())
    }

    fn with_db<T>(
        &self,
        f: impl FnOnce(&mut dyn Store) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut db = self.db.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut **db)
    }

    /// Send what is due; a mail server that cannot be reached is tried once per pass.
    async fn deliver(self: &Arc<Self>) -> Result<(), StoreError> {
        if !(self.turn)() {
            return Ok(());
        }
        let now = ns(self.clock.now());
        let w = self.clone();
        let due = tokio::task::spawn_blocking(move || w.with_db(|db| db.due_messages(now, 200)))
            .await
            .map_err(|e| StoreError::Cursor(e.to_string()))??;
        let mut mail_down = false;
        let base = Duration::from_secs(self.cfg.retry_secs.max(1));
        for row in due {
            let Some((to, content)) = decode(&row) else {
                let w = self.clone();
                let id = row.id.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    w.with_db(|db| db.message_failed(&id, "stored message unreadable", None))
                })
                .await;
                continue;
            };
            if mail_down && matches!(to, Recipient::Mail(_)) {
                continue;
            }
            // Each send is an effect another holder must not repeat: stop as soon as the
            // lease is not ours (the rest stays queued for the new holder).
            if !(self.turn)() {
                break;
            }
            let result = self.deliverer.send(&row.id, &to, &content).await;
            let w = self.clone();
            let id = row.id.clone();
            let update = match result {
                Ok(()) => {
                    tracing::info!(id = %row.id, to = %row.recipient, "notification sent");
                    tokio::task::spawn_blocking(move || {
                        w.with_db(|db| db.message_sent(&id, ns(w.clock.now())))
                    })
                    .await
                }
                Err(e) => {
                    self.metrics.attempts_failed.fetch_add(1, Ordering::Relaxed);
                    let give_up =
                        e.permanent || row.attempts + 1 >= i64::from(self.cfg.max_attempts);
                    if !e.permanent && matches!(to, Recipient::Mail(_)) {
                        mail_down = true;
                    }
                    tracing::warn!(id = %row.id, to = %row.recipient, error = %e.message, give_up, "notification not delivered");
                    let retry = (!give_up).then(|| {
                        ns(self.clock.now()) + backoff(base, row.attempts).as_nanos() as i64
                    });
                    tokio::task::spawn_blocking(move || {
                        w.with_db(|db| db.message_failed(&id, &e.message, retry))
                    })
                    .await
                }
            };
            if let Ok(Err(e)) = update {
                tracing::error!(error = %e, "cannot record a delivery");
            }
        }
        Ok(())
    }

    fn refresh_metrics(&self) {
        if !(self.turn)() {
            return;
        }
        if let Ok(c) = self.with_db(|db| db.outbox_counts()) {
            self.metrics.queued.store(c.queued, Ordering::Relaxed);
            self.metrics.sent.store(c.sent, Ordering::Relaxed);
            self.metrics.failed.store(c.failed, Ordering::Relaxed);
            self.metrics.retrying.store(c.retrying, Ordering::Relaxed);
        }
    }
}

/// What the worker needs: its settings, the incidents' context, the store, its clock and
/// when it may act.
pub struct Setup {
    pub cfg: NotifyConfig,
    pub ctx: Arc<Context>,
    /// Opens the store holding the queue: the SQLite store, or a cluster's shared state.
    pub open: OpenStore,
    pub metrics: Arc<NotifyMetrics>,
    pub clock: Clock,
    pub turn: Turn,
}

/// Start the worker; it stops when `stop` turns true. The store is opened (and at the end
/// closed) on the blocking pool: a network store's client blocks.
pub async fn spawn(
    setup: Setup,
    mut stop: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, crate::ServeError> {
    let Setup {
        cfg,
        ctx,
        open,
        metrics,
        clock,
        turn,
    } = setup;
    let db = tokio::task::spawn_blocking(move || open())
        .await
        .map_err(|e| {
            crate::ServeError::Config(format!("the notification worker did not start: {e}"))
        })??;
    let deliverer = Deliverer::new(&cfg).map_err(|e| crate::ServeError::Config(e.message))?;
    let worker = Arc::new(Worker {
        cfg,
        ctx,
        db: Mutex::new(db),
        deliverer,
        metrics,
        clock,
        turn,
    });
    Ok(tokio::spawn(async move {
        loop {
            let w = worker.clone();
            match tokio::task::spawn_blocking(move || w.plan()).await {
                Ok(Err(e)) => tracing::error!(error = %e, "cannot plan notifications; retrying"),
                Err(e) => tracing::error!(error = %e, "notification planner failed"),
                Ok(Ok(_)) => {}
            }
            if let Err(e) = worker.deliver().await {
                tracing::error!(error = %e, "cannot read the notification queue; retrying");
            }
            let w = worker.clone();
            let _ = tokio::task::spawn_blocking(move || w.refresh_metrics()).await;
            tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                _ = tokio::time::sleep(TICK) => {}
            }
        }
        let _ = tokio::task::spawn_blocking(move || drop(worker)).await;
    }))
}
