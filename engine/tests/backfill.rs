//! Time travel on the real services: backfill jobs in PostgreSQL, scans of
//! a Kafka raw topic, history and `history_done` on the filtered topic
//! (engine/src/worker/backfill/).

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clicktail_engine::clock::now_ms;
use clicktail_engine::log::kafka::{KafkaConfig, KafkaLog};
use clicktail_engine::log::{Log, Message};
use clicktail_engine::matcher::FilterId;
use clicktail_engine::registry::postgres::{PostgresConfig, PostgresRegistry};
use clicktail_engine::registry::{BackfillRequest, NewFilter, Registry};
use clicktail_engine::worker::filtered_record::{self, FilteredMessage, HistoryDoneRecord};
use clicktail_engine::worker::{spawn_workers, WorkerConfig, WorkerHandle, WorkerStats};
use common::{serial, wait_until, Setup};

/// Short claim polls for tests; an idle partition is cut at its end after
/// 300 ms, above the 200 ms default: a debug build on a loaded machine
/// makes a filter live more slowly than the release build it was chosen for.
fn fast_backfill(config: &mut WorkerConfig) {
    config.backfill.claim_interval = Duration::from_millis(50);
    config.backfill.seam_settle = Duration::from_millis(300);
}

/// Produces `(timestamp_ms, event)` pairs, keyed by index (spread over the
/// partitions), and flushes.
fn produce_at(setup: &Setup, events: &[(i64, String)]) {
    let producer = setup.log.producer().unwrap();
    for (n, (timestamp_ms, event)) in events.iter().enumerate() {
        let key = format!("k{n}");
        let message = Message {
            key: key.as_bytes(),
            payload: event.as_bytes(),
            partition: None,
            timestamp_ms: *timestamp_ms,
            headers: &[],
        };
        producer.send_or_flush_once(&setup.raw, message, Duration::from_secs(60)).unwrap();
    }
    producer.flush(Duration::from_secs(120)).unwrap();
}

/// Waits until the workers have read `events` raw events: a filter added
/// after that matches none of them live, so all of its matches among them
/// are history.
fn wait_drained(handle: &WorkerHandle, events: u64) {
    wait_until("the workers to read the backlog", Duration::from_secs(60), || {
        WorkerStats::get(&handle.stats().events_in) >= events
    });
}

/// A session filter asking for history. Its match budget is lifted: these
/// tests count every match, and a filter thread catching up a backlog (a
/// slow group join on a loaded machine) matches far faster than the 1,000/s
/// a session filter gets by default, so its live matches would be thinned
/// (and counted as such), which reads here as a gap at the seam.
fn session_with_backfill(expression: &str, request: BackfillRequest) -> NewFilter {
    NewFilter::session(expression, "node-test", "test", Duration::from_secs(300))
        .with_backfill(request)
        .with_rate_max(UNTHINNED_PER_S)
}

/// A match budget no test here comes near.
const UNTHINNED_PER_S: u32 = 10_000_000;

/// What one filter received on the filtered topic.
#[derive(Default, Debug)]
struct Received {
    /// (event, history flag), in the order read.
    events: Vec<(String, bool)>,
    done: Vec<HistoryDoneRecord>,
}

impl Received {
    fn history(&self) -> Vec<String> {
        self.events.iter().filter(|(_, history)| *history).map(|(event, _)| event.clone()).collect()
    }

    /// How many times each event arrived, history or live.
    fn counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for (event, _) in &self.events {
            *counts.entry(event.clone()).or_insert(0) += 1;
        }
        counts
    }
}

