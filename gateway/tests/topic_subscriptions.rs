//! Topic-scoped subscriptions on the real services (issue 15, item 3): six
//! raw topics, workers over all of them, one `/ws` session subscribed to
//! one topic. It must receive exactly the matches the engine's matcher
//! (what `clicktail match` runs) finds in that topic's events, each frame
//! naming the topic, and none from the other five; a typo in `topics` is a
//! `subscribe_error` naming the topics the workers consume.
//!
//! Needs `scripts/services.sh up` and `source .cache/services/env`.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clicktail_engine::clock::now_ms;
use clicktail_engine::log::kafka::{KafkaConfig, KafkaLog};
use clicktail_engine::log::{Log, Message, RawTopics};
use clicktail_engine::matcher::{FilterId, FilterSet, MatchScratch, MatcherOptions};
use clicktail_engine::registry::postgres::{migrate, PostgresConfig, PostgresRegistry};
use clicktail_engine::registry::Registry;
use clicktail_engine::worker::{spawn_workers, WorkerConfig};
use clicktail_gateway::{Gateway, GatewayConfig};
use serde_json::{json, Value};
use tungstenite::Message as WsMessage;

const CRITERION: &str = r#"kind == "hit" or amount > 500"#;
const EVENTS_PER_TOPIC: usize = 120;

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

fn wait_until(what: &str, deadline: Duration, condition: impl Fn() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < deadline, "timed out after {deadline:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The same events on every topic (so only the topic tells them apart).
fn events() -> Vec<String> {
    (0..EVENTS_PER_TOPIC)
        .map(|n| {
            let kind = ["hit", "miss", "view"][n % 3];
            format!(r#"{{"seq":{n},"kind":"{kind}","amount":{}}}"#, (n * 37) % 1_000)
        })
        .collect()
}

/// The events `criterion` matches, by the engine's matcher alone.
fn reference_matches(criterion: &str, events: &[String]) -> BTreeSet<String> {
    let mut set = FilterSet::new(MatcherOptions::default());
    set.insert_source(FilterId(1), criterion).unwrap();
    let matcher = set.build();
    let mut scratch = MatchScratch::new(Default::default());
    let mut ids = Vec::new();
    events
        .iter()
        .filter(|event| {
            matcher.match_event(event.as_bytes(), &mut scratch, &mut ids);
            !ids.is_empty()
        })
        .cloned()
        .collect()
}

/// Topics the test made, deleted at the end even when it fails.
struct Topics<'a> {
    log: &'a KafkaLog,
    names: Vec<String>,
}

impl Drop for Topics<'_> {
    fn drop(&mut self) {
        for topic in &self.names {
            let _ = self.log.delete_topic(topic);
        }
    }
}

