//! Readiness through a real Kafka outage: `/readyz` turns 503 while the
//! brokers are away and 200 again once they are back. Stops and starts the
//! Kafka of `scripts/services.sh` (`$CLICKTAIL_SERVICES_SCRIPT`), so it runs
//! one at a time with the other service tests of this binary.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clicktail_engine::log::kafka::{KafkaConfig, KafkaLog};
use clicktail_engine::registry::memory::MemoryRegistry;
use clicktail_gateway::{Gateway, GatewayConfig};

mod common;

/// Tests that restart a service: one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The broker list, or `None` to skip (`CLICKTAIL_SKIP_SERVICES=1`).
fn brokers() -> Option<String> {
    match std::env::var("CLICKTAIL_KAFKA_BROKERS") {
        Ok(brokers) => Some(brokers),
        _ if std::env::var("CLICKTAIL_SKIP_SERVICES").as_deref() == Ok("1") => None,
        _ => {
            panic!("CLICKTAIL_KAFKA_BROKERS must be set: run `scripts/services.sh up` and `source .cache/services/env`")
        }
    }
}

fn get(address: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: {address}\r\n\r\n").as_bytes()).unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
    (status, body)
}

fn wait_for_readyz(address: SocketAddr, status: u16, within: Duration) -> String {
    let started = Instant::now();
    loop {
        let (got, body) = get(address, "/readyz");
        if got == status {
            return body;
        }
        assert!(started.elapsed() < within, "/readyz stayed {got} ({body:?}) for {within:?}; expected {status}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Starts Kafka again whatever the test's outcome: later tests need it.
struct RestartKafka;

impl Drop for RestartKafka {
    fn drop(&mut self) {
        common::services_script(&["start-kafka"]);
    }
}

#[test]
fn readyz_is_503_while_the_brokers_are_down_and_200_once_back() {
    let _serial = serial();
    let Some(brokers) = brokers() else { return };
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let log = KafkaLog::new(KafkaConfig::new(&brokers)).unwrap();
    let (raw, filtered) = (format!("raw-outage-{nanos}"), format!("filtered-outage-{nanos}"));
    log.create_topic(&raw, 1).unwrap();
    log.create_topic(&filtered, 1).unwrap();
    let mut config = GatewayConfig::defaults();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.no_admin_token = true;
    config.raw_topic = raw.clone();
    config.filtered_topic = filtered.clone();
    let gateway = Gateway::start(config, Arc::new(log), Arc::new(MemoryRegistry::default())).unwrap();
    let address = gateway.local_address();
    assert_eq!(wait_for_readyz(address, 200, Duration::from_secs(10)), "ready\n");

    let restart = RestartKafka;
    common::services_script(&["stop-kafka"]);
    let body = wait_for_readyz(address, 503, Duration::from_secs(30));
    assert!(body.contains("cannot reach the brokers"), "{body}");
    assert!(gateway.metrics().render().contains("\nclicktail_gateway_ready 0\n"));

    drop(restart);
    assert_eq!(wait_for_readyz(address, 200, Duration::from_secs(90)), "ready\n");
    gateway.stop();
    let log = KafkaLog::new(KafkaConfig::new(&brokers)).unwrap();
    for topic in [&raw, &filtered] {
        let _ = log.delete_topic(topic);
    }
}
