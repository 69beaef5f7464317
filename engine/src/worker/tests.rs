//! The worker over the in-memory log and registry: the same code as on
//! Kafka and PostgreSQL, with no services.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::filtered_record::{self, decode, filtered_partition, FilteredMessage};
use super::{spawn_workers, WorkerConfig, WorkerHandle, WorkerStats};
use crate::log::memory::MemoryLog;
use crate::log::{Log, Message, PartitionId, Record};
use crate::matcher::FilterId;
use crate::registry::memory::MemoryRegistry;
use crate::registry::{NewFilter, Registry};

const RAW: &str = "raw";
const FILTERED: &str = "filtered";
const DEADLINE: Duration = Duration::from_secs(10);

fn setup() -> (MemoryLog, MemoryRegistry) {
    let log = MemoryLog::default();
    log.create_topic(RAW, 4).unwrap();
    log.create_topic(FILTERED, 3).unwrap();
    (log, MemoryRegistry::default())
}

fn config(threads: usize) -> WorkerConfig {
    WorkerConfig {
        raw_topics: crate::log::RawTopics::one(RAW),
        filtered_topic: FILTERED.to_owned(),
        threads,
        pin_threads: false,
        poll_timeout: Duration::from_millis(10),
        ..WorkerConfig::default()
    }
}

fn standing(registry: &MemoryRegistry, expression: &str) -> FilterId {
    registry.insert(NewFilter::standing(expression, "test")).unwrap()
}

