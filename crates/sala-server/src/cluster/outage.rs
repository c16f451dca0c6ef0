//! How the link's tasks wait on Redis: the timeouts of one attempt, the backoff between
//! attempts, and an outage logged once when it starts and once when it ends, rather than
//! at every retry.

use std::time::Duration;

use tokio::time::Instant;

/// Longest wait for a connection to Redis.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest wait for one command (a pipelined batch of publishes, a subscribe).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
/// First pause after a failure; it doubles up to [`MAX_BACKOFF`].
pub const MIN_BACKOFF: Duration = Duration::from_millis(200);
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The next pause after `backoff` failed again.
pub fn longer(backoff: Duration) -> Duration {
    (backoff * 2).min(MAX_BACKOFF)
}

/// Logs the first failure of an outage, and the recovery, rather than every retry.
#[derive(Default)]
pub struct Outage {
    down_since: Option<Instant>,
}

impl Outage {
    pub fn failed(&mut self, what: &str, err: &dyn std::fmt::Display) {
        if self.down_since.is_none() {
            self.down_since = Some(Instant::now());
            tracing::warn!(error = %err, "{what}: Redis is unreachable; serving local members and retrying");
        }
    }

    pub fn recovered(&mut self, what: &str) {
        if let Some(since) = self.down_since.take() {
            tracing::info!(
                down_secs = since.elapsed().as_secs_f64(),
                "{what}: Redis is back"
            );
        }
    }
}
