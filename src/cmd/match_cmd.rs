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
//! Layout: `criteria` (filters from a file or `-e`), `output` (stdout
//! shapes, summary).

mod criteria;
mod output;

use std::fs::File;
use std::io::{self, BufReader, BufWriter, IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clicktail_engine::event::EventLimits;
use clicktail_engine::matcher::{MatchScratch, MatcherOptions, Outcome};

use super::lines::{BoundedLines, Line};
use output::{note, print_summary, Format, Output, Totals};

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
}

pub fn run(args: MatchArgs) -> anyhow::Result<ExitCode> {
    let options = MatcherOptions { raw_prefilter: !args.no_prefilter };
    let criteria = match &args.filters {
        Some(path) => criteria::from_file(path, options)?,
        None => criteria::from_arguments(&args.criteria, options),
    };
    let Some(mut criteria) = criteria else {
        return Ok(ExitCode::from(2));
    };
    let matcher = criteria.set.build();
    let limits = EventLimits { bytes_max: args.event_bytes_max, ..EventLimits::default() };
    let (input, input_name) = open_events(args.events.as_ref())?;
    let mut lines = BoundedLines::new(BufReader::with_capacity(1 << 20, input), limits.bytes_max);
    let stdout = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let mut out = Output::new(stdout, args.format, args.count, criteria.ids);
    let mut scratch = MatchScratch::new(limits);
    let mut matched = Vec::new();
    let mut totals = Totals::default();
    let started = Instant::now();
    let mut progress = Progress::new();
    let mut written = Ok(());
    while let Some(line) = lines.next_line().with_context(|| format!("cannot read {input_name}"))? {
        totals.events += 1;
        let (outcome, raw) = match line {
            Line::Complete(raw) => (matcher.match_event(raw, &mut scratch, &mut matched), raw),
            // Only the first bytes were kept: it is malformed by size alone.
            Line::TooLong => {
                totals.malformed += 1;
                continue;
            }
        };
        match outcome {
            Outcome::Parsed => totals.parsed += 1,
            Outcome::Skipped => {}
            Outcome::Malformed(_) => totals.malformed += 1,
        }
        if !matched.is_empty() {
            matched.sort_unstable();
            written = out.event_matched(totals.events, raw, &matched);
            if written.is_err() {
                break;
            }
            totals.matches += matched.len() as u64;
        }
        progress.tick(&totals, started);
    }
    if written.is_ok() {
        written = out.finish();
    }
    // A closed stdout (`clicktail match ... | head`) ends the run early but
    // not in error: the reader took what it wanted. Exit 0, where grep
    // would die of SIGPIPE (141 under `set -o pipefail`), so that scripts
    // with pipefail can cut the output; the summary says what was read.
    let output_closed = matches!(&written, Err(error) if error.kind() == io::ErrorKind::BrokenPipe);
    print_summary(&totals, started.elapsed(), matcher.uses_prefilter(), output_closed);
    match written {
        Err(error) if !output_closed => Err(anyhow::Error::new(error).context("cannot write to standard output")),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// The events' reader and its name for errors: the file, or standard
/// input when there is no `--events` or it is `-`.
fn open_events(events: Option<&PathBuf>) -> anyhow::Result<(Box<dyn Read>, String)> {
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
            Ok((Box::new(stdin.lock()), "standard input".to_owned()))
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

    fn tick(&mut self, totals: &Totals, started: Instant) {
        if !self.enabled || !totals.events.is_multiple_of(65_536) || self.last.elapsed() < Duration::from_secs(2) {
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
