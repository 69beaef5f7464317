//! The regex pair of issue 11, item 1, subscribed live by a `/ws` session
//! while a standing filter receives thousands of matches a second. Wanted:
//! the worker keeps consuming (the standing filter loses nothing), a
//! standing filter added afterwards goes live and receives every match,
//! and the worker's health endpoints say it is healthy and ready only
//! because it is.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::common::drain;
use crate::events::{BOOKINGS, CLICKS, CRITERIA};
use crate::kafka::{FilteredReader, Prober, Production};
use crate::processes::{free_port, http_status, spawn_gateway, spawn_worker, wait_until, WorkerSpec};
use crate::report::Report;
use crate::session::Session;
use crate::suite::Suite;

const NAME: &str = "regex-pair";
const EVENTS: usize = 40_000;
const RATE_PER_S: u32 = 2_000;
const PAIR: [&str; 2] = [r#"page.title matches ".{10000}""#, r#"page.title matches ".{10001}""#];

pub fn run(suite: &Suite) -> anyhow::Result<Report> {
    let started = Instant::now();
    let mut report = Report::new(NAME);
    let events = EVENTS.min(suite.events.len());
    let stage = suite.stage(NAME, &suite.brokers)?;
    let before = suite.add_standing_filter(&stage, CRITERIA[CLICKS].0)?;
    let reader = FilteredReader::start(&suite.brokers, &stage.filtered_topic, stage.partitions, suite.events.clone())?;
    let metrics_port = free_port()?;
    let spec = WorkerSpec { name: "worker", metrics_port: Some(metrics_port), netns: None, database_url: None };
    let mut worker = spawn_worker(suite, &stage, NAME, &spec)?;
    let mut gateway = spawn_gateway(suite, &stage, NAME, &[])?;
    let prober = Prober::new(&suite.brokers, &stage.raw_topic)?;
    let len = suite.events.len();
    if !prober.until_live(CLICKS, |n| reader.tally(before, len).saw_probe(n), Duration::from_secs(60)) {
        anyhow::bail!("standing filter {before} did not go live within 60 s");
    }
    let production = Production::start(&suite.brokers, &stage.raw_topic, suite.events.clone(), 0..events, RATE_PER_S)?;
    wait_until(Duration::from_secs(60), || production.sent.load(Ordering::Relaxed) >= events / 4);
    let session = Session::open(gateway.address, suite.events.clone())?;
    for criterion in PAIR {
        session.subscribe(criterion);
    }
    match session.replies(2, Duration::from_secs(30)) {
        Some(replies) => {
            for reply in replies {
                report.note(format!("the pair's session was answered {reply}"));
            }
        }
        None => report.fail("the gateway did not answer both subscribes within 30 s"),
    }
    // A standing filter added after the pair must go live; the matches it
    // owes are those of events produced once it is seen live.
    let after = suite.add_standing_filter(&stage, CRITERIA[BOOKINGS].0)?;
    let after_from = if prober.until_live(BOOKINGS, |n| reader.tally(after, len).saw_probe(n), Duration::from_secs(20))
    {
        Some(production.sent.load(Ordering::Relaxed))
    } else {
        report.fail(format!("standing filter {after}, added after the pair, never went live (20 s of probes)"));
        None
    };
    production.finish()?;
    let expected = suite.events.expected(CLICKS, 0..events);
    let tally = reader.tally(before, len);
    drain(&tally, &expected, Duration::from_secs(20), Duration::from_secs(90));
    let counts = tally.counts(&expected, 0..events);
    report.add_counts(&counts);
    if counts.missing > 0 {
        report.fail(format!("standing filter {before}: {} matches missing", counts.missing));
    }
    if let Some(from) = after_from {
        let expected = suite.events.expected(BOOKINGS, from..events);
        let tally = reader.tally(after, len);
        drain(&tally, &expected, Duration::from_secs(20), Duration::from_secs(60));
        let counts = tally.counts(&expected, from..events);
        report.add_counts(&counts);
        if counts.missing > 0 {
            report.fail(format!("standing filter {after} (added after the pair): {} matches missing", counts.missing));
        }
    }
    check_health(&mut report, &mut worker, metrics_port);
    worker.stop();
    gateway.process.stop();
    report.elapsed = started.elapsed();
    Ok(report)
}

/// The worker either runs, healthy and ready, or exited (non-zero, for its
/// supervisor to restart it); never a live process whose health lies.
fn check_health(report: &mut Report, worker: &mut crate::processes::Process, port: u16) {
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    if !worker.running() {
        let status = worker.wait_exit(Duration::ZERO);
        report.note(format!("the worker exited ({status:?})"));
        return;
    }
    let (healthz, readyz, other) =
        (http_status(address, "/healthz"), http_status(address, "/readyz"), http_status(address, "/no-such-path"));
    report.note(format!("worker /healthz {healthz:?}, /readyz {readyz:?}, /no-such-path {other:?}"));
    if healthz != Some(200) || readyz != Some(200) {
        report.fail(format!(
            "the worker kept running but is not healthy and ready (/healthz {healthz:?}, /readyz {readyz:?})"
        ));
    }
    if other != Some(404) {
        report.fail(format!(
            "the worker's metrics listener answers any path (/no-such-path {other:?}): its health cannot be told"
        ));
    }
}
