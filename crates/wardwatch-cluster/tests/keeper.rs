//! The lease keeper (`keeper.rs`) on a real `nats-server -js` (started by `wardwatch-peers`):
//! of two processes keeping one lease exactly one holds it, past several of the lease's times;
//! a holder stopped gives it up and the standby takes it at once; a holder that dies without
//! giving it up (its task gone, as in a killed process) stops saying it holds before the
//! standby takes it over within the lease's time — never both at once.

use std::time::{Duration, Instant};

use tokio::sync::watch;
use wardwatch_cluster::ClusterConfig;
use wardwatch_cluster::keeper::Keeper;
use wardwatch_peers::Peer;

async fn wait_held(k: &Keeper, within: Duration) -> Duration {
    let t = Instant::now();
    while !k.held() {
        assert!(t.elapsed() < within, "{} not taken in {within:?}", k.key());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    t.elapsed()
}

/// Sample both for `how_long`: never both holding; returns how often each held.
async fn never_both(a: &Keeper, b: &Keeper, how_long: Duration) -> (u32, u32) {
    let t = Instant::now();
    let (mut ha, mut hb) = (0, 0);
    while t.elapsed() < how_long {
        let (x, y) = (a.held(), b.held());
        assert!(!(x && y), "both hold the lease");
        ha += u32::from(x);
        hb += u32::from(y);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (ha, hb)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_holder_at_a_time_and_a_standby_takes_over() {
    let Some(nats) = Peer::nats("keeper") else {
        return;
    };
    let cfg = ClusterConfig {
        nats: nats.url(),
        ack_wait_secs: 3,
        ..ClusterConfig::default()
    };
    let ttl = Duration::from_secs(3);
    let (stop_a, rx) = watch::channel(false);
    let (a, task_a) = Keeper::start(&cfg, "node-a", "notify", rx).unwrap();
    wait_held(&a, ttl).await;
    let (_stop_b, rx) = watch::channel(false);
    let (b, task_b) = Keeper::start(&cfg, "node-b", "notify", rx).unwrap();
    // Renewed past several lease times while the standby keeps asking.
    let (ha, hb) = never_both(&a, &b, ttl * 3).await;
    assert!(ha > 0 && hb == 0, "the first holder keeps it: {ha} {hb}");

    // Stopped: given up, and the standby takes it at once.
    stop_a.send(true).unwrap();
    task_a.await.unwrap();
    assert!(!a.held());
    let took = wait_held(&b, ttl).await;
    assert!(took < Duration::from_secs(2), "taken over in {took:?}");

    // The holder dies without giving it up: a new standby takes it once it expired, and the
    // dead holder's `held` turned false before that.
    let (_stop_c, rx) = watch::channel(false);
    let (c, _task_c) = Keeper::start(&cfg, "node-c", "notify", rx).unwrap();
    let (hb, hc) = never_both(&b, &c, Duration::from_secs(1)).await;
    assert!(hb > 0 && hc == 0, "{hb} {hc}");
    task_b.abort();
    let died = Instant::now();
    let t = Instant::now();
    while !c.held() {
        assert!(!(b.held() && c.held()), "both hold the lease");
        assert!(
            t.elapsed() < ttl * 3,
            "not taken over after the holder died"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!b.held(), "the dead holder does not hold it any more");
    let after = died.elapsed();
    eprintln!("taken over {after:?} after the holder died (lease time {ttl:?})");
    assert!(
        after >= ttl / 3,
        "not before the lease could expire: {after:?}"
    );
}
