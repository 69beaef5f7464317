//! Idle Kafka clients must sleep, not spin. rdkafka (0.38) hands librdkafka
//! a poll's wait truncated to whole milliseconds, then polls with a zero
//! timeout until the full duration has passed: each empty timed poll ended
//! in up to a millisecond of busy loop. That was most of an idle gateway's
//! CPU (its ingest producer's report thread and its delivery consumer,
//! perf/results/gateway-raw-idle.md). This file is its own test process, so
//! the process's CPU time is the clients' own.

mod common;

use std::time::{Duration, Instant};

use clicktail_engine::log::kafka::{KafkaConfig, KafkaLog};
use clicktail_engine::log::{Log, Message, PartitionId};

/// CPU time of every thread of this process so far (`schedstat`'s
/// nanoseconds, finer than the clock ticks of `/proc/self/stat`).
fn process_cpu() -> Duration {
    let mut nanos = 0u64;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("schedstat")) else { continue };
        nanos += stat.split_whitespace().next().and_then(|ran| ran.parse::<u64>().ok()).unwrap_or(0);
    }
    Duration::from_nanos(nanos)
}

/// CPU time spent while `idle` runs for `window`, as a share of one core.
fn cpu_share_while(window: Duration, mut idle: impl FnMut()) -> f64 {
    let before = process_cpu();
    let started = Instant::now();
    while started.elapsed() < window {
        idle();
    }
    (process_cpu() - before).as_secs_f64() / started.elapsed().as_secs_f64()
}

#[test]
fn idle_producers_and_a_polling_tail_consumer_barely_use_the_cpu() {
    let Some((brokers, _)) = common::services() else { return };
    let log = KafkaLog::new(KafkaConfig::new(&brokers)).unwrap();
    let topic = common::unique("idle_cpu");
    log.create_topic(&topic, 4).unwrap();

    // Four producers, each connected (one record delivered), then idle:
    // with the busy loop, each cost about 1% of a core doing nothing.
    let producers: Vec<_> = (0..4).map(|_| log.producer().unwrap()).collect();
    for producer in &producers {
        let message =
            Message { key: b"k", payload: b"{}", partition: Some(PartitionId(0)), timestamp_ms: 0, headers: &[] };
        producer.send(&topic, message).unwrap();
        producer.flush(Duration::from_secs(30)).unwrap();
    }
    let producers_idle = cpu_share_while(Duration::from_secs(3), || std::thread::sleep(Duration::from_millis(50)));

    // A tail consumer polled with a short timeout, as a delivery thread
    // does when nothing arrives: each empty poll spun up to 1 ms of 10.
    let mut tail = log.tail_consumer(&topic).unwrap();
    let mut records = Vec::new();
    tail.poll(100, Duration::from_secs(1), &mut records).unwrap();
    let polling_idle = cpu_share_while(Duration::from_secs(3), || {
        records.clear();
        tail.poll(100, Duration::from_millis(10), &mut records).unwrap();
    });

    eprintln!(
        "idle: four producers {:.2}%, a polling tail {:.2}% of a core",
        producers_idle * 100.0,
        polling_idle * 100.0
    );
    // In a debug build, without the busy loops: 0.20% and 0.82% of a
    // core; with them 3.6% and 13% (2026-12-04).
    assert!(producers_idle < 0.015, "four idle producers used {:.2}% of a core", producers_idle * 100.0);
    assert!(polling_idle < 0.03, "a polling idle tail consumer used {:.2}% of a core", polling_idle * 100.0);
    drop(producers);
}
