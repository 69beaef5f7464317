//! The end-of-run report: a human table (`Display`) and the same figures as
//! JSON (`serde`), for `--report FILE` and for perf/results/.

use std::collections::BTreeMap;
use std::fmt;

use super::stats::{CounterSnapshot, LatencyHistograms, Percentiles};

/// Everything a run measured.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct LoadgenReport {
    /// `memory`, `kafka` or `gateway`, with the address or topic.
    pub target: String,
    /// When the run started, seconds since the Unix epoch.
    pub started_unix_s: u64,
    /// Logical CPUs of this machine (the run shares them with its target).
    pub machine_cpus: usize,
    /// The settings that shape the figures.
    pub settings: ReportSettings,
    /// Seconds spent sending (from the first event to the last ack).
    pub sending_s: f64,
    /// Final counters.
    pub counters: CounterSnapshot,
    /// Events sent per second of `sending_s`.
    pub events_per_second_in: f64,
    /// Event bytes sent per second (log targets).
    pub bytes_per_second_in: f64,
    /// Event frames received per second of `sending_s` (gateway target).
    pub frames_per_second_out: f64,
    /// Latency of live frames, when admin sessions ran.
    pub latency: Option<LatencyReport>,
    /// Subscribed sessions by filter kind.
    pub sessions_by_kind: BTreeMap<&'static str, u64>,
    /// The gateway's `/metrics` over the run, beside loadgen's own counts.
    pub gateway: Option<GatewayComparison>,
    /// The first few failures (sessions, connections, scrapes).
    pub errors: Vec<String>,
}

/// See each field of [`super::LoadgenConfig`].
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ReportSettings {
    pub rate_per_second: u32,
    pub duration_s: f64,
    pub event_count_max: Option<u64>,
    pub users: u64,
    pub admin_sessions: usize,
    pub ingest_connections: usize,
    pub ingest_batch_interval_ms: u64,
    pub filter_mix: String,
    pub source_addresses: u8,
}

/// Percentiles of each leg of the trip.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct LatencyReport {
    /// Creation to arrival at an admin session.
    pub end_to_end: Percentiles,
    /// Batch sent over `/ingest` to arrival: the pipeline without the
    /// client's batching.
    pub from_send: Percentiles,
    /// Creation to the batch being sent (batching in the client).
    pub created_to_sent: Percentiles,
    /// Batch sent to the ingest's log timestamp.
    pub sent_to_log: Percentiles,
    /// Log timestamp to queued at the gateway (the gateway's own stamps).
    pub log_to_queued: Percentiles,
    /// Queued at the gateway to arrival.
    pub queued_to_arrival: Percentiles,
    /// Live frames without a loadgen stamp.
    pub frames_unstamped: u64,
    /// History replays (not in any percentile).
    pub frames_history: u64,
}

impl LatencyReport {
    pub fn of(histograms: &LatencyHistograms) -> Self {
        LatencyReport {
            end_to_end: Percentiles::of(&histograms.end_to_end_us),
            from_send: Percentiles::of(&histograms.from_send_us),
            created_to_sent: Percentiles::of(&histograms.created_to_sent_us),
            sent_to_log: Percentiles::of(&histograms.sent_to_log_us),
            log_to_queued: Percentiles::of(&histograms.log_to_queued_us),
            queued_to_arrival: Percentiles::of(&histograms.queued_to_arrival_us),
            frames_unstamped: histograms.frames_unstamped,
            frames_history: histograms.frames_history,
        }
    }
}

/// Counter increases from the gateway's `/metrics` during the run.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct GatewayComparison {
    /// `ingest_events_total`: events the gateway acknowledged.
    pub ingest_events: Option<f64>,
    /// `frames_sent_total`: frames queued to admin sessions (events and replies).
    pub frames_sent: Option<f64>,
    /// `frames_dropped_total`: event frames dropped on full queues.
    pub frames_dropped: Option<f64>,
    /// `records_read_total`: filtered records the delivery thread read.
    pub records_read: Option<f64>,
    /// `subscribe_refused_total`.
    pub subscribe_refused: Option<f64>,
    /// Quantiles of any latency histogram the gateway exports, by name.
    pub latency_quantiles: BTreeMap<String, f64>,
}

