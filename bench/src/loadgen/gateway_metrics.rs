//! The gateway's own view, scraped from `/metrics` before and after the
//! run, so the report can set its counters beside the ones measured here.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::LoadgenError;

/// The bound on the scrape's connect, write and read.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);
/// The bound on the response (the gateway's is ~4 KiB).
const RESPONSE_BYTES_MAX: u64 = 1024 * 1024;
/// Only the gateway's own series are kept.
const PREFIX: &str = "clicktail_gateway_";

/// Every `clicktail_gateway_*` sample, by series name (labels included).
pub type Samples = BTreeMap<String, f64>;

/// `GET /metrics` over plain HTTP/1.1 (the gateway closes after responding).
pub fn scrape(gateway: SocketAddr) -> Result<Samples, LoadgenError> {
    let failed = |reason: String| LoadgenError::Metrics { gateway, reason };
    let mut stream = TcpStream::connect_timeout(&gateway, SCRAPE_TIMEOUT).map_err(|e| failed(e.to_string()))?;
    stream.set_read_timeout(Some(SCRAPE_TIMEOUT)).map_err(|e| failed(e.to_string()))?;
    stream.set_write_timeout(Some(SCRAPE_TIMEOUT)).map_err(|e| failed(e.to_string()))?;
    write!(stream, "GET /metrics HTTP/1.1\r\nHost: {gateway}\r\nConnection: close\r\n\r\n")
        .map_err(|e| failed(e.to_string()))?;
    let mut response = String::new();
    stream.take(RESPONSE_BYTES_MAX).read_to_string(&mut response).map_err(|e| failed(e.to_string()))?;
    let (head, body) = response.split_once("\r\n\r\n").ok_or_else(|| failed("no HTTP body".into()))?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return Err(failed(head.lines().next().unwrap_or_default().to_owned()));
    }
    Ok(parse_samples(body))
}

/// Parses the Prometheus text format's sample lines (`name{labels} value`).
pub fn parse_samples(body: &str) -> Samples {
    body.lines()
        .filter(|line| line.starts_with(PREFIX))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.trim().to_owned(), value.trim().parse().ok()?))
        })
        .collect()
}

/// `after - before` for one series (a counter's increase during the run).
pub fn increase(before: &Samples, after: &Samples, name: &str) -> Option<f64> {
    let series = format!("{PREFIX}{name}");
    Some(after.get(&series)? - before.get(&series).copied().unwrap_or(0.0))
}

/// The `quantile` of a Prometheus histogram `name` over the run (bucket
/// increases, linear inside a bucket, as PromQL's `histogram_quantile`),
/// in the histogram's own unit. `None` when the gateway has no such series.
pub fn histogram_quantile(before: &Samples, after: &Samples, name: &str, quantile: f64) -> Option<f64> {
    let prefix = format!("{PREFIX}{name}_bucket{{le=\"");
    let mut buckets: Vec<(f64, f64)> = after
        .iter()
        .filter_map(|(series, count)| {
            let bound = series.strip_prefix(&prefix)?.strip_suffix("\"}")?;
            let bound = if bound == "+Inf" { f64::INFINITY } else { bound.parse().ok()? };
            Some((bound, count - before.get(series).copied().unwrap_or(0.0)))
        })
        .collect();
    buckets.sort_by(|left, right| left.0.total_cmp(&right.0));
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = quantile * total;
    let (mut lower_bound, mut lower_count) = (0.0, 0.0);
    for (bound, count) in buckets {
        if count >= rank {
            if bound.is_infinite() {
                return Some(lower_bound);
            }
            let share = if count > lower_count { (rank - lower_count) / (count - lower_count) } else { 1.0 };
            return Some(lower_bound + (bound - lower_bound) * share);
        }
        (lower_bound, lower_count) = (bound, count);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "# HELP clicktail_gateway_frames_sent_total Frames.\n\
        # TYPE clicktail_gateway_frames_sent_total counter\n\
        clicktail_gateway_frames_sent_total 1500\n\
        clicktail_gateway_delivery_latency_ms_bucket{le=\"1\"} 50\n\
        clicktail_gateway_delivery_latency_ms_bucket{le=\"10\"} 90\n\
        clicktail_gateway_delivery_latency_ms_bucket{le=\"+Inf\"} 100\n\
        other_metric 3\n";

    #[test]
    fn samples_and_increases() {
        let after = parse_samples(BODY);
        assert_eq!(after.len(), 4);
        let before: Samples = [("clicktail_gateway_frames_sent_total".to_owned(), 500.0)].into();
        assert_eq!(increase(&before, &after, "frames_sent_total"), Some(1_000.0));
        assert_eq!(increase(&before, &after, "missing_total"), None);
    }

    #[test]
    fn quantiles_interpolate_inside_buckets() {
        let after = parse_samples(BODY);
        let before = Samples::new();
        assert_eq!(histogram_quantile(&before, &after, "delivery_latency_ms", 0.5), Some(1.0));
        let p70 = histogram_quantile(&before, &after, "delivery_latency_ms", 0.7).unwrap();
        assert!((p70 - 5.5).abs() < 1e-9, "{p70}");
        assert_eq!(histogram_quantile(&before, &after, "delivery_latency_ms", 0.99), Some(10.0));
        assert_eq!(histogram_quantile(&before, &after, "nothing", 0.5), None);
    }
}
