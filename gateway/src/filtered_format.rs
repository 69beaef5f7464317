//! Reading filtered records (`engine/src/worker/filtered_record.rs`,
//! `docs/filtered-topic.md`), refusing what this build cannot read.
//!
//! A record of another format version (a worker older or newer than this
//! gateway during a rolling upgrade), of a kind this build does not know
//! (a control record added later) or with a malformed header is skipped
//! and counted in `clicktail_gateway_records_refused_total`. The first
//! refusal is logged as a warning naming the cause; later ones only at
//! debug level, since a mismatched worker would otherwise log once per match.

use std::sync::atomic::Ordering::Relaxed;

use clicktail_engine::log::Record;
use clicktail_engine::worker::filtered_record::{self, FilteredMessage};

use crate::Metrics;

/// The delivery thread's reader of filtered records.
#[derive(Debug, Default)]
pub(crate) struct FilteredReader {
    /// Set once the first refusal was logged as a warning.
    warned: bool,
}

impl FilteredReader {
    /// The decoded `record`, or `None` (counted, logged) when refused.
    pub(crate) fn read<'a>(&mut self, record: &'a Record, metrics: &Metrics) -> Option<FilteredMessage<'a>> {
        match filtered_record::decode_message(&record.headers, &record.payload) {
            Ok(decoded) => Some(decoded),
            Err(error) => {
                metrics.records_refused_total.fetch_add(1, Relaxed);
                if std::mem::replace(&mut self.warned, true) {
                    tracing::debug!(partition = record.partition.0, offset = record.offset, %error, "delivery: filtered record refused");
                } else {
                    tracing::warn!(
                        partition = record.partition.0,
                        offset = record.offset,
                        %error,
                        "delivery: filtered record refused; are workers and gateways on the same format version? \
                         further refusals are only counted (clicktail_gateway_records_refused_total)"
                    );
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use clicktail_engine::log::{Headers, PartitionId};
    use clicktail_engine::matcher::FilterId;
    use clicktail_engine::worker::filtered_record::{FilteredRecord, HeaderEncoder, StatsRecord};

    use super::*;

    fn record(headers: Headers, payload: &[u8]) -> Record {
        Record {
            topic: "filtered".into(),
            partition: PartitionId(0),
            offset: 7,
            key: None,
            payload: payload.to_vec().into(),
            timestamp_ms: 0,
            headers,
        }
    }

    #[test]
    fn records_of_an_unknown_format_are_skipped_and_counted() {
        let metrics = Metrics::default();
        let mut reader = FilteredReader::default();
        // Format version 1: a binary header before the event, no headers.
        let mut version_1 = vec![1u8];
        version_1.extend_from_slice(&[0; 24]);
        version_1.extend_from_slice(b"{}");
        assert_eq!(reader.read(&record(Headers::default(), &version_1), &metrics), None);
        let mut version_3 = Headers::default();
        version_3.push(b"ct.version", b"3");
        assert_eq!(reader.read(&record(version_3, b"{}"), &metrics), None);
        assert_eq!(metrics.records_refused_total.load(Relaxed), 2);
        assert!(metrics.render().contains("clicktail_gateway_records_refused_total 2\n"));

        let event = FilteredRecord {
            filter_id: FilterId(9),
            raw_topic: "clicks",
            raw_partition: PartitionId(1),
            raw_offset: 2,
            ingest_timestamp_us: 3,
            match_timestamp_us: 4,
            history: false,
            event: b"{}",
        };
        let headers = Headers::from_sent(&HeaderEncoder::default().encode(&event));
        let good = record(headers, b"{}");
        assert_eq!(reader.read(&good, &metrics), Some(FilteredMessage::Event(event)));
        let stats = StatsRecord { filter_id: FilterId(9), matched: 5, delivered: 1, window_ms: 1_000 };
        let stats_record = record(Headers::from_sent(&HeaderEncoder::default().encode_stats(&stats)), b"");
        assert_eq!(reader.read(&stats_record, &metrics), Some(FilteredMessage::Stats(stats)));
        assert_eq!(metrics.records_refused_total.load(Relaxed), 2);
    }
}