impl LoadgenReport {
    /// Why the run does not count as a measurement, if it does not: no
    /// event was acknowledged, or a connection, session or scrape failed
    /// (each listed in [`Self::errors`]). `clicktail loadgen` then exits
    /// non-zero after printing the report, so a script never records the
    /// zeros of a gateway that was not running.
    pub fn failure(&self) -> Option<String> {
        let mut reasons = Vec::new();
        if self.counters.events_acknowledged == 0 {
            reasons.push("no event was acknowledged".to_owned());
        }
        if self.counters.sessions_failed > 0 {
            reasons.push(format!("admin sessions failed: {}", self.counters.sessions_failed));
        }
        if !self.errors.is_empty() {
            reasons.push("errors during the run (see the report's `error:` lines)".to_owned());
        }
        (!reasons.is_empty()).then(|| reasons.join(", "))
    }

    /// The report as pretty-printed JSON (the `--report FILE` format).
    pub fn to_json(&self) -> String {
        // Every field is a number, a string or a map with string keys:
        // serialization cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

fn micros(value: u64) -> String {
    if value >= 10_000 {
        format!("{:.1} ms", value as f64 / 1_000.0)
    } else {
        format!("{:.2} ms", value as f64 / 1_000.0)
    }
}

fn optional(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |value| format!("{value:.0}"))
}

impl fmt::Display for LoadgenReport {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counters = &self.counters;
        writeln!(out, "clicktail loadgen report: {}", self.target)?;
        writeln!(
            out,
            "  rate {}/s (0 = unpaced), duration {:.0} s, count {}, users {}, {} CPUs",
            self.settings.rate_per_second,
            self.settings.duration_s,
            self.settings.event_count_max.map_or("-".into(), |count| count.to_string()),
            self.settings.users,
            self.machine_cpus
        )?;
        writeln!(out)?;
        writeln!(out, "  {:<34} {:>14}", "throughput", "")?;
        writeln!(out, "  {:<34} {:>14}", "events sent", counters.events_sent)?;
        writeln!(out, "  {:<34} {:>14}", "events acknowledged", counters.events_acknowledged)?;
        writeln!(
            out,
            "  {:<34} {:>14}",
            "events rejected / batches refused",
            format!("{} / {}", counters.events_rejected, counters.batches_refused)
        )?;
        writeln!(out, "  {:<34} {:>14.3}", "sending time (s)", self.sending_s)?;
        writeln!(out, "  {:<34} {:>14.0}", "events/s in", self.events_per_second_in)?;
        if self.bytes_per_second_in > 0.0 {
            writeln!(out, "  {:<34} {:>14.1}", "MB/s in", self.bytes_per_second_in / 1e6)?;
        }
        if self.settings.admin_sessions > 0 && self.latency.is_some() {
            writeln!(out, "  {:<34} {:>14}", "admin sessions subscribed", counters.sessions_subscribed)?;
            writeln!(
                out,
                "  {:<34} {:>14}",
                "sessions failed / closed by gateway",
                format!("{} / {}", counters.sessions_failed, counters.sessions_closed_by_gateway)
            )?;
            let kinds: Vec<String> =
                self.sessions_by_kind.iter().map(|(kind, count)| format!("{kind} {count}")).collect();
            writeln!(out, "  {:<34} {:>14}", "sessions by filter kind", kinds.join(", "))?;
            writeln!(out, "  {:<34} {:>14}", "event frames received", counters.frames_received)?;
            writeln!(out, "  {:<34} {:>14.0}", "frames/s out", self.frames_per_second_out)?;
            writeln!(out, "  {:<34} {:>14}", "frames dropped (gateway notices)", counters.frames_dropped_reported)?;
        }
        if let Some(latency) = &self.latency {
            writeln!(out)?;
            writeln!(
                out,
                "  {:<22} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                "latency", "frames", "p50", "p90", "p99", "p99.9", "max"
            )?;
            for (name, percentiles) in [
                ("end to end", &latency.end_to_end),
                ("from send", &latency.from_send),
                ("created -> sent", &latency.created_to_sent),
                ("sent -> log", &latency.sent_to_log),
                ("log -> gateway queued", &latency.log_to_queued),
                ("queued -> arrival", &latency.queued_to_arrival),
            ] {
                writeln!(
                    out,
                    "  {:<22} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                    name,
                    percentiles.count,
                    micros(percentiles.p50_us),
                    micros(percentiles.p90_us),
                    micros(percentiles.p99_us),
                    micros(percentiles.p999_us),
                    micros(percentiles.max_us)
                )?;
            }
            writeln!(
                out,
                "  (frames without a loadgen stamp: {}, history replays: {})",
                latency.frames_unstamped, latency.frames_history
            )?;
        }
        if let Some(gateway) = &self.gateway {
            writeln!(out)?;
            writeln!(out, "  {:<34} {:>14} {:>14}", "gateway /metrics over the run", "gateway", "loadgen")?;
            writeln!(
                out,
                "  {:<34} {:>14} {:>14}",
                "ingest events acknowledged",
                optional(gateway.ingest_events),
                counters.events_acknowledged
            )?;
            writeln!(
                out,
                "  {:<34} {:>14} {:>14}",
                "frames queued (events + replies)",
                optional(gateway.frames_sent),
                counters.frames_received + counters.replies_received
            )?;
            writeln!(
                out,
                "  {:<34} {:>14} {:>14}",
                "event frames dropped",
                optional(gateway.frames_dropped),
                counters.frames_dropped_reported
            )?;
            writeln!(out, "  {:<34} {:>14}", "filtered records read", optional(gateway.records_read))?;
            writeln!(out, "  {:<34} {:>14}", "subscriptions refused", optional(gateway.subscribe_refused))?;
            for (name, value) in &gateway.latency_quantiles {
                writeln!(out, "  {:<34} {:>14.2}", name, value)?;
            }
        }
        for error in &self.errors {
            writeln!(out, "  error: {error}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_fails_when_nothing_was_acknowledged_or_something_failed() {
        let acknowledged = CounterSnapshot { events_sent: 10, events_acknowledged: 10, ..CounterSnapshot::default() };
        let good = LoadgenReport { counters: acknowledged, ..LoadgenReport::default() };
        assert_eq!(good.failure(), None);
        let nothing = LoadgenReport::default();
        assert_eq!(nothing.failure().as_deref(), Some("no event was acknowledged"));
        let refused = LoadgenReport {
            counters: CounterSnapshot { sessions_failed: 2, ..acknowledged },
            errors: vec!["ingest connection: refused".into()],
            ..LoadgenReport::default()
        };
        assert_eq!(
            refused.failure().as_deref(),
            Some("admin sessions failed: 2, errors during the run (see the report's `error:` lines)")
        );
    }

    #[test]
    fn the_table_and_the_json_carry_the_same_figures() {
        let mut histograms = LatencyHistograms::new();
        histograms.end_to_end_us.record(20_000).unwrap();
        let report = LoadgenReport {
            target: "gateway 127.0.0.1:8080".into(),
            settings: ReportSettings { admin_sessions: 3, ..ReportSettings::default() },
            counters: CounterSnapshot { events_sent: 42, ..CounterSnapshot::default() },
            latency: Some(LatencyReport::of(&histograms)),
            gateway: Some(GatewayComparison { ingest_events: Some(42.0), ..GatewayComparison::default() }),
            ..LoadgenReport::default()
        };
        let table = report.to_string();
        assert!(table.contains("events sent"), "{table}");
        assert!(table.contains("20.0 ms"), "{table}");
        let json: serde_json::Value = serde_json::to_value(&report).unwrap();
        assert_eq!(json["counters"]["events_sent"], 42);
        assert_eq!(json["latency"]["end_to_end"]["count"], 1);
        assert_eq!(json["gateway"]["ingest_events"], 42.0);
    }
}
