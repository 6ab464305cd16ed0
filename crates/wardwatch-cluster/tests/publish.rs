//! Ingest publishing on a real `nats-server -js` (started by `wardwatch-peers`): the stream and
//! consumers made idempotently, a batch acknowledged only once JetStream has every event in
//! order on its partition, a resent batch kept once, and the refusals senders retry on: NATS
//! down (unavailable → 503) and a full stream (busy → 429), with publishing resuming after.

use std::time::Duration;

use async_nats::jetstream;
use futures_util::StreamExt;
use wardwatch_cluster::{
    ClusterConfig, EVENTS_STREAM, NatsSink, decode_docs, detect_consumer, init, partition, status,
};
use wardwatch_core::{Event, SourceKind};
use wardwatch_listen::{Sink, SinkError};
use wardwatch_peers::Peer;

fn event(i: u64, host: &str) -> Event {
    let mut e = Event::new(
        SourceKind::Syslog,
        jiff::Timestamp::from_second(1_765_000_000 + i as i64).unwrap(),
        serde_json::json!({"message": format!("event {i}"), "n": i}),
    );
    e.origin.source = "syslog-tcp".into();
    e.origin.record_id = Some(i);
    e.ecs.host_name = Some(host.into());
    e
}

fn config(nats: &Peer) -> ClusterConfig {
    ClusterConfig {
        nats: nats.url(),
        partitions: 4,
        publish_timeout_secs: 2,
        // Small: JetStream refuses a stream larger than the disk it may use.
        max_backlog_mb: 256,
        ..ClusterConfig::default()
    }
}

