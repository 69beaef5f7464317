//! The chaos suite (issue 11): faults staged against the real `clicktail`
//! processes, Kafka and PostgreSQL, each counting the matches it lost.
//!
//! Every scenario plays numbered events (`clicktail fixtures events`) into
//! a raw topic of its own, knows which of them each filter must match
//! (`clicktail match`, the workers' own compiled matcher, run offline once
//! for the suite), stages one fault while the pipeline runs, and counts
//! what reached the filtered topic or the `/ws` session: expected,
//! received, missing (must be 0) and duplicates (at-least-once allows
//! them; they are reported). `tests/chaos/run.sh` builds and runs it;
//! `docs/operations.md` ("The chaos suite") says what each scenario shows.
//!
//! Layout:
//! - `suite`: the settings and the one events file every scenario shares;
//! - `events`: the numbered events and their expected matches;
//! - `tally`: counting received matches, the per-scenario [`report::Report`];
//! - `kafka`: topics, the rate-limited producer, the filtered-topic reader;
//! - `processes`: `clicktail worker` / `gateway` children, HTTP probes;
//! - `session`: a `/ws` admin session;
//! - `netem`: network namespaces and a userspace network emulator (TUN);
//! - `scenarios/`: one file per fault.

mod events;
mod kafka;
mod netem;
mod processes;
mod report;
mod scenarios;
mod session;
mod suite;
mod tally;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = suite::Args::parse();
    if args.list {
        for scenario in scenarios::ALL {
            println!("{}\t{}", scenario.name, scenario.what);
        }
        return ExitCode::SUCCESS;
    }
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("chaos: error: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs the selected scenarios one after the other; true when all passed.
fn run(args: &suite::Args) -> anyhow::Result<bool> {
    let selected = scenarios::select(&args.only)?;
    let suite = suite::Suite::prepare(args)?;
    let mut reports = Vec::new();
    for scenario in selected {
        eprintln!("chaos: {}: starting ({})", scenario.name, scenario.what);
        let started = std::time::Instant::now();
        let report = match (scenario.run)(&suite) {
            Ok(report) => report,
            Err(error) => report::Report::error(scenario.name, started.elapsed(), format!("{error:#}")),
        };
        println!("{}", report.line());
        for line in report.detail_lines() {
            println!("chaos: {}:   {line}", report.scenario);
        }
        reports.push(report);
    }
    let summary = report::summary(&reports);
    print!("{summary}");
    std::fs::write(suite.work_dir.join("summary.txt"), &summary)?;
    eprintln!("chaos: summary written to {}", suite.work_dir.join("summary.txt").display());
    Ok(reports.iter().all(report::Report::passed))
}