#[test]
fn a_subscription_to_one_topic_of_six_gets_exactly_that_topics_matches() {
    let Some((brokers, database)) = common::services() else { return };
    let log = Arc::new(KafkaLog::new(KafkaConfig::new(&brokers)).unwrap());
    let prefix = unique("scoped");
    let raw: Vec<String> = ["pageviews", "searches", "bookings", "payments", "reviews", "clicks"]
        .iter()
        .map(|name| format!("{prefix}.{name}"))
        .collect();
    let filtered = format!("{prefix}.filtered");
    let topics = Topics { log: &log, names: raw.iter().cloned().chain([filtered.clone()]).collect() };
    for topic in &topics.names {
        log.create_topic(topic, 2).unwrap();
    }
    let chosen = &raw[2];
    let registry_config = PostgresConfig::new(&database).in_schema(&unique("t_scoped").replace('-', "_"));
    migrate(&registry_config).unwrap();
    let registry = Arc::new(PostgresRegistry::connect(registry_config.clone()).unwrap());
    let worker_config = WorkerConfig {
        raw_topics: RawTopics::parse(&raw.join(",")).unwrap(),
        filtered_topic: filtered.clone(),
        group_id: unique("workers-scoped"),
        threads: 2,
        pin_threads: false,
        poll_timeout: Duration::from_millis(20),
        topics_announce_interval: Duration::from_millis(200),
        session_filter_rate_max_per_s: 0,
        ..WorkerConfig::default()
    };
    let workers = spawn_workers(worker_config, log.clone(), registry.clone()).unwrap();
    let mut gateway_config = GatewayConfig::defaults();
    gateway_config.listen = "127.0.0.1:0".parse().unwrap();
    gateway_config.no_admin_token = true;
    gateway_config.raw_topic = raw[0].clone();
    gateway_config.filtered_topic = filtered.clone();
    let gateway = Gateway::start(gateway_config, log.clone(), registry.clone()).unwrap();
    wait_until("the workers to announce their topics", Duration::from_secs(20), || {
        registry.known_topics(Duration::from_secs(60)).is_ok_and(|known| known.len() == raw.len())
    });

    let mut client = common::admin_at(gateway.local_address(), "", &[]).unwrap();
    // A typo: refused, naming what the workers consume.
    let typo = format!("{prefix}.bokings");
    client.send_json(json!({"type": "subscribe", "ref": "t", "criterion": CRITERION, "topics": [typo]}));
    let refused = client.next_json();
    assert_eq!(refused["type"], "subscribe_error", "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert!(message.starts_with(&format!("unknown topic \"{typo}\": the workers consume ")), "{message}");
    assert!(message.contains(chosen.as_str()), "{message}");

    client.send_json(json!({"type": "subscribe", "ref": "s", "criterion": CRITERION, "topics": [chosen]}));
    let subscribed = client.next_json();
    assert_eq!(subscribed["type"], "subscribed", "{subscribed}");
    assert_eq!(subscribed["topics"], json!([chosen]));
    // A new session is offered the topics the workers consume.
    let (_second, hello) = common::admin_with_hello(gateway.local_address(), "", &[]).unwrap();
    let mut offered = raw.clone();
    offered.sort();
    assert_eq!(hello["topics"], json!(offered), "{hello}");
    let filter = FilterId(subscribed["filter"].as_u64().unwrap());
    wait_until("the filter to be live", Duration::from_secs(20), || {
        workers.live_filters().contains(filter) && workers.live_filters_on_every_thread()
    });

    // The gateway's tail of the filtered topic may still be joining: warm
    // up with matches on the chosen topic until one arrives.
    let producer = log.producer().unwrap();
    let send = |topic: &str, payload: &str| {
        let message =
            Message { key: b"k", payload: payload.as_bytes(), partition: None, timestamp_ms: now_ms(), headers: &[] };
        producer.send(topic, message).unwrap();
    };
    client.socket.get_ref().set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let warm_deadline = Instant::now() + Duration::from_secs(30);
    'warm: loop {
        assert!(Instant::now() < warm_deadline, "no warm-up event arrived within 30 s");
        send(chosen, r#"{"kind":"hit","seq":"warm-up"}"#);
        producer.flush(Duration::from_secs(10)).unwrap();
        while let Ok(message) = client.socket.read() {
            if let WsMessage::Text(text) = message {
                if serde_json::from_str::<Value>(&text).is_ok_and(|frame| frame["type"] == "event") {
                    break 'warm;
                }
            }
        }
    }

    let events = events();
    for topic in &raw {
        for event in &events {
            send(topic, event);
        }
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    let expected: BTreeSet<(String, String)> =
        reference_matches(CRITERION, &events).into_iter().map(|event| (chosen.clone(), event)).collect();
    assert!(expected.len() > 40, "a meaningful share matches: {}", expected.len());

    // Every frame until the expected count and one quiet second more.
    let mut got: Vec<(String, String)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut quiet_since = Instant::now();
    while Instant::now() < deadline {
        match client.socket.read() {
            Ok(WsMessage::Text(text)) => {
                let frame: Value = serde_json::from_str(&text).unwrap();
                if frame["type"] != "event" || frame["event"]["seq"] == "warm-up" {
                    continue;
                }
                quiet_since = Instant::now();
                assert_eq!(frame["filter"], filter.0);
                got.push((frame["topic"].as_str().unwrap().to_owned(), frame["event"].to_string()));
            }
            Ok(_) => {}
            Err(_) if got.len() >= expected.len() && quiet_since.elapsed() > Duration::from_secs(1) => break,
            Err(_) => {}
        }
    }
    workers.stop();
    gateway.stop();
    let other: Vec<&(String, String)> = got.iter().filter(|(topic, _)| topic != chosen).collect();
    assert!(other.is_empty(), "{} matches from other topics, first {:?}", other.len(), other.first());
    let got_set: BTreeSet<(String, String)> = got.iter().cloned().collect();
    assert_eq!(got.len(), got_set.len(), "no duplicates in a clean run");
    // The frames carry the event bytes as produced; compare as JSON text.
    let normalise = |set: BTreeSet<(String, String)>| -> BTreeSet<(String, String)> {
        set.into_iter()
            .map(|(topic, event)| (topic, serde_json::from_str::<Value>(&event).unwrap().to_string()))
            .collect()
    };
    assert_eq!(normalise(got_set), normalise(expected));
    drop(topics);
}
