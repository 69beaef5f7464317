//! One file per fault. Each returns a [`Report`]; a scenario that cannot
//! set itself up returns an error, reported as a failure.

mod broker_restart;
mod common;
mod gateway_sigterm;
mod network_faults;
mod postgres_outage;
mod regex_pair;
mod worker_kill;

use anyhow::bail;

use crate::report::Report;
use crate::suite::Suite;

pub struct Scenario {
    pub name: &'static str,
    pub what: &'static str,
    pub run: fn(&Suite) -> anyhow::Result<Report>,
}

/// In the order they run: the faults that must already hold first.
pub const ALL: &[Scenario] = &[
    Scenario {
        name: "worker-kill",
        what: "two workers kill -9'd and restarted while draining a backlog; a standing filter counted",
        run: worker_kill::run,
    },
    Scenario {
        name: "broker-restart",
        what: "the Kafka broker restarted while events are produced and drained",
        run: broker_restart::run,
    },
    Scenario {
        name: "network-faults",
        what: "broker behind a network namespace: 200 ms delay and 5% loss for 30 s, then a worker cut off for 30 s",
        run: network_faults::run,
    },
    Scenario {
        name: "postgres-outage",
        what: "PostgreSQL stopped for longer than the filter TTL under a live /ws session",
        run: postgres_outage::run,
    },
    Scenario {
        name: "regex-pair",
        what: "a /ws session subscribes .{10000} and .{10001}; standing filters keep receiving, health stays true",
        run: regex_pair::run,
    },
    Scenario {
        name: "gateway-sigterm",
        what: "SIGTERM to a gateway with open sessions: each gets close 1001",
        run: gateway_sigterm::run,
    },
];

pub fn select(only: &[String]) -> anyhow::Result<Vec<&'static Scenario>> {
    if only.is_empty() {
        return Ok(ALL.iter().collect());
    }
    let mut selected = Vec::new();
    for name in only {
        match ALL.iter().find(|s| s.name == name) {
            Some(scenario) => selected.push(scenario),
            None => bail!("no scenario {name:?} (--list names them)"),
        }
    }
    Ok(selected)
}
