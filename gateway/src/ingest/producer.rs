//! The ingest producer thread: produces validated batches to the raw topic
//! and acknowledges each only after the log acknowledged all its events.
//!
//! Batches that arrive together are produced together and covered by one
//! `flush` (group commit): with Kafka a flush is a round trip to the broker,
//! and one per batch would cap ingest at a few thousand batches per second.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clicktail_engine::log::{LogError, LogProducer, Message};
use crossbeam_channel::{Receiver, RecvTimeoutError};
use tungstenite::Utf8Bytes;

use super::{IngestJob, ReplyChannel};
use crate::delivery::{REACHABILITY_CHECK_EVERY, REACHABILITY_CHECK_TIMEOUT};
use crate::http::response;
use crate::protocol::ingest_batch::{Ack, Nack};
use crate::server::inbox::{LoopCommand, LoopHandle};
use crate::Metrics;
use clicktail_engine::clock::now_ms;

/// Batches gathered into one group before a flush.
const GROUP_BATCHES_MAX: usize = 256;
/// How long a reply may wait for room in a loop's inbox.
const INBOX_SEND_TIMEOUT: Duration = Duration::from_secs(1);

pub struct ProducerThread {
    /// The producer of the raw topic.
    pub producer: Box<dyn LogProducer>,
    /// The raw topic (`raw_topic`).
    pub topic: String,
    /// Each event loop's inbox, for the acks.
    pub loops: Vec<LoopHandle>,
    /// Ingest counters.
    pub metrics: Arc<Metrics>,
    /// How long a group may wait for the log's acknowledgement.
    pub flush_timeout: Duration,
}

impl ProducerThread {
    pub fn run(self, jobs: Receiver<IngestJob>) {
        let mut group: Vec<IngestJob> = Vec::with_capacity(GROUP_BATCHES_MAX);
        let mut next_check = Instant::now() + REACHABILITY_CHECK_EVERY;
        loop {
            if Instant::now() >= next_check {
                self.check_reachable();
                next_check = Instant::now() + REACHABILITY_CHECK_EVERY;
            }
            let first = match jobs.recv_timeout(next_check.saturating_duration_since(Instant::now())) {
                Ok(first) => first,
                Err(RecvTimeoutError::Timeout) => continue,
                // Every loop is gone: the jobs queued before are all answered.
                Err(RecvTimeoutError::Disconnected) => return,
            };
            group.push(first);
            while group.len() < GROUP_BATCHES_MAX {
                match jobs.try_recv() {
                    Ok(job) => group.push(job),
                    Err(_) => break,
                }
            }
            let outcome = self.produce(&group);
            for job in group.drain(..) {
                self.reply(job, outcome.as_ref().map(|_| ()).map_err(|error| error.to_string()));
            }
        }
    }

    /// Records in `producer_reachable` whether the producer reaches the
    /// brokers: batches sent while it does not wait out the flush timeout
    /// and are refused, so the node is not ready.
    fn check_reachable(&self) {
        let reachable = match self.producer.check_reachable(&self.topic, REACHABILITY_CHECK_TIMEOUT) {
            Ok(()) => true,
            Err(error) => {
                if self.metrics.producer_reachable.load(Relaxed) {
                    tracing::warn!(%error, "ingest: the raw topic's brokers are unreachable; not ready");
                }
                false
            }
        };
        if reachable && !self.metrics.producer_reachable.load(Relaxed) {
            tracing::info!("ingest: the raw topic's brokers are reachable again");
        }
        self.metrics.producer_reachable.store(reachable, Relaxed);
    }

    fn produce(&self, group: &[IngestJob]) -> Result<(), LogError> {
        let timestamp_ms = now_ms();
        for job in group {
            for (key, event) in &job.events {
                let message = Message {
                    key: key.as_bytes(),
                    payload: event.get().as_bytes(),
                    partition: None,
                    timestamp_ms,
                    headers: &[],
                };
                // A second refusal of a full queue fails the group.
                self.producer.send_or_flush_once(&self.topic, message, self.flush_timeout)?;
            }
        }
        self.producer.flush(self.flush_timeout)
    }

    fn reply(&self, job: IngestJob, outcome: Result<(), String>) {
        let frame = match &outcome {
            Ok(()) => {
                self.metrics.ingest_batches_total.fetch_add(1, Relaxed);
                self.metrics.ingest_events_total.fetch_add(job.events.len() as u64, Relaxed);
                self.metrics.ingest_events_rejected_total.fetch_add(job.rejected as u64, Relaxed);
                Ack::frame(job.batch, job.events.len(), job.rejected)
            }
            Err(error) => {
                self.metrics.ingest_batches_refused_total.fetch_add(1, Relaxed);
                tracing::warn!(%error, batch = job.batch, "ingest: batch not acknowledged by the log");
                Nack::frame(Some(job.batch), &format!("the log did not acknowledge the batch: {error}"))
            }
        };
        let command = match job.reply {
            ReplyChannel::WebSocket => LoopCommand::Reply { connection: job.connection, frame: Utf8Bytes::from(frame) },
            ReplyChannel::Http => {
                let status = if outcome.is_ok() { 200 } else { 503 };
                LoopCommand::HttpResponse {
                    connection: job.connection,
                    response: response::build(
                        status,
                        "application/json",
                        frame.as_bytes(),
                        &[("Access-Control-Allow-Origin", "*")],
                    ),
                }
            }
        };
        if let Some(handle) = self.loops.get(job.event_loop) {
            let _ = handle.send_and_wake(command, INBOX_SEND_TIMEOUT);
        }
    }
}
