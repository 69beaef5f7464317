//! A PostgreSQL outage longer than the filter TTL, on the real services of
//! `scripts/services.sh`: a gateway and a filter worker in this process,
//! one `/ws` session subscribed, PostgreSQL stopped for three TTLs and
//! started again. The session must then receive every matching event (or
//! be told explicitly what it lost), and the gateway's routed filters must
//! be exactly its rows in the registry.
//!
//! Stopping PostgreSQL disturbs every other user of the server: the tests
//! here hold [`serial`], and CI runs test binaries one after another.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clicktail_engine::clock::now_ms;
use clicktail_engine::log::kafka::{KafkaConfig, KafkaLog};
use clicktail_engine::log::{Log, Message};
use clicktail_engine::matcher::FilterId;
use clicktail_engine::registry::postgres::{migrate, PostgresConfig, PostgresRegistry};
use clicktail_engine::registry::Registry;
use clicktail_engine::worker::{spawn_workers, WorkerConfig};
use clicktail_gateway::{Gateway, GatewayConfig};
use serde_json::Value;
use tungstenite::Message as WsMessage;

/// The gateway's filter TTL: its minimum, so the outage below outlasts it quickly.
const FILTER_TTL: Duration = Duration::from_secs(3);
/// Three TTLs: every row's expiry passes while the database is away.
const OUTAGE: Duration = Duration::from_secs(9);
/// Matching events produced after the outage, and non-matching ones between them.
const MATCHING_EVENTS: usize = 4_000;
const OTHER_EVENTS: usize = 1_000;

/// Tests that stop PostgreSQL: one at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Starts PostgreSQL again if the test fails during the outage, so the
/// tests after it find the server up.
struct RestartOnDrop {
    stopped: bool,
}

impl Drop for RestartOnDrop {
    fn drop(&mut self) {
        if self.stopped {
            common::services_script(&["start-postgres"]);
        }
    }
}

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}_{}_{nanos}", std::process::id())
}

