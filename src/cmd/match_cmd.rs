//! `clicktail match`: offline matching of events against filters, through
//! the same compiled matcher the workers run.
//!
//! The default output is exactly what `FILTERS.md` ("Offline matching")
//! specifies: one line `EVENT_LINE FILTER_LINE` per match, ordered by event
//! then filter, nothing for malformed events. Filters that do not parse are
//! all reported on stderr and the command exits with status 2 before
//! matching anything. Around that contract, grep's habits: `-e` criteria,
//! standard input by default, `--count`, `--format json`, and a summary that
//! survives `| head`.
//!
//! Matching runs on every core (`--threads`, one per core by default): the
//! input is cut into chunks of whole lines, chunks are matched in parallel
//! and their output is written in input order, the same bytes whatever the
//! number of threads.
//!
//! Layout: `criteria` (filters from a file or `-e`), `chunks` (the input cut
//! at line boundaries), `pipeline` (the threads and the order of their
//! output), `output` (stdout shapes, summary, timings).

mod chunks;
mod criteria;
mod output;
mod pipeline;

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clicktail_engine::event::EventLimits;
use clicktail_engine::matcher::MatcherOptions;

use chunks::ChunkReader;
use output::{note, print_summary, print_timings, Format, Shape, Timings, Totals, Writer};

/// Most matcher threads `--threads` accepts: each holds a few chunks in
/// flight, and more threads than cores only adds memory.
const THREADS_MAX: u16 = 256;

#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("criteria").required(true).args(["filters", "regexp"]))]
pub struct MatchArgs {
    /// File of filters, one per line; a filter's id is its line number (from 1).
    /// Blank lines are skipped (their numbers are not reused).
    #[arg(long, value_name = "FILE", conflicts_with = "regexp")]
    filters: Option<PathBuf>,
    /// A filter given on the command line (repeatable, instead of --filters);
    /// ids are 1, 2, ... in the order given. Syntax: docs/filters.md.
    #[arg(short = 'e', value_name = "CRITERION", id = "regexp")]
    criteria: Vec<String>,
    /// File of events, one JSON message per line; standard input when
    /// absent or `-`.
    #[arg(long, value_name = "FILE")]
    events: Option<PathBuf>,
    /// Print each filter's number of matching events (`FILTER_ID COUNT`,
    /// every filter in id order, zeros included) instead of the matches.
    #[arg(long, short = 'c', conflicts_with = "format")]
    count: bool,
    /// What to print for the matches.
    #[arg(long, value_enum, default_value_t = Format::Lines)]
    format: Format,
    /// Largest event accepted, in bytes; longer lines are malformed.
    #[arg(long, default_value_t = EventLimits::default().bytes_max, value_name = "BYTES")]
    event_bytes_max: usize,
    /// Parse every event, even those that contain none of the literals the
    /// filters need (slower; makes the malformed count cover every event).
    #[arg(long)]
    no_prefilter: bool,
    /// Threads that match the events and parse a large filters file
    /// [default: one per core]. The output is the same
    /// for any number.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=THREADS_MAX as i64))]
    threads: Option<u16>,
    /// After the summary, print on stderr where the time went: reading and
    /// compiling the filters, then reading, matching and writing the events.
    #[arg(long)]
    timings: bool,
    /// Bytes read at a time, the size of the chunks matched in parallel
    /// (tests set it small to cut small inputs into many chunks).
    #[arg(long, hide = true, default_value_t = 1 << 20, value_parser = clap::value_parser!(u32).range(1..))]
    chunk_bytes: u32,
}

