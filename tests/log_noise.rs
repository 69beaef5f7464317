//! A normal run of `clicktail worker` (the built binary, on the Kafka and
//! PostgreSQL of `scripts/services.sh`) logs nothing an operator must not
//! act on (issue 14). A second worker joining the group makes the first
//! rebalance while it reads and commits: librdkafka then reports commits
//! refused for a stale generation (`COMMITFAIL`), "coordinator load in
//! progress" and the like. Those are expected: they are counted in
//! `clicktail_worker_kafka_expected_rebalance_errors_total{code}` and
//! logged at debug, never as warnings.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clicktail_engine::log::kafka::{KafkaConfig, KafkaLog};
use clicktail_engine::log::{Log, Message};
use clicktail_engine::registry::postgres::{migrate, PostgresConfig};

const PARTITIONS: u32 = 8;
/// Join-and-leave cycles of the second worker, at most.
const CYCLES: usize = 6;

/// A worker process whose stderr goes to a file, killed if the test fails.
struct Worker {
    child: Child,
    log: std::path::PathBuf,
    metrics: SocketAddr,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Topics<'a> {
    brokers: &'a str,
    database: &'a str,
    schema: &'a str,
    raw: &'a str,
    filtered: &'a str,
    group: &'a str,
}

fn spawn_worker(topics: &Topics<'_>, name: &str) -> Worker {
    let metrics: SocketAddr = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let log = std::env::temp_dir().join(format!("clicktail-log-noise-{}-{name}.log", std::process::id()));
    let child = Command::new(env!("CARGO_BIN_EXE_clicktail"))
        .args(["worker", "--brokers", topics.brokers, "--database-url", topics.database])
        .args(["--database-schema", topics.schema, "--raw-topic", topics.raw, "--filtered-topic", topics.filtered])
        .args(["--group", topics.group, "--threads", "2", "--no-pin", "--metrics-addr", &metrics.to_string()])
        // A normal run: the default log level, whatever the caller's RUST_LOG.
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    Worker { child, log, metrics }
}

/// The body of `GET path` when the status is 200, else `None`.
fn get(address: SocketAddr, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200 ").then(|| body.to_owned())
}

