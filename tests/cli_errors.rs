//! The binary's error paths, run as an operator meets them: each test runs
//! the real `clicktail` against a dependency that is away (a closed port)
//! or a request that cannot be met, and checks the exit status and that
//! the message points at the actual cause.
//!
//! Tests that need a registry use the services of `scripts/services.sh`
//! (`CLICKTAIL_DATABASE_URL`), each in a schema of its own, and return
//! early with `CLICKTAIL_SKIP_SERVICES=1`.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A loopback port nothing listens on (port 1, `tcpmux`, is never served
/// here): connecting is refused at once.
const CLOSED: &str = "127.0.0.1:1";

/// What one run of the binary did.
struct Run {
    success: bool,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

/// Runs `clicktail ARGS` with every `CLICKTAIL_*` variable of the test's
/// environment removed (so only the flags count), killing it after `limit`.
fn clicktail(args: &[&str], limit: Duration) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_clicktail"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("CLICKTAIL_") {
            command.env_remove(name);
        }
    }
    let mut child = command
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the clicktail binary runs");
    let started = Instant::now();
    // Read both pipes beside the wait, so a chatty child never blocks on a full pipe.
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = read(Box::new(child.stdout.take().expect("piped")));
    let stderr = read(Box::new(child.stderr.take().expect("piped")));
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for clicktail") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("clicktail {args:?} still ran after {limit:?}; stderr: {}", stderr.join().unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        success: status.success(),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
        elapsed: started.elapsed(),
    }
}

/// The registry's URL, or `None` (skip) with `CLICKTAIL_SKIP_SERVICES=1`.
fn database_url() -> Option<String> {
    match std::env::var("CLICKTAIL_DATABASE_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var("CLICKTAIL_SKIP_SERVICES").as_deref() == Ok("1") => None,
        Err(_) => panic!(
            "CLICKTAIL_DATABASE_URL must be set: run `scripts/services.sh up` and `source .cache/services/env` \
             (or set CLICKTAIL_SKIP_SERVICES=1 to skip service tests)"
        ),
    }
}

/// A fresh, migrated schema of its own for one test.
fn fresh_schema(url: &str, name: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_nanos();
    let schema = format!("cli_{name}_{}_{nanos}", std::process::id());
    let run = clicktail(&["migrate", "--database-url", url, "--database-schema", &schema], Duration::from_secs(30));
    assert!(run.success, "migrate failed: {}", run.stderr);
    schema
}

#[test]
fn a_worker_without_reachable_brokers_names_them() {
    let Some(url) = database_url() else { return };
    let schema = fresh_schema(&url, "worker");
    let brokers = format!("{CLOSED},127.0.0.1:2");
    // librdkafka gives up on the metadata request after the request
    // timeout (10 s by default); the bound leaves room for a loaded machine.
    let run = clicktail(
        &["worker", "--brokers", &brokers, "--database-url", &url, "--database-schema", &schema, "--metrics-addr", ""],
        Duration::from_secs(40),
    );
    assert!(!run.success, "the worker must fail; stderr: {}", run.stderr);
    let line = run.stderr.lines().find(|line| line.starts_with("clicktail: ")).unwrap_or_default();
    assert!(line.contains("cannot reach the Kafka brokers 127.0.0.1:1,127.0.0.1:2"), "{}", run.stderr);
    assert!(!line.contains("create it first"), "no topic is to blame: {line}");
    eprintln!("worker failed after {:?}: {line}", run.elapsed);
}

#[test]
fn a_registry_that_is_down_is_named_with_its_cause_and_how_to_start_it() {
    let url = format!("postgres://clicktail:s3cret-password@{CLOSED}/clicktail");
    let run = clicktail(&["filters", "list", "--database-url", &url], Duration::from_secs(30));
    assert!(!run.success);
    assert!(run.stderr.contains("cannot connect to PostgreSQL at 127.0.0.1:1"), "{}", run.stderr);
    assert!(run.stderr.contains("Connection refused"), "the cause: {}", run.stderr);
    assert!(run.stderr.contains("scripts/services.sh up"), "how to start it: {}", run.stderr);
    assert!(!run.stderr.contains("s3cret-password"), "never the password: {}", run.stderr);
}

