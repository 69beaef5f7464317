//! One filter thread: a group consumer over the raw topic and a producer to
//! the filtered topic, processing batches:
//! poll → match each event → queue one record per (event, filter) on the
//! producer, and once per `commit_interval` (or at once when caught up,
//! idle or stopping):
//! flush → commit (queued; waited for only when stopping).
//!
//! Offsets are committed only after `flush` reported every record produced
//! since the last commit acknowledged, so a committed offset never covers
//! a match that is not on the filtered topic. Between two commits the
//! thread keeps consuming and producing: waiting for acknowledgements once
//! per batch of 2,000 events stalled the thread for a round trip plus
//! `linger.ms` each time (perf/results/worker.md). When a flush or a send
//! fails, the thread does not commit: it drops its consumer (leaving the
//! group) and joins again, so everything since the last commit is read
//! again. At-least-once: duplicates are possible after a failure, loss is
//! not.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::budget::{Budgets, WindowCounts};
use super::config::{Backoff, WorkerConfig};
use super::filtered_record::{self, FilteredRecord, HeaderEncoder, StatsRecord};
use super::health::WorkerHealth;
use super::live::{LiveFilters, LiveSlot};
use super::metrics::{self as names, WorkerStats};
use crate::clock::now_us;
use crate::log::{Log, LogConsumer, LogError, LogProducer, Message, Record};
use crate::matcher::{FilterId, MatchScratch, Outcome};

pub(crate) struct FilterThread {
    pub(crate) index: usize,
    pub(crate) config: WorkerConfig,
    pub(crate) log: Arc<dyn Log>,
    pub(crate) live: Arc<LiveSlot>,
    pub(crate) stats: Arc<WorkerStats>,
    pub(crate) stop: Arc<AtomicBool>,
    /// Where each turn of the loop and the group membership are recorded.
    pub(crate) health: Arc<WorkerHealth>,
    /// The core to pin to, if pinning.
    pub(crate) core: Option<core_affinity::CoreId>,
}

/// Why a batch was not committed.
enum BatchFailure {
    /// Some matches may not be on the filtered topic: re-read the batch.
    Produce(LogError),
}

/// What was read and produced since the last commit; counted into the
/// stats once it is durable.
#[derive(Default)]
struct Uncommitted {
    /// When the oldest uncommitted batch was read; `None` when nothing is pending.
    first_read: Option<Instant>,
    batches: u64,
    events: u64,
    malformed: u64,
    matches: u64,
}

/// Whether a commit waits for the group coordinator. While running it
/// does not: the next batch goes on at once, and a commit lost on the way
/// only means duplicates. Before leaving the group it does.
#[derive(Clone, Copy)]
enum CommitWait {
    No,
    UntilDurable,
}

/// Buffers reused from batch to batch: no allocation per event.
struct Buffers {
    batch: Vec<Record>,
    matches: Vec<FilterId>,
    key: Vec<u8>,
    /// The filtered records' header values (the event itself is sent as read).
    headers: HeaderEncoder,
    scratch: MatchScratch,
    /// Session filters' budgets and true counts (`budget.rs`); new per pass.
    budgets: Budgets,
    /// The counts of the last closed budget window.
    windows: Vec<WindowCounts>,
}

/// Counts the thread in `WorkerStats::threads_reading` from its first
/// non-empty batch until it leaves the group (the end of `consume`).
struct ReadingMark<'a> {
    stats: &'a WorkerStats,
    counted: bool,
}

impl ReadingMark<'_> {
    fn mark(&mut self) {
        if !self.counted {
            self.counted = true;
            WorkerStats::add(&self.stats.threads_reading, 1);
        }
    }
}

