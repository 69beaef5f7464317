//! What `clicktail match` prints: the matches on stdout in one of three
//! shapes, and the summary and notes on stderr.

use std::fmt;
use std::io::{self, Write};
use std::time::Duration;

use clicktail_engine::matcher::FilterId;

use super::pipeline::StageBusy;

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

/// What the matches become, chosen from `--format` and `--count`.
#[derive(Clone, Copy)]
pub enum Shape {
    Lines,
    Json,
    /// Matching events per filter, printed at the end.
    Counts,
}

impl Shape {
    pub fn new(format: Format, count: bool) -> Self {
        match (count, format) {
            (true, _) => Shape::Counts,
            (false, Format::Lines) => Shape::Lines,
            (false, Format::Json) => Shape::Json,
        }
    }
}

/// Output bytes between two [`Mark`]s: about what the single-threaded
/// command's 64 KiB output buffer held, so that a closed standard output
/// stops the count of events read at about the same place.
const MARK_BYTES: usize = 1 << 16;

/// What matching one chunk produced, to be written in input order.
#[derive(Default)]
pub struct ChunkOutput {
    /// Standard output's bytes for the chunk (`Lines` and `Json`).
    pub bytes: Vec<u8>,
    /// For `Counts`: each filter id once per event it matched.
    pub counted: Vec<FilterId>,
    /// Places in `bytes` the writer may stop at, with the totals up to there.
    pub marks: Vec<Mark>,
    /// The chunk's totals.
    pub totals: Totals,
}

/// A place in a chunk's output and the chunk's totals up to it.
#[derive(Clone, Copy)]
pub struct Mark {
    pub end: usize,
    pub totals: Totals,
}

impl ChunkOutput {
    /// Empties it for the next chunk, keeping its buffers.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.counted.clear();
        self.marks.clear();
        self.totals = Totals::default();
    }

    /// One event's matches: `line` is its line number, `filters` the ids
    /// it matched (sorted, not empty), `event` its bytes.
    pub fn event_matched(&mut self, shape: Shape, line: u64, event: &[u8], filters: &[FilterId]) {
        match shape {
            Shape::Lines => write_lines(&mut self.bytes, line, filters),
            Shape::Json => write_json(&mut self.bytes, line, event, filters),
            Shape::Counts => self.counted.extend_from_slice(filters),
        }
        self.totals.matches += filters.len() as u64;
        let marked = self.marks.last().map_or(0, |mark| mark.end);
        if self.bytes.len() - marked >= MARK_BYTES {
            self.marks.push(Mark { end: self.bytes.len(), totals: self.totals });
        }
    }
}

/// Writes the chunks' output in input order (or, for counts, at the end)
/// and adds up their totals.
pub struct Writer<W: Write> {
    out: W,
    shape: Shape,
    /// For `Counts`: matching events per filter, indexed by filter id.
    per_filter: Vec<u64>,
    /// For `Counts`: the filters to print, in order, zeros included.
    ids: Vec<FilterId>,
    /// The totals of what was written.
    pub totals: Totals,
}

impl<W: Write> Writer<W> {
    /// `ids` sorted.
    pub fn new(out: W, shape: Shape, ids: Vec<FilterId>) -> Self {
        let per_filter = match shape {
            Shape::Counts => vec![0; ids.last().map_or(0, |id| id.0 as usize + 1)],
            Shape::Lines | Shape::Json => Vec::new(),
        };
        Writer { out, shape, per_filter, ids, totals: Totals::default() }
    }

    /// Writes the next chunk's output. On an error the totals count the
    /// chunk up to the mark where writing failed.
    pub fn write_chunk(&mut self, chunk: &ChunkOutput) -> io::Result<()> {
        let mut start = 0;
        let last = Mark { end: chunk.bytes.len(), totals: chunk.totals };
        for mark in chunk.marks.iter().chain([&last]) {
            if let Err(error) = self.out.write_all(&chunk.bytes[start..mark.end]) {
                self.totals.add(&mark.totals);
                return Err(error);
            }
            start = mark.end;
        }
        self.totals.add(&chunk.totals);
        for filter in &chunk.counted {
            self.per_filter[filter.0 as usize] += 1;
        }
        Ok(())
    }