#[test]
fn loadgen_against_no_gateway_fails_after_its_report() {
    let run = clicktail(
        &[
            "loadgen",
            "--target",
            "gateway",
            "--gateway",
            CLOSED,
            "--duration-s",
            "1",
            "--sessions",
            "1",
            "--ingest-connections",
            "1",
            "--drain-ms",
            "0",
        ],
        Duration::from_secs(60),
    );
    assert!(!run.success, "nothing was acknowledged: {}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("events acknowledged"), "the report is still printed: {}", run.stdout);
    assert!(run.stderr.contains("no event was acknowledged"), "{}", run.stderr);
}

#[test]
fn the_gateway_checks_its_configuration_before_the_registry() {
    let url = format!("postgres://clicktail:clicktail@{CLOSED}/clicktail");
    let run = clicktail(&["gateway", "--brokers", CLOSED, "--database-url", &url], Duration::from_secs(30));
    assert!(!run.success);
    assert!(run.stderr.contains("an admin token is required"), "{}", run.stderr);
    assert!(!run.stderr.contains("PostgreSQL"), "the configuration is at fault, not the registry: {}", run.stderr);
}

#[test]
fn filters_rm_says_what_it_removed_and_fails_on_an_unknown_id() {
    let Some(url) = database_url() else { return };
    let schema = fresh_schema(&url, "rm");
    let limit = Duration::from_secs(30);
    let registry = ["--database-url", url.as_str(), "--database-schema", schema.as_str()];
    let filters = |args: &[&str]| clicktail(&[&["filters"], args, &registry[..]].concat(), limit);

    let added = filters(&["add", "page.path == \"/checkout\""]);
    assert!(added.success, "{}", added.stderr);
    let id = added.stdout.trim().to_owned();

    let removed = filters(&["rm", &id, "999999999"]);
    assert!(!removed.success, "an unknown id is an error");
    assert_eq!(removed.stdout, format!("removed filter {id}\n"));
    assert!(removed.stderr.contains("no filter with id 999999999"), "{}", removed.stderr);
    assert!(filters(&["list"]).stdout.is_empty(), "the known id was removed all the same");

    let again = filters(&["rm", &id]);
    assert!(!again.success);
    assert_eq!(again.stdout, "");
    assert!(again.stderr.contains(&format!("no filter with id {id}")), "{}", again.stderr);
}

/// Issue 12 item 1: `filters add --rate-max N` gives a standing filter a
/// budget that `filters list` shows (`-` without one); 0 is refused by the
/// argument parser, before the registry.
#[test]
fn filters_add_rate_max_is_listed_and_zero_is_refused() {
    let Some(url) = database_url() else { return };
    let schema = fresh_schema(&url, "ratemax");
    let limit = Duration::from_secs(30);
    let registry = ["--database-url", url.as_str(), "--database-schema", schema.as_str()];
    let filters = |args: &[&str]| clicktail(&[&["filters"], args, &registry[..]].concat(), limit);

    let budgeted = filters(&["add", "--rate-max", "250", "type == \"click\""]);
    assert!(budgeted.success, "{}", budgeted.stderr);
    let budgeted = budgeted.stdout.trim().to_owned();
    let unlimited = filters(&["add", "*"]);
    assert!(unlimited.success, "{}", unlimited.stderr);
    let unlimited = unlimited.stdout.trim().to_owned();
    let zero = filters(&["add", "--rate-max", "0", "*"]);
    assert!(!zero.success);
    assert!(zero.stderr.contains("--rate-max"), "{}", zero.stderr);

    let listed = filters(&["list"]);
    assert!(listed.success, "{}", listed.stderr);
    assert_eq!(
        listed.stdout,
        format!(
            "{budgeted}\tstanding\tcli\t-\t-\t250\t-\ttype == \"click\"\n{unlimited}\tstanding\tcli\t-\t-\t-\t-\t*\n"
        )
    );
}

#[test]
fn filters_add_topics_are_checked_against_the_announced_topics_and_listed() {
    use clicktail_engine::registry::postgres::{PostgresConfig, PostgresRegistry};
    use clicktail_engine::registry::Registry;
    let Some(url) = database_url() else { return };
    let schema = fresh_schema(&url, "topics");
    let limit = Duration::from_secs(30);
    let registry = ["--database-url", url.as_str(), "--database-schema", schema.as_str()];
    let filters = |args: &[&str]| clicktail(&[&["filters"], args, &registry[..]].concat(), limit);
    // What workers over site.bookings and site.searches write.
    let announced = PostgresRegistry::connect(PostgresConfig::new(&url).in_schema(&schema)).unwrap();
    announced.announce_topics(&["site.bookings".to_owned(), "site.searches".to_owned()]).unwrap();

    let typo = filters(&["add", "--topics", "site.bokings", "amount > 500"]);
    assert!(!typo.success);
    assert!(
        typo.stderr
            .contains(r#"--topics: unknown topic "site.bokings": the workers consume site.bookings, site.searches"#),
        "{}",
        typo.stderr
    );
    let scoped = filters(&["add", "--topics", "site.bookings,^site\\.s.*", "amount > 500"]);
    assert!(scoped.success, "{}", scoped.stderr);
    let scoped = scoped.stdout.trim().to_owned();
    let listed = filters(&["list"]);
    assert_eq!(listed.stdout, format!("{scoped}\tstanding\tcli\t-\t-\t-\tsite.bookings,^site\\.s.*\tamount > 500\n"));
}
