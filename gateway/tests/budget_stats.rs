//! Issue 12 item 1 end to end over the in-memory log: a `*` session filter
//! under a small budget is thinned by the workers, and the session's
//! `stats` frames carry the true match count.

mod common;

use std::time::{Duration, Instant};

use clicktail_engine::worker::WorkerConfig;
use common::{config, Node};

#[test]
fn a_flooding_filter_is_thinned_to_its_budget_and_stats_count_every_match() {
    const BUDGET: u32 = 50;
    const EVENTS: u64 = 3_000;
    let workers = WorkerConfig { threads: 2, session_filter_rate_max_per_s: BUDGET, ..WorkerConfig::default() };
    let node = Node::start_with_workers(config(), workers);
    let mut client = node.admin("", &[]).unwrap();
    client.socket.get_ref().set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let all = client.subscribe("*");
    node.wait_live(&[all]);
    // 1,500 events/s for 2 s: 30× the budget.
    let started = Instant::now();
    for _ in 0..EVENTS / 15 {
        node.produce(&[r#"{"type":"click"}"#; 15]);
        std::thread::sleep(Duration::from_millis(10));
    }
    let (mut matched, mut delivered_by_stats, mut events, mut stats_frames) = (0, 0, 0, 0);
    while matched < EVENTS {
        let frame = client.next_frame();
        match frame["type"].as_str() {
            Some("event") => events += 1,
            Some("stats") => {
                assert_eq!(frame["filter"].as_u64(), Some(all), "{frame}");
                assert!(frame["window_ms"].as_u64().unwrap() >= 1_000, "{frame}");
                matched += frame["matched"].as_u64().unwrap();
                delivered_by_stats += frame["delivered"].as_u64().unwrap();
                stats_frames += 1;
            }
            _ => panic!("unexpected frame {frame}"),
        }
    }
    let elapsed_s = started.elapsed().as_secs_f64();
    eprintln!("{matched} matched, {delivered_by_stats} delivered ({events} event frames) in {stats_frames} stats frames over {elapsed_s:.1} s");
    assert_eq!(matched, EVENTS, "the stats count every match once");
    // Every delivered match was sent before the stats that count it.
    assert!(events <= delivered_by_stats, "{events} events, {delivered_by_stats} delivered by stats");
    let bound = f64::from(BUDGET) * elapsed_s * 1.05 + 2.0 * 5.0;
    assert!((delivered_by_stats as f64) <= bound, "delivered {delivered_by_stats} > {bound} over {elapsed_s:.1} s");
    // Thinned, not starved. `Node::produce` writes every event with one key,
    // so to one of the 2 raw partitions: its thread has half the budget (the
    // skew documented in engine/DESIGN.md), ~25/s over the 2 s of traffic.
    assert!(delivered_by_stats >= u64::from(BUDGET) / 2, "thinned, not starved: {delivered_by_stats}");
    assert!(stats_frames >= 2, "{stats_frames} stats frames");
    assert_eq!(node.metrics().frames_dropped_total.load(std::sync::atomic::Ordering::Relaxed), 0);
}
