//! One filter thread: its share of the process's group membership over the
//! raw topics (`SharedGroup`) and a producer to the filtered topic,
//! processing batches:
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
//! fails, the thread does not commit: it drops its consumer, which rewinds
//! its partitions to the first record not committed, and takes a new one,
//! so everything since the last commit is read again. At-least-once:
//! duplicates are possible after a failure, loss is not.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::backfill::seams::SeamTracker;
use super::budget::{Budgets, WindowCounts};
use super::config::{Backoff, WorkerConfig};
use super::filtered_record::{self, FilteredRecord, HeaderEncoder, StatsRecord};
use super::health::WorkerHealth;
use super::live::{LiveFilters, LiveSlot};
use super::metrics::{self as names, WorkerStats};
use super::scopes::{self, ScopeRoutes};
use super::topic_slots::TopicSlots;
use crate::clock::now_us;
use crate::event::Malformed;
use crate::log::{Log, LogConsumer, LogError, LogProducer, Message, Record, SharedGroup};
use crate::matcher::{FilterId, MatchScratch, Outcome};

/// How often the per-topic lag gauges are set (the consumer measures the
/// lag once a second).
const LAG_PUBLISH_INTERVAL: Duration = Duration::from_secs(1);

pub(crate) struct FilterThread {
    pub(crate) index: usize,
    pub(crate) config: WorkerConfig,
    pub(crate) log: Arc<dyn Log>,
    /// The process's group membership; this thread reads its share.
    pub(crate) group: Arc<dyn SharedGroup>,
    pub(crate) live: Arc<LiveSlot>,
    pub(crate) stats: Arc<WorkerStats>,
    pub(crate) stop: Arc<AtomicBool>,
    /// Where each turn of the loop and the group membership are recorded.
    pub(crate) health: Arc<WorkerHealth>,
    /// The core to pin to, if pinning.
    pub(crate) core: Option<core_affinity::CoreId>,
    /// Where the seams of filters with a backfill job go (the control thread).
    pub(crate) seams: std::sync::mpsc::SyncSender<crate::registry::Seam>,
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
    /// Events, malformed events and matches per source topic, by
    /// [`TopicSlots::topic_index`]; the totals are their sums.
    by_topic: Vec<TopicCounts>,
}

#[derive(Clone, Copy, Default)]
struct TopicCounts {
    events: u64,
    malformed: u64,
    matches: u64,
}

impl Uncommitted {
    #[inline]
    fn topic(&mut self, topic: usize) -> &mut TopicCounts {
        if self.by_topic.len() <= topic {
            self.by_topic.resize(topic + 1, TopicCounts::default());
        }
        &mut self.by_topic[topic]
    }
}

/// Whether a commit waits for the group coordinator. While running it
/// does not: the next batch goes on at once, and a commit lost on the way
/// only means duplicates. Before the consumer goes it does.
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
    /// The seams this thread has sent (`backfill/seams.rs`).
    seams: SeamTracker,
    /// Numbers for the topics and partitions read in this pass.
    slots: TopicSlots,
    /// Per-topic lags, refreshed from the consumer.
    lags: Vec<(Arc<str>, u64)>,
    /// Which topic-restricted matchers each topic needs (`scopes.rs`).
    routes: ScopeRoutes,
    /// The matches of one topic-restricted matcher, before they join `matches`.
    scoped_matches: Vec<FilterId>,
}

