//! `GET /metrics` (SPEC §1): the node's counters, gauges and histograms in Prometheus text.
//!
//! Recorded through the `metrics` crate's handles (`Counter`, `Gauge`, `Histogram`) on a
//! Prometheus recorder that belongs to this node, not the process-global one: tests run
//! several nodes in one process, and each must count only its own traffic. Handles are
//! registered once, so bumping one on the hot path is one atomic add with no lookup. A few
//! values (connections, live rooms, deliveries) are read from the hub when scraped.

use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Level, Metadata, Recorder, Unit};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use sala_proto::error::ErrorCode;

static METADATA: Metadata<'static> = Metadata::new("sala", Level::INFO, Some(module_path!()));

/// The two real-time transports, for per-transport figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Ws,
    SocketIo,
}

impl Transport {
    fn label(self) -> &'static str {
        match self {
            Self::Ws => "ws",
            Self::SocketIo => "socketio",
        }
    }
}

/// One counter per transport.
#[derive(Debug)]
pub struct PerTransport<T> {
    ws: T,
    socketio: T,
}

impl<T> PerTransport<T> {
    pub fn get(&self, transport: Transport) -> &T {
        match transport {
            Transport::Ws => &self.ws,
            Transport::SocketIo => &self.socketio,
        }
    }
}

/// How an assistant call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssistantOutcome {
    /// The model answered.
    Answered,
    /// The model failed, timed out or answered nothing: the plain reply was posted.
    Failed,
    /// No endpoint is configured: the plain reply was posted.
    NoEndpoint,
}

/// Registration counters.
#[derive(Clone)]
pub struct Registrations {
    pub stored: Counter,
    pub refused: Counter,
    pub throttled: Counter,
    pub hashed: Counter,
}

/// Values read at scrape time.
#[derive(Debug, Clone, Copy)]
pub struct Gauges {
    /// Live rooms on this node (rooms with a member connected here).
    pub rooms: u64,
    /// Frames queued to connections since the start.
    pub deliveries: u64,
    /// Bytes queued to connections and not yet written, now.
    pub queued_bytes: u64,
}

/// The metrics of one node. Shared as `Arc<Metrics>`.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    /// HTTP responses by status class: index 0 is 1xx … 4 is 5xx.
    http_responses: [Counter; 5],
    pub logins_succeeded: Counter,
    pub logins_failed: Counter,
    pub logins_throttled: Counter,
    /// Registrations by outcome: stored, refused before hashing (taken, invalid), throttled.
    pub registrations: Registrations,
    pub connections_opened: PerTransport<Counter>,
    /// Open connections; each transport adds one at open and takes it back at close.
    pub connections: PerTransport<Gauge>,
    /// Connections closed because their outbound queue was full (close 1013).
    pub slow_consumers_closed: Counter,
    /// `send`s taken for storing (before the commit).
    pub messages_received: Counter,
    pub messages_stored: Counter,
    deliveries: Counter,
    rooms: Gauge,
    queued_bytes: Gauge,
    /// Time of one group-commit transaction, and how many messages it held.
    pub commit_seconds: Histogram,
    pub commit_batch_size: Histogram,
    /// Batches that could not be stored (the senders got `unavailable` or `internal`).
    pub commit_failures: Counter,
    assistant_calls: [Counter; 3],
    /// Events published to the other nodes, and those dropped while Redis was unreachable
    /// (the other nodes notice the gap and catch up from the database).
    pub cluster_published: Counter,
    pub cluster_dropped: Counter,
    /// Events received from other nodes.
    pub cluster_received: Counter,
    /// Catch-ups from the database after a gap in what other nodes published.
    pub cluster_catch_ups: Counter,
    /// Times a room's log waited past the bound for a position no node told of.
    pub cluster_order_stalls: Counter,
    /// 1 while the Redis subscription is up (0 also on a single node).
    pub cluster_connected: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Bucket bounds of the commit latency histogram, in seconds: an fsync takes from tens of
/// microseconds (battery-backed cache) to tens of milliseconds (a busy disk).
const COMMIT_SECONDS_BUCKETS: [f64; 12] = [
    0.000_25, 0.000_5, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 1.0,
];
/// Bucket bounds of the batch size histogram, in messages (a batch holds at most 512).
const BATCH_SIZE_BUCKETS: [f64; 12] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0,
];