fn wait_until(within: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !condition() {
        assert!(Instant::now() < deadline, "{what} within {within:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The sum over every `code` of the expected-rebalance counter on a
/// `/metrics` page.
fn expected_rebalance_errors(page: &str) -> u64 {
    page.lines()
        .filter(|line| line.starts_with("clicktail_worker_kafka_expected_rebalance_errors_total"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn a_rebalance_is_counted_not_warned_about() {
    let Some((brokers, database)) = common::services() else { return };
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let (raw, filtered, schema, group) = (
        format!("raw-noise-{nanos}"),
        format!("filtered-noise-{nanos}"),
        format!("t_noise_{nanos}"),
        format!("g-noise-{nanos}"),
    );
    let log = KafkaLog::new(KafkaConfig::new(&brokers)).unwrap();
    log.create_topic(&raw, PARTITIONS).unwrap();
    log.create_topic(&filtered, 1).unwrap();
    migrate(&PostgresConfig::new(&database).in_schema(&schema)).unwrap();
    let topics = Topics {
        brokers: &brokers,
        database: &database,
        schema: &schema,
        raw: &raw,
        filtered: &filtered,
        group: &group,
    };

    // Events all along, so that every thread reads and commits while the
    // group rebalances under it.
    let producing = Arc::new(AtomicBool::new(true));
    let producer = log.producer().unwrap();
    let feeder = {
        let producing = producing.clone();
        let raw = raw.clone();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while producing.load(Ordering::Relaxed) {
                for _ in 0..50 {
                    n += 1;
                    let payload = format!(r#"{{"event_id":{n},"type":"click"}}"#);
                    let key = n.to_string();
                    let message = Message {
                        key: key.as_bytes(),
                        payload: payload.as_bytes(),
                        partition: None,
                        timestamp_ms: 0,
                        headers: &[],
                    };
                    producer.send_or_flush_once(&raw, message, Duration::from_secs(10)).unwrap();
                }
                producer.flush(Duration::from_secs(10)).unwrap();
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };

    let first = spawn_worker(&topics, "first");
    wait_until(Duration::from_secs(60), "the first worker is ready", || get(first.metrics, "/readyz").is_some());
    // A second worker joins and leaves, a few times: each time the first
    // one's partitions are revoked and given back while it reads and
    // commits. Whether a commit races a rebalance is up to timing, so the
    // cycles go on until one did (the counter moved), or up to `CYCLES`.
    for cycle in 0..CYCLES {
        let second = spawn_worker(&topics, "second");
        wait_until(Duration::from_secs(60), "both workers are ready after the join", || {
            get(first.metrics, "/readyz").is_some() && get(second.metrics, "/readyz").is_some()
        });
        drop(second);
        wait_until(Duration::from_secs(60), "the first worker is ready again", || {
            get(first.metrics, "/readyz").is_some()
        });
        let counted = get(first.metrics, "/metrics").map(|page| expected_rebalance_errors(&page)).unwrap_or(0);
        eprintln!("cycle {cycle}: {counted} expected rebalance errors counted");
        if counted > 0 {
            break;
        }
    }
    producing.store(false, Ordering::Relaxed);
    feeder.join().unwrap();

    // Nothing an operator must act on happened: no warning, no error.
    let stderr = std::fs::read_to_string(&first.log).unwrap();
    let alarming: Vec<&str> =
        stderr.lines().filter(|line| line.contains(" WARN ") || line.contains(" ERROR ")).collect();
    assert!(alarming.is_empty(), "a normal rebalance logged warnings:\n{}", alarming.join("\n"));
    let counted = get(first.metrics, "/metrics").map(|page| expected_rebalance_errors(&page)).unwrap_or(0);
    assert!(counted > 0, "no expected rebalance error counted; the first worker's log:\n{stderr}");
    eprintln!("{counted} expected rebalance errors counted; the first worker's log:\n{stderr}");
    drop(first);
    for topic in [&raw, &filtered] {
        let _ = log.delete_topic(topic);
    }
}

/// The stderr of `clicktail gateway` started with `extra` flags under an
/// open-file limit of 4,096, once it serves.
fn gateway_start_log(extra: &[&str]) -> Option<String> {
    use std::io::BufRead;
    use std::os::unix::process::CommandExt;
    let (brokers, database) = common::services()?;
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let (raw, filtered, schema) =
        (format!("raw-nofile-{nanos}"), format!("filtered-nofile-{nanos}"), format!("t_nofile_{nanos}"));
    let log = KafkaLog::new(KafkaConfig::new(&brokers)).unwrap();
    log.create_topic(&raw, 1).unwrap();
    log.create_topic(&filtered, 1).unwrap();
    migrate(&PostgresConfig::new(&database).in_schema(&schema)).unwrap();
    let stderr_path = std::env::temp_dir().join(format!("clicktail-nofile-{nanos}.log"));
    let mut command = Command::new(env!("CARGO_BIN_EXE_clicktail"));
    command
        .args(["gateway", "--listen", "127.0.0.1:0", "--no-admin-token", "--brokers", &brokers])
        .args(["--database-url", &database, "--database-schema", &schema])
        .args(["--raw-topic", &raw, "--filtered-topic", &filtered])
        .args(extra)
        .env_remove("RUST_LOG")
        .env_remove("CLICKTAIL_CONNECTIONS_MAX")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).unwrap());
    // SAFETY: only setrlimit between fork and exec, which is async-signal-safe.
    unsafe {
        command.pre_exec(|| rlimit::setrlimit(rlimit::Resource::NOFILE, 4096, 4096));
    }
    let mut child = command.spawn().unwrap();
    let mut banner = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut banner).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(banner.contains("listening on"), "the gateway did not serve: {banner:?}");
    for topic in [&raw, &filtered] {
        let _ = log.delete_topic(topic);
    }
    Some(std::fs::read_to_string(&stderr_path).unwrap())
}

/// Issue 14: with default settings a gateway warned that its open-file
/// limit was below what `connections_max` (60,000 by default) needs, on
/// any host with a lower limit. The default is a ceiling, not the
/// operator's need: the gateway serves what the limit allows and says so
/// at info. A `--connections-max` the limit cannot hold is still a warning.
#[test]
fn the_open_file_warning_is_for_a_connections_max_the_limit_cannot_hold() {
    let Some(default) = gateway_start_log(&[]) else { return };
    let warnings: Vec<&str> = default.lines().filter(|line| line.contains(" WARN ")).collect();
    assert!(warnings.is_empty(), "default settings logged warnings:\n{}", warnings.join("\n"));
    assert!(
        default.contains("serving at most connections_max connections") && default.contains("connections_max=3840")
    );

    let chosen = gateway_start_log(&["--connections-max", "10000"]).unwrap();
    assert!(
        chosen
            .lines()
            .any(|line| line.contains(" WARN ") && line.contains("open-file limit") && line.contains("limit=4096")),
        "no warning for --connections-max 10000 under a limit of 4096:\n{chosen}"
    );
}