fn produce(log: &MemoryLog, events: &[&str]) {
    let producer = log.producer().unwrap();
    for (n, event) in events.iter().enumerate() {
        let message = Message {
            key: format!("user-{n}").into_bytes().leak(),
            payload: event.as_bytes(),
            partition: None,
            timestamp_ms: 1_000 + n as i64,
            headers: &[],
        };
        producer.send(RAW, message).unwrap();
    }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Reads the whole filtered topic from the start.
fn filtered_records(log: &MemoryLog) -> Vec<Record> {
    read_all(log, FILTERED)
}

/// Reads the whole of `topic` from the start.
fn read_all(log: &MemoryLog, topic: &str) -> Vec<Record> {
    let mut consumer = log.group_consumer(&format!("reader-{:?}", Instant::now()), topic).unwrap();
    let mut out = Vec::new();
    while consumer.poll(10_000, Duration::ZERO, &mut out).unwrap() > 0 {}
    out
}

/// Waits until every filter thread matches with the filter set published
/// now, or a newer one. A thread records the set it loads after each poll,
/// and it joined the group before its first poll: so this also means no
/// later join can rebalance the group and replay a record (at-least-once),
/// which would make the exact counts below flaky.
fn wait_live_on_every_thread(handle: &WorkerHandle, what: &str) {
    wait_until(what, || handle.live_filters_on_every_thread());
}

fn run(handle: &WorkerHandle, events_expected: u64) {
    wait_until("every event to be committed", || WorkerStats::get(&handle.stats().events_in) >= events_expected);
}

#[test]
fn matches_reach_the_filtered_topic_with_their_header_key_and_partition() {
    let (log, registry) = setup();
    let booking = standing(&registry, r#"type == "booking""#);
    let all = standing(&registry, "*");
    let handle = spawn_workers(config(2), Arc::new(log.clone()), Arc::new(registry.clone())).unwrap();
    wait_until("the first load", || handle.live_filters().is_loaded());
    wait_live_on_every_thread(&handle, "every thread to poll");
    produce(&log, &[r#"{"type":"booking","n":1}"#, r#"{"type":"click"}"#, "not json", r#"{"type":"booking"}"#]);
    run(&handle, 4);
    handle.join().unwrap();

    let records = filtered_records(&log);
    let raw = read_all(&log, RAW);
    let mut seen: Vec<(u64, String)> = records
        .iter()
        .map(|record| {
            let decoded = decode(&record.headers, &record.payload).unwrap();
            assert_eq!(decoded.event, record.payload.as_slice(), "the value is the event");
            assert_eq!((decoded.raw_topic, decoded.history), (RAW, false));
            let source = raw.iter().find(|r| (r.partition, r.offset) == (decoded.raw_partition, decoded.raw_offset));
            assert_eq!(source.map(|r| &r.payload), Some(&record.payload), "raw partition and offset name the event");
            assert_eq!(record.partition, filtered_partition(decoded.filter_id, 3));
            assert_eq!(record.key.as_deref(), Some(decoded.filter_id.0.to_string().as_bytes()));
            assert!(decoded.ingest_timestamp_us >= 1_000_000 && decoded.ingest_timestamp_us < 1_004_000);
            assert!(decoded.match_timestamp_us > decoded.ingest_timestamp_us);
            (decoded.filter_id.0, String::from_utf8(decoded.event.to_vec()).unwrap())
        })
        .collect();
    seen.sort();
    let mut expected = vec![
        (booking.0, r#"{"type":"booking","n":1}"#.to_owned()),
        (booking.0, r#"{"type":"booking"}"#.to_owned()),
        (all.0, r#"{"type":"booking","n":1}"#.to_owned()),
        (all.0, r#"{"type":"click"}"#.to_owned()),
        (all.0, r#"{"type":"booking"}"#.to_owned()),
    ];
    expected.sort();
    assert_eq!(seen, expected);
}

#[test]
fn malformed_events_are_counted_and_skipped_and_dead_lettered() {
    let (log, registry) = setup();
    log.create_topic("dead", 1).unwrap();
    standing(&registry, "*");
    let config = WorkerConfig { dead_letter_topic: Some("dead".to_owned()), ..config(1) };
    let handle = spawn_workers(config, Arc::new(log.clone()), Arc::new(registry)).unwrap();
    produce(&log, &["{oops", r#"{"a":1}"#, "", r#"{"a":2}"#]);
    run(&handle, 4);
    assert_eq!(WorkerStats::get(&handle.stats().malformed), 2);
    assert_eq!(WorkerStats::get(&handle.stats().matches_out), 2);
    handle.join().unwrap();
    let mut dead = log.group_consumer("check", "dead").unwrap();
    let mut out = Vec::new();
    dead.poll(10, Duration::ZERO, &mut out).unwrap();
    let mut payloads: Vec<&[u8]> = out.iter().map(|r| r.payload.as_slice()).collect();
    payloads.sort();
    assert_eq!(payloads, [b"".as_slice(), b"{oops".as_slice()]);
}

#[test]
fn a_filter_inserted_while_running_goes_live_and_a_deleted_one_stops() {
    let (log, registry) = setup();
    let handle = spawn_workers(config(2), Arc::new(log.clone()), Arc::new(registry.clone())).unwrap();
    wait_until("the first load", || handle.live_filters().is_loaded());
    let id = standing(&registry, r#"user.id == "u-1""#);
    wait_until("the new filter to be published", || handle.live_filters().contains(id));
    wait_live_on_every_thread(&handle, "the new filter to be live on every thread");
    produce(&log, &[r#"{"user":{"id":"u-1"}}"#]);
    run(&handle, 1);
    assert_eq!(WorkerStats::get(&handle.stats().matches_out), 1);
    registry.delete(&[id]).unwrap();
    wait_until("the deletion to be published", || !handle.live_filters().contains(id));
    wait_live_on_every_thread(&handle, "the filter to be gone from every thread");
    produce(&log, &[r#"{"user":{"id":"u-1"}}"#]);
    run(&handle, 2);
    assert_eq!(WorkerStats::get(&handle.stats().matches_out), 1);
    handle.join().unwrap();
}

#[test]
fn a_burst_of_changes_is_few_rebuilds() {
    let (log, registry) = setup();
    let handle = spawn_workers(config(1), Arc::new(log), Arc::new(registry.clone())).unwrap();
    wait_until("the first load", || handle.live_filters().is_loaded());
    let ids: Vec<FilterId> = (0..1_000).map(|n| standing(&registry, &format!("n == {n}"))).collect();
    let last = *ids.last().unwrap();
    wait_until("the burst to be live", || handle.live_filters().contains(last));
    let rebuilds = WorkerStats::get(&handle.stats().rebuilds);
    assert!(rebuilds < 100, "1,000 inserts took {rebuilds} rebuilds");
    assert_eq!(handle.live_filters().ids, ids);
    handle.join().unwrap();
}

#[test]
fn a_restarted_worker_resumes_after_the_last_commit() {
    let (log, registry) = setup();
    standing(&registry, "*");
    let handle = spawn_workers(config(1), Arc::new(log.clone()), Arc::new(registry.clone())).unwrap();
    produce(&log, &[r#"{"n":1}"#, r#"{"n":2}"#]);
    run(&handle, 2);
    handle.join().unwrap();
    let handle = spawn_workers(config(1), Arc::new(log.clone()), Arc::new(registry)).unwrap();
    produce(&log, &[r#"{"n":3}"#]);
    run(&handle, 1);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(WorkerStats::get(&handle.stats().events_in), 1, "committed events are not read again");
    handle.join().unwrap();
    assert_eq!(filtered_records(&log).len(), 3);
}

#[test]
fn missing_topics_fail_at_start_with_the_topic_name() {
    let log = MemoryLog::default();
    let error = spawn_workers(config(1), Arc::new(log), Arc::new(MemoryRegistry::default())).err().unwrap();
    assert!(error.to_string().contains("\"raw\""), "{error}");
    let _ = PartitionId(0);
}

/// Issue 11, item 1: two accepted regexes whose union is past the regex
/// crate's size limit killed the control thread, so no later change was
/// applied. They must go live, and so must a filter added after them.
#[test]
fn regexes_too_big_for_one_set_do_not_stop_later_changes() {
    let (log, registry) = setup();
    let handle = spawn_workers(config(2), Arc::new(log.clone()), Arc::new(registry.clone())).unwrap();
    wait_until("the first load", || handle.live_filters().is_loaded());
    let big = [
        standing(&registry, r#"page.title matches ".{10000}""#),
        standing(&registry, r#"page.title matches ".{10001}""#),
    ];
    wait_until("the regexes to be published", || big.iter().all(|&id| handle.live_filters().contains(id)));
    let booking = standing(&registry, r#"type == "booking""#);
    wait_until("the later filter to be published", || handle.live_filters().contains(booking));
    wait_live_on_every_thread(&handle, "the later filter to be live on every thread");
    produce(&log, &[r#"{"type":"booking","page":{"title":"Paris"}}"#, r#"{"type":"click"}"#]);
    run(&handle, 2);
    assert_eq!(WorkerStats::get(&handle.stats().matches_out), 1);
    handle.join().expect("no worker thread panicked");
    let filter_ids: Vec<u64> = filtered_records(&log)
        .iter()
        .map(|record| decode(&record.headers, &record.payload).unwrap().filter_id.0)
        .collect();
    assert_eq!(filter_ids, [booking.0]);
}

/// Issue 11, item 8: a raw record that is JSON but not an object is an
/// event (FILTERS.md: "one JSON value"), not malformed; `*` gets it.
#[test]
fn json_values_that_are_not_objects_are_events_not_malformed() {
    let (log, registry) = setup();
    let all = standing(&registry, "*");
    let term = standing(&registry, r#""string""#);
    let handle = spawn_workers(config(1), Arc::new(log.clone()), Arc::new(registry)).unwrap();
    wait_until("the first load", || handle.live_filters().is_loaded());
    produce(&log, &["42", r#""a string""#, "null", "[1,2,3]", "not json"]);
    run(&handle, 5);
    assert_eq!(WorkerStats::get(&handle.stats().malformed), 1);
    handle.join().unwrap();
    let mut seen: Vec<(u64, String)> = filtered_records(&log)
        .iter()
        .map(|record| {
            let decoded = decode(&record.headers, &record.payload).unwrap();
            (decoded.filter_id.0, String::from_utf8(decoded.event.to_vec()).unwrap())
        })
        .collect();
    seen.sort();
    let mut expected: Vec<(u64, String)> = ["42", r#""a string""#, "null", "[1,2,3]"]
        .iter()
        .map(|event| (all.0, event.to_string()))
        .chain([(term.0, r#""a string""#.to_owned())])
        .collect();
    expected.sort();
    assert_eq!(seen, expected);
}

/// Starts workers with `config` on `registry`, then plays `events` clicks at
/// about 2,000 events/s (20 every 10 ms: many times the budgets of the tests
/// below, over several windows) and waits until they are all read. Returns
/// the workers and when the flood started.
fn flood_a_started_worker(
    config: WorkerConfig,
    log: &MemoryLog,
    registry: MemoryRegistry,
    events: u64,
) -> (WorkerHandle, Instant) {
    let handle = spawn_workers(config, Arc::new(log.clone()), Arc::new(registry)).unwrap();
    wait_until("the first load", || handle.live_filters().is_loaded());
    wait_live_on_every_thread(&handle, "every thread to poll");
    let started = Instant::now();
    let event = r#"{"type":"click"}"#;
    for _ in 0..events / 20 {
        produce(log, &[event; 20]);
        std::thread::sleep(Duration::from_millis(10));
    }
    run(&handle, events);
    (handle, started)
}

/// Issue 12 item 1: a `*` session filter over a small budget is thinned to
/// it across threads, every match is counted in its stats records, and a
/// standing `*` (unlimited) gets every event and no stats.
#[test]
fn a_session_filter_is_thinned_to_its_budget_and_its_stats_count_every_match() {
    use super::filtered_record::{decode_message, FilteredMessage};

    const BUDGET: u32 = 100;
    const EVENTS: u64 = 6_000;
    let (log, registry) = setup();
    let session = registry.insert(NewFilter::session("*", "node-1", "session-1", Duration::from_secs(60))).unwrap();
    let all = standing(&registry, "*");
    let config = WorkerConfig { session_filter_rate_max_per_s: BUDGET, ..config(2) };
    let (handle, started) = flood_a_started_worker(config, &log, registry, EVENTS);
    let (mut matched, mut delivered_by_stats) = (0, 0);
    let mut stats_windows = 0;
    let mut delivered = 0;
    let mut standing_events = 0;
    wait_until("stats counting every match", || {
        (matched, delivered_by_stats, stats_windows, delivered, standing_events) = (0, 0, 0, 0, 0);
        for record in filtered_records(&log) {
            match decode_message(&record.headers, &record.payload).unwrap() {
                FilteredMessage::Stats(stats) => {
                    assert_eq!(stats.filter_id, session, "only budgeted filters have stats");
                    assert_eq!(record.partition, filtered_partition(session, 3));
                    assert!(record.payload.is_empty());
                    assert!(stats.window_ms >= 1_000, "{stats:?}");
                    matched += stats.matched;
                    delivered_by_stats += stats.delivered;
                    stats_windows += 1;
                }
                FilteredMessage::Event(event) if event.filter_id == session => delivered += 1,
                FilteredMessage::Event(event) => {
                    assert_eq!(event.filter_id, all);
                    standing_events += 1
                }
                FilteredMessage::HistoryDone(done) => panic!("no filter asked for history: {done:?}"),
            }
        }
        matched >= EVENTS
    });
    let elapsed_s = started.elapsed().as_secs_f64();
    handle.join().unwrap();
    assert_eq!(matched, EVENTS, "every match counted once");
    assert_eq!(standing_events, EVENTS, "a standing filter is unlimited");
    assert_eq!(delivered_by_stats, delivered, "stats count what was forwarded");
    // The bound: the budget over the run, plus the token buckets' bursts
    // (a tenth of a second each) as slack.
    let bound = f64::from(BUDGET) * elapsed_s * 1.05 + 2.0 * 10.0;
    assert!((delivered as f64) <= bound, "delivered {delivered} > {bound} over {elapsed_s:.1} s");
    // Thinned, not starved: at least half the budget over the 3 s of traffic.
    assert!(delivered >= u64::from(BUDGET) * 3 / 2, "delivered {delivered}");
    assert!(stats_windows >= 3, "at least one stats record per second per thread: {stats_windows}");
}

/// Issue 12 item 1: a row's own `rate_max_per_s` is its budget: a session
/// filter that asked for less than the workers' default is thinned to what
/// it asked, a standing filter given one (`filters add --rate-max`) is
/// thinned and counted, and a standing filter without one stays unlimited.
#[test]
fn a_rows_own_rate_max_is_its_budget_for_session_and_standing_filters() {
    use std::collections::HashMap;

    use super::filtered_record::{decode_message, FilteredMessage};

    const SESSION_BUDGET: u32 = 50;
    const STANDING_BUDGET: u32 = 100;
    const EVENTS: u64 = 6_000;
    let (log, registry) = setup();
    let session = registry
        .insert(NewFilter::session("*", "node-1", "session-1", Duration::from_secs(60)).with_rate_max(SESSION_BUDGET))
        .unwrap();
    let budgeted = registry.insert(NewFilter::standing("*", "test").with_rate_max(STANDING_BUDGET)).unwrap();
    let unlimited = standing(&registry, "*");
    // The default would let the session filter deliver far more than it asked.
    let config = WorkerConfig { session_filter_rate_max_per_s: 10_000, ..config(2) };
    let (handle, started) = flood_a_started_worker(config, &log, registry, EVENTS);
    let mut matched: HashMap<FilterId, u64> = HashMap::new();
    let mut delivered: HashMap<FilterId, u64> = HashMap::new();
    wait_until("stats counting every match of both budgeted filters", || {
        matched.clear();
        delivered.clear();
        for record in filtered_records(&log) {
            match decode_message(&record.headers, &record.payload).unwrap() {
                FilteredMessage::Stats(stats) => *matched.entry(stats.filter_id).or_default() += stats.matched,
                FilteredMessage::Event(event) => *delivered.entry(event.filter_id).or_default() += 1,
                FilteredMessage::HistoryDone(done) => panic!("no backfill was asked for: {done:?}"),
            }
        }
        matched.get(&session) == Some(&EVENTS) && matched.get(&budgeted) == Some(&EVENTS)
    });
    let elapsed_s = started.elapsed().as_secs_f64();
    handle.join().unwrap();
    assert_eq!(matched.get(&unlimited), None, "an unlimited filter has no stats");
    assert_eq!(delivered[&unlimited], EVENTS, "a standing filter without a budget is unlimited");
    for (filter, budget) in [(session, SESSION_BUDGET), (budgeted, STANDING_BUDGET)] {
        let delivered = delivered[&filter];
        // The budget over the run, plus the token buckets' bursts (a tenth
        // of a second on each of the 2 threads) as slack.
        let bound = f64::from(budget) * (elapsed_s * 1.05 + 2.0 * 0.1) + 2.0;
        assert!((delivered as f64) <= bound, "filter {filter}: delivered {delivered} > {bound} over {elapsed_s:.1} s");
        assert!(delivered >= u64::from(budget) * 3 / 2, "filter {filter}: delivered {delivered}");
    }
}

/// Issue 15: time travel for a filter restricted to some topics scans
/// those topics only, and each history match names its topic.
#[test]
fn a_topic_scoped_backfill_scans_only_its_topics() {
    let log = MemoryLog::default();
    for topic in ["site.a", "site.b", FILTERED] {
        log.create_topic(topic, 2).unwrap();
    }
    let producer = log.producer().unwrap();
    for (topic, count) in [("site.a", 30), ("site.b", 20)] {
        for n in 0..count {
            let event = format!(r#"{{"n":{n},"kind":"hit"}}"#);
            let message = Message {
                key: b"k",
                payload: event.as_bytes(),
                partition: None,
                timestamp_ms: 1_000 + n,
                headers: &[],
            };
            producer.send(topic, message).unwrap();
        }
    }
    let registry = Arc::new(MemoryRegistry::default());
    let config = WorkerConfig { raw_topics: crate::log::RawTopics::parse("site.a,site.b").unwrap(), ..config(1) };
    let handle = spawn_workers(config, Arc::new(log.clone()), registry.clone()).unwrap();
    // Read (and matched by nothing) before the filter: history, not live.
    run(&handle, 50);
    let request = crate::registry::BackfillRequest { since_ms: Some(0), matches_max: 100 };
    let filter = NewFilter::session(r#"kind == "hit""#, "node", "test", Duration::from_secs(60))
        .with_topics(vec!["site.b".to_owned()])
        .with_backfill(request);
    let id = registry.insert(filter).unwrap();
    let mut done = None;
    wait_until("history_done", || {
        done = filtered_records(&log).iter().find_map(|record| {
            match filtered_record::decode_message(&record.headers, &record.payload) {
                Ok(FilteredMessage::HistoryDone(done)) => Some(done),
                _ => None,
            }
        });
        done.is_some()
    });
    let records = filtered_records(&log);
    handle.join().unwrap();
    let done = done.unwrap();
    assert_eq!((done.filter_id, done.events_scanned, done.matches, done.complete), (id, 20, 20, true));
    let topics: Vec<String> = records
        .iter()
        .filter_map(|record| filtered_record::decode(&record.headers, &record.payload).ok())
        .filter(|decoded| decoded.history)
        .map(|decoded| decoded.raw_topic.to_owned())
        .collect();
    assert_eq!(topics.len(), 20);
    assert!(topics.iter().all(|topic| topic == "site.b"), "{topics:?}");
}
