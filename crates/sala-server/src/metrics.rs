//! `GET /metrics` (SPEC §1): the node's counters and gauges in Prometheus text format.
//!
//! Hand-rolled on atomics rather than a metrics framework: a dozen numbers need no
//! process-global recorder, and a global one would mix the nodes that tests run side by side
//! in one process. Counters are bumped where things happen; gauges are read at scrape time.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one node. Shared as `Arc<Metrics>`.
#[derive(Debug, Default)]
pub struct Metrics {
    /// HTTP responses by status class: index 0 is 1xx … 4 is 5xx.
    http_responses: [AtomicU64; 5],
    pub logins_succeeded: AtomicU64,
    pub logins_failed: AtomicU64,
    pub logins_throttled: AtomicU64,
    pub ws_connections_opened: AtomicU64,
    /// Connections closed because their outbound queue was full (close 1013).
    pub ws_slow_consumers_closed: AtomicU64,
    pub messages_stored: AtomicU64,
    /// Transactions of the group-commit writer, and how many messages they held.
    pub commit_batches: AtomicU64,
    pub commit_batch_messages: AtomicU64,
    /// Batches that could not be stored (the senders got `unavailable` or `internal`).
    pub commit_failures: AtomicU64,
    /// Events published to the other nodes, and those dropped while Redis was unreachable
    /// (the other nodes notice the gap and catch up from the database).
    pub cluster_published: AtomicU64,
    pub cluster_dropped: AtomicU64,
    /// Events received from other nodes.
    pub cluster_received: AtomicU64,
    /// Catch-ups from the database after a gap in what other nodes published.
    pub cluster_catch_ups: AtomicU64,
    /// 1 while the Redis subscription is up (0 also on a single node).
    pub cluster_connected: AtomicU64,
}

/// Values read at scrape time.
#[derive(Debug, Clone, Copy)]
pub struct Gauges {
    pub ws_connections: u64,
}

impl Metrics {
    pub fn count_response(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.http_responses[class].fetch_add(1, Ordering::Relaxed);
    }

    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self, gauges: Gauges) -> String {
        let mut out = String::with_capacity(2048);
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let classes =
            ["1xx", "2xx", "3xx", "4xx", "5xx"].map(|class| format!("{{class=\"{class}\"}}"));
        let responses: Vec<(&str, u64)> = classes
            .iter()
            .zip(&self.http_responses)
            .map(|(labels, counter)| (labels.as_str(), get(counter)))
            .collect();
        metric(
            "sala_http_responses_total",
            "counter",
            "HTTP responses by status class.",
            &responses,
        );
        metric(
            "sala_logins_total",
            "counter",
            "Login attempts by outcome.",
            &[
                ("{outcome=\"ok\"}", get(&self.logins_succeeded)),
                ("{outcome=\"failed\"}", get(&self.logins_failed)),
                ("{outcome=\"throttled\"}", get(&self.logins_throttled)),
            ],
        );
        metric(
            "sala_ws_connections",
            "gauge",
            "Open WebSocket connections.",
            &[("", gauges.ws_connections)],
        );
        metric(
            "sala_ws_connections_opened_total",
            "counter",
            "WebSocket connections authenticated.",
            &[("", get(&self.ws_connections_opened))],
        );
        metric(
            "sala_ws_slow_consumers_closed_total",
            "counter",
            "Connections closed with 1013 because their queue was full.",
            &[("", get(&self.ws_slow_consumers_closed))],
        );
        metric(
            "sala_messages_stored_total",
            "counter",
            "Messages committed (acked).",
            &[("", get(&self.messages_stored))],
        );
        metric(
            "sala_commit_batches_total",
            "counter",
            "Group-commit transactions.",
            &[("", get(&self.commit_batches))],
        );
        metric(
            "sala_commit_batch_messages_total",
            "counter",
            "Messages in group-commit transactions (divide by batches for the mean batch).",
            &[("", get(&self.commit_batch_messages))],
        );
        metric(
            "sala_commit_failures_total",
            "counter",
            "Group-commit transactions that failed.",
            &[("", get(&self.commit_failures))],
        );
        metric(
            "sala_cluster_events_total",
            "counter",
            "Events exchanged with other nodes over Redis.",
            &[
                ("{direction=\"published\"}", get(&self.cluster_published)),
                ("{direction=\"dropped\"}", get(&self.cluster_dropped)),
                ("{direction=\"received\"}", get(&self.cluster_received)),
            ],
        );
        metric(
            "sala_cluster_catch_ups_total",
            "counter",
            "Catch-ups from the database after missing events from other nodes.",
            &[("", get(&self.cluster_catch_ups))],
        );
        metric(
            "sala_cluster_connected",
            "gauge",
            "1 while this node's Redis subscription is up.",
            &[("", get(&self.cluster_connected))],
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let metrics = Metrics::default();
        metrics.count_response(200);
        metrics.count_response(404);
        metrics.count_response(404);
        Metrics::bump(&metrics.messages_stored);
        let text = metrics.render(Gauges { ws_connections: 3 });
        assert!(
            text.contains("sala_http_responses_total{class=\"4xx\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("sala_messages_stored_total 1\n"));
        assert!(text.contains("# TYPE sala_ws_connections gauge\nsala_ws_connections 3\n"));
    }
}
