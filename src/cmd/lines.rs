//! Reading newline-separated records with a bound on the bytes kept per line.

use std::io::{self, BufRead};

/// One line of input, without its `\n`.
pub enum Line<'a> {
    Complete(&'a [u8]),
    /// Longer than the bound: its bytes were skipped, not kept.
    TooLong,
}

/// Splits a reader into lines, never holding more than `bytes_max` bytes of
/// one line in memory, whatever the input.
pub struct BoundedLines<R> {
    reader: R,
    bytes_max: usize,
    line: Vec<u8>,
}

impl<R: BufRead> BoundedLines<R> {
    pub fn new(reader: R, bytes_max: usize) -> Self {
        BoundedLines { reader, bytes_max, line: Vec::new() }
    }

    /// The next line; `None` at the end of the input. A last line without
    /// a final `\n` still counts; the empty remainder after a final `\n` does not.
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        self.line.clear();
        let mut too_long = false;
        let mut saw_any = false;
        loop {
            let chunk = match self.reader.fill_buf() {
                Ok(chunk) => chunk,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            };
            if chunk.is_empty() {
                break;
            }
            saw_any = true;
            let (taken, done) = match memchr::memchr(b'\n', chunk) {
                Some(position) => (position, true),
                None => (chunk.len(), false),
            };
            if !too_long {
                if self.line.len() + taken > self.bytes_max {
                    too_long = true;
                    self.line.clear();
                } else {
                    self.line.extend_from_slice(&chunk[..taken]);
                }
            }
            self.reader.consume(if done { taken + 1 } else { taken });
            if done {
                break;
            }
        }
        Ok(match (saw_any, too_long) {
            (false, _) => None,
            (true, true) => Some(Line::TooLong),
            (true, false) => Some(Line::Complete(&self.line)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(input: &[u8], bytes_max: usize) -> Vec<Option<Vec<u8>>> {
        let mut lines = BoundedLines::new(io::BufReader::with_capacity(4, input), bytes_max);
        let mut out = Vec::new();
        while let Some(line) = lines.next_line().unwrap() {
            out.push(match line {
                Line::Complete(bytes) => Some(bytes.to_vec()),
                Line::TooLong => None,
            });
        }
        out
    }

    #[test]
    fn splits_lines_and_bounds_them() {
        assert_eq!(collect(b"", 10), Vec::<Option<Vec<u8>>>::new());
        assert_eq!(collect(b"\n", 10), vec![Some(vec![])]);
        assert_eq!(collect(b"ab\ncd", 10), vec![Some(b"ab".to_vec()), Some(b"cd".to_vec())]);
        assert_eq!(collect(b"ab\ncd\n", 10), vec![Some(b"ab".to_vec()), Some(b"cd".to_vec())]);
        assert_eq!(collect(b"ab\n\ncd\n", 10), vec![Some(b"ab".to_vec()), Some(vec![]), Some(b"cd".to_vec())]);
        assert_eq!(
            collect(b"0123456789abc\nxy\n0123456789\n", 10),
            vec![None, Some(b"xy".to_vec()), Some(b"0123456789".to_vec())]
        );
    }
}