    /// Writes what is left (the counts) and flushes.
    pub fn finish(&mut self) -> io::Result<()> {
        if let Shape::Counts = self.shape {
            let mut number = itoa::Buffer::new();
            for id in &self.ids {
                self.out.write_all(number.format(id.0).as_bytes())?;
                self.out.write_all(b" ")?;
                self.out.write_all(number.format(self.per_filter[id.0 as usize]).as_bytes())?;
                self.out.write_all(b"\n")?;
            }
        }
        self.out.flush()
    }
}

/// `EVENT_LINE FILTER_LINE` for each of `filters`.
fn write_lines(out: &mut Vec<u8>, line: u64, filters: &[FilterId]) {
    let mut event_number = itoa::Buffer::new();
    let event_number = event_number.format(line).as_bytes();
    let mut filter_number = itoa::Buffer::new();
    for filter in filters {
        out.extend_from_slice(event_number);
        out.push(b' ');
        out.extend_from_slice(filter_number.format(filter.0).as_bytes());
        out.push(b'\n');
    }
}

/// `{"line":N,"filters":[1,3],"event":EVENT}`. Only a parsed event
/// matches, and the parser accepts only valid UTF-8 JSON without a `\n`,
/// so the event's bytes are a JSON value as they are.
fn write_json(out: &mut Vec<u8>, line: u64, event: &[u8], filters: &[FilterId]) {
    let mut number = itoa::Buffer::new();
    out.extend_from_slice(b"{\"line\":");
    out.extend_from_slice(number.format(line).as_bytes());
    out.extend_from_slice(b",\"filters\":[");
    for (index, filter) in filters.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        out.extend_from_slice(number.format(filter.0).as_bytes());
    }
    out.extend_from_slice(b"],\"event\":");
    out.extend_from_slice(event);
    out.extend_from_slice(b"}\n");
}

/// Counters for the summary line.
#[derive(Clone, Copy, Default)]
pub struct Totals {
    pub events: u64,
    pub parsed: u64,
    pub malformed: u64,
    pub matches: u64,
}

impl Totals {
    pub fn add(&mut self, other: &Totals) {
        self.events += other.events;
        self.parsed += other.parsed;
        self.malformed += other.malformed;
        self.matches += other.matches;
    }
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

/// Where a run's time went, for `--timings`.
pub struct Timings {
    /// Parsing and preparing the filters (on every core for large sets).
    pub parse: Duration,
    /// Reading the filters file and indexing the filters into the set.
    pub index: Duration,
    /// Compiling the set into the matcher.
    pub build: Duration,
    pub threads: usize,
    pub busy: StageBusy,
    /// From the first event read to the last byte written.
    pub elapsed: Duration,
}

/// `--timings`: one line on stderr after the summary.
pub fn print_timings(timings: &Timings) {
    let Timings { parse, index, build, threads, busy, elapsed } = timings;
    note(format_args!(
        "clicktail match: timings: filters parsed in {:.3} s, read and indexed in {:.3} s, compiled in {:.3} s; \
         events in {:.3} s: read {:.3} s, match {:.3} s (summed over {threads} threads), write {:.3} s",
        parse.as_secs_f64(),
        index.as_secs_f64(),
        build.as_secs_f64(),
        elapsed.as_secs_f64(),
        busy.read.as_secs_f64(),
        busy.matching.as_secs_f64(),
        busy.write.as_secs_f64(),
    ));
}

/// One line on stderr. Unlike `eprintln!`, a closed stderr
/// (`clicktail match ... 2>&1 | head`) is no panic: the line is dropped.
pub fn note(line: fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr().lock(), "{line}");
}