impl Drop for ReadingMark<'_> {
    fn drop(&mut self) {
        if self.counted {
            self.stats.threads_reading.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl FilterThread {
    pub(crate) fn run(self) {
        let _running = self.health.running(self.health_slot());
        if let Some(core) = self.core {
            if !core_affinity::set_for_current(core) {
                tracing::warn!(thread = self.index, core = core.id, "could not pin the filter thread");
            }
        }
        if !self.wait_for_first_load() {
            return;
        }
        let mut backoff = Backoff::new(self.config.backoff_max);
        let mut buffers = Buffers {
            batch: Vec::with_capacity(self.config.batch_records_max),
            matches: Vec::new(),
            key: Vec::new(),
            headers: HeaderEncoder::default(),
            scratch: MatchScratch::new(self.config.event_limits),
            budgets: Budgets::new(1, now_us(), 0),
            windows: Vec::new(),
        };
        // One producer and one consumer per pass; a failed flush ends the
        // pass (see module docs). The producer is replaced too: after some
        // failures (an idempotent producer's fatal error, librdkafka's
        // `rd_kafka_fatal_error`) an instance never recovers.
        while !self.stopping() {
            let Some((producer, filtered_partitions, raw_partitions)) = self.open_producer(&mut backoff) else {
                return;
            };
            let seed = (now_us() as u64) ^ ((self.index as u64) << 48);
            buffers.budgets = Budgets::new(raw_partitions, now_us(), seed);
            let mut consumer = match self.log.group_consumer(&self.config.group_id, &self.config.raw_topic) {
                Ok(consumer) => consumer,
                Err(error) => {
                    tracing::warn!(thread = self.index, %error, "cannot join the consumer group; retrying");
                    self.sleep_unless_stopped(backoff.next_wait());
                    continue;
                }
            };
            backoff.reset();
            self.consume(consumer.as_mut(), producer.as_ref(), filtered_partitions, &mut buffers, &mut backoff);
            // The consumer leaves the group when dropped, below.
            self.health.set_assigned(self.index, false);
        }
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// This thread's index in [`WorkerHealth`] (the control thread is 0).
    fn health_slot(&self) -> usize {
        self.index + 1
    }

    /// Records a turn of a loop of this thread (`/healthz`).
    fn beat(&self) {
        self.health.beat(self.health_slot());
    }

    /// The producer, the filtered topic's partition count and the raw topic's
    /// (the denominator of this thread's budget share).
    fn open_producer(&self, backoff: &mut Backoff) -> Option<(Box<dyn LogProducer>, u32, u32)> {
        while !self.stopping() {
            let opened = self.log.producer().and_then(|producer| {
                let partitions = self.log.partition_count(&self.config.filtered_topic)?;
                let raw_partitions = self.log.partition_count(&self.config.raw_topic)?;
                Ok((producer, partitions, raw_partitions))
            });
            match opened {
                Ok(opened) => return Some(opened),
                Err(error) => {
                    tracing::warn!(thread = self.index, %error, "cannot open the producer; retrying");
                    self.sleep_unless_stopped(backoff.next_wait());
                }
            }
        }
        None
    }

    /// Consuming before the registry's full set is loaded would commit
    /// events as matching nothing that standing filters should have matched.
    fn wait_for_first_load(&self) -> bool {
        while !self.stopping() {
            self.beat();
            if self.live.load().is_loaded() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    /// Runs batches until a stop request (then returns after flushing and
    /// committing) or a failed flush or send (then returns without
    /// committing: everything since the last commit is read again).
    fn consume(
        &self,
        consumer: &mut dyn LogConsumer,
        producer: &dyn LogProducer,
        filtered_partitions: u32,
        buffers: &mut Buffers,
        backoff: &mut Backoff,
    ) {
        let lag_gauge = metrics::gauge!(names::CONSUMER_LAG, "thread" => self.index.to_string());
        let mut uncommitted = Uncommitted::default();
        let mut reading = ReadingMark { stats: &self.stats, counted: false };
        loop {
            self.beat();
            if self.stopping() {
                // Graceful stop: what was read is matched and produced;
                // make it durable and commit it before leaving the group.
                let _ = self.commit(consumer, producer, &mut uncommitted, CommitWait::UntilDurable);
                return;
            }
            buffers.batch.clear();
            let polled = consumer.poll(self.config.batch_records_max, self.config.poll_timeout, &mut buffers.batch);
            // After every poll, busy or idle: the batch is matched with the
            // newest version, and an idle thread reports within one
            // `poll_timeout` that it would match with it.
            let live = self.live.load_for_thread(self.index);
            self.health.set_assigned(self.index, consumer.is_assigned());
            self.count_commit_failures(consumer);
            if let Err(error) = polled {
                tracing::warn!(thread = self.index, %error, "poll failed; retrying");
                metrics::counter!(names::CONSUME_ERRORS).increment(1);
                self.sleep_unless_stopped(backoff.next_wait());
                continue;
            }
            if let Some(lag) = consumer.lag() {
                lag_gauge.set(lag as f64);
            }
            let result = if buffers.batch.is_empty() {
                // Idle: nothing will join the pending records soon, so make
                // them durable now rather than at the end of the interval.
                self.commit(consumer, producer, &mut uncommitted, CommitWait::No)
            } else {
                backoff.reset();
                reading.mark();
                // A batch short of the maximum means the thread has caught
                // up with its partitions: commit now, as when idle. A full
                // batch means a backlog: keep draining until the interval.
                let caught_up = buffers.batch.len() < self.config.batch_records_max;
                self.process_batch(&live, producer, filtered_partitions, buffers, &mut uncommitted).and_then(|()| {
                    if caught_up || uncommitted.first_read.is_some_and(|at| at.elapsed() >= self.config.commit_interval)
                    {
                        self.commit(consumer, producer, &mut uncommitted, CommitWait::No)
                    } else {
                        Ok(())
                    }
                })
            };
            let result = result.and_then(|()| self.send_stats_when_due(&live, producer, filtered_partitions, buffers));
            if let Err(BatchFailure::Produce(error)) = result {
                tracing::warn!(thread = self.index, %error, "matches not acknowledged; re-reading since the last commit");
                metrics::counter!(names::PRODUCE_ERRORS).increment(1);
                WorkerStats::add(&self.stats.produce_errors, 1);
                self.sleep_unless_stopped(backoff.next_wait());
                return;
            }
        }
    }

    /// Waits until every record produced since the last commit is
    /// acknowledged, then commits every offset read so far. This is the
    /// at-least-once point: an offset is committed only after every match
    /// of every event before it is durable on the filtered topic.
    fn commit(
        &self,
        consumer: &mut dyn LogConsumer,
        producer: &dyn LogProducer,
        uncommitted: &mut Uncommitted,
        wait: CommitWait,
    ) -> Result<(), BatchFailure> {
        if uncommitted.first_read.is_none() {
            return Ok(());
        }
        producer.flush(self.config.flush_timeout).map_err(BatchFailure::Produce)?;
        let Uncommitted { events, malformed, matches, batches, .. } = std::mem::take(uncommitted);
        metrics::counter!(names::EVENTS_IN).increment(events);
        metrics::counter!(names::MALFORMED).increment(malformed);
        metrics::counter!(names::MATCHES_OUT).increment(matches);
        WorkerStats::add(&self.stats.events_in, events);
        WorkerStats::add(&self.stats.malformed, malformed);
        WorkerStats::add(&self.stats.matches_out, matches);
        let committed = match wait {
            CommitWait::No => consumer.commit_in_background(),
            CommitWait::UntilDurable => consumer.commit(),
        };
        if let Err(error) = committed {
            // The records are read again by whoever owns the partition
            // next: duplicates, never loss.
            tracing::warn!(thread = self.index, %error, "commit failed");
            self.add_commit_errors(1);
        } else {
            WorkerStats::add(&self.stats.batches_committed, batches);
        }
        if matches!(wait, CommitWait::UntilDurable) {
            // The last chance to count what failed in the background.
            self.count_commit_failures(consumer);
        }
        Ok(())
    }

    /// Counts commits that failed after `commit_in_background` returned
    /// (their results arrive with later polls).
    fn count_commit_failures(&self, consumer: &mut dyn LogConsumer) {
        let failed = consumer.take_commit_failures();
        if failed > 0 {
            tracing::warn!(thread = self.index, failed, "background commits failed; the records will be read again");
            self.add_commit_errors(failed);
        }
    }

    fn add_commit_errors(&self, count: u64) {
        metrics::counter!(names::COMMIT_ERRORS).increment(count);
        WorkerStats::add(&self.stats.commit_errors, count);
    }

    /// Matches one batch and queues its records on the producer, without
    /// waiting for acknowledgements (see [`Self::commit`]).
    fn process_batch(
        &self,
        live: &LiveFilters,
        producer: &dyn LogProducer,
        filtered_partitions: u32,
        buffers: &mut Buffers,
        uncommitted: &mut Uncommitted,
    ) -> Result<(), BatchFailure> {
        let Buffers { batch, matches, key, headers, scratch, budgets, .. } = buffers;
        uncommitted.first_read.get_or_insert_with(Instant::now);
        uncommitted.batches += 1;
        uncommitted.events += batch.len() as u64;
        WorkerStats::add(&self.stats.events_matched, batch.len() as u64);
        for record in batch.iter() {
            budgets.saw_partition(record.partition.0);
            match live.matcher.match_event(&record.payload, scratch, matches) {
                Outcome::Parsed | Outcome::Skipped => {}
                Outcome::Malformed(reason) => {
                    uncommitted.malformed += 1;
                    tracing::debug!(partition = record.partition.0, offset = record.offset, %reason, "malformed event skipped");
                    self.send_dead_letter(producer, record)?;
                    continue;
                }
            }
            if matches.is_empty() {
                continue;
            }
            let match_timestamp_us = now_us();
            for &filter_id in matches.iter() {
                // Counted whether forwarded or not; thinned within the budget.
                if !budgets.admit(filter_id, live.rate_max_per_s(filter_id), match_timestamp_us) {
                    continue;
                }
                filtered_record::encode_key(filter_id, key);
                let filtered = FilteredRecord {
                    filter_id,
                    raw_topic: &self.config.raw_topic,
                    raw_partition: record.partition,
                    raw_offset: record.offset,
                    ingest_timestamp_us: record.timestamp_ms.saturating_mul(1000),
                    match_timestamp_us,
                    history: false,
                    event: &record.payload,
                };
                let message = Message {
                    key,
                    payload: &record.payload,
                    partition: Some(filtered_record::filtered_partition(filter_id, filtered_partitions)),
                    timestamp_ms: match_timestamp_us / 1000,
                    headers: &headers.encode(&filtered),
                };
                self.send(producer, &self.config.filtered_topic, message)?;
                uncommitted.matches += 1;
            }
        }
        Ok(())
    }

    /// Once per budget window: one `stats` record per budgeted filter that
    /// matched in it, on the filter's partition (docs/filtered-topic.md).
    fn send_stats_when_due(
        &self,
        live: &LiveFilters,
        producer: &dyn LogProducer,
        filtered_partitions: u32,
        buffers: &mut Buffers,
    ) -> Result<(), BatchFailure> {
        let Buffers { budgets, windows, key, headers, .. } = buffers;
        let now = now_us();
        windows.clear();
        if !budgets.close_window_if_due(now, |id| live.contains(id), windows) {
            return Ok(());
        }
        for counts in windows.iter() {
            let WindowCounts { filter_id, matched, delivered, window_ms } = *counts;
            filtered_record::encode_key(filter_id, key);
            let message = Message {
                key,
                payload: &[],
                partition: Some(filtered_record::filtered_partition(filter_id, filtered_partitions)),
                timestamp_ms: now / 1000,
                headers: &headers.encode_stats(&StatsRecord { filter_id, matched, delivered, window_ms }),
            };
            self.send(producer, &self.config.filtered_topic, message)?;
        }
        Ok(())
    }

    fn send(&self, producer: &dyn LogProducer, topic: &str, message: Message<'_>) -> Result<(), BatchFailure> {
        producer.send_or_flush_once(topic, message, self.config.flush_timeout).map_err(BatchFailure::Produce)
    }

    fn send_dead_letter(&self, producer: &dyn LogProducer, record: &Record) -> Result<(), BatchFailure> {
        let Some(topic) = &self.config.dead_letter_topic else {
            return Ok(());
        };
        let message = Message {
            key: record.key.as_deref().unwrap_or_default(),
            payload: &record.payload,
            partition: None,
            timestamp_ms: record.timestamp_ms,
            headers: &[],
        };
        self.send(producer, topic, message)
    }

    fn sleep_unless_stopped(&self, wait: Duration) {
        let until = Instant::now() + wait;
        while !self.stopping() && Instant::now() < until {
            // A deliberate wait is progress, not a stall.
            self.beat();
            std::thread::sleep(Duration::from_millis(20).min(until.saturating_duration_since(Instant::now())));
        }
    }
}
