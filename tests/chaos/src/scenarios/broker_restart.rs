//! Broker restart (`scripts/services.sh restart-kafka`) while events are
//! produced and two workers drain them: producer, workers and the reader
//! all ride it out; nothing is lost.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::common::drain;
use crate::events::{CLICKS, PAGE_VIEWS};
use crate::kafka::{FilteredReader, Prober, Production};
use crate::processes::{spawn_worker, wait_until, WorkerSpec};
use crate::report::Report;
use crate::suite::Suite;

const NAME: &str = "broker-restart";
const EVENTS: usize = 60_000;
/// A busy site's rate into the two filters (thousands of events a second),
/// which also keeps the scenario near 20 s.
const RATE_PER_S: u32 = 3_000;

pub fn run(suite: &Suite) -> anyhow::Result<Report> {
    let started = Instant::now();
    let mut report = Report::new(NAME);
    let events = EVENTS.min(suite.events.len());
    let stage = suite.stage(NAME, &suite.brokers)?;
    let filters = [
        (PAGE_VIEWS, suite.add_standing_filter(&stage, crate::events::CRITERIA[PAGE_VIEWS].0)?),
        (CLICKS, suite.add_standing_filter(&stage, crate::events::CRITERIA[CLICKS].0)?),
    ];
    let reader = FilteredReader::start(&suite.brokers, &stage.filtered_topic, stage.partitions, suite.events.clone())?;
    let spec = |name| WorkerSpec { name, metrics_port: None, netns: None, database_url: None };
    let mut workers =
        [spawn_worker(suite, &stage, NAME, &spec("worker-a"))?, spawn_worker(suite, &stage, NAME, &spec("worker-b"))?];
    let prober = Prober::new(&suite.brokers, &stage.raw_topic)?;
    for (criterion, id) in filters {
        if !prober.until_live(criterion, |n| reader.tally(id, suite.events.len()).saw_probe(n), Duration::from_secs(60))
        {
            anyhow::bail!("standing filter {id} did not go live within 60 s");
        }
    }
    let production = Production::start(&suite.brokers, &stage.raw_topic, suite.events.clone(), 0..events, RATE_PER_S)?;
    wait_until(Duration::from_secs(60), || production.sent.load(Ordering::Relaxed) >= events / 5);
    let restart = Instant::now();
    let restarted_at = production.sent.load(Ordering::Relaxed);
    suite.services("restart-kafka")?;
    report.note(format!(
        "broker restarted at {restarted_at} of {events} events produced; stopped and back in {:.1} s",
        restart.elapsed().as_secs_f64()
    ));
    let produced = production.finish()?;
    if produced.resent > 0 {
        report.note(format!("{} events re-sent after failed deliveries", produced.resent));
    }
    for (criterion, id) in filters {
        let tally = reader.tally(id, suite.events.len());
        let expected = suite.events.expected(criterion, 0..events);
        drain(&tally, &expected, Duration::from_secs(30), Duration::from_secs(120));
        let counts = tally.counts(&expected, 0..events);
        report.add_counts(&counts);
        if counts.missing > 0 {
            report.fail(format!("filter {id}: {} matches missing", counts.missing));
        }
    }
    for worker in &mut workers {
        worker.stop();
    }
    report.elapsed = started.elapsed();
    Ok(report)
}