/// Reads the filtered topic from the start until `filter` has `dones`
/// `history_done` records and `until` holds (or `deadline` passes).
fn read_filter(
    setup: &Setup,
    filter: FilterId,
    dones: usize,
    deadline: Duration,
    until: impl Fn(&Received) -> bool,
) -> Received {
    let mut consumer = setup.log.group_consumer(&common::unique("reader"), &setup.config.filtered_topic).unwrap();
    let started = Instant::now();
    let mut received = Received::default();
    let mut batch = Vec::new();
    while !(received.done.len() >= dones && until(&received)) {
        assert!(started.elapsed() < deadline, "timed out after {deadline:?}; received so far: {received:?}");
        batch.clear();
        consumer.poll(10_000, Duration::from_millis(200), &mut batch).unwrap();
        for record in &batch {
            match filtered_record::decode_message(&record.headers, &record.payload).unwrap() {
                FilteredMessage::Event(event) if event.filter_id == filter => {
                    received.events.push((String::from_utf8(event.event.to_vec()).unwrap(), event.history));
                }
                FilteredMessage::HistoryDone(done) if done.filter_id == filter => received.done.push(done),
                _ => {}
            }
        }
    }
    received
}

/// A connection to the test's schema, to look at the job row itself.
fn sql_client(database: &str, schema: &str) -> postgres::Client {
    let mut config: postgres::Config = database.parse().unwrap();
    config.options(&format!("-c search_path={schema}"));
    config.connect(postgres::NoTls).unwrap()
}

fn matching(events: &[(i64, String)], needle: &str, since_ms: i64) -> Vec<String> {
    events.iter().filter(|(ts, event)| *ts >= since_ms && event.contains(needle)).map(|(_, e)| e.clone()).collect()
}

#[test]
fn since_ms_sends_exactly_the_matches_since_then_then_history_done() {
    let _serial = serial();
    let Some(mut setup) = Setup::new("since") else { return };
    fast_backfill(&mut setup.config);
    let now = now_ms();
    // Two minutes ago and one minute ago; the subscription asks from 90 s ago.
    let mut events: Vec<(i64, String)> =
        common::clickstream(0..200).into_iter().enumerate().map(|(n, e)| (now - 120_000 + n as i64, e)).collect();
    events.extend(common::clickstream(200..400).into_iter().enumerate().map(|(n, e)| (now - 60_000 + n as i64, e)));
    produce_at(&setup, &events);
    let handle = setup.spawn();
    wait_drained(&handle, 400);
    let since_ms = now - 90_000;
    let filter = setup
        .registry
        .insert(session_with_backfill(
            r#"type == "booking""#,
            BackfillRequest { since_ms: Some(since_ms), matches_max: 1_000 },
        ))
        .unwrap();
    let received = read_filter(&setup, filter, 1, Duration::from_secs(60), |_| true);
    let mut history = received.history();
    let mut expected = matching(&events, "booking", since_ms);
    history.sort();
    expected.sort();
    assert_eq!(expected.len(), 67, "bookings among events 200..400");
    assert_eq!(history, expected);
    assert_eq!(
        received.done,
        [HistoryDoneRecord { filter_id: filter, events_scanned: 200, matches: 67, complete: true }]
    );
    handle.join().unwrap();
}

