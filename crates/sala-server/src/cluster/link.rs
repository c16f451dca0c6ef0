//! The Redis link: one channel per cluster (`PREFIX:events`), one subscription per node.
//!
//! - A writer task ([`write`], here) pipelines this node's envelopes to Redis with
//!   `PUBLISH`, in order.
//! - A reader task ([`super::subscription`]) keeps the subscription and applies other
//!   nodes' envelopes to the hub.
//! - Heartbeats and who is alive: [`super::peers`]; what is done after a loss:
//!   [`super::recovery`]; retries and backoff: [`super::outage`].
//!
//! Redis is a fan-out path, never the record: messages are stored before they are
//! published. So when Redis is unreachable nothing acked is lost; the node keeps serving its
//! own members, logs the outage, and retries with backoff.

use std::sync::Arc;

use anyhow::Context;
use sala_store::Store;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Publisher;
use super::envelope::{Body, Envelope};
use super::hub::{Hub, LocalPresence, NodeId};
use super::outage::{self, COMMAND_TIMEOUT, CONNECT_TIMEOUT, MIN_BACKOFF, Outage};
use super::peers::{self, Peers};
use super::recovery::Recovery;
use super::subscription::Reader;
use crate::metrics::Metrics;

/// Envelopes waiting for the writer before new ones are dropped (and caught up later).
const PUBLISH_QUEUE: usize = 65_536;
const PUBLISH_BATCH: usize = 256;

/// Where the link connects.
#[derive(Debug, Clone)]
pub struct LinkSettings {
    /// `redis://[user:password@]host:port[/db]`.
    pub url: String,
    /// Nodes with the same prefix form one cluster; the channel is `PREFIX:events`.
    pub prefix: String,
    /// Whether this node has members to deliver to. An auth node only publishes (logouts):
    /// it neither subscribes nor counts as a node with users.
    pub listen: bool,
}

/// A running link. Dropping it leaves the tasks running; call [`Link::stop`].
pub struct Link {
    publisher: Publisher,
    /// Whether the other nodes know this one (it subscribed and sent heartbeats).
    listening: bool,
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl Link {
    /// Starts the link's tasks. Redis need not be up yet: the tasks connect when it is.
    ///
    /// # Errors
    /// A malformed Redis URL.
    pub fn start(
        settings: &LinkSettings,
        hub: Hub,
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        // Never echo the URL: it may hold a password.
        let client = redis::Client::open(settings.url.as_str())
            .map_err(|err| {
                anyhow::anyhow!("--redis-url is not a valid Redis URL ({:?})", err.kind())
            })
            .context("configuring the cluster link")?;
        let node = NodeId(rand::random());
        let channel = format!("{}:events", settings.prefix);
        let (queue, queued) = mpsc::channel(PUBLISH_QUEUE);
        let publisher = Publisher::new(node, queue, metrics.clone());
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        tracing::info!(node = node.0, channel, "joining the cluster over Redis");

        tasks.spawn(write(
            client.clone(),
            channel.clone(),
            queued,
            metrics.clone(),
            stop.clone(),
        ));
        if !settings.listen {
            tasks.close();
            return Ok(Self {
                publisher,
                listening: false,
                stop,
                tasks,
            });
        }
        let reader = Reader {
            client,
            channel,
            node,
            hub: hub.clone(),
            publisher: publisher.clone(),
            recovery: Recovery::new(hub.clone(), store, metrics.clone()),
            metrics,
            peers: Peers::default(),
            subscribed_at: Instant::now(),
        };
        tasks.spawn(reader.run(stop.clone()));
        if let Some(feed) = hub.presence_feed() {
            tasks.spawn(forward_presence(feed, publisher.clone(), stop.clone()));
        }
        tasks.spawn(peers::heartbeat(publisher.clone(), stop.clone()));
        tasks.close();
        Ok(Self {
            publisher,
            listening: true,
            stop,
            tasks,
        })
    }

    pub fn publisher(&self) -> &Publisher {
        &self.publisher
    }

    /// Says goodbye (the others drop this node's users at once instead of after the
    /// timeout), flushes what is queued, and stops.
    pub async fn stop(&self) {
        if self.listening {
            self.publisher.publish(Body::Goodbye);
        }
        self.stop.cancel();
        if tokio::time::timeout(COMMAND_TIMEOUT, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("the cluster link did not stop in time");
        }
    }
}

/// Publishes queued envelopes in order, in pipelined batches.
async fn write(
    client: redis::Client,
    channel: String,
    mut queued: mpsc::Receiver<Envelope>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) {
    let mut connection: Option<redis::aio::MultiplexedConnection> = None;
    let mut retry_at = Instant::now();
    let mut backoff = MIN_BACKOFF;
    let mut outage = Outage::default();
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    let mut stopping = false;
    loop {
        if stopping {
            // Shutdown: whatever is still queued (the goodbye among it) goes out once.
            while batch.len() < PUBLISH_BATCH
                && let Ok(envelope) = queued.try_recv()
            {
                batch.push(envelope);
            }
            if batch.is_empty() {
                break;
            }
        } else {
            tokio::select! {
                received = queued.recv_many(&mut batch, PUBLISH_BATCH) => if received == 0 { break },
                () = stop.cancelled() => { stopping = true; continue; }
            }
        }
        if connection.is_none() && Instant::now() >= retry_at {
            match tokio::time::timeout(CONNECT_TIMEOUT, client.get_multiplexed_async_connection())
                .await
            {
                Ok(Ok(opened)) => connection = Some(opened),
                Ok(Err(err)) => outage.failed("publishing", &err),
                Err(elapsed) => outage.failed("publishing", &elapsed),
            }
            if connection.is_none() {
                retry_at = Instant::now() + backoff;
                backoff = outage::longer(backoff);
            }
        }
        let Some(open) = connection.as_mut() else {
            // Redis is away: these are dropped; the receivers see the gap and catch up.
            metrics.cluster_dropped.increment(batch.len() as u64);
            batch.clear();
            continue;
        };
        let mut pipe = redis::pipe();
        for envelope in &batch {
            match serde_json::to_vec(envelope) {
                Ok(json) => {
                    pipe.cmd("PUBLISH").arg(&channel).arg(json).ignore();
                }
                Err(err) => tracing::error!(error = %err, "could not encode a cluster event"),
            }
        }
        let sent = batch.len() as u64;
        batch.clear();
        match tokio::time::timeout(COMMAND_TIMEOUT, pipe.query_async::<()>(open)).await {
            Ok(Ok(())) => {
                outage.recovered("publishing");
                backoff = MIN_BACKOFF;
                metrics.cluster_published.increment(sent);
            }
            Ok(Err(err)) => {
                outage.failed("publishing", &err);
                connection = None;
                metrics.cluster_dropped.increment(sent);
            }
            Err(elapsed) => {
                outage.failed("publishing", &elapsed);
                connection = None;
                metrics.cluster_dropped.increment(sent);
            }
        }
    }
    tracing::debug!("cluster writer stopped");
}

/// Publishes this node's presence changes as they happen.
async fn forward_presence(
    mut feed: mpsc::UnboundedReceiver<LocalPresence>,
    publisher: Publisher,
    stop: CancellationToken,
) {
    loop {
        let change = tokio::select! {
            change = feed.recv() => change,
            () = stop.cancelled() => None,
        };
        let Some(change) = change else { break };
        publisher.publish(Body::Presence {
            room: change.room,
            user_id: change.user_id,
            username: change.username,
            event: change.event,
        });
    }
}