pub fn run(args: MatchArgs) -> anyhow::Result<ExitCode> {
    // A short burst of allocations: small pages are faster and steadier
    // here (`clicktail_engine::small_pages`). Without the switch the run is
    // only slower.
    let _ = clicktail_engine::small_pages::use_small_pages();
    let options = MatcherOptions { raw_prefilter: !args.no_prefilter };
    let threads = args.threads.map_or_else(cores, usize::from);
    let compile_started = Instant::now();
    let criteria = match &args.filters {
        Some(path) => criteria::from_file(path, options, threads)?,
        None => criteria::from_arguments(&args.criteria, options, threads),
    };
    let Some(mut criteria) = criteria else {
        return Ok(ExitCode::from(2));
    };
    let read_and_index_elapsed = compile_started.elapsed();
    let build_started = Instant::now();
    let matcher = criteria.set.build();
    let build_elapsed = build_started.elapsed();
    let limits = EventLimits { bytes_max: args.event_bytes_max, ..EventLimits::default() };
    let (input, input_name) = open_events(args.events.as_ref())?;
    let reader = ChunkReader::new(input, args.chunk_bytes as usize, limits.bytes_max);
    let stdout = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let shape = Shape::new(args.format, args.count);
    let mut writer = Writer::new(stdout, shape, criteria.ids);
    let plan = pipeline::Plan { matcher: &matcher, shape, limits, threads };
    let started = Instant::now();
    let mut progress = Progress::new();
    let ended = pipeline::run(reader, &plan, &mut writer, |totals| progress.tick(totals, started));
    ended.read.with_context(|| format!("cannot read {input_name}"))?;
    let mut written = ended.written;
    if written.is_ok() {
        written = writer.finish();
    }
    let elapsed = started.elapsed();
    // A closed stdout (`clicktail match ... | head`) ends the run early but
    // not in error: the reader took what it wanted. Exit 0, where grep
    // would die of SIGPIPE (141 under `set -o pipefail`), so that scripts
    // with pipefail can cut the output; the summary says what was read.
    let output_closed = matches!(&written, Err(error) if error.kind() == io::ErrorKind::BrokenPipe);
    print_summary(&writer.totals, elapsed, matcher.uses_prefilter(), output_closed);
    if args.timings {
        print_timings(&Timings {
            parse: criteria.parse_elapsed,
            index: read_and_index_elapsed.saturating_sub(criteria.parse_elapsed),
            build: build_elapsed,
            threads,
            busy: ended.busy,
            elapsed,
        });
    }
    match written {
        Err(error) if !output_closed => Err(anyhow::Error::new(error).context("cannot write to standard output")),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// The default number of matching threads: one per core.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// The events' reader and its name for errors: the file, or standard
/// input when there is no `--events` or it is `-`.
fn open_events(events: Option<&PathBuf>) -> anyhow::Result<(Box<dyn Read + Send>, String)> {
    match events {
        Some(path) if path.as_os_str() != "-" => {
            let file = File::open(path).with_context(|| format!("cannot open events file {}", path.display()))?;
            Ok((Box::new(file), path.display().to_string()))
        }
        _ => {
            let stdin = io::stdin();
            if stdin.is_terminal() {
                // Like grep, wait for the terminal; unlike it, say so.
                note(format_args!(
                    "clicktail match: reading events from the terminal (Ctrl-D ends; --events FILE reads a file)"
                ));
            }
            // Unlocked: the reading thread takes it; each read is 1 MiB.
            Ok((Box::new(stdin), "standard input".to_owned()))
        }
    }
}

/// A progress line on stderr every two seconds, only when stderr is a terminal.
struct Progress {
    enabled: bool,
    last: Instant,
}

impl Progress {
    fn new() -> Self {
        Progress { enabled: io::stderr().is_terminal(), last: Instant::now() }
    }

    /// Called after each chunk written.
    fn tick(&mut self, totals: &Totals, started: Instant) {
        if !self.enabled || self.last.elapsed() < Duration::from_secs(2) {
            return;
        }
        self.last = Instant::now();
        let rate = totals.events as f64 / started.elapsed().as_secs_f64();
        note(format_args!(
            "clicktail match: {} events, {} matches so far, {rate:.0} events/s",
            totals.events, totals.matches
        ));
    }
}
