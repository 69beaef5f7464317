//! How `clicktail tail` prints a record (`--format`), and what it skips.

use std::io::{self, Write};

use clicktail_engine::log::Record;
use clicktail_engine::worker::filtered_record::{self, FilteredRecord, FilteredRecordError};

/// `--format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The event's bytes as they are, one per line.
    Json,
    /// The event indented by two spaces per level, keys in their order.
    Pretty,
    /// One JSON object per line: the record's metadata and the event.
    NdjsonWithMeta,
}

/// Writes records to `out` in a format, counting those it cannot read.
pub struct Printer<W: Write> {
    format: Format,
    out: W,
    /// The line being built, reused from record to record.
    line: Vec<u8>,
    /// Records skipped because this build cannot read them (another
    /// `ct.version`, missing or invalid headers).
    pub unreadable: u64,
}

impl<W: Write> Printer<W> {
    pub fn new(format: Format, out: W) -> Self {
        Printer { format, out, line: Vec::new(), unreadable: 0 }
    }

    /// Prints `record`, or skips it: silently for a kind this build does
    /// not know (reserved control records, docs/filtered-topic.md), with
    /// one warning on stderr for the first unreadable record and a count.
    pub fn print(&mut self, record: &Record) -> io::Result<()> {
        match filtered_record::decode(&record.headers, &record.payload) {
            Ok(decoded) => {
                self.line.clear();
                format_record(self.format, &decoded, &mut self.line);
                self.out.write_all(&self.line)
            }
            Err(FilteredRecordError::UnknownKind { .. }) => Ok(()),
            Err(error) => {
                if self.unreadable == 0 {
                    eprintln!(
                        "clicktail tail: warning: skipping records this build cannot read (partition {}, offset {}: \
                         {error}); the rest are counted",
                        record.partition.0, record.offset
                    );
                }
                self.unreadable += 1;
                Ok(())
            }
        }
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Appends one record in `format`, newline-terminated, to `line`.
pub fn format_record(format: Format, record: &FilteredRecord<'_>, line: &mut Vec<u8>) {
    match format {
        Format::Json => line.extend_from_slice(record.event),
        Format::Pretty => write_pretty(record.event, line),
        Format::NdjsonWithMeta => {
            let mut number = itoa::Buffer::new();
            line.extend_from_slice(b"{\"filter\":");
            line.extend_from_slice(number.format(record.filter_id.0).as_bytes());
            line.extend_from_slice(b",\"topic\":");
            write_json_string(record.raw_topic, line);
            for (name, value) in [
                ("partition", i64::from(record.raw_partition.0)),
                ("offset", record.raw_offset),
                ("ingest_us", record.ingest_timestamp_us),
                ("match_us", record.match_timestamp_us),
            ] {
                line.extend_from_slice(b",\"");
                line.extend_from_slice(name.as_bytes());
                line.extend_from_slice(b"\":");
                line.extend_from_slice(number.format(value).as_bytes());
            }
            line.extend_from_slice(if record.history { b",\"history\":true" } else { b",\"history\":false" });
            line.extend_from_slice(b",\"event\":");
            line.extend_from_slice(record.event);
            line.push(b'}');
        }
    }
    line.push(b'\n');
}

/// A JSON string literal of `text` (RFC 8259 section 7).
fn write_json_string(text: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in text.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            c if (c as u32) < 0x20 => out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes()),
            c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    out.push(b'"');
}

/// Re-indents a JSON document: a newline and two spaces per level after
/// `{`, `[` and `,`, `": "` after a key; strings, numbers and key order
/// as they are (a parse and re-serialisation would sort keys and rewrite
/// numbers). Never fails: bytes that are not JSON come out re-spaced.
fn write_pretty(event: &[u8], out: &mut Vec<u8>) {
    let newline = |out: &mut Vec<u8>, depth: usize| {
        out.push(b'\n');
        out.resize(out.len() + 2 * depth, b' ');
    };
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut index = 0;
    while index < event.len() {
        let byte = event[index];
        index += 1;
        if in_string {
            out.push(byte);
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
            continue;
        }
        match byte {
            b'"' => {
                in_string = true;
                out.push(byte);
            }
            b'{' | b'[' => {
                out.push(byte);
                let close = if byte == b'{' { b'}' } else { b']' };
                let next = event[index..].iter().position(|b| !b.is_ascii_whitespace()).map(|skip| index + skip);
                if let Some(next) = next.filter(|&next| event[next] == close) {
                    // An empty object or array stays on its line: `{}`, `[]`.
                    out.push(close);
                    index = next + 1;
                } else {
                    depth += 1;
                    newline(out, depth);
                }
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                newline(out, depth);
                out.push(byte);
            }
            b',' => {
                out.push(byte);
                newline(out, depth);
            }
            b':' => out.extend_from_slice(b": "),
            byte if byte.is_ascii_whitespace() => {}
            byte => out.push(byte),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clicktail_engine::log::PartitionId;
    use clicktail_engine::matcher::FilterId;

    fn record(event: &[u8]) -> FilteredRecord<'_> {
        FilteredRecord {
            filter_id: FilterId(4711),
            raw_topic: "clicks",
            raw_partition: PartitionId(3),
            raw_offset: 1_234_567,
            ingest_timestamp_us: 1_767_225_600_123_000,
            match_timestamp_us: 1_767_225_600_125_410,
            history: false,
            event,
        }
    }

    fn formatted(format: Format, event: &[u8]) -> String {
        let mut line = Vec::new();
        format_record(format, &record(event), &mut line);
        String::from_utf8(line).unwrap()
    }

    #[test]
    fn json_is_the_event_as_it_is() {
        assert_eq!(formatted(Format::Json, br#"{"b": 1,"a":"x, y"}"#), "{\"b\": 1,\"a\":\"x, y\"}\n");
    }

    #[test]
    fn ndjson_with_meta_wraps_the_event_in_the_documented_object() {
        assert_eq!(
            formatted(Format::NdjsonWithMeta, br#"{"type":"booking"}"#),
            r#"{"filter":4711,"topic":"clicks","partition":3,"offset":1234567,"ingest_us":1767225600123000,"match_us":1767225600125410,"history":false,"event":{"type":"booking"}}"#
                .to_owned()
                + "\n"
        );
        let mut line = Vec::new();
        write_json_string("a\"b\\c\u{1}é", &mut line);
        assert_eq!(String::from_utf8(line).unwrap(), r#""a\"b\\c\u0001é""#);
    }

    #[test]
    fn pretty_indents_and_keeps_strings_numbers_and_key_order() {
        let event = br#"{"z":1.50,"s":"a,{b}: \"c\"","e":{},"l":[ ],"n":[1,{"k":null}]}"#;
        let expected = r#"{
  "z": 1.50,
  "s": "a,{b}: \"c\"",
  "e": {},
  "l": [],
  "n": [
    1,
    {
      "k": null
    }
  ]
}
"#;
        assert_eq!(formatted(Format::Pretty, event), expected);
        // Not JSON: re-spaced, no panic.
        assert_eq!(formatted(Format::Pretty, b"]]}{\"unterminated"), "\n]\n]\n}{\n  \"unterminated\n");
    }
}
