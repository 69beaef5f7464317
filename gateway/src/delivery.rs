//! The delivery thread: tails the filtered topic and hands each record's
//! frame to the event loop of the session that owns its filter id.
//!
//! Every gateway node reads every filtered record (a tail consumer over all
//! partitions, no consumer group) and forwards only those whose filter is
//! routed here, so any node can serve any admin whichever worker matched.
//! The frame is built once here, and the loop only queues a reference to it.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clicktail_engine::log::{Log, LogConsumer, Record};
use clicktail_engine::matcher::FilterId;
use clicktail_engine::worker::filtered_record::FilteredMessage;
use tungstenite::Utf8Bytes;

use crate::filter_stats::{FilterStatsWindows, FilterWindow};
use crate::filtered_format::FilteredReader;
use crate::ids::ConnectionAddress;
use crate::protocol::event;
use crate::protocol::history_done::HistoryDone;
use crate::protocol::stats::Stats;
use crate::schema_sample::{SampleBudget, SchemaSample};
use crate::server::inbox::{LoopCommand, LoopHandle};
use crate::{Metrics, RouteTable};
use clicktail_engine::clock::now_ms;

/// Records read per poll: large enough to amortize the route lock and the
/// wake-ups, small enough to keep the first record's wait short.
const POLL_RECORDS_MAX: usize = 4_096;
/// How long a poll waits for the first record; bounds shutdown latency.
const POLL_TIMEOUT: Duration = Duration::from_millis(100);
/// How often the delivery thread and the ingest producer check that their
/// Kafka client reaches the brokers (a metadata round trip; readiness).
pub(crate) const REACHABILITY_CHECK_EVERY: Duration = Duration::from_secs(2);
/// How long one such check may wait for an answer. Delivery waits with it,
/// but only while the brokers are away, when there is nothing to deliver.
pub(crate) const REACHABILITY_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub struct DeliveryThread {
    /// A tail consumer over every partition of the filtered topic.
    pub consumer: Box<dyn LogConsumer>,
    /// Filter id → session, read once per polled batch.
    pub routes: Arc<RouteTable>,
    /// Each event loop's inbox, indexed by `LoopId`.
    pub loops: Vec<LoopHandle>,
    /// Records read, unrouted, dropped.
    pub metrics: Arc<Metrics>,
    /// Set by `Gateway::stop`; checked after every poll.
    pub stop: Arc<AtomicBool>,
    /// A few routed events a second, for `GET /schema`.
    pub schema: Arc<SchemaSample>,
}

/// Creates the tail consumer up front so that `start` fails loudly when the
/// topic is missing, instead of a thread failing quietly later.
pub fn consumer(log: &dyn Log, topic: &str) -> Result<Box<dyn LogConsumer>, crate::GatewayError> {
    log.tail_consumer(topic).map_err(|source| crate::GatewayError::Log { what: "tail of the filtered topic", source })
}

