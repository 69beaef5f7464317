//! Worker `kill -9` mid-backlog: the events are all in the raw topic before
//! any worker starts; two workers drain them; each is killed with SIGKILL
//! (no commit, no flush, no leaving the group) and restarted while the
//! backlog drains. At-least-once: duplicates, never a gap.

use std::time::{Duration, Instant};

use super::common::{drain, reach};
use crate::events::PAGE_VIEWS;
use crate::kafka::{FilteredReader, Production};
use crate::processes::{spawn_worker, WorkerSpec};
use crate::report::Report;
use crate::suite::Suite;

const NAME: &str = "worker-kill";
const EVENTS: usize = 100_000;

pub fn run(suite: &Suite) -> anyhow::Result<Report> {
    let started = Instant::now();
    let mut report = Report::new(NAME);
    let events = EVENTS.min(suite.events.len());
    let stage = suite.stage(NAME, &suite.brokers)?;
    let filter = suite.add_standing_filter(&stage, crate::events::CRITERIA[PAGE_VIEWS].0)?;
    let expected = suite.events.expected(PAGE_VIEWS, 0..events);
    let production = Production::start(&suite.brokers, &stage.raw_topic, suite.events.clone(), 0..events, 0)?;
    let produced = production.finish()?;
    report.note(format!("backlog of {events} events produced in {:.1} s before any worker ran", produced.seconds));
    let reader = FilteredReader::start(&suite.brokers, &stage.filtered_topic, stage.partitions, suite.events.clone())?;
    let tally = reader.tally(filter, suite.events.len());
    let spec = |name| WorkerSpec { name, metrics_port: None, netns: None, database_url: None };
    let mut workers =
        [spawn_worker(suite, &stage, NAME, &spec("worker-a"))?, spawn_worker(suite, &stage, NAME, &spec("worker-b"))?];
    // Kill each worker once, at a quarter and at three fifths of the drain.
    for (index, fraction) in [(0usize, 0.25), (1, 0.60)] {
        let at = (expected.len() as f64 * fraction) as usize;
        if !reach(&tally, &expected, at, Duration::from_secs(120)) {
            report.fail(format!("the drain stalled before {at} matches ({} arrived)", tally.received_of(&expected)));
            break;
        }
        workers[index].kill9();
        report.note(format!(
            "{} killed -9 at {} of {} matches, {:.1} s in",
            workers[index].name,
            tally.received_of(&expected),
            expected.len(),
            started.elapsed().as_secs_f64()
        ));
        let name = if index == 0 { "worker-a" } else { "worker-b" };
        workers[index] = spawn_worker(suite, &stage, NAME, &spec(name))?;
    }
    drain(&tally, &expected, Duration::from_secs(30), Duration::from_secs(180));
    for worker in &mut workers {
        worker.stop();
    }
    let counts = tally.counts(&expected, 0..events);
    report.add_counts(&counts);
    if counts.missing > 0 {
        report.fail(format!("{} matches missing", counts.missing));
    }
    if counts.unexpected > 0 {
        report.fail(format!("{} events arrived that clicktail match does not match", counts.unexpected));
    }
    let undecodable = reader.undecodable.load(std::sync::atomic::Ordering::Relaxed);
    if undecodable > 0 {
        report.fail(format!("{undecodable} filtered records did not decode"));
    }
    report.elapsed = started.elapsed();
    Ok(report)
}
