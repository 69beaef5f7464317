//! Cuts the events input into chunks of whole lines, numbered, so that
//! chunks can be matched on several threads and their output put back in
//! input order.
//!
//! One reader, large reads (`chunk_bytes` at a time, 1 MiB by default) and
//! one copy of the partial last line into the next chunk. Memory-mapping the
//! file was the alternative; it would not serve standard input, which must
//! keep working, and the copy is a small cost next to matching.
//!
//! Lines keep the rules of `super::super::lines::BoundedLines`: a line is
//! what lies between `\n`s, a last line without `\n` counts, the empty
//! remainder after a final `\n` does not, and a line longer than `bytes_max`
//! is malformed by its size alone. Such a line is never held whole: once the
//! bytes without a `\n` pass `bytes_max`, they are dropped up to the next
//! `\n`, so one chunk holds at most `chunk_bytes + bytes_max` bytes.

use std::io::{self, Read};

/// A piece of the input, in input order.
pub enum Chunk {
    /// Whole lines: `bytes` ends with `\n`, except for the input's last line
    /// when it has none. `first_line` is the number of its first line (from 1).
    Lines { first_line: u64, bytes: Vec<u8> },
    /// One line longer than `bytes_max` that did not fit a chunk: its bytes
    /// were dropped (it is the line after the previous chunk's last).
    TooLong,
}

impl Chunk {
    /// The chunk's buffer, for reuse once it is matched.
    pub fn into_buffer(self) -> Option<Vec<u8>> {
        match self {
            Chunk::Lines { bytes, .. } => Some(bytes),
            Chunk::TooLong => None,
        }
    }
}

/// Reads chunks of whole lines from `reader`.
pub struct ChunkReader<R> {
    reader: R,
    /// How many bytes to read at a time (a chunk is about this long).
    chunk_bytes: usize,
    /// The longest line kept; longer ones become [`Chunk::TooLong`].
    bytes_max: usize,
    /// The bytes after the last `\n` of the previous chunk: the start of
    /// the next line.
    carry: Vec<u8>,
    /// The number of the next chunk's first line.
    next_line: u64,
    /// The reader said end of input.
    ended: bool,
}

impl<R: Read> ChunkReader<R> {
    pub fn new(reader: R, chunk_bytes: usize, bytes_max: usize) -> Self {
        ChunkReader {
            reader,
            chunk_bytes: chunk_bytes.max(1),
            bytes_max,
            carry: Vec::new(),
            next_line: 1,
            ended: false,
        }
    }

    /// The next chunk, read into `buffer` (its contents are dropped, its
    /// capacity reused); `None` at the end of the input.
    pub fn next_chunk(&mut self, mut buffer: Vec<u8>) -> io::Result<Option<Chunk>> {
        buffer.clear();
        buffer.append(&mut self.carry);
        let mut want = self.chunk_bytes;
        loop {
            // Search only what this pass added (the carry holds no `\n`).
            let searched_from = buffer.len();
            self.fill(&mut buffer, want)?;
            if let Some(last) = memchr::memrchr(b'\n', &buffer[searched_from..]) {
                let end = searched_from + last + 1;
                self.carry.extend_from_slice(&buffer[end..]);
                buffer.truncate(end);
                return Ok(Some(self.lines(buffer)));
            }
            if self.ended {
                if buffer.is_empty() {
                    return Ok(None);
                }
                // The last line, without `\n`.
                if buffer.len() > self.bytes_max {
                    return Ok(Some(self.too_long()));
                }
                return Ok(Some(self.lines(buffer)));
            }
            if buffer.len() > self.bytes_max {
                self.skip_rest_of_line()?;
                return Ok(Some(self.too_long()));
            }
            // One line longer than a chunk but within the bound: read on.
            want = buffer.len() + self.chunk_bytes;
        }
    }

    /// Reads until `buffer` holds `want` bytes or the input ends.
    fn fill(&mut self, buffer: &mut Vec<u8>, want: usize) -> io::Result<()> {
        if self.ended || buffer.len() >= want {
            return Ok(());
        }
        let asked = (want - buffer.len()) as u64;
        // `read_to_end` on `take` retries `Interrupted` and stops at the
        // limit; fewer bytes than asked means the input ended.
        let read = (&mut self.reader).take(asked).read_to_end(buffer)?;
        if (read as u64) < asked {
            self.ended = true;
        }
        Ok(())
    }

