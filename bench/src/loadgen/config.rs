//! What a load run does, with a hard bound on every dimension.
//!
//! The binary (`clicktail loadgen`) fills [`LoadgenConfig`] from flags and
//! `CLICKTAIL_*` variables; [`LoadgenConfig::validate`] refuses anything
//! beyond the bounds below, so a typo cannot turn a load test into a flood.

use std::net::SocketAddr;
use std::time::Duration;

use super::filter_mix::FilterMix;
use super::LoadgenError;

/// The longest run (10 minutes): a load test stops by itself.
pub const DURATION_MAX: Duration = Duration::from_secs(600);
/// The most events one run may send (100 million, ~66 GB of JSON).
pub const EVENT_COUNT_MAX: u64 = 100_000_000;
/// The highest paced rate towards a gateway: 100,000 events/s is far above
/// what one 2-core gateway ingests, and low enough not to starve the host.
pub const GATEWAY_RATE_MAX: u32 = 100_000;
/// The highest paced rate into a log (the in-process ceiling is ~1M/s).
pub const LOG_RATE_MAX: u32 = 5_000_000;
/// The most admin sessions (each is a socket and ~70 KiB of buffers).
pub const ADMIN_SESSIONS_MAX: usize = 10_000;
/// The most ingest WebSockets (each is one thread, like one browser tab).
pub const INGEST_CONNECTIONS_MAX: usize = 256;
/// Source addresses are 127.0.0.2 ..= 127.0.0.{1 + n}: at most 250.
pub const SOURCE_ADDRESSES_MAX: u8 = 250;
/// The longest wait for in-flight matches after the last event was sent.
pub const DRAIN_MAX: Duration = Duration::from_secs(30);
/// The gateway's own bound on events per ingest batch (docs/protocol.md).
pub const INGEST_BATCH_EVENTS_MAX: usize = 500;

/// Where the generated events go.
#[derive(Clone, Debug)]
pub enum Target {
    /// The in-memory log, in this process: measures the generator's own
    /// ceiling (run it with `rate_per_second == 0`).
    Memory {
        /// Partitions of the in-memory topic.
        partitions: u32,
    },
    /// A Kafka topic, through the engine's `KafkaLog` producer.
    Kafka {
        /// `bootstrap.servers`; must be loopback.
        brokers: String,
        /// The raw topic; created (replication 1) when missing.
        topic: String,
        /// Partitions if the topic is created.
        partitions: u32,
    },
    /// A gateway: events through `/ingest` WebSockets, matches read back on
    /// `/ws` admin sessions.
    Gateway {
        /// The gateway of the admin sessions; must be loopback.
        address: SocketAddr,
        /// The gateway of the `/ingest` connections (usually `address`;
        /// another node to measure delivery across nodes); must be loopback.
        ingest: SocketAddr,
    },
}

/// One load run. Defaults are those of `clicktail loadgen --help`.
#[derive(Clone, Debug)]
pub struct LoadgenConfig {
    /// Where events go.
    pub target: Target,
    /// Events per second; 0 means as fast as possible (log targets only).
    pub rate_per_second: u32,
    /// How long events are sent.
    pub duration: Duration,
    /// Stop after this many events even if `duration` has not passed.
    pub event_count_max: Option<u64>,
    /// Generator seed; each ingest connection derives its own from it.
    pub seed: u64,
    /// Users `u-1..=u-N` of the generated site; selective filters draw from
    /// the same range so they match.
    pub users: u64,
    /// Corrupted events per million (log targets only: a gateway refuses a
    /// batch that is not JSON as a whole).
    pub malformed_per_million: u32,
    /// Log targets: the events go over the site's topics
    /// (`site_topics::TOPICS`, by type, plus a payment per booking) instead
    /// of the target's one topic.
    pub site_topics: bool,
    /// Ingest WebSockets sharing the rate (gateway target).
    pub ingest_connections: usize,
    /// Events per ingest batch at most.
    pub ingest_batch_events_max: usize,
    /// How often each ingest connection sends what came due, as
    /// `tracker.js` flushes every 250 ms; shorter means lower latency.
    pub ingest_batch_interval: Duration,
    /// Admin sessions on `/ws` (gateway target).
    pub admin_sessions: usize,
    /// Which criterion each admin session subscribes to.
    pub filter_mix: FilterMix,
    /// Admin sessions connect from 127.0.0.2 ..= 127.0.0.{1 + n}.
    pub source_addresses: u8,
    /// `?token=` for `/ws`, when the gateway requires one.
    pub admin_token: Option<String>,
    /// Threads reading admin sessions.
    pub admin_reader_threads: usize,
    /// After the last event, how long to keep reading matches.
    pub drain: Duration,
}

impl Default for LoadgenConfig {
    fn default() -> Self {
        LoadgenConfig {
            target: Target::Memory { partitions: 4 },
            rate_per_second: 0,
            duration: Duration::from_secs(10),
            event_count_max: None,
            seed: 1,
            users: 2_000,
            malformed_per_million: 0,
            site_topics: false,
            ingest_connections: 8,
            ingest_batch_events_max: 50,
            ingest_batch_interval: Duration::from_millis(20),
            admin_sessions: 100,
            filter_mix: FilterMix::default(),
            source_addresses: 16,
            admin_token: None,
            admin_reader_threads: 2,
            drain: Duration::from_secs(2),
        }
    }
}

