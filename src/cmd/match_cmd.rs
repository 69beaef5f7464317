//! `clicktail match`: offline matching of a file of events against a file of
//! filters, through the same compiled matcher the workers run.
//!
//! Output, exactly as `FILTERS.md` ("Offline matching") specifies: one line
//! `EVENT_LINE FILTER_LINE` per match, ordered by event then filter, nothing
//! for malformed events. Filters that do not parse are all reported on
//! stderr and the command exits with status 2 before matching anything.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clicktail_engine::event::EventLimits;
use clicktail_engine::language::parse_filter;
use clicktail_engine::matcher::{FilterId, FilterSet, MatchScratch, MatcherOptions, Outcome, PreparedFilter};

use super::lines::{BoundedLines, Line};

#[derive(clap::Args)]
pub struct MatchArgs {
    /// File of filters, one per line; a filter's id is its line number (from 1).
    /// Blank lines are skipped (their numbers are not reused).
    #[arg(long, value_name = "FILE")]
    filters: PathBuf,
    /// File of events, one JSON message per line (`-` for standard input).
    #[arg(long, value_name = "FILE")]
    events: PathBuf,
    /// Largest event accepted, in bytes; longer lines are malformed.
    #[arg(long, default_value_t = EventLimits::default().bytes_max, value_name = "BYTES")]
    event_bytes_max: usize,
    /// Parse every event, even those that contain none of the literals the
    /// filters need (slower; makes the malformed count cover every event).
    #[arg(long)]
    no_prefilter: bool,
}

/// Counters for the summary line.
#[derive(Default)]
struct Totals {
    events: u64,
    parsed: u64,
    malformed: u64,
    matches: u64,
}

pub fn run(args: MatchArgs) -> anyhow::Result<ExitCode> {
    let options = MatcherOptions { raw_prefilter: !args.no_prefilter };
    let Some(mut filters) = load_filters(&args.filters, options)? else {
        return Ok(ExitCode::from(2));
    };
    let matcher = filters.build();
    let limits = EventLimits { bytes_max: args.event_bytes_max, ..EventLimits::default() };
    let input: Box<dyn Read> = if args.events.as_os_str() == "-" {
        Box::new(io::stdin().lock())
    } else {
        Box::new(
            File::open(&args.events).with_context(|| format!("cannot open events file {}", args.events.display()))?,
        )
    };
    let mut lines = BoundedLines::new(BufReader::with_capacity(1 << 20, input), limits.bytes_max);
    let stdout = io::stdout().lock();
    let mut out = BufWriter::with_capacity(1 << 16, stdout);
    let mut scratch = MatchScratch::new(limits);
    let mut matched = Vec::new();
    let mut totals = Totals::default();
    let started = Instant::now();
    let mut progress = Progress::new();
    while let Some(line) = lines.next_line().with_context(|| format!("cannot read {}", args.events.display()))? {
        totals.events += 1;
        let outcome = match line {
            Line::Complete(raw) => matcher.match_event(raw, &mut scratch, &mut matched),
            // Only the first bytes were kept: it is malformed by size alone.
            Line::TooLong => {
                matched.clear();
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
            if let Err(error) = write_matches(&mut out, totals.events, &matched) {
                return finish_on_write_error(error);
            }
            totals.matches += matched.len() as u64;
        }
        progress.tick(&totals, started);
    }
    if let Err(error) = out.flush() {
        return finish_on_write_error(error);
    }
    print_summary(&totals, started.elapsed(), matcher.uses_prefilter());
    Ok(ExitCode::SUCCESS)
}

/// Writes `EVENT_LINE FILTER_LINE` for each of `filters` (sorted).
fn write_matches(out: &mut impl Write, event: u64, filters: &[FilterId]) -> io::Result<()> {
    let mut event_number = itoa::Buffer::new();
    let event_number = event_number.format(event).as_bytes();
    let mut filter_number = itoa::Buffer::new();
    for filter in filters {
        out.write_all(event_number)?;
        out.write_all(b" ")?;
        out.write_all(filter_number.format(filter.0).as_bytes())?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Parses every filter; reports each bad one on stderr and returns `None` if any.
fn load_filters(path: &PathBuf, options: MatcherOptions) -> anyhow::Result<Option<FilterSet>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read filters file {}", path.display()))?;
    let mut filters = FilterSet::new(options);
    let mut rejected = 0;
    for (index, line) in bytes.split(|&byte| byte == b'\n').enumerate() {
        let number = index as u64 + 1;
        let result = std::str::from_utf8(line)
            .map_err(|error| format!("column {}: filter is not valid UTF-8", error.valid_up_to() + 1))
            .and_then(|source| {
                if source.trim().is_empty() {
                    return Ok(None);
                }
                parse_filter(source).map(Some).map_err(|error| error.to_string())
            });
        match result {
            Ok(Some(expr)) => filters.insert(FilterId(number), Arc::new(PreparedFilter::new(&expr))),
            Ok(None) => {}
            Err(message) => {
                eprintln!("{}:{number}: {message}", path.display());
                rejected += 1;
            }
        }
    }
    if rejected > 0 {
        eprintln!("clicktail match: {rejected} filter(s) rejected, nothing matched");
        return Ok(None);
    }
    Ok(Some(filters))
}

/// A closed stdout (`clicktail match ... | head`) ends the run quietly.
fn finish_on_write_error(error: io::Error) -> anyhow::Result<ExitCode> {
    if error.kind() == io::ErrorKind::BrokenPipe {
        return Ok(ExitCode::SUCCESS);
    }
    Err(anyhow::Error::new(error).context("cannot write matches to standard output"))
}

fn print_summary(totals: &Totals, elapsed: Duration, prefiltered: bool) {
    let seconds = elapsed.as_secs_f64();
    let rate = if seconds > 0.0 { totals.events as f64 / seconds } else { 0.0 };
    let skipped = totals.events - totals.parsed - totals.malformed;
    let prefilter_note = if prefiltered {
        format!(" ({skipped} skipped unparsed by the prefilter: they contain no literal a filter needs)")
    } else {
        String::new()
    };
    eprintln!(
        "clicktail match: {} events, {} malformed, {} matches in {seconds:.3} s ({rate:.0} events/s){prefilter_note}",
        totals.events, totals.malformed, totals.matches
    );
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
        eprintln!("clicktail match: {} events, {} matches so far, {rate:.0} events/s", totals.events, totals.matches);
    }
}
