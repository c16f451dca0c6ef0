//! Latency histograms, server memory, failures, and the final report: a short human
//! summary, then one JSON object on the last line of stdout (`"scenario"` names it).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// Latencies in microseconds, 1 µs to 10 min, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

/// Records `elapsed` in a histogram of [`histogram`]'s kind (µs, at least 1).
pub fn record(histogram: &mut Histogram<u64>, elapsed: std::time::Duration) {
    let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    let _ = histogram.record(micros.max(1));
}

pub fn latency_json(histogram: &Histogram<u64>) -> Value {
    let ms = |quantile: f64| histogram.value_at_quantile(quantile) as f64 / 1000.0;
    json!({
        "samples": histogram.len(),
        "p50_ms": ms(0.5),
        "p99_ms": ms(0.99),
        "p999_ms": ms(0.999),
        "max_ms": histogram.max() as f64 / 1000.0,
    })
}

/// The human line for a histogram: `p50 … ms, p99 … ms, p99.9 … ms, max … ms`.
pub fn latency_line(histogram: &Histogram<u64>) -> String {
    let ms = |quantile: f64| histogram.value_at_quantile(quantile) as f64 / 1000.0;
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
        ms(0.5),
        ms(0.99),
        ms(0.999),
        histogram.max() as f64 / 1000.0
    )
}

/// Server memory from `/proc/PID/status` (VmRSS), in KiB.
pub fn rss_kib(pid: Option<u32>) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// `count / secs`, 0 for an empty interval.
pub fn per_sec(count: u64, secs: f64) -> f64 {
    if secs > 0.0 { count as f64 / secs } else { 0.0 }
}

/// Things that failed, and the first one's reason (the rest are usually the same).
#[derive(Default)]
pub struct Failures {
    count: AtomicU64,
    /// Held only to read or set the first reason.
    first: Mutex<Option<String>>,
}

impl Failures {
    pub fn add(&self, reason: &anyhow::Error) {
        self.count.fetch_add(1, Ordering::Relaxed);
        let mut first = self
            .first
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if first.is_none() {
            *first = Some(format!("{reason:#}"));
        }
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub fn first(&self) -> Option<String> {
        self.first
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Prints the human summary, then the JSON line last.
pub fn print(summary: &str, result: &Value) {
    println!("{summary}");
    println!("{result}");
}
