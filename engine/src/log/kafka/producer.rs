//! The Kafka producer: a `BaseProducer` whose delivery callback counts
//! acknowledgements and failures, so `flush` can tell the caller whether
//! everything it sent is durable.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::bindings::rd_kafka_flush;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::{RDKafkaErrorCode, RDKafkaRespErr};
use rdkafka::ClientContext;

use super::config::KafkaConfig;
use super::headers::to_owned_headers;
use super::rebalance_noise;
use super::report_server::ReportServer;
use super::transport;
use crate::log::{LogError, LogProducer, Message};

/// Counts failed deliveries, from the reports served on the producer's
/// report thread; successes need no count (`flush` waits for all).
#[derive(Default)]
pub(super) struct DeliveryCounter {
    failed: AtomicU64,
    /// The most recent failure, for the error message.
    last_failure: Mutex<Option<String>>,
}

/// The producer meets the same coordinator noise as a group member: an
/// idempotent producer asks the transaction coordinator for its id, and on
/// a broker that just started that answers "Coordinator load in progress"
/// until it has loaded (seen as WARN lines on CI's fresh broker).
impl ClientContext for DeliveryCounter {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        rebalance_noise::log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        rebalance_noise::error(&error, reason);
    }
}

impl ProducerContext for DeliveryCounter {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, _)) = result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut last) = self.last_failure.lock() {
                *last = Some(error.to_string());
            }
        }
    }
}

/// Kafka's producer, with a thread of its own serving delivery reports as
/// they arrive ([`ReportServer`]), so [`LogProducer::flush`] can block in
/// `rd_kafka_flush` without spinning.
///
/// rdkafka's own `flush` and `poll` (0.38) do not fit a caller that flushes
/// often: `flush` polls for `min(remaining, 100 ms)` and that `poll` runs to
/// its deadline even when the last report arrives at once (every flush took
/// 100 ms: perf/results/worker.md, 0.035x drain), and a `poll` shorter than
/// a millisecond rounds its wait down to zero and spins on the clock (70% of
/// the ingest thread's samples in perf/gateway/e2e.sh, 2026-11-26).
pub(super) struct KafkaProducer {
    /// Held for its `Drop`, and declared first: its thread stops before
    /// the producer goes.
    _reports: ReportServer<DeliveryCounter>,
    producer: Arc<BaseProducer<DeliveryCounter>>,
    /// `failed` as of the last `flush`: failures after it belong to the next.
    failures_reported: AtomicU64,
}

impl KafkaProducer {
    pub(super) fn new(config: &KafkaConfig) -> Result<Self, LogError> {
        let producer: BaseProducer<DeliveryCounter> =
            config.producer_config().create_with_context(DeliveryCounter::default()).map_err(transport)?;
        let producer = Arc::new(producer);
        let reports = ReportServer::start(Arc::clone(&producer))
            .map_err(|error| LogError::Transport(format!("delivery report thread: {error}")))?;
        Ok(KafkaProducer { _reports: reports, producer, failures_reported: AtomicU64::new(0) })
    }

    /// Waits until every message sent so far has its delivery report
    /// served, or `timeout` passes. While it waits, librdkafka treats
    /// `linger.ms` as elapsed, so the brokers get what it still held back.
    fn wait_for_reports(&self, timeout: Duration) -> Result<(), LogError> {
        let timeout_ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: the pointer is the live client of `self.producer`, which
        // outlives the call. With delivery reports as events (how rdkafka
        // configures librdkafka) `rd_kafka_flush` only waits, on a condition
        // variable, for the count of unreported messages to reach zero; the
        // producer's report thread serves the reports meanwhile.
        let error = unsafe { rd_kafka_flush(self.producer.client().native_ptr(), timeout_ms) };
        match error {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR => Ok(()),
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__TIMED_OUT => {
                Err(LogError::FlushTimeout { timeout_ms: timeout.as_millis() as u64 })
            }
            other => Err(LogError::Transport(format!("flush failed: {}", RDKafkaErrorCode::from(other)))),
        }
    }
}

impl LogProducer for KafkaProducer {
    fn send(&self, topic: &str, message: Message<'_>) -> Result<(), LogError> {
        let mut record =
            BaseRecord::to(topic).key(message.key).payload(message.payload).timestamp(message.timestamp_ms);
        if let Some(partition) = message.partition {
            record = record.partition(partition.0 as i32);
        }
        if let Some(headers) = to_owned_headers(message.headers) {
            record = record.headers(headers);
        }
        match self.producer.send(record) {
            Ok(()) => Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                // The report thread drains the queue as reports arrive;
                // the caller decides (it flushes, then retries once).
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
        let flushed = self.wait_for_reports(timeout);
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
        flushed
    }

    fn check_reachable(&self, topic: &str, timeout: Duration) -> Result<(), LogError> {
        super::check_reachable(self.producer.client(), Some(topic), timeout)
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::mocking::MockCluster;
    use rdkafka::types::RDKafkaApiKey;

    use super::*;
    use crate::log::PartitionId;

    fn message(payload: &[u8]) -> Message<'_> {
        Message { key: b"k", payload, partition: Some(PartitionId(0)), timestamp_ms: 0, headers: &[] }
    }

    /// The at-least-once point of the worker: a record the broker refuses
    /// must make `flush` fail (so nothing is committed), once, and the next
    /// flush of delivered records succeed. librdkafka's mock broker (the
    /// error path only; the real broker is in `tests.rs`).
    #[test]
    fn a_refused_record_fails_the_flush_that_covers_it() {
        let cluster = MockCluster::new(1).unwrap();
        cluster.create_topic("filtered", 1, 1).unwrap();
        let config = KafkaConfig { message_timeout_ms: 5_000, ..KafkaConfig::new(&cluster.bootstrap_servers()) };
        let producer = KafkaProducer::new(&config).unwrap();
        producer.send("filtered", message(b"delivered")).unwrap();
        producer.flush(Duration::from_secs(10)).unwrap();

        // Not retriable: librdkafka reports the record failed at once.
        cluster.request_errors(RDKafkaApiKey::Produce, &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_INVALID_RECORD]);
        producer.send("filtered", message(b"refused")).unwrap();
        let error = producer.flush(Duration::from_secs(10)).unwrap_err();
        assert!(error.to_string().contains("1 message(s) were not delivered"), "{error}");

        producer.send("filtered", message(b"delivered again")).unwrap();
        producer.flush(Duration::from_secs(10)).unwrap();
    }
}
