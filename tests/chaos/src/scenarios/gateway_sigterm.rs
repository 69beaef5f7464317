//! SIGTERM to a gateway with open `/ws` sessions (issue 11, item 6): every
//! session receives close 1001 "going away", the process exits within its
//! grace, and the sessions' filter rows are gone from the registry.
//! Expected, received and missing count sessions here.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::events::{CLICKS, CRITERIA};
use crate::processes::{spawn_gateway, wait_until};
use crate::report::Report;
use crate::session::{Session, GOING_AWAY};
use crate::suite::Suite;

const NAME: &str = "gateway-sigterm";
const SESSIONS: usize = 5;
/// The gateway's default shutdown grace is 10 s; allow 5 more.
const EXIT_WITHIN: Duration = Duration::from_secs(15);

pub fn run(suite: &Suite) -> anyhow::Result<Report> {
    let started = Instant::now();
    let mut report = Report::new(NAME);
    let stage = suite.stage(NAME, &suite.brokers)?;
    let mut gateway = spawn_gateway(suite, &stage, NAME, &[])?;
    let mut sessions = Vec::new();
    for _ in 0..SESSIONS {
        let session = Session::open(gateway.address, suite.events.clone())?;
        session.subscribe(CRITERIA[CLICKS].0);
        let reply = session.replies(1, Duration::from_secs(30)).unwrap_or_default();
        anyhow::ensure!(reply.first().is_some_and(|r| r["type"] == "subscribed"), "subscribe failed: {reply:?}");
        sessions.push(session);
    }
    let rows_before = session_rows(suite, &stage.schema, &gateway.node_name)?;
    gateway.process.signal(libc::SIGTERM);
    let signalled = Instant::now();
    let status = gateway.process.wait_exit(EXIT_WITHIN);
    match status {
        Some(status) => {
            report.note(format!("the gateway exited {status} {:.2} s after SIGTERM", signalled.elapsed().as_secs_f64()))
        }
        None => report.fail(format!("the gateway still ran {} s after SIGTERM", EXIT_WITHIN.as_secs())),
    }
    wait_until(Duration::from_secs(5), || sessions.iter().all(|s| s.state.ended.load(Ordering::Relaxed)));
    report.expected = SESSIONS;
    for (index, session) in sessions.iter().enumerate() {
        let close = session.state.close.lock().unwrap().clone();
        match close {
            Some((GOING_AWAY, _)) => report.received += 1,
            Some((code, reason)) => report.note(format!("session {index} closed with {code} {reason:?}, not 1001")),
            None => report.note(format!(
                "session {index} got no close frame ({})",
                session.state.end_error.lock().unwrap().clone().unwrap_or_else(|| "still open".to_owned())
            )),
        }
    }
    report.missing = report.expected - report.received;
    if report.missing > 0 {
        report.fail(format!("{} of {SESSIONS} sessions did not receive close 1001", report.missing));
    }
    let rows_after = session_rows(suite, &stage.schema, &gateway.node_name)?;
    report.note(format!("session filter rows of the node: {rows_before} before SIGTERM, {rows_after} after"));
    if rows_after > 0 {
        report.fail(format!("{rows_after} session filter rows left in the registry after the drain"));
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Rows of `clicktail filters list` owned by this node's sessions.
fn session_rows(suite: &Suite, schema: &str, node: &str) -> anyhow::Result<usize> {
    let list =
        suite.clicktail(&["filters", "list", "--database-url", &suite.database_url, "--database-schema", schema])?;
    Ok(list.lines().filter(|line| line.split('\t').nth(2).is_some_and(|owner| owner.starts_with(node))).count())
}