impl Metrics {
    /// # Panics
    /// Never: the bucket lists are constant and not empty.
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("sala_commit_seconds".into()),
                &COMMIT_SECONDS_BUCKETS,
            )
            .and_then(|builder| {
                builder.set_buckets_for_metric(
                    Matcher::Full("sala_commit_batch_size".into()),
                    &BATCH_SIZE_BUCKETS,
                )
            })
            .expect("BUG: constant, non-empty bucket lists")
            .build_recorder();
        let handle = recorder.handle();
        let counter =
            |name: &'static str, help: &'static str, labels: &[(&'static str, &'static str)]| {
                recorder.describe_counter(KeyName::from(name), None, help.into());
                recorder.register_counter(&key(name, labels), &METADATA)
            };
        let gauge =
            |name: &'static str, help: &'static str, labels: &[(&'static str, &'static str)]| {
                recorder.describe_gauge(KeyName::from(name), None, help.into());
                recorder.register_gauge(&key(name, labels), &METADATA)
            };
        let histogram = |name: &'static str, unit: Option<Unit>, help: &'static str| {
            recorder.describe_histogram(KeyName::from(name), unit, help.into());
            recorder.register_histogram(&key(name, &[]), &METADATA)
        };
        let responses = "HTTP responses by status class.";
        let logins = "Login attempts by outcome.";
        let registrations = "Registration attempts by outcome.";
        let opened = "Real-time connections authenticated, by transport.";
        let open = "Open real-time connections, by transport.";
        let assistant = "Assistant replies by outcome (answered by the model, or the plain reply).";
        let events = "Events exchanged with other nodes over Redis.";
        let metrics = Self {
            http_responses: ["1xx", "2xx", "3xx", "4xx", "5xx"]
                .map(|class| counter("sala_http_responses_total", responses, &[("class", class)])),
            logins_succeeded: counter("sala_logins_total", logins, &[("outcome", "ok")]),
            logins_failed: counter("sala_logins_total", logins, &[("outcome", "failed")]),
            logins_throttled: counter("sala_logins_total", logins, &[("outcome", "throttled")]),
            registrations: Registrations {
                stored: counter(
                    "sala_registrations_total",
                    registrations,
                    &[("outcome", "ok")],
                ),
                refused: counter(
                    "sala_registrations_total",
                    registrations,
                    &[("outcome", "refused")],
                ),
                throttled: counter(
                    "sala_registrations_total",
                    registrations,
                    &[("outcome", "throttled")],
                ),
                hashed: counter(
                    "sala_password_hashes_total",
                    "New password hashes computed (registrations that got past every check).",
                    &[],
                ),
            },
            connections_opened: PerTransport {
                ws: counter(
                    "sala_connections_opened_total",
                    opened,
                    &[("transport", "ws")],
                ),
                socketio: counter(
                    "sala_connections_opened_total",
                    opened,
                    &[("transport", "socketio")],
                ),
            },
            connections: PerTransport {
                ws: gauge("sala_connections", open, &[("transport", "ws")]),
                socketio: gauge("sala_connections", open, &[("transport", "socketio")]),
            },
            slow_consumers_closed: counter(
                "sala_slow_consumers_closed_total",
                "Connections closed with 1013 because their queue was full.",
                &[],
            ),
            messages_received: counter(
                "sala_messages_received_total",
                "Messages taken from clients for storing.",
                &[],
            ),
            messages_stored: counter(
                "sala_messages_stored_total",
                "Messages committed (acked); repeats of a client_id are not counted.",
                &[],
            ),
            deliveries: counter(
                "sala_deliveries_total",
                "Frames queued to connections by room broadcasts (messages, typing, presence).",
                &[],
            ),
            rooms: gauge(
                "sala_live_rooms",
                "Rooms with at least one member connected to this node.",
                &[],
            ),
            queued_bytes: gauge(
                "sala_outbound_queued_bytes",
                "Bytes queued to this node's connections and not yet written (bounded by --outbound-bytes-total).",
                &[],
            ),
            commit_seconds: histogram(
                "sala_commit_seconds",
                Some(Unit::Seconds),
                "Time of one group-commit transaction.",
            ),
            commit_batch_size: histogram(
                "sala_commit_batch_size",
                Some(Unit::Count),
                "Messages in one group-commit transaction.",
            ),
            commit_failures: counter(
                "sala_commit_failures_total",
                "Group-commit transactions that failed.",
                &[],
            ),
            assistant_calls: ["answered", "failed", "no_endpoint"].map(|outcome| {
                counter(
                    "sala_assistant_replies_total",
                    assistant,
                    &[("outcome", outcome)],
                )
            }),
            cluster_published: counter(
                "sala_cluster_events_total",
                events,
                &[("direction", "published")],
            ),
            cluster_dropped: counter(
                "sala_cluster_events_total",
                events,
                &[("direction", "dropped")],
            ),
            cluster_received: counter(
                "sala_cluster_events_total",
                events,
                &[("direction", "received")],
            ),
            cluster_catch_ups: counter(
                "sala_cluster_catch_ups_total",
                "Catch-ups from the database after missing events from other nodes.",
                &[],
            ),
            cluster_order_stalls: counter(
                "sala_cluster_order_stalls_total",
                "Times a room's log waited longer than a second for a position no node told of (then read back from the database).",
                &[],
            ),
            cluster_connected: gauge(
                "sala_cluster_connected",
                "1 while this node's Redis subscription is up.",
                &[],
            ),
            recorder,
            handle,
        };
        metrics.recorder.describe_counter(
            KeyName::from("sala_errors_total"),
            None,
            "Errors answered to clients, by code (HTTP and real-time).".into(),
        );
        metrics
    }

    pub fn count_response(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.http_responses[class].increment(1);
    }

    /// Counts an error answered to a client. Errors are rare, so the counter is looked up
    /// by its code each time rather than registered up front for every code.
    pub fn count_error(&self, code: ErrorCode) {
        self.recorder
            .register_counter(
                &key("sala_errors_total", &[("code", code.as_str())]),
                &METADATA,
            )
            .increment(1);
    }

    pub fn count_assistant(&self, outcome: AssistantOutcome) {
        let index = match outcome {
            AssistantOutcome::Answered => 0,
            AssistantOutcome::Failed => 1,
            AssistantOutcome::NoEndpoint => 2,
        };
        self.assistant_calls[index].increment(1);
    }

    /// Records one group commit.
    pub fn record_commit(&self, messages: usize, took: Duration) {
        self.commit_seconds.record(took.as_secs_f64());
        self.commit_batch_size.record(messages as f64);
    }

    /// Drains histogram samples into their buckets. Also run on a timer, so that samples
    /// do not pile up on a node nobody scrapes.
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }

    /// The Prometheus text exposition.
    pub fn render(&self, gauges: Gauges) -> String {
        self.rooms.set(gauges.rooms as f64);
        self.deliveries.absolute(gauges.deliveries);
        self.queued_bytes.set(gauges.queued_bytes as f64);
        self.handle.render()
    }
}

