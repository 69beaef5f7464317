//! What `clicktail match` prints: the matches on stdout in one of three
//! shapes, and the summary and notes on stderr.

use std::fmt;
use std::io::{self, Write};
use std::time::Duration;

use clicktail_engine::matcher::FilterId;

/// The shape of standard output, chosen by `--format` and `--count`.
/// `Lines` is the contract of the design's `FILTERS.md` ("Offline matching").
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `EVENT_LINE FILTER_ID` per match, ordered by event then filter
    Lines,
    /// one line per matching event: `{"line":N,"filters":[ids],"event":EVENT}`,
    /// the event's bytes unchanged
    Json,
}

/// Writes the matches as they come (or, for counts, at the end).
pub enum Output<W: Write> {
    Lines(W),
    Json(W),
    /// Matching events per filter, indexed by filter id; `ids` are the
    /// filters to print, in order, zeros included.
    Counts {
        out: W,
        per_filter: Vec<u64>,
        ids: Vec<FilterId>,
    },
}

impl<W: Write> Output<W> {
    /// `Counts` when `count` is set (`ids` sorted), else the `format`.
    pub fn new(out: W, format: Format, count: bool, ids: Vec<FilterId>) -> Self {
        match (count, format) {
            (true, _) => {
                let size = ids.last().map_or(0, |id| id.0 as usize + 1);
                Output::Counts { out, per_filter: vec![0; size], ids }
            }
            (false, Format::Lines) => Output::Lines(out),
            (false, Format::Json) => Output::Json(out),
        }
    }

    /// One event's matches: `line` is its line number, `filters` the ids
    /// it matched (sorted, not empty), `event` its bytes.
    pub fn event_matched(&mut self, line: u64, event: &[u8], filters: &[FilterId]) -> io::Result<()> {
        match self {
            Output::Lines(out) => write_lines(out, line, filters),
            Output::Json(out) => write_json(out, line, event, filters),
            Output::Counts { per_filter, .. } => {
                for filter in filters {
                    per_filter[filter.0 as usize] += 1;
                }
                Ok(())
            }
        }
    }

    /// Writes what is left (the counts) and flushes.
    pub fn finish(&mut self) -> io::Result<()> {
        match self {
            Output::Lines(out) | Output::Json(out) => out.flush(),
            Output::Counts { out, per_filter, ids } => {
                let mut number = itoa::Buffer::new();
                for id in ids.iter() {
                    out.write_all(number.format(id.0).as_bytes())?;
                    out.write_all(b" ")?;
                    out.write_all(number.format(per_filter[id.0 as usize]).as_bytes())?;
                    out.write_all(b"\n")?;
                }
                out.flush()
            }
        }
    }
}

/// `EVENT_LINE FILTER_LINE` for each of `filters`.
fn write_lines(out: &mut impl Write, line: u64, filters: &[FilterId]) -> io::Result<()> {
    let mut event_number = itoa::Buffer::new();
    let event_number = event_number.format(line).as_bytes();
    let mut filter_number = itoa::Buffer::new();
    for filter in filters {
        out.write_all(event_number)?;
        out.write_all(b" ")?;
        out.write_all(filter_number.format(filter.0).as_bytes())?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// `{"line":N,"filters":[1,3],"event":EVENT}`. Only a parsed event
/// matches, and the parser accepts only valid UTF-8 JSON without a `\n`,
/// so the event's bytes are a JSON value as they are.
fn write_json(out: &mut impl Write, line: u64, event: &[u8], filters: &[FilterId]) -> io::Result<()> {
    let mut number = itoa::Buffer::new();
    out.write_all(b"{\"line\":")?;
    out.write_all(number.format(line).as_bytes())?;
    out.write_all(b",\"filters\":[")?;
    for (index, filter) in filters.iter().enumerate() {
        if index > 0 {
            out.write_all(b",")?;
        }
        out.write_all(number.format(filter.0).as_bytes())?;
    }
    out.write_all(b"],\"event\":")?;
    out.write_all(event)?;
    out.write_all(b"}\n")
}

/// Counters for the summary line.
#[derive(Default)]
pub struct Totals {
    pub events: u64,
    pub parsed: u64,
    pub malformed: u64,
    pub matches: u64,
}

/// The summary on stderr, printed whatever ended the run.
/// `output_closed`: stdout was closed (`| head`) and reading stopped there.
pub fn print_summary(totals: &Totals, elapsed: Duration, prefiltered: bool, output_closed: bool) {
    let seconds = elapsed.as_secs_f64();
    let rate = if seconds > 0.0 { totals.events as f64 / seconds } else { 0.0 };
    let skipped = totals.events - totals.parsed - totals.malformed;
    let prefilter_note = if prefiltered {
        format!(" ({skipped} skipped unparsed by the prefilter: they contain no literal a filter needs)")
    } else {
        String::new()
    };
    let closed_note = if output_closed { "; stopped early: standard output was closed" } else { "" };
    note(format_args!(
        "clicktail match: {} events, {} malformed, {} matches in {seconds:.3} s ({rate:.0} events/s){prefilter_note}{closed_note}",
        totals.events, totals.malformed, totals.matches
    ));
}

/// One line on stderr. Unlike `eprintln!`, a closed stderr
/// (`clicktail match ... 2>&1 | head`) is no panic: the line is dropped.
pub fn note(line: fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr().lock(), "{line}");
}
