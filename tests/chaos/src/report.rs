//! One scenario's outcome and the suite's summary table.

use std::time::Duration;

/// What a scenario counted, and why it failed if it did.
#[derive(Debug, Default)]
pub struct Report {
    pub scenario: &'static str,
    /// Matches (or, for the shutdown scenario, sessions) that must arrive.
    pub expected: usize,
    /// Distinct expected items that arrived.
    pub received: usize,
    /// Expected items that never arrived: the figure that must be 0.
    pub missing: usize,
    /// Arrivals beyond the first of an item (at-least-once re-deliveries).
    pub duplicates: usize,
    pub elapsed: Duration,
    /// Every broken expectation, in words; empty when the scenario passed.
    pub failures: Vec<String>,
    /// Facts worth reading next to the figures (fault timings, notices).
    pub notes: Vec<String>,
}

impl Report {
    pub fn new(scenario: &'static str) -> Self {
        Report { scenario, ..Report::default() }
    }

    pub fn error(scenario: &'static str, elapsed: Duration, message: String) -> Self {
        Report {
            scenario,
            elapsed,
            failures: vec![format!("the scenario could not run: {message}")],
            ..Report::default()
        }
    }

    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// Adds one tally's figures (several filters or sessions add up).
    pub fn add_counts(&mut self, counts: &crate::tally::Counts) {
        self.expected += counts.expected;
        self.received += counts.received;
        self.missing += counts.missing;
        self.duplicates += counts.duplicates;
    }

    pub fn fail(&mut self, why: impl Into<String>) {
        self.failures.push(why.into());
    }

    pub fn note(&mut self, what: impl Into<String>) {
        self.notes.push(what.into());
    }

    /// `chaos: <scenario>: expected N, received N, missing 0, duplicates D, in T s: ok`
    pub fn line(&self) -> String {
        format!(
            "chaos: {}: expected {}, received {}, missing {}, duplicates {}, in {:.1} s: {}",
            self.scenario,
            self.expected,
            self.received,
            self.missing,
            self.duplicates,
            self.elapsed.as_secs_f64(),
            if self.passed() { "ok" } else { "FAILED" }
        )
    }

    pub fn detail_lines(&self) -> Vec<String> {
        let failures = self.failures.iter().map(|f| format!("failure: {f}"));
        let notes = self.notes.iter().map(|n| format!("note: {n}"));
        failures.chain(notes).collect()
    }
}

/// The table written to `summary.txt` and printed at the end.
pub fn summary(reports: &[Report]) -> String {
    let mut out = String::from("\nchaos suite summary\n");
    out += &format!(
        "{:<18} {:>9} {:>9} {:>8} {:>10} {:>8}  result\n",
        "scenario", "expected", "received", "missing", "duplicates", "seconds"
    );
    for r in reports {
        out += &format!(
            "{:<18} {:>9} {:>9} {:>8} {:>10} {:>8.1}  {}\n",
            r.scenario,
            r.expected,
            r.received,
            r.missing,
            r.duplicates,
            r.elapsed.as_secs_f64(),
            if r.passed() { "ok".to_owned() } else { format!("FAILED: {}", r.failures.join("; ")) }
        );
    }
    let failed = reports.iter().filter(|r| !r.passed()).count();
    out += &format!("{} scenario(s), {} failed\n", reports.len(), failed);
    out
}