#[test]
fn history_n_keeps_the_newest_n_matches_in_time_order() {
    let _serial = serial();
    let Some(mut setup) = Setup::new("newest") else { return };
    fast_backfill(&mut setup.config);
    let now = now_ms();
    let events: Vec<(i64, String)> =
        common::clickstream(0..300).into_iter().enumerate().map(|(n, e)| (now - 100_000 + 100 * n as i64, e)).collect();
    produce_at(&setup, &events);
    let handle = setup.spawn();
    wait_drained(&handle, 300);
    let filter = setup
        .registry
        .insert(session_with_backfill(r#"user.id == "u-3""#, BackfillRequest { since_ms: None, matches_max: 5 }))
        .unwrap();
    let received = read_filter(&setup, filter, 1, Duration::from_secs(60), |_| true);
    let all = matching(&events, r#""u-3""#, 0);
    // Timestamps increase with n: the newest five, oldest first.
    assert_eq!(received.history(), all[all.len() - 5..]);
    assert_eq!(
        received.done,
        [HistoryDoneRecord { filter_id: filter, events_scanned: 300, matches: 5, complete: true }]
    );
    handle.join().unwrap();
}

#[test]
fn a_scan_cut_by_its_events_bound_says_incomplete_and_keeps_the_newest_part() {
    let _serial = serial();
    let Some(mut setup) = Setup::new("bound") else { return };
    fast_backfill(&mut setup.config);
    setup.config.backfill.scan_events_max = 100;
    let now = now_ms();
    let events: Vec<(i64, String)> =
        common::clickstream(0..400).into_iter().enumerate().map(|(n, e)| (now - 60_000 + n as i64, e)).collect();
    produce_at(&setup, &events);
    let handle = setup.spawn();
    wait_drained(&handle, 400);
    let filter = setup
        .registry
        .insert(session_with_backfill("*", BackfillRequest { since_ms: Some(now - 120_000), matches_max: 1_000 }))
        .unwrap();
    let received = read_filter(&setup, filter, 1, Duration::from_secs(60), |_| true);
    let done = received.done[0];
    assert!(!done.complete, "{done:?}");
    assert_eq!(done.events_scanned, 100, "4 partitions of about 100 each, cut to 25 each");
    assert_eq!(done.matches, 100);
    // The newest quarter of each partition's records: all from the second half of the stream.
    let history = received.history();
    assert_eq!(history.len(), 100);
    let oldest_n = history.iter().map(|e| e[5..e.find(',').unwrap()].parse::<usize>().unwrap()).min().unwrap();
    assert!(oldest_n >= 200, "a shortened range keeps its newest records; got n = {oldest_n}");
    handle.join().unwrap();
}

#[test]
fn a_job_scanned_by_several_threads_sends_exactly_the_history_of_one_thread() {
    let _serial = serial();
    let Some(mut setup) = Setup::new("scan_threads") else { return };
    fast_backfill(&mut setup.config);
    let now = now_ms();
    // Timestamps tied in threes, so the merge across partitions meets ties.
    let events: Vec<(i64, String)> =
        common::clickstream(0..600).into_iter().enumerate().map(|(n, e)| (now - 60_000 + n as i64 / 3, e)).collect();
    produce_at(&setup, &events);
    // 400 matches, tied in pairs (a search and a booking share a
    // timestamp); the newest 50 are kept, so the threads' kept matches are
    // cut in the merge.
    let expression = r#"type in ["search", "booking"]"#;
    let request = BackfillRequest { since_ms: Some(now - 120_000), matches_max: 50 };
    let mut history_with = |scan_threads: usize, drained: u64| {
        setup.config.backfill.scan_threads = scan_threads;
        let handle = setup.spawn();
        wait_drained(&handle, drained);
        let filter = setup.registry.insert(session_with_backfill(expression, request)).unwrap();
        let received = read_filter(&setup, filter, 1, Duration::from_secs(60), |_| true);
        handle.join().unwrap();
        (received.history(), HistoryDoneRecord { filter_id: FilterId(0), ..received.done[0] })
    };
    let one = history_with(1, 600);
    // The second group member starts where the first committed: nothing left to read live.
    let four = history_with(4, 0);
    let n_of = |event: &String| event[5..event.find(',').unwrap()].parse::<usize>().unwrap();
    // The newest 50: the 25 newest timestamps (n / 3 from 175), in time order.
    let mut newest: Vec<usize> = one.0.iter().map(n_of).collect();
    assert!(newest.windows(2).all(|pair| pair[0] / 3 <= pair[1] / 3), "time order: {newest:?}");
    newest.sort_unstable();
    assert_eq!(newest, (525..600).filter(|n| n % 3 != 0).collect::<Vec<_>>());
    assert_eq!(four.0, one.0, "four threads, one per partition: the same history in the same order");
    assert_eq!(one.1, HistoryDoneRecord { filter_id: FilterId(0), events_scanned: 600, matches: 50, complete: false });
    assert_eq!(four.1, one.1);
}

#[test]
fn history_and_live_meet_without_a_gap_or_a_duplicate_while_the_stream_runs() {
    let _serial = serial();
    let Some(mut setup) = Setup::new("seam") else { return };
    fast_backfill(&mut setup.config);
    let handle = setup.spawn();
    wait_until("the workers to be ready", Duration::from_secs(60), || handle.health().check_ready().is_ok());
    let stop = Arc::new(AtomicBool::new(false));
    let started_ms = now_ms();
    // A steady stream, about 1,000 events/s over the 4 partitions.
    let stream = {
        let (log, raw, stop) = (setup.log.clone(), setup.raw.clone(), stop.clone());
        std::thread::spawn(move || {
            let producer = log.producer().unwrap();
            let mut sent = Vec::new();
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                for event in common::clickstream(n..n + 20) {
                    let timestamp_ms = now_ms();
                    let key = format!("k{n}");
                    let message = Message {
                        key: key.as_bytes(),
                        payload: event.as_bytes(),
                        partition: None,
                        timestamp_ms,
                        headers: &[],
                    };
                    producer.send_or_flush_once(&raw, message, Duration::from_secs(60)).unwrap();
                    sent.push((timestamp_ms, event));
                    n += 1;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            producer.flush(Duration::from_secs(60)).unwrap();
            sent
        })
    };
    wait_until("a second of stream", Duration::from_secs(10), || now_ms() >= started_ms + 1_000);
    // And the live threads past its first half second (about 500 events):
    // live threads a second behind would put the seam before the stream's
    // first match, leaving the history nothing to send (seen once, "0 from
    // history", with another test executable running beside this one).
    wait_until("the live threads into the stream", Duration::from_secs(30), || {
        WorkerStats::get(&handle.stats().events_in) >= 500
    });
    let filter = setup
        .registry
        .insert(session_with_backfill(
            r#"user.id == "u-3""#,
            BackfillRequest { since_ms: Some(started_ms), matches_max: 10_000 },
        ))
        .unwrap();
    // The history is done while the stream still runs; then two more seconds of live matches.
    let _ = read_filter(&setup, filter, 1, Duration::from_secs(60), |_| true);
    let done_at = now_ms();
    wait_until("two more seconds of stream", Duration::from_secs(10), || now_ms() >= done_at + 2_000);
    stop.store(true, Ordering::Relaxed);
    let sent = stream.join().unwrap();
    let expected = matching(&sent, r#""u-3""#, started_ms);
    // Until every expected match came: a count of records would stop early
    // when some came twice, and report those not read yet as missing.
    let received = read_filter(&setup, filter, 1, Duration::from_secs(60), |received| {
        let counts = received.counts();
        expected.iter().all(|event| counts.contains_key(event))
    });
    let counts = received.counts();
    let missing: Vec<&String> = expected.iter().filter(|event| !counts.contains_key(*event)).collect();
    let duplicated: Vec<(&String, &usize)> = counts.iter().filter(|(_, count)| **count > 1).collect();
    let history = received.history().len();
    eprintln!("seam: {} expected, {history} from history, {} live", expected.len(), received.events.len() - history);
    assert!(missing.is_empty(), "missing {} of {}: {missing:?}", missing.len(), expected.len());
    assert!(duplicated.is_empty(), "duplicated: {duplicated:?}");
    assert_eq!(received.events.len(), expected.len());
    assert!(history > 0 && history < expected.len(), "both history ({history}) and live matches");
    assert_eq!(received.done[0].matches as usize, history);
    handle.join().unwrap();
}

/// Entry point of the worker process that the SIGKILL test starts (this
/// same test binary, re-executed): a worker whose runner waits long for
/// seams, so it is killed holding the job.
#[test]
fn child_backfill_worker_process() {
    let Ok(spec) = std::env::var("CLICKTAIL_TEST_CHILD_BACKFILL") else { return };
    let fields: Vec<&str> = spec.split('\t').collect();
    let [brokers, database, schema, raw, filtered, group] = fields[..] else { panic!("bad child spec {spec:?}") };
    let log = KafkaLog::new(KafkaConfig::new(brokers)).unwrap();
    let registry = PostgresRegistry::connect(PostgresConfig::new(database).in_schema(schema)).unwrap();
    let mut config = WorkerConfig {
        raw_topics: clicktail_engine::log::RawTopics::one(raw),
        filtered_topic: filtered.to_owned(),
        group_id: group.to_owned(),
        threads: 1,
        pin_threads: false,
        poll_timeout: Duration::from_millis(50),
        ..WorkerConfig::default()
    };
    config.backfill.lease = Duration::from_secs(2);
    config.backfill.claim_interval = Duration::from_millis(50);
    config.backfill.seam_settle = Duration::from_secs(600);
    config.backfill.seam_wait_max = Duration::from_secs(600);
    let _handle = spawn_workers(config, Arc::new(log), Arc::new(registry)).unwrap();
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn a_worker_killed_during_a_backfill_leaves_the_job_to_another_which_completes_it() {
    let _serial = serial();
    let Some(mut setup) = Setup::new("backfill_kill") else { return };
    fast_backfill(&mut setup.config);
    let now = now_ms();
    let events: Vec<(i64, String)> =
        common::clickstream(0..400).into_iter().enumerate().map(|(n, e)| (now - 60_000 + n as i64, e)).collect();
    produce_at(&setup, &events);
    // Live workers without runners: the child is the only claimer at first,
    // and it joins a group that has read everything (it matches nothing live).
    setup.config.backfill.threads = 0;
    let live = setup.spawn();
    wait_drained(&live, 400);
    let (_, database) = common::services().unwrap();
    let schema = setup.registry_config.schema.clone().unwrap();
    let spec = [
        setup.brokers.as_str(),
        database.as_str(),
        schema.as_str(),
        &setup.raw,
        &setup.config.filtered_topic,
        &setup.config.group_id,
    ]
    .join("\t");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_backfill_worker_process", "--nocapture", "--test-threads=1"])
        .env("CLICKTAIL_TEST_CHILD_BACKFILL", spec)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let filter = setup
        .registry
        .insert(session_with_backfill(
            r#"type == "search""#,
            BackfillRequest { since_ms: Some(now - 120_000), matches_max: 1_000 },
        ))
        .unwrap();
    let mut sql = sql_client(&database, &schema);
    let job = |sql: &mut postgres::Client| -> (Option<String>, i32, bool) {
        let row = sql
            .query_one(
                "SELECT claimed_by, attempts, finished IS NOT NULL FROM backfill_jobs WHERE filter_id = $1",
                &[&(filter.0 as i64)],
            )
            .unwrap();
        (row.get(0), row.get(1), row.get(2))
    };
    wait_until("the child worker to claim the job", Duration::from_secs(60), || job(&mut sql).0.is_some());
    child.kill().unwrap(); // SIGKILL, holding the job
    child.wait().unwrap();
    let (_, attempts, finished) = job(&mut sql);
    assert_eq!((attempts, finished), (1, false));
    setup.config.backfill.threads = 1;
    let handle = setup.spawn();
    let expected = matching(&events, "search", 0);
    let received = read_filter(&setup, filter, 1, Duration::from_secs(60), |received| {
        let counts = received.counts();
        expected.iter().all(|event| counts.contains_key(event))
    });
    let counts = received.counts();
    let missing = expected.iter().filter(|event| !counts.contains_key(*event)).count();
    let duplicates: usize = counts.values().map(|count| count - 1).sum();
    eprintln!("backfill kill: {} expected, {missing} missing, {duplicates} duplicates", expected.len());
    assert_eq!(missing, 0);
    // At-least-once: a dead claimer's partial history may come again, at
    // most once more per match.
    assert!(duplicates <= expected.len(), "{duplicates} duplicates");
    assert_eq!(received.done.len(), 1, "the dead claimer sent no history_done");
    assert!(received.done[0].complete);
    // The runner marks the job finished after its history_done is durable,
    // so the record can be read before the row says so.
    wait_until("the job to be marked finished", Duration::from_secs(30), || job(&mut sql).2);
    let (_, attempts, finished) = job(&mut sql);
    assert_eq!((attempts, finished), (2, true), "claimed again once and finished");
    handle.join().unwrap();
    live.join().unwrap();
}
