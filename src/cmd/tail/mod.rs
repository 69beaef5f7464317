//! `clicktail tail`: prints the matches of one standing filter (by id or
//! by name), or of every filter, from the filtered topic, for debugging a
//! downstream consumer without a browser. Reads records as
//! docs/filtered-topic.md describes them, with the engine's decoder.
//!
//! A filter's records are all on partition `id % partitions`, so a tail of
//! one filter reads that partition only. Where to start: now (the
//! partitions' end, as of the start), `--since` (Kafka's offsets for a
//! time), or `--last N` (`history.rs`). Then it follows until Ctrl-C, or
//! until the end as of the start with `--no-follow`.
//!
//! Layout: `mod.rs` (flags, start, follow), `since.rs` (`--since`),
//! `history.rs` (`--last`), `output.rs` (`--format`).

mod history;
mod output;
mod since;

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clicktail_engine::log::kafka::{KafkaConfig, KafkaLog};
use clicktail_engine::log::{Log, PartitionId};
use clicktail_engine::matcher::FilterId;
use clicktail_engine::registry::postgres::{PostgresConfig, PostgresRegistry};
use clicktail_engine::registry::Registry;
use clicktail_engine::worker::filtered_record::filtered_partition;

use history::{PartitionRange, Wanted};
use output::{Format, Printer};

/// The most `--last` accepts: the records are held in memory before printing.
const LAST_MAX: u64 = 100_000;

/// Records per poll, and how long a poll waits (also how soon Ctrl-C is seen).
const POLL_RECORDS_MAX: usize = 1_000;
const POLL_TIMEOUT: Duration = Duration::from_millis(200);

#[derive(clap::Args)]
pub struct TailArgs {
    /// Kafka bootstrap servers.
    #[arg(long, env = "CLICKTAIL_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    brokers: String,
    /// The topic workers write matches to.
    #[arg(long, env = "CLICKTAIL_FILTERED_TOPIC", default_value = "clicks.filtered")]
    filtered_topic: String,
    /// Only this filter's matches (default: every filter's).
    #[arg(long, value_name = "ID", conflicts_with = "name")]
    filter: Option<u64>,
    /// Only the matches of the standing filter of this name
    /// (`clicktail filters add --name`); needs the registry.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Start at a time: an age (`90s`, `10m`, `1h`, `2d`), a Unix time in
    /// milliseconds, or an RFC 3339 time (`2026-01-31T09:30:00Z`).
    /// Default: now.
    #[arg(long, value_name = "WHEN", conflicts_with = "last")]
    since: Option<String>,
    /// Start with the newest N matches (1 to 100,000), oldest first.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=LAST_MAX))]
    last: Option<u64>,
    /// How to print each match.
    #[arg(long, value_enum, default_value = "json")]
    format: Format,
    /// Stop at the end of the topic as of the start instead of following.
    #[arg(long)]
    no_follow: bool,
    /// The registry's PostgreSQL URL (for `--name`).
    #[arg(long, env = "CLICKTAIL_DATABASE_URL", value_name = "URL")]
    database_url: Option<String>,
    /// The schema of the registry's tables (default: the server's search_path).
    #[arg(long, env = "CLICKTAIL_DATABASE_SCHEMA", value_name = "NAME")]
    database_schema: Option<String>,
}

/// Where the tail starts.
enum Start {
    Now,
    SinceMs(i64),
    Last(usize),
}

