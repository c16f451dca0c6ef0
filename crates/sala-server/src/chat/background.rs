//! Work the chat layer starts outside any command's lifetime: the assistant's replies and
//! the catch-up after a busy spell. It is tracked so that shutdown can wait for it before
//! the message writer stops (an assistant's reply is a message, committed like any other),
//! and stop what is still running once the grace period is over, instead of dropping it
//! unseen when the runtime ends.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The chat layer's background tasks.
#[derive(Clone, Default)]
pub struct Background {
    tasks: TaskTracker,
    stop: CancellationToken,
}

impl Background {
    /// Runs `work` until it ends or shutdown stops it.
    pub fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        let stop = self.stop.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                () = stop.cancelled() => {}
                () = work => {}
            }
        });
    }

    /// Lets the running work finish within `grace`, then stops what is left. Work spawned
    /// meanwhile (an assistant reply for a message committed during shutdown) is waited for
    /// too.
    pub async fn finish(&self, grace: Duration) {
        self.tasks.close();
        if tokio::time::timeout(grace, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                left = self.tasks.len(),
                "background work did not finish in time; stopping it"
            );
            self.stop.cancel();
            self.tasks.wait().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn finish_waits_for_work_then_stops_what_outlives_the_grace() {
        let background = Background::default();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        background.spawn(async move {
            tokio::task::yield_now().await;
            let _ = done_tx.send(());
        });
        background.spawn(std::future::pending());
        background.finish(Duration::from_millis(50)).await;
        assert!(done_rx.await.is_ok(), "the short task ran to its end");
        assert!(background.tasks.is_empty(), "the endless one was stopped");
    }
}