fn key(name: &'static str, labels: &[(&'static str, &'static str)]) -> Key {
    let labels: Vec<Label> = labels
        .iter()
        .map(|(name, value)| Label::new(*name, *value))
        .collect();
    Key::from_parts(name, labels)
}

/// Counts a connection as open for as long as it lives.
pub struct OpenConnection {
    gauge: Gauge,
}

impl OpenConnection {
    pub fn new(metrics: &Metrics, transport: Transport) -> Self {
        metrics.connections_opened.get(transport).increment(1);
        let gauge = metrics.connections.get(transport).clone();
        gauge.increment(1.0);
        tracing::trace!(transport = transport.label(), "connection counted");
        Self { gauge }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.gauge.decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let metrics = Metrics::new();
        metrics.count_response(200);
        metrics.count_response(404);
        metrics.count_response(404);
        metrics.messages_stored.increment(1);
        metrics.count_error(ErrorCode::NotMember);
        metrics.record_commit(3, Duration::from_millis(3));
        {
            let _open = OpenConnection::new(&metrics, Transport::Ws);
            let _other = OpenConnection::new(&metrics, Transport::Ws);
            let text = metrics.render(Gauges {
                rooms: 2,
                deliveries: 40,
                queued_bytes: 0,
            });
            assert!(
                text.contains("sala_connections{transport=\"ws\"} 2\n"),
                "{text}"
            );
        }
        let text = metrics.render(Gauges {
            rooms: 2,
            deliveries: 40,
            queued_bytes: 0,
        });
        assert!(
            text.contains("sala_http_responses_total{class=\"4xx\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("sala_messages_stored_total 1\n"));
        assert!(text.contains("sala_errors_total{code=\"not_member\"} 1\n"));
        assert!(text.contains("sala_connections{transport=\"ws\"} 0\n"));
        assert!(text.contains("sala_connections_opened_total{transport=\"ws\"} 2\n"));
        assert!(text.contains("sala_live_rooms 2\n"));
        assert!(text.contains("sala_deliveries_total 40\n"));
        assert!(
            text.contains("sala_commit_seconds_bucket{le=\"0.004\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("sala_commit_batch_size_sum 3\n"), "{text}");
        assert!(text.contains("# TYPE sala_commit_seconds histogram\n"));
    }
}
