//! What a consumer group reports while it rebalances, told apart from what
//! an operator must act on.
//!
//! Every join or leave of a group member moves the group to a new
//! generation: a commit sent under the old one is refused (illegal
//! generation, unknown member, rebalance in progress), and a coordinator
//! that has just taken the group answers "load in progress" until it has
//! read the group's offsets. Each is expected, librdkafka recovers from it
//! by itself, and the only cost is records read again (duplicates, never
//! loss). A worker used to log each as a warning: a normal start of two
//! workers printed thousands (issue 14). They are counted instead, per
//! code, in [`EXPECTED_REBALANCE_ERRORS`], and logged at debug. A producer
//! meets the coordinator answers too (its idempotence id), so its client
//! context goes through here as well.

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

// Only worker threads are group members, so the counter is the worker's.
use crate::worker::metrics::EXPECTED_REBALANCE_ERRORS;

/// Errors of a group's normal rebalance: the code, the label it is counted
/// under, and librdkafka's text for it (`rd_kafka_err2str`, which its log
/// lines quote). Anything else stays a warning or an error.
const EXPECTED: [(RDKafkaErrorCode, &str, &str); 9] = [
    (RDKafkaErrorCode::IllegalGeneration, "illegal_generation", "Specified group generation id is not valid"),
    (RDKafkaErrorCode::UnknownMemberId, "unknown_member_id", "Broker: Unknown member"),
    (RDKafkaErrorCode::RebalanceInProgress, "rebalance_in_progress", "Group rebalance in progress"),
    (RDKafkaErrorCode::CoordinatorLoadInProgress, "coordinator_load_in_progress", "Coordinator load in progress"),
    (RDKafkaErrorCode::CoordinatorNotAvailable, "coordinator_not_available", "Coordinator not available"),
    (RDKafkaErrorCode::NotCoordinator, "not_coordinator", "Broker: Not coordinator"),
    (RDKafkaErrorCode::WaitingForCoordinator, "waiting_for_coordinator", "Waiting for coordinator"),
    (RDKafkaErrorCode::AssignmentLost, "assignment_lost", "Group partition assignment lost"),
    (RDKafkaErrorCode::StaleMemberEpoch, "stale_member_epoch", "The member epoch is stale"),
];

/// Every `code` label the counter can carry, for registering each at 0.
pub fn expected_codes() -> impl Iterator<Item = &'static str> {
    EXPECTED.iter().map(|(_, label, _)| *label)
}

/// The counter's label for `code` when it is a normal rebalance's error.
pub fn expected_label(code: RDKafkaErrorCode) -> Option<&'static str> {
    EXPECTED.iter().find(|(expected, _, _)| *expected == code).map(|(_, label, _)| *label)
}

/// Counts `code` and logs it at debug when it is expected; `false` (nothing
/// done) when the caller must report it.
pub fn count_if_expected(code: RDKafkaErrorCode, what: &str) -> bool {
    let Some(label) = expected_label(code) else { return false };
    tracing::debug!(code = label, "{what} during a rebalance (expected; counted)");
    metrics::counter!(EXPECTED_REBALANCE_ERRORS, "code" => label).increment(1);
    true
}

/// The label of an expected rebalance error that a librdkafka log line
/// reports, found by the error's text (the log callback has no code).
fn label_in_text(message: &str) -> Option<&'static str> {
    EXPECTED.iter().find(|(_, _, text)| message.contains(text)).map(|(_, label, _)| *label)
}

/// librdkafka's log lines, as rdkafka's default `ClientContext::log` writes
/// them (target `librdkafka`), except lines about an expected rebalance
/// error, which are counted and logged at debug.
/// A client's error event (`ClientContext::error`): an expected code is
/// counted, anything else logged as an error.
pub fn error(error: &KafkaError, reason: &str) {
    let expected = error.rdkafka_error_code().is_some_and(|code| count_if_expected(code, reason));
    if !expected {
        tracing::error!(target: "librdkafka", "librdkafka: {error}: {reason}");
    }
}

pub fn log(level: RDKafkaLogLevel, facility: &str, message: &str) {
    let at_least_warning = (level as i32) <= (RDKafkaLogLevel::Warning as i32);
    if at_least_warning {
        if let Some(label) = label_in_text(message) {
            tracing::debug!(target: "librdkafka", code = label, "{facility} {message} (expected during a rebalance; counted)");
            metrics::counter!(EXPECTED_REBALANCE_ERRORS, "code" => label).increment(1);
            return;
        }
    }
    match level {
        RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical | RDKafkaLogLevel::Error => {
            tracing::error!(target: "librdkafka", "librdkafka: {facility} {message}")
        }
        RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", "librdkafka: {facility} {message}"),
        RDKafkaLogLevel::Notice => tracing::info!(target: "librdkafka", "librdkafka: {facility} {message}"),
        RDKafkaLogLevel::Info => tracing::info!(target: "librdkafka", "librdkafka: {facility} {message}"),
        RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", "librdkafka: {facility} {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebalance_codes_are_expected_and_others_are_not() {
        assert_eq!(expected_label(RDKafkaErrorCode::IllegalGeneration), Some("illegal_generation"));
        assert_eq!(expected_label(RDKafkaErrorCode::CoordinatorLoadInProgress), Some("coordinator_load_in_progress"));
        assert_eq!(expected_label(RDKafkaErrorCode::OffsetMetadataTooLarge), None);
        assert_eq!(expected_label(RDKafkaErrorCode::GroupAuthorizationFailed), None);
    }

    /// The text librdkafka logs (`COMMITFAIL ... : Broker: Specified group
    /// generation id is not valid`) is found by the code's own description.
    #[test]
    fn a_commitfail_line_names_its_code() {
        let line = "Offset commit (manual) failed for 3/3 partition(s) in join-state wait-join: \
                    Broker: Specified group generation id is not valid: raw[0]@17";
        assert_eq!(label_in_text(line), Some("illegal_generation"));
        assert_eq!(
            label_in_text("Broker: Coordinator load in progress: retrying"),
            Some("coordinator_load_in_progress")
        );
        assert_eq!(label_in_text("Connect to ipv4#127.0.0.1:9092 failed: Connection refused"), None);
    }
}