impl DeliveryThread {
    pub fn run(mut self) {
        let mut records: Vec<Record> = Vec::with_capacity(POLL_RECORDS_MAX);
        // Frames the inbox refused, per session and filter, reported with
        // the next frame that gets through (bounded by the live filters).
        let mut missed: HashMap<(ConnectionAddress, FilterId), u64> = HashMap::new();
        let mut touched = vec![false; self.loops.len()];
        let mut reader = FilteredReader::default();
        let mut next_check = Instant::now() + REACHABILITY_CHECK_EVERY;
        let mut stats = FilterStatsWindows::default();
        let mut due_stats: Vec<FilterWindow> = Vec::new();
        let mut schema_budget = SampleBudget::default();
        while !self.stop.load(Ordering::Relaxed) {
            if Instant::now() >= next_check {
                self.check_reachable();
                next_check = Instant::now() + REACHABILITY_CHECK_EVERY;
            }
            records.clear();
            if let Err(error) = self.consumer.poll(POLL_RECORDS_MAX, POLL_TIMEOUT, &mut records) {
                tracing::warn!(%error, "delivery: poll of the filtered topic failed; retrying");
                std::thread::sleep(POLL_TIMEOUT);
                continue;
            }
            // Every turn (at most one poll timeout apart): a window ends on
            // time even when its filter's records stop.
            self.send_due_stats(&mut stats, &mut due_stats);
            if records.is_empty() {
                continue;
            }
            self.metrics.records_read_total.fetch_add(records.len() as u64, Relaxed);
            let sent_ms = now_ms();
            let polled_at = Instant::now();
            let routes = self.routes.read();
            for record in &records {
                let decoded = match reader.read(record, &self.metrics) {
                    Some(FilteredMessage::Event(decoded)) => decoded,
                    Some(FilteredMessage::Stats(record)) => {
                        // Summed, sent by `send_due_stats` if routed here then.
                        stats.add(&record, Instant::now());
                        continue;
                    }
                    Some(FilteredMessage::HistoryDone(done)) => {
                        // In the filter's own lane, so it follows the
                        // history frames queued before it (a reply would
                        // overtake them: replies are written first).
                        let Some(owner) = routes.get(&done.filter_id).copied() else {
                            self.metrics.records_unrouted_total.fetch_add(1, Relaxed);
                            continue;
                        };
                        let frame =
                            HistoryDone::frame(done.filter_id.0, done.events_scanned, done.matches, done.complete);
                        let command = LoopCommand::Event {
                            connection: owner.connection,
                            filter: done.filter_id,
                            frame: Utf8Bytes::from(frame),
                        };
                        if self.loops[owner.event_loop.0].push(command).is_err() {
                            self.metrics.frames_dropped_total.fetch_add(1, Relaxed);
                            *missed.entry((owner, done.filter_id)).or_insert(0) += 1;
                        }
                        touched[owner.event_loop.0] = true;
                        continue;
                    }
                    None => continue,
                };
                let Some(owner) = routes.get(&decoded.filter_id).copied() else {
                    self.metrics.records_unrouted_total.fetch_add(1, Relaxed);
                    continue;
                };
                let ts_ms = decoded.ingest_timestamp_us / 1_000;
                let frame = event::frame(
                    decoded.filter_id.0,
                    decoded.raw_topic,
                    ts_ms,
                    sent_ms,
                    decoded.history,
                    decoded.event,
                );
                let Some(frame) = frame else {
                    continue;
                };
                self.metrics.delivery_latency_ms.record_ms(sent_ms - ts_ms);
                if schema_budget.take(polled_at) {
                    self.schema.add(decoded.event);
                }
                let handle = &self.loops[owner.event_loop.0];
                let filter = decoded.filter_id;
                if let Some(count) = missed.remove(&(owner, filter)) {
                    if let Err(LoopCommand::Missed { count, .. }) =
                        handle.push(LoopCommand::Missed { connection: owner.connection, filter, count })
                    {
                        missed.insert((owner, filter), count);
                    }
                }
                let command =
                    LoopCommand::Event { connection: owner.connection, filter, frame: Utf8Bytes::from(frame) };
                if handle.push(command).is_err() {
                    self.metrics.frames_dropped_total.fetch_add(1, Relaxed);
                    *missed.entry((owner, filter)).or_insert(0) += 1;
                }
                touched[owner.event_loop.0] = true;
            }
            drop(routes);
            for (index, was_touched) in touched.iter_mut().enumerate() {
                if std::mem::take(was_touched) {
                    self.loops[index].wake();
                }
            }
            // Forget sessions that closed before their misses were told.
            if missed.len() > 10_000 {
                missed.clear();
            }
        }
    }

    /// Sends each filter's `stats` frame whose window is over to the session
    /// that owns the filter (as a reply: never dropped for events). A
    /// frame the inbox refuses joins the filter's next window.
    fn send_due_stats(&self, stats: &mut FilterStatsWindows, due: &mut Vec<FilterWindow>) {
        due.clear();
        stats.take_due(Instant::now(), due);
        if due.is_empty() {
            return;
        }
        let routes = self.routes.read();
        for window in due.drain(..) {
            let Some(owner) = routes.get(&window.filter_id).copied() else {
                continue;
            };
            let frame = Stats::frame(window.filter_id.0, window.matched, window.delivered, window.window_ms);
            let handle = &self.loops[owner.event_loop.0];
            if handle.push(LoopCommand::Reply { connection: owner.connection, frame: Utf8Bytes::from(frame) }).is_err()
            {
                stats.give_back(window);
            } else {
                handle.wake();
            }
        }
    }

    /// Records in `tail_reachable` whether the tail reaches the brokers:
    /// the node is not ready while it does not (its sessions get nothing).
    fn check_reachable(&self) {
        let reachable = match self.consumer.check_reachable(REACHABILITY_CHECK_TIMEOUT) {
            Ok(()) => true,
            Err(error) => {
                if self.metrics.tail_reachable.load(Relaxed) {
                    tracing::warn!(%error, "delivery: the filtered topic's brokers are unreachable; not ready");
                }
                false
            }
        };
        if reachable && !self.metrics.tail_reachable.load(Relaxed) {
            tracing::info!("delivery: the filtered topic's brokers are reachable again");
        }
        self.metrics.tail_reachable.store(reachable, Relaxed);
    }
}
