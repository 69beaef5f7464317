//! `clicktail tail`, run as a user runs it, against the real Kafka and
//! PostgreSQL of `scripts/services.sh` (`CLICKTAIL_KAFKA_BROKERS`,
//! `CLICKTAIL_DATABASE_URL`; skipped with `CLICKTAIL_SKIP_SERVICES=1`).
//! Each test writes filtered records with the engine's own encoder to a
//! topic of its own, so what `tail` reads is exactly what a worker writes
//! (docs/filtered-topic.md), and checks the exact lines printed.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clicktail_engine::log::kafka::{KafkaConfig, KafkaLog};
use clicktail_engine::log::{Header, Log, Message, PartitionId};
use clicktail_engine::matcher::FilterId;
use clicktail_engine::worker::filtered_record::{encode_key, filtered_partition, FilteredRecord, HeaderEncoder};

const LIMIT: Duration = Duration::from_secs(60);

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_nanos();
    format!("{prefix}_{}_{nanos}", std::process::id())
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_millis() as i64
}

/// A filtered topic of this test's own, deleted at the end.
struct Topic {
    log: KafkaLog,
    name: String,
    partitions: u32,
    brokers: String,
}

impl Topic {
    fn create(brokers: &str, partitions: u32) -> Topic {
        let log = KafkaLog::new(KafkaConfig::new(brokers)).expect("a Kafka client");
        let name = unique("tail.filtered");
        log.create_topic(&name, partitions).expect("topic created");
        Topic { log, name, partitions, brokers: brokers.to_owned() }
    }

    /// Writes one record of `filter` as a worker does; `version` other than
    /// "2" writes a record of a format this build cannot read.
    fn write(&self, filter: u64, event: &str, match_ms: i64, version: &str) {
        self.write_all(&[(filter, event.to_owned(), match_ms, version)]);
    }

    /// As [`Topic::write`] for each of `records`, in order, with one
    /// producer and one flush (a producer per record took 0.5 s each).
    fn write_all(&self, records: &[(u64, String, i64, &str)]) {
        let producer = self.log.producer().expect("a producer");
        let mut encoder = HeaderEncoder::default();
        let mut key = Vec::new();
        for (filter, event, match_ms, version) in records {
            let filter_id = FilterId(*filter);
            let record = FilteredRecord {
                filter_id,
                raw_topic: "clicks",
                raw_partition: PartitionId(1),
                raw_offset: 100 + *filter as i64,
                ingest_timestamp_us: match_ms * 1000 - 5,
                match_timestamp_us: match_ms * 1000,
                history: false,
                event: event.as_bytes(),
            };
            let mut headers: Vec<Header<'_>> = encoder.encode(&record).to_vec();
            headers[0].value = version.as_bytes();
            encode_key(filter_id, &mut key);
            let message = Message {
                key: &key,
                payload: event.as_bytes(),
                partition: Some(filtered_partition(filter_id, self.partitions)),
                timestamp_ms: *match_ms,
                headers: &headers,
            };
            producer.send(&self.name, message).expect("queued");
        }
        producer.flush(Duration::from_secs(30)).expect("acknowledged");
    }

    /// `clicktail tail` on this topic with `args`.
    fn tail(&self, args: &[&str]) -> Command {
        let mut command = clicktail();
        command.args(["tail", "--brokers", &self.brokers, "--filtered-topic", &self.name]).args(args);
        command
    }
}

impl Drop for Topic {
    fn drop(&mut self) {
        let _ = self.log.delete_topic(&self.name);
    }
}

/// The binary with every `CLICKTAIL_*` variable removed: only flags count.
fn clicktail() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_clicktail"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("CLICKTAIL_") {
            command.env_remove(name);
        }
    }
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    command
}

struct Run {
    success: bool,
    stdout: String,
    stderr: String,
}

/// Runs `command` to its end (killed after [`LIMIT`]).
fn run(mut command: Command) -> Run {
    let mut child = command.spawn().expect("clicktail runs");
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = read(Box::new(child.stdout.take().expect("piped")));
    let stderr = read(Box::new(child.stderr.take().expect("piped")));
    let status = wait(&mut child);
    Run { success: status.success(), stdout: stdout.join().unwrap(), stderr: stderr.join().unwrap() }
}

