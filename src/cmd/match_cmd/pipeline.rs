//! Matching on every core: one reader thread cuts the input into chunks of
//! whole lines, `threads` matcher threads match chunks, and the calling
//! thread writes their output in input order.
//!
//! Order without a reordering buffer: for each chunk the reader makes a
//! one-slot reply channel, sends its receiving end to the writer (the
//! `order` queue, in input order) and the chunk with the sending end to the
//! matchers (the `jobs` queue). The writer waits on the replies one by one.
//! Both queues are bounded, so at most `2 × threads + 2` chunks (1 MiB each by
//! default) are read ahead of the writer, whatever the input's size; a slow
//! standard output holds the reader back.
//!
//! Spent buffers go back through bounded free lists (`try_send`: a full list
//! drops the buffer), so a run reuses a few dozen buffers instead of
//! allocating one per chunk.

use std::io::{self, Read, Write};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};

use clicktail_engine::event::EventLimits;
use clicktail_engine::matcher::{FilterId, MatchScratch, Matcher, Outcome};

use super::chunks::{Chunk, ChunkReader};
use super::output::{ChunkOutput, Shape, Totals, Writer};

/// What the matcher threads share.
pub struct Plan<'a> {
    pub matcher: &'a Matcher,
    pub shape: Shape,
    pub limits: EventLimits,
    /// Matcher threads, at least 1.
    pub threads: usize,
}

/// How a run ended, and where its time went.
pub struct Ended {
    /// The first write error (a closed standard output ends the run early).
    pub written: io::Result<()>,
    /// A read error; the chunks before it were matched and written.
    pub read: io::Result<()>,
    pub busy: StageBusy,
}

/// Time each stage spent working (not waiting on a queue).
#[derive(Default)]
pub struct StageBusy {
    pub read: Duration,
    /// Summed over the matcher threads.
    pub matching: Duration,
    pub write: Duration,
}

/// A chunk to match, and where its output goes.
struct Job {
    chunk: Chunk,
    reply: Sender<ChunkOutput>,
}

/// Matches everything `reader` gives and writes it through `writer` in input
/// order; `on_chunk` is called after each chunk written, with the totals so far.
pub fn run<R: Read + Send, W: Write>(
    mut reader: ChunkReader<R>,
    plan: &Plan<'_>,
    writer: &mut Writer<W>,
    mut on_chunk: impl FnMut(&Totals),
) -> Ended {
    let threads = plan.threads.max(1);
    let (jobs_sender, jobs) = bounded::<Job>(threads);
    let (order_sender, order) = bounded::<Receiver<ChunkOutput>>(2 * threads);
    let (free_inputs_sender, free_inputs) = bounded::<Vec<u8>>(2 * threads + 2);
    let (free_outputs_sender, free_outputs) = bounded::<ChunkOutput>(2 * threads + 2);
    thread::scope(|scope| {
        let read = thread::Builder::new()
            .name("match-read".to_owned())
            .spawn_scoped(scope, move || {
                let mut busy = Duration::ZERO;
                loop {
                    let started = Instant::now();
                    let buffer = free_inputs.try_recv().unwrap_or_default();
                    let chunk = match reader.next_chunk(buffer) {
                        Ok(Some(chunk)) => chunk,
                        Ok(None) => return (Ok(()), busy),
                        Err(error) => return (Err(error), busy),
                    };
                    busy += started.elapsed();
                    let (reply, output) = bounded(1);
                    // Either send fails only once the writer stopped (a
                    // closed standard output): stop reading too.
                    if order_sender.send(output).is_err() || jobs_sender.send(Job { chunk, reply }).is_err() {
                        return (Ok(()), busy);
                    }
                }
            })
            .expect("cannot start the reading thread");
        let matchers: Vec<_> = (0..threads)
            .map(|index| {
                let (jobs, free_inputs, free_outputs) =
                    (jobs.clone(), free_inputs_sender.clone(), free_outputs.clone());
                thread::Builder::new()
                    .name(format!("match-{index}"))
                    .spawn_scoped(scope, move || match_jobs(plan, &jobs, &free_inputs, &free_outputs))
                    .expect("cannot start a matching thread")
            })
            .collect();
        drop((jobs, free_inputs_sender, free_outputs));
        let mut written = Ok(());
        let mut write_busy = Duration::ZERO;
        for reply in &order {
            // A matcher thread that died took the process with it
            // (`process::exit_on_panic`); a lost reply ends the run all the same.
            let Ok(output) = reply.recv() else { break };
            let started = Instant::now();
            written = writer.write_chunk(&output);
            write_busy += started.elapsed();
            let _ = free_outputs_sender.try_send(output);
            if written.is_err() {
                break;
            }
            on_chunk(&writer.totals);
        }
        // The reader's next send fails, and it stops.
        drop(order);
        let (read, read_busy) = read.join().expect("the reading thread panicked");
        let matching = matchers.into_iter().map(|thread| thread.join().expect("a matching thread panicked")).sum();
        Ended { written, read, busy: StageBusy { read: read_busy, matching, write: write_busy } }
    })
}

/// One matcher thread: matches chunks until the reader stops; returns the
/// time spent matching.
fn match_jobs(
    plan: &Plan<'_>,
    jobs: &Receiver<Job>,
    free_inputs: &Sender<Vec<u8>>,
    free_outputs: &Receiver<ChunkOutput>,
) -> Duration {
    let mut scratch = MatchScratch::new(plan.limits);
    let mut matched = Vec::new();
    let mut busy = Duration::ZERO;
    for job in jobs {
        let started = Instant::now();
        let mut output = free_outputs.try_recv().unwrap_or_default();
        output.clear();
        match &job.chunk {
            Chunk::Lines { first_line, bytes } => {
                match_lines(plan, *first_line, bytes, &mut scratch, &mut matched, &mut output)
            }
            // Only its first bytes were read: malformed by size alone.
            Chunk::TooLong => {
                output.totals.events += 1;
                output.totals.malformed += 1;
            }
        }
        busy += started.elapsed();
        // The writer is gone only if it stopped early; nothing to do then.
        let _ = job.reply.send(output);
        if let Some(buffer) = job.chunk.into_buffer() {
            let _ = free_inputs.try_send(buffer);
        }
    }
    busy
}

/// Matches each line of `bytes` (whole lines, the first numbered `line`).
fn match_lines(
    plan: &Plan<'_>,
    mut line: u64,
    bytes: &[u8],
    scratch: &mut MatchScratch,
    matched: &mut Vec<FilterId>,
    output: &mut ChunkOutput,
) {
    let mut rest = bytes;
    while !rest.is_empty() {
        let (raw, next) = match memchr::memchr(b'\n', rest) {
            Some(end) => (&rest[..end], &rest[end + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        output.totals.events += 1;
        if raw.len() > plan.limits.bytes_max {
            output.totals.malformed += 1;
        } else {
            match plan.matcher.match_event(raw, scratch, matched) {
                Outcome::Parsed => output.totals.parsed += 1,
                Outcome::Skipped => {}
                Outcome::Malformed(_) => output.totals.malformed += 1,
            }
            if !matched.is_empty() {
                matched.sort_unstable();
                output.event_matched(plan.shape, line, raw, matched);
            }
        }
        rest = next;
        line += 1;
    }
}