/// Counts the thread in `WorkerStats::threads_reading` from its first
/// non-empty batch until its consumer goes (the end of `consume`).
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
            seams: SeamTracker::new(self.seams.clone()),
            slots: TopicSlots::new(&[]),
            lags: Vec::new(),
            routes: ScopeRoutes::default(),
            scoped_matches: Vec::new(),
        };
        // One producer and one consumer per pass; a failed flush ends the
        // pass (see module docs). The producer is replaced too: after some
        // failures (an idempotent producer's fatal error, librdkafka's
        // `rd_kafka_fatal_error`) an instance never recovers.
        while !self.stopping() {
            let Some((producer, filtered_partitions, raw_topics)) = self.open_producer(&mut backoff) else {
                return;
            };
            let seed = (now_us() as u64) ^ ((self.index as u64) << 48);
            let raw_partitions = raw_topics.iter().map(|(_, partitions)| partitions).sum();
            buffers.budgets = Budgets::new(raw_partitions, now_us(), seed);
            buffers.slots = TopicSlots::new(&raw_topics);
            let mut consumer = match self.group.consumer(self.index) {
                Ok(consumer) => consumer,
                Err(error) => {
                    tracing::warn!(thread = self.index, %error, "cannot join the consumer group; retrying");
                    self.sleep_unless_stopped(backoff.next_wait());
                    continue;
                }
            };
            backoff.reset();
            self.consume(consumer.as_mut(), producer.as_ref(), filtered_partitions, &mut buffers, &mut backoff);
            // Dropped here: what it read without a commit is rewound. The
            // member leaves the group when the last thread's consumer goes.
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

    /// The producer, the filtered topic's partition count and the raw
    /// topics consumed now with their partition counts (their sum is the
    /// denominator of this thread's budget share).
    #[allow(clippy::type_complexity)]
    fn open_producer(&self, backoff: &mut Backoff) -> Option<(Box<dyn LogProducer>, u32, Vec<(String, u32)>)> {
        while !self.stopping() {
            let opened = self.log.producer().and_then(|producer| {
                let partitions = self.log.partition_count(&self.config.filtered_topic)?;
                let raw_topics = super::resolve_raw_topics(self.log.as_ref(), &self.config.raw_topics)?;
                Ok((producer, partitions, raw_topics))
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
        let mut lags_published: Option<Instant> = None;
        let mut uncommitted = Uncommitted::default();
        let mut reading = ReadingMark { stats: &self.stats, counted: false };
        loop {
            self.beat();
            if self.stopping() {
                // Graceful stop: what was read is matched and produced;
                // make it durable and commit it before the consumer goes.
                let _ = self.commit(consumer, producer, &mut uncommitted, &buffers.slots, CommitWait::UntilDurable);
                return;
            }
            buffers.batch.clear();
            let polled = consumer.poll(self.config.batch_records_max, self.config.poll_timeout, &mut buffers.batch);
            // After every poll, busy or idle: the batch is matched with the
            // newest version, and an idle thread reports within one
            // `poll_timeout` that it would match with it.
            let live = self.live.load_for_thread(self.index);
            self.health.set_assigned(self.index, consumer.is_assigned());
            buffers.budgets.set_owned_partitions(consumer.owned_partitions());
            self.count_commit_failures(consumer);
            if let Err(error) = polled {
                tracing::warn!(thread = self.index, %error, "poll failed; retrying");
                metrics::counter!(names::CONSUME_ERRORS).increment(1);
                self.sleep_unless_stopped(backoff.next_wait());
                continue;
            }
            if lags_published.is_none_or(|at| at.elapsed() >= LAG_PUBLISH_INTERVAL) {
                self.publish_lags(consumer, &mut buffers.lags);
                lags_published = Some(Instant::now());
            }
            let result = if buffers.batch.is_empty() {
                // Idle: nothing will join the pending records soon, so make
                // them durable now rather than at the end of the interval.
                self.commit(consumer, producer, &mut uncommitted, &buffers.slots, CommitWait::No)
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
                        self.commit(consumer, producer, &mut uncommitted, &buffers.slots, CommitWait::No)
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
        slots: &TopicSlots,
        wait: CommitWait,
    ) -> Result<(), BatchFailure> {
        if uncommitted.first_read.is_none() {
            return Ok(());
        }
        producer.flush(self.config.flush_timeout).map_err(BatchFailure::Produce)?;
        let batches = uncommitted.batches;
        // Reset in place: the per-topic vector is reused.
        uncommitted.first_read = None;
        uncommitted.batches = 0;
        let (mut events, mut malformed, mut matches) = (0, 0, 0);
        for (topic, counts) in uncommitted.by_topic.iter_mut().enumerate() {
            let counts = std::mem::take(counts);
            if counts.events > 0 || counts.malformed > 0 || counts.matches > 0 {
                (events, malformed, matches) =
                    (events + counts.events, malformed + counts.malformed, matches + counts.matches);
                self.count_topic(slots.name(topic), counts);
            }
        }
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

    /// The per-topic counters (`topic` label), once per commit and topic.
    fn count_topic(&self, topic: &str, counts: TopicCounts) {
        let label = || ("topic", topic.to_owned());
        metrics::counter!(names::EVENTS_IN, &[label()]).increment(counts.events);
        metrics::counter!(names::MALFORMED, &[label()]).increment(counts.malformed);
        metrics::counter!(names::MATCHES_OUT, &[label()]).increment(counts.matches);
    }

    /// The lag gauges, per thread and topic. A topic this thread no longer
    /// reads (its partitions moved to another member) is set to 0, not
    /// left at its last value.
    fn publish_lags(&self, consumer: &dyn LogConsumer, lags: &mut Vec<(Arc<str>, u64)>) {
        let before: Vec<Arc<str>> = lags.iter().map(|(topic, _)| Arc::clone(topic)).collect();
        consumer.lag_by_topic(lags);
        let gone = before.into_iter().filter(|topic| !lags.iter().any(|(now, _)| now == topic)).map(|t| (t, 0));
        for (topic, lag) in lags.iter().cloned().chain(gone) {
            let labels = [("thread", self.index.to_string()), ("topic", topic.to_string())];
            metrics::gauge!(names::CONSUMER_LAG, &labels).set(lag as f64);
        }
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
        let Buffers { batch, matches, key, headers, scratch, budgets, seams, slots, routes, scoped_matches, .. } =
            buffers;
        uncommitted.first_read.get_or_insert_with(Instant::now);
        uncommitted.batches += 1;
        WorkerStats::add(&self.stats.events_matched, batch.len() as u64);
        for record in batch.iter() {
            let topic = slots.topic_index(&record.topic);
            let slot = slots.slot_in(topic, record.partition);
            uncommitted.topic(topic).events += 1;
            budgets.saw_partition(slot);
            // The seam hook: one check per record while no backfill is pending.
            if !live.seam_watch.is_empty() {
                seams.observe(live, slot, &record.topic, record.partition, record.offset);
            }
            // `*` filters are matched without parsing the event: only those
            // of their matches that the budget forwards are checked, so a
            // `*` thinned to its budget costs a parse per forwarded match,
            // not per event (engine/DESIGN.md §8).
            let routes = routes.for_topic(live, topic, &record.topic);
            let mut checked = match scopes::match_event(live, routes, &record.payload, scratch, matches, scoped_matches)
            {
                Outcome::Parsed => true,
                Outcome::Skipped => false,
                Outcome::Malformed(reason) => {
                    self.skip_malformed(producer, record, &reason, uncommitted.topic(topic))?;
                    continue;
                }
            };
            if matches.is_empty() {
                continue;
            }
            let match_timestamp_us = now_us();
            for &filter_id in matches.iter() {
                // Counted whether forwarded or not; thinned within the budget.
                if !budgets.admit(filter_id, live.rate_max_per_s(filter_id), match_timestamp_us) {
                    continue;
                }
                if !checked {
                    if let Err(reason) = live.matcher.check_well_formed(&record.payload, scratch) {
                        self.skip_malformed(producer, record, &reason, uncommitted.topic(topic))?;
                        break;
                    }
                    checked = true;
                }
                filtered_record::encode_key(filter_id, key);
                let filtered = FilteredRecord {
                    filter_id,
                    raw_topic: &record.topic,
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
                uncommitted.topic(topic).matches += 1;
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

    fn skip_malformed(
        &self,
        producer: &dyn LogProducer,
        record: &Record,
        reason: &Malformed,
        counts: &mut TopicCounts,
    ) -> Result<(), BatchFailure> {
        counts.malformed += 1;
        tracing::debug!(partition = record.partition.0, offset = record.offset, %reason, "malformed event skipped");
        self.send_dead_letter(producer, record)
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