fn wait(child: &mut Child) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("waiting for clicktail") {
            return status;
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            panic!("clicktail still ran after {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Lines of `pipe`, as they come, on a channel.
fn lines_of(pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

fn next_line(lines: &mpsc::Receiver<String>, what: &str) -> String {
    lines.recv_timeout(LIMIT).unwrap_or_else(|_| panic!("no line for {what} within {LIMIT:?}"))
}

fn event(n: u32) -> String {
    format!(r#"{{"n":{n},"user":{{"id":"u-{n}"}}}}"#)
}

#[test]
fn last_n_of_one_filter_in_each_format_skipping_unknown_versions() {
    let Some((brokers, _)) = common::services() else { return };
    // Filters 5 and 7 share partition 1 of 2: the tail of 5 must look past
    // the later records of 7 (the window grows), and never print them.
    let topic = Topic::create(&brokers, 2);
    let now = now_ms();
    let mut records = vec![(5, event(0), now, "9")];
    records.extend((1..=4).map(|n| (5, event(n), now, "2")));
    records.extend((100..110).map(|n| (7, event(n), now, "2")));
    topic.write_all(&records);

    let json = run(topic.tail(&["--filter", "5", "--last", "3", "--no-follow"]));
    assert!(json.success, "{}", json.stderr);
    assert_eq!(json.stdout, format!("{}\n{}\n{}\n", event(2), event(3), event(4)));
    assert!(json.stderr.contains("filter 5") && json.stderr.contains("partition 1"), "{}", json.stderr);

    let with_unknown = run(topic.tail(&["--filter", "5", "--last", "10", "--no-follow"]));
    assert!(with_unknown.success, "{}", with_unknown.stderr);
    assert_eq!(with_unknown.stdout.lines().count(), 4, "{}", with_unknown.stdout);
    assert_eq!(with_unknown.stderr.matches("warning").count(), 1, "one warning: {}", with_unknown.stderr);
    assert!(with_unknown.stderr.contains("format version \"9\""), "{}", with_unknown.stderr);
    assert!(with_unknown.stderr.contains("skipped 1 records this build cannot read"), "{}", with_unknown.stderr);

    let meta = run(topic.tail(&["--filter", "5", "--last", "1", "--no-follow", "--format", "ndjson-with-meta"]));
    assert!(meta.success, "{}", meta.stderr);
    let expected = format!(
        r#"{{"filter":5,"topic":"clicks","partition":1,"offset":105,"ingest_us":{},"match_us":{},"history":false,"event":{}}}"#,
        now * 1000 - 5,
        now * 1000,
        event(4)
    );
    assert_eq!(meta.stdout, expected + "\n");

    let pretty = run(topic.tail(&["--filter", "5", "--last", "1", "--no-follow", "--format", "pretty"]));
    assert!(pretty.success, "{}", pretty.stderr);
    assert_eq!(pretty.stdout, "{\n  \"n\": 4,\n  \"user\": {\n    \"id\": \"u-4\"\n  }\n}\n");

    // Every filter: the newest 2 across partitions, 7's being newest.
    let all = run(topic.tail(&["--last", "2", "--no-follow"]));
    assert!(all.success, "{}", all.stderr);
    assert_eq!(all.stdout, format!("{}\n{}\n", event(108), event(109)));
}

#[test]
fn since_starts_at_a_time_given_as_an_age_a_unix_time_or_rfc3339() {
    let Some((brokers, _)) = common::services() else { return };
    let topic = Topic::create(&brokers, 3);
    let now = now_ms();
    topic.write(4, &event(1), now - 3_600_000, "2");
    topic.write(4, &event(2), now - 120_000, "2");
    topic.write(5, &event(3), now - 1_000, "2");

    let recent = run(topic.tail(&["--since", "10m", "--no-follow"]));
    assert!(recent.success, "{}", recent.stderr);
    let mut lines: Vec<&str> = recent.stdout.lines().collect();
    lines.sort();
    assert_eq!(lines, [event(2), event(3)]);

    let unix_ms = (now - 60_000).to_string();
    let last_minute = run(topic.tail(&["--since", &unix_ms, "--no-follow"]));
    assert_eq!(last_minute.stdout, format!("{}\n", event(3)), "{}", last_minute.stderr);

    let of_filter = run(topic.tail(&["--filter", "4", "--since", "2000-01-01T00:00:00Z", "--no-follow"]));
    assert_eq!(of_filter.stdout, format!("{}\n{}\n", event(1), event(2)), "{}", of_filter.stderr);

    let bad = run(topic.tail(&["--since", "yesterday"]));
    assert!(!bad.success);
    assert!(bad.stderr.contains("RFC 3339"), "{}", bad.stderr);
}

#[test]
fn by_default_it_follows_from_now() {
    let Some((brokers, _)) = common::services() else { return };
    let topic = Topic::create(&brokers, 2);
    topic.write(3, &event(1), now_ms(), "2");
    let mut child = topic.tail(&["--filter", "3"]).spawn().expect("clicktail runs");
    let stdout = lines_of(child.stdout.take().expect("piped"));
    let stderr = lines_of(child.stderr.take().expect("piped"));
    let started = next_line(&stderr, "the start line");
    assert!(started.contains("from now") && started.contains("from offset 1"), "{started}");
    topic.write(3, &event(2), now_ms(), "2");
    topic.write(1, &event(3), now_ms(), "2"); // the same partition, another filter
    topic.write(3, &event(4), now_ms(), "2");
    assert_eq!(next_line(&stdout, "the first match"), event(2));
    assert_eq!(next_line(&stdout, "the second match"), event(4));
    // SIGTERM: it stops and exits 0.
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs").success());
    assert!(wait(&mut child).success());
    assert!(stdout.recv_timeout(Duration::from_secs(5)).is_err(), "nothing else was printed");
}

#[test]
fn a_closed_pipe_ends_it_quietly_with_status_zero() {
    let Some((brokers, _)) = common::services() else { return };
    let topic = Topic::create(&brokers, 1);
    // Far more than a pipe buffer (64 KiB): the writer must meet the closed pipe.
    let padding = "x".repeat(2_000);
    let now = now_ms();
    let records: Vec<_> = (0..200).map(|n| (2, format!(r#"{{"n":{n},"pad":"{padding}"}}"#), now, "2")).collect();
    topic.write_all(&records);
    let mut child = topic.tail(&["--last", "200", "--no-follow"]).spawn().expect("clicktail runs");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("a line");
    assert!(first.starts_with(r#"{"n":0,"#), "{first}");
    drop(stdout); // as `| head -1` does
    let mut stderr = String::new();
    child.stderr.take().expect("piped").read_to_string(&mut stderr).expect("stderr");
    let status = wait(&mut child);
    assert!(status.success(), "{status}: {stderr}");
    assert!(!stderr.contains("Broken pipe") && !stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_named_standing_filter_is_listed_unique_and_tailed_by_name() {
    let Some((brokers, url)) = common::services() else { return };
    let schema = unique("cli_tail");
    let registry = ["--database-url", url.as_str(), "--database-schema", schema.as_str()];
    let migrate = run({
        let mut command = clicktail();
        command.arg("migrate").args(registry);
        command
    });
    assert!(migrate.success, "{}", migrate.stderr);
    assert!(migrate.stdout.contains("applied migration 3"), "{}", migrate.stdout);
    let filters = |args: &[&str]| {
        let mut command = clicktail();
        command.arg("filters").args(args).args(registry);
        run(command)
    };
    let added = filters(&["add", "--name", "bookings", r#"type == "booking""#]);
    assert!(added.success, "{}", added.stderr);
    let id: u64 = added.stdout.trim().parse().expect("an id");

    let again = filters(&["add", "--name", "bookings", r#"type == "refund""#]);
    assert!(!again.success);
    assert!(again.stderr.contains(r#"a filter named "bookings" exists already"#), "{}", again.stderr);
    let listed = filters(&["list"]);
    assert_eq!(listed.stdout, format!("{id}\tstanding\tcli\t-\tbookings\t-\t-\ttype == \"booking\"\n"));

    let topic = Topic::create(&brokers, 4);
    topic.write(id, &event(1), now_ms(), "2");
    topic.write(id + 1, &event(2), now_ms(), "2");
    let mut tail = topic.tail(&["--name", "bookings", "--last", "5", "--no-follow"]);
    tail.args(registry);
    let by_name = run(tail);
    assert!(by_name.success, "{}", by_name.stderr);
    assert_eq!(by_name.stdout, format!("{}\n", event(1)));

    let mut tail = topic.tail(&["--name", "nobody", "--no-follow"]);
    tail.args(registry);
    let unknown = run(tail);
    assert!(!unknown.success);
    assert!(unknown.stderr.contains(r#"no standing filter named "nobody""#), "{}", unknown.stderr);
}
