//! Where `clicktail match` gets its filters: a file (`--filters`, id =
//! line number) or the command line (`-e`, id = position from 1).

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clicktail_engine::language::parse_filter;
use clicktail_engine::matcher::{FilterId, FilterSet, MatcherOptions, PreparedFilter};

use super::output::note;

/// The parsed filters and their ids in increasing order (for `--count`,
/// which prints every filter, matched or not).
pub struct Criteria {
    pub set: FilterSet,
    pub ids: Vec<FilterId>,
    /// Time spent parsing and preparing the filters (the rest of building
    /// `set` is indexing them), for `--timings`.
    pub parse_elapsed: Duration,
}

/// Parses the filters of a file, one per line; blank lines are skipped and
/// their numbers not reused. `Ok(None)` once every bad line is reported.
pub fn from_file(path: &Path, options: MatcherOptions, threads: usize) -> anyhow::Result<Option<Criteria>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) => return Err(unreadable_file(path, error)),
    };
    let sources = bytes.split(|&byte| byte == b'\n').enumerate().filter_map(|(index, line)| {
        let source = std::str::from_utf8(line)
            .map_err(|error| format!("column {}: filter is not valid UTF-8", error.valid_up_to() + 1));
        match source {
            Ok(source) if source.trim().is_empty() => None,
            source => Some((index as u64 + 1, source)),
        }
    });
    Ok(parse_all(sources, |number| format!("{}:{number}", path.display()), options, threads))
}

/// Parses the `-e` criteria, numbered from 1 in the order given.
pub fn from_arguments(criteria: &[String], options: MatcherOptions, threads: usize) -> Option<Criteria> {
    let sources = criteria.iter().enumerate().map(|(index, source)| (index as u64 + 1, Ok(source.as_str())));
    parse_all(sources, |number| format!("-e {number}"), options, threads)
}

/// Below this many filters, parsing on one thread is quicker than starting others.
const PARALLEL_PARSE_FILTERS_MIN: usize = 4_096;

/// Parses each `(id, source)`; reports every failure on stderr as
/// `WHERE: column N: message` and returns `None` if there was any, so that
/// nothing is matched with a partial set.
fn parse_all<'a>(
    sources: impl Iterator<Item = (u64, Result<&'a str, String>)>,
    place: impl Fn(u64) -> String,
    options: MatcherOptions,
    threads: usize,
) -> Option<Criteria> {
    let started = Instant::now();
    let sources: Vec<_> = sources.collect();
    let prepared = prepare_all(&sources, threads);
    let parse_elapsed = started.elapsed();
    let mut criteria = Criteria { set: FilterSet::new(options), ids: Vec::new(), parse_elapsed };
    let mut rejected = 0;
    for (number, prepared) in prepared {
        match prepared {
            Ok(filter) => {
                criteria.set.insert(FilterId(number), filter);
                criteria.ids.push(FilterId(number));
            }
            Err(message) => {
                note(format_args!("{}: {message}", place(number)));
                rejected += 1;
            }
        }
    }
    if rejected > 0 {
        note(format_args!("clicktail match: {rejected} filter(s) rejected, nothing matched"));
        return None;
    }
    Some(criteria)
}

/// Parses and prepares each source, in order. Filters are independent, so
/// a large set is split across `threads` (`--threads`): parsing is most of the time spent
/// before the first event is matched (`--timings`).
fn prepare_all(
    sources: &[(u64, Result<&str, String>)],
    threads: usize,
) -> Vec<(u64, Result<Arc<PreparedFilter>, String>)> {
    let prepare_one = |(number, source): &(u64, Result<&str, String>)| {
        let prepared = source.clone().and_then(|source| parse_filter(source).map_err(|error| error.to_string()));
        (*number, prepared.map(|expr| Arc::new(PreparedFilter::new(&expr))))
    };
    if threads <= 1 || sources.len() < PARALLEL_PARSE_FILTERS_MIN {
        return sources.iter().map(prepare_one).collect();
    }
    let piece = sources.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let pieces: Vec<_> = sources
            .chunks(piece)
            .map(|piece| scope.spawn(move || piece.iter().map(prepare_one).collect::<Vec<_>>()))
            .collect();
        pieces.into_iter().flat_map(|piece| piece.join().expect("a filter-parsing thread panicked")).collect()
    })
}

/// The error for a filters file that can't be read. A missing "file" whose
/// name is a filter was meant as one (`--filters 'type == "booking"'`):
/// say how to write that.
fn unreadable_file(path: &Path, error: io::Error) -> anyhow::Error {
    if error.kind() == io::ErrorKind::NotFound {
        if let Some(text) = path.to_str().filter(|text| parse_filter(text).is_ok()) {
            return anyhow::anyhow!("no such filters file: {text}; did you mean -e {}?", shell_quoted(text));
        }
    }
    anyhow::Error::new(error).context(format!("cannot read filters file {}", path.display()))
}

/// `text` in single quotes for a POSIX shell (a `'` inside becomes `'\''`).
fn shell_quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_for_the_shell() {
        assert_eq!(shell_quoted(r#"type == "booking""#), r#"'type == "booking"'"#);
        assert_eq!(shell_quoted("it's"), r"'it'\''s'");
    }

    #[test]
    fn a_missing_file_named_like_a_filter_is_a_hint() {
        let not_found = || io::Error::from(io::ErrorKind::NotFound);
        let hint = unreadable_file(Path::new("a == 1"), not_found()).to_string();
        assert_eq!(hint, "no such filters file: a == 1; did you mean -e 'a == 1'?");
        // A bare word is a path, not a filter: a missing file stays a missing file.
        let plain = unreadable_file(Path::new("filters.txt"), not_found()).to_string();
        assert_eq!(plain, "cannot read filters file filters.txt");
    }
}