fn wait_until(what: &str, deadline: Duration, condition: impl Fn() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < deadline, "timed out after {deadline:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn event(kind: &str, sequence: usize) -> String {
    format!(r#"{{"kind":"{kind}","seq":{sequence},"page":{{"url":"/p/{sequence}"}}}}"#)
}

/// What the session received, by kind.
#[derive(Default)]
struct Received {
    /// `seq` of every matching event received.
    sequences: BTreeSet<u64>,
    /// Every frame that was neither an event nor a heartbeat reply.
    notices: Vec<Value>,
}

#[test]
fn a_postgres_outage_longer_than_the_ttl_keeps_a_live_sessions_filter() {
    let _serial = serial();
    let Some((brokers, database)) = common::services() else { return };
    let log = Arc::new(KafkaLog::new(KafkaConfig::new(&brokers)).unwrap());
    let raw = unique("raw-outage");
    let filtered = unique("filtered-outage");
    log.create_topic(&raw, 2).unwrap();
    log.create_topic(&filtered, 2).unwrap();
    let mut registry_config = PostgresConfig::new(&database).in_schema(&unique("t_outage"));
    registry_config.reconnect_backoff_max = Duration::from_millis(500);
    registry_config.connect_timeout = Duration::from_secs(2);
    migrate(&registry_config).unwrap();
    let observer = PostgresRegistry::connect(registry_config.clone()).unwrap();

    let worker_config = WorkerConfig {
        raw_topics: clicktail_engine::log::RawTopics::one(&raw),
        filtered_topic: filtered.clone(),
        group_id: unique("workers-outage"),
        threads: 1,
        pin_threads: false,
        poll_timeout: Duration::from_millis(20),
        // Sweeps often, so a sweep surely runs between the database's
        // return and the gateway's next heartbeat.
        sweep_interval: Some(Duration::from_millis(200)),
        // The test counts every match of a session filter: no budget thins it.
        session_filter_rate_max_per_s: 0,
        backoff_max: Duration::from_millis(500),
        ..WorkerConfig::default()
    };
    let workers = spawn_workers(
        worker_config,
        log.clone(),
        Arc::new(PostgresRegistry::connect(registry_config.clone()).unwrap()),
    )
    .unwrap();
    let mut gateway_config = GatewayConfig::defaults();
    gateway_config.listen = "127.0.0.1:0".parse().unwrap();
    gateway_config.no_admin_token = true;
    gateway_config.filter_ttl_ms = FILTER_TTL.as_millis() as u64;
    gateway_config.raw_topic = raw.clone();
    gateway_config.filtered_topic = filtered.clone();
    // The reader keeps up, but a loaded CI machine may stall it: a bigger
    // queue than the default keeps this test about the registry.
    gateway_config.session_queue_frames_max = 2 * MATCHING_EVENTS;
    gateway_config.session_queue_bytes_max = 16 * 1024 * 1024;
    let gateway = Gateway::start(
        gateway_config,
        log.clone(),
        Arc::new(PostgresRegistry::connect(registry_config.clone()).unwrap()),
    )
    .unwrap();

    let mut client = common::admin_at(gateway.local_address(), "", &[]).unwrap();
    let filter = client.subscribe(r#"kind == "match""#);
    wait_until("the worker to match with the new filter", Duration::from_secs(20), || {
        workers.live_filters().contains(FilterId(filter)) && workers.live_filters_on_every_thread()
    });
    // The delivery consumer may still be joining: produce a warm-up match
    // until one arrives, so the count below starts from a tail in place.
    let producer = log.producer().unwrap();
    let send = |payload: &str| {
        let message =
            Message { key: b"k", payload: payload.as_bytes(), partition: None, timestamp_ms: now_ms(), headers: &[] };
        producer.send(&raw, message).unwrap();
    };
    client.socket.get_ref().set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let warm_deadline = Instant::now() + Duration::from_secs(30);
    'warm: loop {
        assert!(Instant::now() < warm_deadline, "no warm-up event reached the session within 30 s");
        send(r#"{"kind":"match","seq":"warm-up"}"#);
        producer.flush(Duration::from_secs(10)).unwrap();
        // Read until a read times out (then send another warm-up event).
        while let Ok(message) = client.socket.read() {
            if let WsMessage::Text(text) = message {
                if serde_json::from_str::<Value>(&text).is_ok_and(|frame| frame["type"] == "event") {
                    break 'warm;
                }
            }
        }
    }

    // The outage: three TTLs without a database.
    let mut restart_guard = RestartOnDrop { stopped: true };
    common::services_script(&["stop-postgres"]);
    wait_until("the gateway to notice the outage", Duration::from_secs(10), || !gateway.metrics().ready.load(Relaxed));
    std::thread::sleep(OUTAGE);
    common::services_script(&["start-postgres"]);
    restart_guard.stopped = false;
    wait_until("the gateway to reach the registry again", Duration::from_secs(30), || {
        gateway.metrics().ready.load(Relaxed)
    });
    // Both sides have had their chance: the worker sweeps every 200 ms and
    // the gateway heartbeats every TTL/3.
    wait_until("the worker's sweep and the gateway's heartbeat", Duration::from_secs(30), || observer.list().is_ok());
    std::thread::sleep(FILTER_TTL);

    // Count what the session receives from now on.
    client.socket.get_ref().set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let reader = std::thread::spawn(move || {
        let mut received = Received::default();
        let deadline = Instant::now() + Duration::from_secs(90);
        let mut last_progress = Instant::now();
        while Instant::now() < deadline && received.sequences.len() < MATCHING_EVENTS {
            // 20 s without a new match is the end (the producer paces in ms).
            if last_progress.elapsed() > Duration::from_secs(20) {
                break;
            }
            let text = match client.socket.read() {
                Ok(WsMessage::Text(text)) => text,
                Ok(_) => continue,
                Err(tungstenite::Error::Io(error))
                    if matches!(error.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
                {
                    continue
                }
                Err(error) => panic!("session failed: {error}"),
            };
            let frame: Value = serde_json::from_str(&text).unwrap();
            match frame["type"].as_str() {
                Some("event") => {
                    if let Some(sequence) = frame["event"]["seq"].as_u64() {
                        received.sequences.insert(sequence);
                        last_progress = Instant::now();
                    }
                }
                _ => received.notices.push(frame),
            }
        }
        // The session stays open until the registry is checked below.
        (received, client)
    });
    // A realistic rate: batches of 250, one flush each (a few thousand a second).
    let mut sequence = 0;
    let per_batch_other = OTHER_EVENTS * 250 / MATCHING_EVENTS;
    while sequence < MATCHING_EVENTS {
        for _ in 0..250 {
            send(&event("match", sequence));
            sequence += 1;
        }
        for other in 0..per_batch_other {
            send(&event("other", sequence * 10 + other));
        }
        producer.flush(Duration::from_secs(30)).unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    let (received, client) = reader.join().unwrap();

    let missing = MATCHING_EVENTS - received.sequences.len();
    let rows = observer.list().unwrap();
    let routed = gateway.metrics().filters_active.load(Relaxed);
    drop(client);
    gateway.stop();
    workers.stop();
    for topic in [&raw, &filtered] {
        let _ = log.delete_topic(topic);
    }
    let explicit: Vec<&Value> = received
        .notices
        .iter()
        .filter(|frame| matches!(frame["type"].as_str(), Some("filter_lost" | "filter_replaced" | "dropped")))
        .collect();
    assert!(
        missing == 0 || !explicit.is_empty(),
        "{missing} of {MATCHING_EVENTS} matching events missing after the outage, with no notice \
         (frames other than events: {:?}; rows now: {rows:?})",
        received.notices
    );
    assert_eq!(missing, 0, "the filter row should survive the outage; notices: {explicit:?}");
    assert_eq!(rows.len(), 1, "exactly the session's row: {rows:?}");
    assert_eq!(routed, rows.len() as i64, "the gateway's active filters match the registry's rows");
}

/// A row lost while its session lives (deleted by hand here; in production,
/// this node was cut off alone for longer than its TTL): the next heartbeat
/// registers the criterion again and the session is told the new id, then
/// receives its matches under it.
#[test]
fn a_lost_row_is_registered_again_and_the_session_told_its_new_id() {
    let node = common::Node::start(common::config());
    let mut client = node.admin("", &[]).unwrap();
    let lost = client.subscribe(r#"type == "booking""#);
    node.registry.delete(&[FilterId(lost)]).unwrap();
    // Heartbeats come every TTL/3 = 1 s.
    let notice = client.next_json();
    assert_eq!(notice["type"], "filter_replaced", "{notice}");
    assert_eq!(notice["replaces"], lost);
    assert_eq!(notice["criterion"], r#"type == "booking""#);
    let new = notice["filter"].as_u64().unwrap();
    assert_ne!(new, lost);
    let rows = node.registry.list().unwrap();
    assert_eq!(rows.iter().map(|row| row.id.0).collect::<Vec<_>>(), [new]);
    assert_eq!(node.metrics().filters_active.load(Relaxed), 1);
    node.wait_live(&[new]);
    node.produce(&[r#"{"type":"booking","n":1}"#]);
    let event = client.next_json();
    assert_eq!((event["type"].as_str(), event["filter"].as_u64()), (Some("event"), Some(new)), "{event}");
    // Unsubscribing the new id deletes the new row.
    client.send_json(serde_json::json!({"type": "unsubscribe", "filter": new}));
    assert_eq!(client.next_json()["type"], "unsubscribed");
    node.wait_for("the new row's delete", |node| node.filter_rows() == 0);
}