    /// Drops input up to and including the next `\n`; what follows it is
    /// kept as the start of the next line.
    fn skip_rest_of_line(&mut self) -> io::Result<()> {
        let piece_bytes = self.chunk_bytes.min(1 << 16);
        let mut scratch = Vec::with_capacity(piece_bytes);
        while !self.ended {
            scratch.clear();
            self.fill(&mut scratch, piece_bytes)?;
            if let Some(position) = memchr::memchr(b'\n', &scratch) {
                self.carry.extend_from_slice(&scratch[position + 1..]);
                return Ok(());
            }
        }
        Ok(())
    }

    /// `bytes` (whole lines) numbered from `next_line`.
    fn lines(&mut self, bytes: Vec<u8>) -> Chunk {
        let first_line = self.next_line;
        let newlines = memchr::memchr_iter(b'\n', &bytes).count() as u64;
        // Only the input's last line can lack its `\n`.
        let unterminated = u64::from(bytes.last().is_some_and(|&byte| byte != b'\n'));
        self.next_line += newlines + unterminated;
        Chunk::Lines { first_line, bytes }
    }

    fn too_long(&mut self) -> Chunk {
        self.next_line += 1;
        Chunk::TooLong
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every line of `input` as the chunks give it: its number and its
    /// bytes, `None` for a line too long.
    fn lines_of(input: &[u8], chunk_bytes: usize, bytes_max: usize) -> Vec<(u64, Option<Vec<u8>>)> {
        let mut reader = ChunkReader::new(input, chunk_bytes, bytes_max);
        let mut lines: Vec<(u64, Option<Vec<u8>>)> = Vec::new();
        while let Some(chunk) = reader.next_chunk(Vec::new()).unwrap() {
            let next = lines.last().map_or(1, |(number, _)| number + 1);
            match chunk {
                Chunk::TooLong => lines.push((next, None)),
                Chunk::Lines { first_line, bytes } => {
                    assert_eq!(first_line, next);
                    let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
                    for (index, line) in body.split(|&byte| byte == b'\n').enumerate() {
                        lines.push((first_line + index as u64, Some(line.to_vec())));
                    }
                }
            }
        }
        lines
    }

    /// The reference: `BoundedLines`, which `clicktail match` used before chunks.
    fn reference(input: &[u8], bytes_max: usize) -> Vec<(u64, Option<Vec<u8>>)> {
        use crate::cmd::lines::{BoundedLines, Line};
        let mut lines = BoundedLines::new(io::BufReader::with_capacity(3, input), bytes_max);
        let mut out = Vec::new();
        let mut number = 0;
        while let Some(line) = lines.next_line().unwrap() {
            number += 1;
            out.push((
                number,
                match line {
                    Line::Complete(bytes) if bytes.len() <= bytes_max => Some(bytes.to_vec()),
                    _ => None,
                },
            ));
        }
        out
    }

    #[test]
    fn chunks_give_the_lines_the_line_reader_gives() {
        let inputs: [&[u8]; 9] = [
            b"",
            b"\n",
            b"ab\ncd",
            b"ab\ncd\n",
            b"ab\n\ncd\n",
            b"0123456789abc\nxy\n0123456789\n",
            b"0123456789abc",
            b"x\n0123456789abcdefghij0123456789\ny",
            b"\n\n\n0123456789a\n\n",
        ];
        for input in inputs {
            for chunk_bytes in [1, 2, 3, 5, 8, 64] {
                let got = lines_of(input, chunk_bytes, 10);
                // A line over the bound inside a chunk is given whole: the
                // matcher's thread calls it malformed by its length.
                let got: Vec<_> =
                    got.into_iter().map(|(number, line)| (number, line.filter(|bytes| bytes.len() <= 10))).collect();
                assert_eq!(
                    got,
                    reference(input, 10),
                    "input {:?}, chunks of {chunk_bytes}",
                    String::from_utf8_lossy(input)
                );
            }
        }
    }

    #[test]
    fn a_line_longer_than_the_bound_is_never_held_whole() {
        let mut input = b"a\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 10_000));
        input.extend_from_slice(b"\nb\n");
        let mut reader = ChunkReader::new(&input[..], 4, 10);
        let mut seen = Vec::new();
        while let Some(chunk) = reader.next_chunk(Vec::new()).unwrap() {
            match chunk {
                Chunk::Lines { first_line, bytes } => {
                    assert!(bytes.len() <= 4 + 10, "{} bytes held", bytes.len());
                    seen.push((first_line, String::from_utf8(bytes).unwrap()));
                }
                Chunk::TooLong => seen.push((0, "too long".to_owned())),
            }
        }
        assert_eq!(seen, [(1, "a\n".to_owned()), (0, "too long".to_owned()), (3, "b\n".to_owned())]);
    }
}