/// Every message of partition `part` still in the stream, as (event number, received header).
async fn numbers_on(js: &jetstream::Context, part: u32) -> Vec<u64> {
    let stream = js.get_stream(EVENTS_STREAM).await.unwrap();
    let consumer: jetstream::consumer::PullConsumer =
        stream.get_consumer(&detect_consumer(part)).await.unwrap();
    let mut out = Vec::new();
    let mut batch = consumer
        .fetch()
        .max_messages(1000)
        .expires(Duration::from_millis(500))
        .messages()
        .await
        .unwrap();
    while let Some(Ok(m)) = batch.next().await {
        assert!(
            m.headers
                .as_ref()
                .and_then(|h| h.get("Wardwatch-Received"))
                .is_some()
        );
        for e in decode_docs(&m.payload) {
            let (e, _) = e.unwrap();
            assert!(e.received.is_none(), "the payload is not stamped");
            out.push(e.raw["n"].as_u64().unwrap());
        }
        // Not acknowledged: the messages stay for the next reader.
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_batches_are_on_their_partitions_once_and_refusals_say_why() {
    let Some(mut nats) = Peer::nats("accepted_batches_are_on_their_partitions_once") else {
        return;
    };
    let cfg = config(&nats);
    let first = init(&cfg).await.unwrap();
    let again = init(&cfg).await.unwrap();
    assert_eq!(first.partitions.len(), 4);
    assert!(again.partitions.iter().all(|p| p.exists && p.pending == 0));

    let sink = NatsSink::start(&cfg, "test-ingest").await.unwrap();
    for _ in 0..50 {
        if sink.connected() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let hosts = ["ws-1", "WS-2", "dc01", "pacs-7", "ehr-db"];
    let batch: Vec<Event> = (0..500).map(|i| event(i, hosts[i as usize % 5])).collect();
    sink.submit(batch.clone()).await.unwrap();
    // The same batch again (a sender that lost the answer): kept once.
    sink.submit(batch).await.unwrap();
    let (messages, events, duplicates) = sink.counts();
    assert_eq!(events, 500);
    assert_eq!(duplicates * 2, messages, "{messages} {duplicates}");

    let st = status(&cfg).await.unwrap();
    assert_eq!(st.stream.messages, duplicates);
    assert_eq!(
        st.partitions.iter().map(|p| p.pending).sum::<u64>(),
        duplicates
    );

    let js = jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let mut all = Vec::new();
    for part in 0..4 {
        let got = numbers_on(&js, part).await;
        // In order on their partition, and each where its host hashes.
        assert!(
            got.windows(2).all(|w| w[0] < w[1]),
            "partition {part}: {got:?}"
        );
        for n in &got {
            assert_eq!(
                partition("default", Some(hosts[*n as usize % 5]), 4),
                part,
                "event {n}"
            );
        }
        all.extend(got);
    }
    all.sort_unstable();
    assert_eq!(all, (0..500).collect::<Vec<_>>());

    // NATS down: refused as unavailable (503) at once; back up: accepted again.
    nats.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let refused = sink.submit(vec![event(900, "ws-1")]).await;
    assert!(
        matches!(refused, Err(SinkError::Unavailable { .. })),
        "{refused:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    nats.start();
    let mut back = Err(SinkError::Closed);
    for _ in 0..100 {
        back = sink.submit(vec![event(901, "ws-1")]).await;
        if back.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    back.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_stream_refuses_as_busy_until_workers_drain_it() {
    let Some(nats) = Peer::nats("a_full_stream_refuses_as_busy") else {
        return;
    };
    let cfg = ClusterConfig {
        max_backlog_mb: 1,
        ..config(&nats)
    };
    init(&cfg).await.unwrap();
    let sink = NatsSink::start(&cfg, "test-ingest").await.unwrap();
    while !sink.connected() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut busy = None;
    for round in 0..400u64 {
        let batch: Vec<Event> = (0..100).map(|i| event(round * 100 + i, "ws-9")).collect();
        match sink.submit(batch).await {
            Ok(()) => {}
            Err(e) => {
                busy = Some(e);
                break;
            }
        }
    }
    assert!(
        matches!(busy, Some(SinkError::Busy { .. })),
        "a 1 MiB backlog filled: {busy:?}"
    );
    assert!(status(&cfg).await.unwrap().stream.bytes > 900 * 1024);

    // A worker drains the partition (acknowledges): new batches are accepted again.
    let part = partition("default", Some("ws-9"), 4);
    let js = jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let consumer: jetstream::consumer::PullConsumer = js
        .get_stream(EVENTS_STREAM)
        .await
        .unwrap()
        .get_consumer(&detect_consumer(part))
        .await
        .unwrap();
    loop {
        let mut got = consumer
            .fetch()
            .max_messages(100)
            .expires(Duration::from_millis(300))
            .messages()
            .await
            .unwrap();
        let mut n = 0;
        while let Some(Ok(m)) = got.next().await {
            m.double_ack().await.unwrap();
            n += 1;
        }
        if n == 0 {
            break;
        }
    }
    let mut accepted = false;
    for _ in 0..30 {
        if sink.submit(vec![event(1, "ws-9")]).await.is_ok() {
            accepted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(accepted, "accepted again once drained");
}

/// A backlog larger than the NATS server grants: `init` says which setting to lower.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_the_server_cannot_hold_is_refused_naming_the_setting() {
    let Some(nats) = Peer::nats("a_backlog_the_server_cannot_hold") else {
        return;
    };
    let cfg = ClusterConfig {
        // 100 TiB: more than any test machine's disk.
        max_backlog_mb: 100 * 1024 * 1024,
        ..config(&nats)
    };
    let err = init(&cfg).await.expect_err("refused").to_string();
    assert!(
        err.contains("insufficient storage") || err.contains("10047"),
        "{err}"
    );
    assert!(
        err.contains("`[cluster] max_backlog_mb`") && err.contains("104857600 MiB"),
        "{err}"
    );
    // The default (1 GiB) fits a machine with a few GiB free.
    init(&ClusterConfig {
        nats: nats.url(),
        ..ClusterConfig::default()
    })
    .await
    .unwrap();
}