impl LoadgenConfig {
    /// Checks every bound; the error names the setting and its limit.
    pub fn validate(&self) -> Result<(), LoadgenError> {
        let out_of_range = |setting: &'static str, value: String, bound: String| {
            Err(LoadgenError::OutOfRange { setting, value, bound })
        };
        if self.duration.is_zero() || self.duration > DURATION_MAX {
            return out_of_range("duration", format!("{:?}", self.duration), format!("1 ms ..= {DURATION_MAX:?}"));
        }
        if let Some(count) = self.event_count_max {
            if count == 0 || count > EVENT_COUNT_MAX {
                return out_of_range("count", count.to_string(), format!("1 ..= {EVENT_COUNT_MAX}"));
            }
        }
        if self.drain > DRAIN_MAX {
            return out_of_range("drain", format!("{:?}", self.drain), format!("..= {DRAIN_MAX:?}"));
        }
        if self.users == 0 {
            return out_of_range("users", "0".into(), "at least 1".into());
        }
        match &self.target {
            Target::Memory { .. } | Target::Kafka { .. } => {
                if self.rate_per_second > LOG_RATE_MAX {
                    return out_of_range("rate", self.rate_per_second.to_string(), format!("0 ..= {LOG_RATE_MAX}"));
                }
            }
            Target::Gateway { address, ingest } => {
                self.validate_gateway(*address)?;
                self.validate_gateway(*ingest)?;
            }
        }
        if let Target::Kafka { brokers, .. } = &self.target {
            for broker in brokers.split(',') {
                if !is_loopback_host(broker) {
                    return Err(LoadgenError::NotLoopback { address: broker.to_owned() });
                }
            }
        }
        Ok(())
    }

    fn validate_gateway(&self, address: SocketAddr) -> Result<(), LoadgenError> {
        let out_of_range = |setting: &'static str, value: String, bound: String| {
            Err(LoadgenError::OutOfRange { setting, value, bound })
        };
        if !address.ip().is_loopback() {
            return Err(LoadgenError::NotLoopback { address: address.to_string() });
        }
        if self.rate_per_second == 0 || self.rate_per_second > GATEWAY_RATE_MAX {
            return out_of_range("rate", self.rate_per_second.to_string(), format!("1 ..= {GATEWAY_RATE_MAX}"));
        }
        if self.malformed_per_million != 0 {
            return out_of_range(
                "malformed",
                self.malformed_per_million.to_string(),
                "0 towards a gateway (a batch that is not JSON is refused whole)".into(),
            );
        }
        if !(1..=INGEST_CONNECTIONS_MAX).contains(&self.ingest_connections) {
            let bound = format!("1 ..= {INGEST_CONNECTIONS_MAX}");
            return out_of_range("ingest-connections", self.ingest_connections.to_string(), bound);
        }
        if !(1..=INGEST_BATCH_EVENTS_MAX).contains(&self.ingest_batch_events_max) {
            let bound = format!("1 ..= {INGEST_BATCH_EVENTS_MAX}");
            return out_of_range("ingest-batch-events", self.ingest_batch_events_max.to_string(), bound);
        }
        if self.ingest_batch_interval.is_zero() || self.ingest_batch_interval > Duration::from_secs(5) {
            let value = format!("{:?}", self.ingest_batch_interval);
            return out_of_range("ingest-batch-ms", value, "1 ..= 5000".into());
        }
        if self.admin_sessions > ADMIN_SESSIONS_MAX {
            return out_of_range("sessions", self.admin_sessions.to_string(), format!("0 ..= {ADMIN_SESSIONS_MAX}"));
        }
        if !(1..=SOURCE_ADDRESSES_MAX).contains(&self.source_addresses) {
            let bound = format!("1 ..= {SOURCE_ADDRESSES_MAX}");
            return out_of_range("source-addresses", self.source_addresses.to_string(), bound);
        }
        if !(1..=64).contains(&self.admin_reader_threads) {
            return out_of_range("reader-threads", self.admin_reader_threads.to_string(), "1 ..= 64".into());
        }
        Ok(())
    }
}

/// Whether `host:port` names this machine (`localhost`, 127.0.0.0/8, ::1).
fn is_loopback_host(host_and_port: &str) -> bool {
    let host = host_and_port.rsplit_once(':').map_or(host_and_port, |(host, _)| host);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_recognised() {
        assert!(is_loopback_host("localhost:9092"));
        assert!(is_loopback_host("127.0.0.1:9092"));
        assert!(is_loopback_host("[::1]:9092"));
        assert!(!is_loopback_host("kafka.example.com:9092"));
        assert!(!is_loopback_host("10.0.0.1:9092"));
    }

    #[test]
    fn a_remote_gateway_is_refused() {
        let config = LoadgenConfig {
            target: Target::Gateway {
                address: "127.0.0.1:8080".parse().unwrap(),
                ingest: "10.1.2.3:8080".parse().unwrap(),
            },
            rate_per_second: 10,
            ..LoadgenConfig::default()
        };
        assert!(matches!(config.validate(), Err(LoadgenError::NotLoopback { .. })));
    }

    #[test]
    fn bounds_are_enforced() {
        let address = "127.0.0.1:8080".parse().unwrap();
        let gateway = Target::Gateway { address, ingest: address };
        let too_many = LoadgenConfig {
            target: gateway.clone(),
            rate_per_second: 10,
            admin_sessions: ADMIN_SESSIONS_MAX + 1,
            ..LoadgenConfig::default()
        };
        assert!(matches!(too_many.validate(), Err(LoadgenError::OutOfRange { setting: "sessions", .. })));
        let too_long = LoadgenConfig { duration: DURATION_MAX * 2, ..LoadgenConfig::default() };
        assert!(matches!(too_long.validate(), Err(LoadgenError::OutOfRange { setting: "duration", .. })));
        let unpaced_gateway = LoadgenConfig { target: gateway, rate_per_second: 0, ..LoadgenConfig::default() };
        assert!(matches!(unpaced_gateway.validate(), Err(LoadgenError::OutOfRange { setting: "rate", .. })));
        assert!(LoadgenConfig::default().validate().is_ok());
    }
}
