//! PostgreSQL stopped for four filter TTLs while a `/ws` session is
//! subscribed and events flow. Wanted (issue 11, item 2): the session keeps
//! receiving every match, or is told (`filter_lost`, or its filter re-issued
//! under a new id, which the tally follows since it counts events, not ids).
//! Silence is the failure: a swept row and a session that hears nothing.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::common::drain;
use crate::events::{CLICKS, CRITERIA};
use crate::kafka::{Prober, Production};
use crate::processes::{spawn_gateway, spawn_worker, wait_until, WorkerSpec};
use crate::report::Report;
use crate::session::Session;
use crate::suite::Suite;

const NAME: &str = "postgres-outage";
const RATE_PER_S: u32 = 1_000;
/// The outage outlasts it four times. Not the smallest TTL allowed (3 s):
/// the gateway heartbeats every third of it, the worker sweeps every
/// second, so after the outage the sweep gets its chance first, as with
/// the defaults (30 s TTL, 5 s sweep) and a longer outage.
const FILTER_TTL_MS: u64 = 6_000;
/// Events flow 5 s before the outage, during it, and 25 s after it, for
/// the worker to reconnect (its backoff), reload and sweep.
const EVENTS: usize = RATE_PER_S as usize * (5 + 4 * 6 + 25);

pub fn run(suite: &Suite) -> anyhow::Result<Report> {
    let started = Instant::now();
    let mut report = Report::new(NAME);
    let events = EVENTS.min(suite.events.len());
    let stage = suite.stage(NAME, &suite.brokers)?;
    let spec = WorkerSpec { name: "worker", metrics_port: None, netns: None, database_url: None };
    let mut worker = spawn_worker(suite, &stage, NAME, &spec)?;
    let mut gateway = spawn_gateway(suite, &stage, NAME, &["--filter-ttl-ms", &FILTER_TTL_MS.to_string()])?;
    let session = Session::open(gateway.address, suite.events.clone())?;
    session.subscribe(CRITERIA[CLICKS].0);
    let reply = session.replies(1, Duration::from_secs(30)).unwrap_or_default();
    anyhow::ensure!(reply.first().is_some_and(|r| r["type"] == "subscribed"), "subscribe failed: {reply:?}");
    let prober = Prober::new(&suite.brokers, &stage.raw_topic)?;
    if !prober.until_live(CLICKS, |n| session.state.tally.saw_probe(n), Duration::from_secs(60)) {
        anyhow::bail!("the session's filter did not go live within 60 s");
    }
    let production = Production::start(&suite.brokers, &stage.raw_topic, suite.events.clone(), 0..events, RATE_PER_S)?;
    wait_until(Duration::from_secs(60), || production.sent.load(Ordering::Relaxed) >= 5 * RATE_PER_S as usize);
    let stopped_at = production.sent.load(Ordering::Relaxed);
    suite.services("stop-postgres")?;
    let outage = Instant::now();
    std::thread::sleep(Duration::from_millis(4 * FILTER_TTL_MS));
    let down_at = production.sent.load(Ordering::Relaxed);
    suite.services("start-postgres")?;
    report.note(format!(
        "PostgreSQL down for {:.1} s (TTL {} s) from event {stopped_at}; back at event {down_at} of {events}",
        outage.elapsed().as_secs_f64(),
        FILTER_TTL_MS / 1000,
    ));
    production.finish()?;
    let expected = suite.events.expected(CLICKS, 0..events);
    drain(&session.state.tally, &expected, Duration::from_secs(20), Duration::from_secs(90));
    let counts = session.state.tally.counts(&expected, 0..events);
    report.add_counts(&counts);
    let notices = session.notices();
    let told = notices.iter().any(|n| n["type"] == "filter_lost");
    for notice in &notices {
        report.note(format!("the session was sent {notice}"));
    }
    if counts.missing > 0 && !told {
        report.fail(format!("{} matches missing and the session was not told (no filter_lost)", counts.missing));
    }
    if session.state.ended.load(Ordering::Relaxed) {
        report.fail("the session was closed".to_owned());
    }
    worker.stop();
    gateway.process.stop();
    report.elapsed = started.elapsed();
    Ok(report)
}
