//! Where `clicktail match` gets its filters: a file (`--filters`, id =
//! line number) or the command line (`-e`, id = position from 1).

use std::io;
use std::path::Path;
use std::sync::Arc;

use clicktail_engine::language::parse_filter;
use clicktail_engine::matcher::{FilterId, FilterSet, MatcherOptions, PreparedFilter};

use super::output::note;

/// The parsed filters and their ids in increasing order (for `--count`,
/// which prints every filter, matched or not).
pub struct Criteria {
    pub set: FilterSet,
    pub ids: Vec<FilterId>,
}

/// Parses the filters of a file, one per line; blank lines are skipped and
/// their numbers not reused. `Ok(None)` once every bad line is reported.
pub fn from_file(path: &Path, options: MatcherOptions) -> anyhow::Result<Option<Criteria>> {
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
    Ok(parse_all(sources, |number| format!("{}:{number}", path.display()), options))
}

/// Parses the `-e` criteria, numbered from 1 in the order given.
pub fn from_arguments(criteria: &[String], options: MatcherOptions) -> Option<Criteria> {
    let sources = criteria.iter().enumerate().map(|(index, source)| (index as u64 + 1, Ok(source.as_str())));
    parse_all(sources, |number| format!("-e {number}"), options)
}

/// Parses each `(id, source)`; reports every failure on stderr as
/// `WHERE: column N: message` and returns `None` if there was any, so that
/// nothing is matched with a partial set.
fn parse_all<'a>(
    sources: impl Iterator<Item = (u64, Result<&'a str, String>)>,
    place: impl Fn(u64) -> String,
    options: MatcherOptions,
) -> Option<Criteria> {
    let mut criteria = Criteria { set: FilterSet::new(options), ids: Vec::new() };
    let mut rejected = 0;
    for (number, source) in sources {
        match source.and_then(|source| parse_filter(source).map_err(|error| error.to_string())) {
            Ok(expr) => {
                criteria.set.insert(FilterId(number), Arc::new(PreparedFilter::new(&expr)));
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