pub fn run(args: TailArgs) -> anyhow::Result<ExitCode> {
    let start = match (&args.since, args.last) {
        (Some(since), _) => Start::SinceMs(since::parse_since(since, now_ms()).map_err(anyhow::Error::msg)?),
        (None, Some(count)) => Start::Last(count as usize),
        (None, None) => Start::Now,
    };
    let filter = match (&args.name, args.filter) {
        (Some(name), _) => Some(resolve_name(&args, name)?),
        (None, id) => id.map(FilterId),
    };
    let log = KafkaLog::new(KafkaConfig::new(&args.brokers))?;
    let topic = &args.filtered_topic;
    let partition_count =
        log.partition_count(topic).with_context(|| format!("reading the filtered topic {topic:?}"))?;
    let partitions: Vec<PartitionId> = match filter {
        Some(id) => vec![filtered_partition(id, partition_count)],
        None => (0..partition_count).map(PartitionId).collect(),
    };
    let mut ranges = Vec::with_capacity(partitions.len());
    for partition in partitions {
        let (low, high) = log.watermarks(topic, partition)?;
        ranges.push(PartitionRange { partition, low, high });
    }
    let key = filter.map(|id| id.to_string());
    let wanted = key.as_deref().map_or(Wanted::All, |key| Wanted::Key(key.as_bytes()));

    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    let mut printer = Printer::new(args.format, BufWriter::new(io::stdout().lock()));
    let what = filter.map_or_else(|| "every filter".to_owned(), |id| format!("filter {id}"));
    let result = (|| -> anyhow::Result<()> {
        let starts: Vec<(PartitionId, i64)> = match start {
            Start::Now => {
                eprintln!("clicktail tail: {what} on {topic:?}, from now ({})", describe(&ranges, |r| r.high));
                ranges.iter().map(|r| (r.partition, r.high)).collect()
            }
            Start::SinceMs(since_ms) => {
                let mut starts = Vec::with_capacity(ranges.len());
                for range in &ranges {
                    let offset = log.offset_for_time(topic, range.partition, since_ms)?.unwrap_or(range.high);
                    starts.push((range.partition, offset.clamp(range.low, range.high)));
                }
                eprintln!(
                    "clicktail tail: {what} on {topic:?}, since {since_ms} ms ({})",
                    describe(&ranges, |r| starts.iter().find(|s| s.0 == r.partition).map_or(r.high, |s| s.1))
                );
                starts
            }
            Start::Last(count) => {
                let (records, bounded) = history::last_records(&log, topic, &ranges, wanted, count)?;
                eprintln!(
                    "clicktail tail: {what} on {topic:?}, the last {} of {count} asked, then from offset ({})",
                    records.len(),
                    describe(&ranges, |r| r.high)
                );
                if bounded {
                    eprintln!(
                        "clicktail tail: stopped looking back after {} records of a partition",
                        history::SCAN_RECORDS_MAX
                    );
                }
                for record in &records {
                    printer.print(record)?;
                }
                printer.flush()?;
                ranges.iter().map(|r| (r.partition, r.high)).collect()
            }
        };
        follow(&log, topic, &ranges, &starts, wanted, &mut printer, args.no_follow, &stop)
    })();
    let unreadable = printer.unreadable;
    if unreadable > 0 {
        eprintln!("clicktail tail: skipped {unreadable} records this build cannot read");
    }
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        // `| head` closed the pipe: what was wanted was printed.
        Err(error) if is_broken_pipe(&error) => Ok(ExitCode::SUCCESS),
        Err(error) => Err(error),
    }
}

/// Prints records from `starts` until stopped (Ctrl-C, SIGTERM), or with
/// `no_follow` until every partition reached its `high` as of the start.
#[allow(clippy::too_many_arguments)]
fn follow<W: Write>(
    log: &KafkaLog,
    topic: &str,
    ranges: &[PartitionRange],
    starts: &[(PartitionId, i64)],
    wanted: Wanted<'_>,
    printer: &mut Printer<W>,
    no_follow: bool,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    // The offset each partition must reach to be done (for `no_follow`).
    let mut remaining: Vec<(PartitionId, i64)> = ranges
        .iter()
        .filter(|range| starts.iter().any(|(p, start)| *p == range.partition && *start < range.high))
        .map(|range| (range.partition, range.high))
        .collect();
    if no_follow && remaining.is_empty() {
        return Ok(());
    }
    let mut consumer = log.consumer_from(topic, starts)?;
    let mut batch = Vec::with_capacity(POLL_RECORDS_MAX);
    while !stop.load(Ordering::Relaxed) {
        batch.clear();
        consumer.poll(POLL_RECORDS_MAX, POLL_TIMEOUT, &mut batch)?;
        for record in &batch {
            if no_follow {
                let high = remaining.iter().find(|(p, _)| *p == record.partition).map(|(_, high)| *high);
                if high.is_none_or(|high| record.offset >= high) {
                    continue;
                }
            }
            if wanted.selects(record) {
                printer.print(record)?;
            }
            if no_follow {
                remaining.retain(|(p, high)| *p != record.partition || record.offset + 1 < *high);
            }
        }
        printer.flush()?;
        if no_follow && remaining.is_empty() {
            break;
        }
    }
    Ok(())
}

/// `partition 3 at offset 42` for one partition, `4 partitions` for more.
fn describe(ranges: &[PartitionRange], offset: impl Fn(&PartitionRange) -> i64) -> String {
    match ranges {
        [range] => format!("partition {} from offset {}", range.partition.0, offset(range)),
        ranges => format!("{} partitions", ranges.len()),
    }
}

/// The id of the standing filter named `name`.
fn resolve_name(args: &TailArgs, name: &str) -> anyhow::Result<FilterId> {
    let Some(url) = &args.database_url else {
        anyhow::bail!("--name needs the registry: pass --database-url or set CLICKTAIL_DATABASE_URL");
    };
    let mut config = PostgresConfig::new(url);
    if let Some(schema) = &args.database_schema {
        config = config.in_schema(schema);
    }
    let registry = PostgresRegistry::connect(config)?;
    // `list` reads every row; a CLI's single lookup can afford it.
    let found = registry.list()?.into_iter().find(|row| row.name.as_deref() == Some(name));
    found.map(|row| row.id).with_context(|| {
        format!(
            "no standing filter named {name:?} (see `clicktail filters list`; names are given at `filters add --name`)"
        )
    })
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| cause.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe))
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_millis() as i64)
}
