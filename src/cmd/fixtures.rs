//! `clicktail fixtures`: writes generated clickstream events and filter sets,
//! one item per line, to a file or standard output.
//!
//! The generators live in `clicktail-bench` (`Clickstream`, `filters`); this
//! file only parses flags, batches output and reports progress. The files
//! checked in under `fixtures/` were written by it (see
//! `fixtures/README.md` for the exact commands).

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clicktail_bench::filters::{selective_filter, MixedFilters};
use clicktail_bench::{Clickstream, ClickstreamConfig, Generated};

/// Output is handed to the OS in batches of about this many bytes: large
/// enough that a write per batch costs nothing next to generating it
/// (~400 events), small enough to stay in L2 cache.
const BATCH_BYTES: usize = 256 * 1024;

/// Event counts from which a progress line is printed every
/// `PROGRESS_INTERVAL` (a smaller run finishes before the first line).
const PROGRESS_MIN_COUNT: u64 = 1_000_000;

/// How often the progress line is printed.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

/// How many events are generated between two looks at the clock.
const CLOCK_CHECK_EVENTS: u64 = 16_384;

#[derive(clap::Args)]
pub struct FixturesArgs {
    /// What to write.
    #[command(subcommand)]
    fixture: Fixture,
}

#[derive(clap::Subcommand)]
enum Fixture {
    /// Write clickstream events, one JSON object per line.
    Events(EventsArgs),
    /// Write a filter set in the filter language (docs/filters.md), one filter per line.
    Filters {
        /// Which set.
        #[command(subcommand)]
        set: FilterSet,
    },
}

#[derive(clap::Args)]
struct EventsArgs {
    /// How many events to write.
    #[arg(long)]
    count: u64,
    /// PRNG seed: the same flags always write the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Users are u-1..u-USERS, one drawn uniformly per session.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    users: u64,
    /// Events per million written malformed (truncated, invalid UTF-8,
    /// not JSON...), for robustness tests.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    malformed_per_million: u32,
    /// Output file [default: standard output].
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
enum FilterSet {
    /// `user.id == "u-1"` to `user.id == "u-COUNT"`, one per user.
    Selective {
        /// How many filters (and users) to write.
        #[arg(long, default_value_t = 50_000)]
        count: u64,
        /// Output file [default: standard output].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// A realistic mix: mostly user ids, then every operator of the
    /// language on values that occur in generated events; never `*`.
    Mixed {
        /// How many filters to write.
        #[arg(long, default_value_t = 1_000)]
        count: u64,
        /// PRNG seed: the same flags always write the same filters.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// User ids in filters are drawn from u-1..u-USERS.
        #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
        users: u64,
        /// Output file [default: standard output].
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

pub fn run(args: FixturesArgs) -> anyhow::Result<ExitCode> {
    match args.fixture {
        Fixture::Events(events) => write_events(events),
        Fixture::Filters { set: FilterSet::Selective { count, out } } => {
            write_lines(out, (1..=count).map(selective_filter))
        }
        Fixture::Filters { set: FilterSet::Mixed { count, seed, users, out } } => {
            let mut filters = MixedFilters::new(seed, users);
            write_lines(out, (0..count).map(|_| filters.next_filter()))
        }
    }
}

/// Where output goes, named for error messages.
struct Output {
    writer: Box<dyn Write>,
    name: String,
}

impl Output {
    fn open(path: Option<PathBuf>) -> anyhow::Result<Self> {
        Ok(match path {
            Some(path) => Self {
                writer: Box::new(File::create(&path).with_context(|| format!("cannot create {}", path.display()))?),
                name: path.display().to_string(),
            },
            None => Self { writer: Box::new(io::stdout().lock()), name: "standard output".to_owned() },
        })
    }

    /// Writes `bytes`; `Ok(false)` when the reader went away (`| head`),
    /// which ends the run quietly rather than as an error.
    fn write(&mut self, bytes: &[u8]) -> anyhow::Result<bool> {
        match self.writer.write_all(bytes) {
            Ok(()) => Ok(true),
            Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(false),
            Err(error) => Err(error).with_context(|| format!("cannot write to {}", self.name)),
        }
    }

    fn finish(mut self) -> anyhow::Result<()> {
        match self.writer.flush() {
            Err(error) if error.kind() != io::ErrorKind::BrokenPipe => {
                Err(error).with_context(|| format!("cannot write to {}", self.name))
            }
            _ => Ok(()),
        }
    }
}

fn write_events(args: EventsArgs) -> anyhow::Result<ExitCode> {
    let config = ClickstreamConfig {
        seed: args.seed,
        users: args.users,
        malformed_per_million: args.malformed_per_million,
        ..ClickstreamConfig::default()
    };
    let mut stream = Clickstream::new(config).context("invalid generator settings")?;
    let mut output = Output::open(args.out)?;
    let mut batch = Vec::with_capacity(BATCH_BYTES + 4 * 1024);
    let started = Instant::now();
    let mut last_progress = started;
    let mut bytes_written = 0u64;
    let mut malformed = 0u64;
    let mut written = 0u64;
    let mut next_clock_check = CLOCK_CHECK_EVENTS;
    while written < args.count {
        if let Generated::Malformed(_) = stream.next_event(&mut batch) {
            malformed += 1;
        }
        batch.push(b'\n');
        written += 1;
        if batch.len() >= BATCH_BYTES || written == args.count {
            if !output.write(&batch)? {
                return Ok(ExitCode::SUCCESS);
            }
            bytes_written += batch.len() as u64;
            batch.clear();
        }
        if args.count >= PROGRESS_MIN_COUNT && written == next_clock_check {
            next_clock_check += CLOCK_CHECK_EVENTS;
            let now = Instant::now();
            if now - last_progress >= PROGRESS_INTERVAL {
                last_progress = now;
                let seconds = (now - started).as_secs_f64();
                eprintln!(
                    "fixtures: {written}/{} events ({:.0}%), {:.0} MB, {:.0} events/s",
                    args.count,
                    100.0 * written as f64 / args.count as f64,
                    bytes_written as f64 / 1e6,
                    written as f64 / seconds,
                );
            }
        }
    }
    output.finish()?;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "fixtures: wrote {written} events ({malformed} malformed), {bytes_written} bytes, {:.0} bytes/event, in {seconds:.2} s ({:.0} events/s)",
        bytes_written as f64 / written.max(1) as f64,
        written as f64 / seconds,
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes each line followed by `\n`, batched.
fn write_lines(out: Option<PathBuf>, lines: impl Iterator<Item = String>) -> anyhow::Result<ExitCode> {
    let mut output = Output::open(out)?;
    let mut batch = Vec::with_capacity(BATCH_BYTES + 4 * 1024);
    let mut count = 0u64;
    for line in lines {
        batch.extend_from_slice(line.as_bytes());
        batch.push(b'\n');
        count += 1;
        if batch.len() >= BATCH_BYTES {
            if !output.write(&batch)? {
                return Ok(ExitCode::SUCCESS);
            }
            batch.clear();
        }
    }
    if !output.write(&batch)? {
        return Ok(ExitCode::SUCCESS);
    }
    output.finish()?;
    eprintln!("fixtures: wrote {count} filters");
    Ok(ExitCode::SUCCESS)
}
