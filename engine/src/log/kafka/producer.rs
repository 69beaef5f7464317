//! The Kafka producer: a `BaseProducer` whose delivery callback counts
//! acknowledgements and failures, so `flush` can tell the caller whether
//! everything it sent is durable.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;

use super::config::KafkaConfig;
use super::transport;
use crate::log::{LogError, LogProducer, Message};

/// Counts delivery reports (librdkafka's `dr_msg_cb`), called from `poll`/`flush`.
#[derive(Default)]
pub(super) struct DeliveryCounter {
    acknowledged: AtomicU64,
    failed: AtomicU64,
    /// The most recent failure, for the error message.
    last_failure: Mutex<Option<String>>,
}

impl ClientContext for DeliveryCounter {}

impl ProducerContext for DeliveryCounter {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.acknowledged.fetch_add(1, Ordering::Relaxed);
            }
            Err((error, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut last) = self.last_failure.lock() {
                    *last = Some(error.to_string());
                }
            }
        }
    }
}

/// How long one wait inside [`flush_promptly`] lasts.
const FLUSH_POLL_WAIT: Duration = Duration::from_millis(1);

/// Waits until every queued message has its delivery report, in steps of
/// [`FLUSH_POLL_WAIT`].
///
/// rdkafka's own `BaseProducer::flush` (0.38) calls `rd_kafka_flush` with
/// a zero timeout and, while messages are outstanding, `poll`s for
/// `min(remaining, 100 ms)`, and that `poll` runs until its deadline even
/// when the last report arrives at once: every flush that is not
/// instantly complete took 100 ms, which capped a worker at one batch per
/// 100 ms per thread (perf/results/worker.md, 0.035x drain). Each
/// `rd_kafka_flush` call here also sets librdkafka's "flushing" flag, so
/// the brokers send what `linger.ms` would still hold back.
fn flush_promptly(producer: &BaseProducer<DeliveryCounter>, timeout: Duration) -> Result<(), KafkaError> {
    let deadline = Instant::now() + timeout;
    loop {
        match producer.flush(Duration::ZERO) {
            Ok(()) => return Ok(()),
            Err(error) if Instant::now() >= deadline => return Err(error),
            Err(_) => producer.poll(FLUSH_POLL_WAIT),
        }
    }
}

pub(super) struct KafkaProducer {
    producer: BaseProducer<DeliveryCounter>,
    /// `failed` as of the last `flush`: failures after it belong to the next.
    failures_reported: AtomicU64,
    /// Sends so far, to serve delivery reports every [`SERVE_REPORTS_EVERY`].
    sends: AtomicU64,
}

/// How many sends between two servings of ready delivery reports; at most
/// this many reports wait in librdkafka's queue beyond the ready ones.
const SERVE_REPORTS_EVERY: u64 = 64;

impl KafkaProducer {
    pub(super) fn new(config: &KafkaConfig) -> Result<Self, LogError> {
        let producer = config.producer_config().create_with_context(DeliveryCounter::default()).map_err(transport)?;
        Ok(KafkaProducer { producer, failures_reported: AtomicU64::new(0), sends: AtomicU64::new(0) })
    }
}

impl LogProducer for KafkaProducer {
    fn send(&self, topic: &str, message: Message<'_>) -> Result<(), LogError> {
        let mut record =
            BaseRecord::to(topic).key(message.key).payload(message.payload).timestamp(message.timestamp_ms);
        if let Some(partition) = message.partition {
            record = record.partition(partition.0 as i32);
        }
        let sent = self.producer.send(record);
        // Serve the delivery reports that are ready (never waits) once
        // every `SERVE_REPORTS_EVERY` sends: the worker flushes only once
        // per commit interval, and without this the reports of a whole
        // interval would pile up in librdkafka's queue, each message
        // counting against `queue.buffering.max.messages` until its report
        // is served. Not on every send: rdkafka's `poll` reads the clock
        // and locks the queue each time (about 10% of a filter thread's
        // samples in the drain benchmark when it ran once per send).
        if self.sends.fetch_add(1, Ordering::Relaxed).is_multiple_of(SERVE_REPORTS_EVERY) {
            self.producer.poll(Duration::ZERO);
        }
        match sent {
            Ok(()) => Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                // Serve delivery reports so the queue drains, and let the
                // caller decide (the worker flushes, then retries once).
                self.producer.poll(Duration::ZERO);
                Err(LogError::QueueFull { queued: self.producer.in_flight_count().max(0) as usize })
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::UnknownTopic), _))
            | Err((KafkaError::MessageProduction(RDKafkaErrorCode::UnknownTopicOrPartition), _)) => {
                Err(LogError::UnknownTopic { topic: topic.to_owned() })
            }
            Err((error, _)) => Err(transport(error)),
        }
    }

    fn flush(&self, timeout: Duration) -> Result<(), LogError> {
        let flushed = flush_promptly(&self.producer, timeout);
        let context = self.producer.context();
        let failed = context.failed.load(Ordering::Relaxed);
        let reported = self.failures_reported.swap(failed, Ordering::Relaxed);
        if failed > reported {
            let last = context.last_failure.lock().ok().and_then(|last| last.clone()).unwrap_or_default();
            return Err(LogError::Transport(format!(
                "{} message(s) were not delivered; last error: {last}",
                failed - reported
            )));
        }
        flushed.map_err(|_| LogError::FlushTimeout { timeout_ms: timeout.as_millis() as u64 })
    }
}
