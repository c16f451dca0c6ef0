//! The Redis link: one channel per cluster (`PREFIX:events`), one subscription per node.
//!
//! - A writer task pipelines this node's envelopes to Redis with `PUBLISH`, in order.
//! - A reader task keeps the subscription and applies other nodes' envelopes to the hub.
//! - Every node publishes a heartbeat every [`HEARTBEAT`]; a node silent for
//!   [`NODE_TIMEOUT`] is forgotten, and its users are shown disconnected.
//!
//! Redis is a fan-out path, never the record: messages are stored before they are
//! published. So when Redis is unreachable nothing acked is lost; the node keeps serving its
//! own members, logs the outage, and retries with backoff. When it is back (or when a gap in
//! a node's numbering shows that events were lost), the node re-reads from the database
//! what its rooms may have missed, delivers what its members have not seen, and asks every
//! node for its presence again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use sala_proto::frames::ServerFrame;
use sala_store::{MessageQuery, Store};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Publisher;
use super::envelope::{Body, Envelope};
use crate::hub::{CloseReason, Event, Hub, LocalPresence, NodeId, Skip};
use crate::metrics::Metrics;
use crate::wire;

/// How often a node says it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// Silence after which a node counts as dead. Three heartbeats, so one lost or late
/// heartbeat does not make users flicker; with the check interval, a dead node's users are
/// shown disconnected 15–18 s after it died.
pub const NODE_TIMEOUT: Duration = Duration::from_secs(15);
const CHECK_INTERVAL: Duration = Duration::from_millis(2500);
/// Envelopes waiting for the writer before new ones are dropped (and caught up later).
const PUBLISH_QUEUE: usize = 65_536;
const PUBLISH_BATCH: usize = 256;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
const MIN_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Messages read per query when catching up.
const CATCH_UP_PAGE: u32 = 500;
/// How far before the last good moment a catch-up looks for logouts.
const REVOCATION_MARGIN: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

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
            store,
            publisher: publisher.clone(),
            metrics,
            peers: HashMap::new(),
            cursors: HashMap::new(),
            healthy_at: Utc::now(),
            subscribed_at: Instant::now(),
        };
        tasks.spawn(reader.run(stop.clone()));
        if let Some(feed) = hub.presence_feed() {
            tasks.spawn(forward_presence(feed, publisher.clone(), stop.clone()));
        }
        tasks.spawn(heartbeat(publisher.clone(), stop.clone()));
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

/// Logs the first failure of an outage, and the recovery, rather than every retry.
#[derive(Default)]
struct Outage {
    down_since: Option<Instant>,
}

impl Outage {
    fn failed(&mut self, what: &str, err: &dyn std::fmt::Display) {
        if self.down_since.is_none() {
            self.down_since = Some(Instant::now());
            tracing::warn!(error = %err, "{what}: Redis is unreachable; serving local members and retrying");
        }
    }

    fn recovered(&mut self, what: &str) {
        if let Some(since) = self.down_since.take() {
            tracing::info!(
                down_secs = since.elapsed().as_secs_f64(),
                "{what}: Redis is back"
            );
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
                backoff = (backoff * 2).min(MAX_BACKOFF);
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

/// What this node knows of another.
struct Peer {
    last_seen: Instant,
    last_seq: u64,
}

struct Reader {
    client: redis::Client,
    channel: String,
    node: NodeId,
    hub: Hub,
    store: Arc<dyn Store>,
    publisher: Publisher,
    metrics: Arc<Metrics>,
    peers: HashMap<NodeId, Peer>,
    /// Each room's newest message id at the last moment all was well: where a catch-up
    /// starts reading (messages delivered since are recognised and not sent twice).
    cursors: HashMap<String, i64>,
    /// That moment, for logouts: sessions revoked since then may have gone unheard.
    healthy_at: DateTime<Utc>,
    /// When the current subscription started.
    subscribed_at: Instant,
}

impl Reader {
    async fn run(mut self, stop: CancellationToken) {
        let mut backoff = MIN_BACKOFF;
        let mut outage = Outage::default();
        while !stop.is_cancelled() {
            let subscribed = tokio::select! {
                subscribed = self.subscribe() => subscribed,
                () = stop.cancelled() => break,
            };
            let pubsub = match subscribed {
                Ok(pubsub) => pubsub,
                Err(err) => {
                    outage.failed("subscribing", &err);
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = stop.cancelled() => break,
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };
            outage.recovered("subscribing");
            self.subscribed_at = Instant::now();
            backoff = MIN_BACKOFF;
            self.metrics.cluster_connected.set(1.0);
            // Peers could not be heard while the subscription was down: not their fault.
            let now = Instant::now();
            for peer in self.peers.values_mut() {
                peer.last_seen = now;
            }
            self.publisher.publish(Body::Snapshot {
                rooms: self.hub.local_presence(),
            });
            self.publisher.publish(Body::SyncRequest);
            self.catch_up().await;

            let mut messages = pubsub.into_on_message();
            let mut checks = tokio::time::interval(CHECK_INTERVAL);
            loop {
                tokio::select! {
                    message = messages.next() => match message {
                        Some(message) => self.receive(message.get_payload_bytes()).await,
                        None => break,
                    },
                    _ = checks.tick() => self.check_peers(),
                    () = stop.cancelled() => break,
                }
            }
            self.metrics.cluster_connected.set(0.0);
            if !stop.is_cancelled() {
                outage.failed("subscribing", &"the subscription ended");
            }
        }
        tracing::debug!("cluster reader stopped");
    }

    async fn subscribe(&self) -> anyhow::Result<redis::aio::PubSub> {
        let mut pubsub = tokio::time::timeout(CONNECT_TIMEOUT, self.client.get_async_pubsub())
            .await
            .context("connecting")??;
        tokio::time::timeout(COMMAND_TIMEOUT, pubsub.subscribe(&self.channel))
            .await
            .context("subscribing")??;
        Ok(pubsub)
    }

    async fn receive(&mut self, payload: &[u8]) {
        let envelope: Envelope = match serde_json::from_slice(payload) {
            Ok(envelope) => envelope,
            Err(err) => {
                tracing::warn!(error = %err, "ignoring a malformed cluster event");
                return;
            }
        };
        let node = NodeId(envelope.node);
        if node == self.node {
            return; // Our own, already delivered here.
        }
        self.metrics.cluster_received.increment(1);
        let now = Instant::now();
        let mut missed = false;
        match self.peers.get_mut(&node) {
            Some(peer) => {
                missed = envelope.seq > peer.last_seq + 1;
                if missed {
                    tracing::warn!(
                        node = node.0,
                        lost = envelope.seq - peer.last_seq - 1,
                        "events from a node were lost; catching up from the database"
                    );
                }
                peer.last_seq = peer.last_seq.max(envelope.seq);
                peer.last_seen = now;
            }
            None if !matches!(envelope.body, Body::Goodbye) => {
                tracing::info!(node = node.0, "a node joined the cluster");
                self.peers.insert(
                    node,
                    Peer {
                        last_seen: now,
                        last_seq: envelope.seq,
                    },
                );
                // A node heard of for the first time long after our own start was not
                // new: it was forgotten (silent too long, say across a network split) and
                // has users this node no longer counts. Its snapshot brings them back.
                // (Right after our start the answers to our own request are on their way.)
                let settled = now.duration_since(self.subscribed_at) > HEARTBEAT;
                missed = settled && !matches!(envelope.body, Body::Snapshot { .. });
            }
            None => {}
        }
        if missed {
            self.catch_up().await;
            self.publisher.publish(Body::SyncRequest);
        }
        self.apply(node, envelope.body);
    }

    fn apply(&mut self, node: NodeId, body: Body) {
        let hub = &self.hub;
        match body {
            Body::Room {
                room,
                skip_user,
                frame,
            } => {
                let skip = skip_user.map_or(Skip::Nobody, Skip::User);
                hub.broadcast(&room, &Event::new(frame), skip);
            }
            Body::User { user_id, frame } => hub.send_to_user(user_id, &Event::new(frame), None),
            Body::RoomsAndUser {
                rooms,
                user_id,
                frame,
            } => hub.send_to_rooms_and_user(&rooms, user_id, &Event::new(frame)),
            Body::Leave { user_id, room } => hub.leave(user_id, &room, None),
            Body::Revoke { session_id } => hub.close_session(&session_id, CloseReason::LoggedOut),
            Body::Presence {
                room,
                user_id,
                username,
                event,
            } => hub.remote_presence(
                node,
                &LocalPresence {
                    room,
                    user_id,
                    username,
                    event,
                },
            ),
            Body::Snapshot { rooms } => hub.remote_snapshot(node, &rooms),
            Body::SyncRequest => self.publisher.publish(Body::Snapshot {
                rooms: hub.local_presence(),
            }),
            Body::Heartbeat => {}
            Body::Goodbye => {
                tracing::info!(node = node.0, "a node left the cluster");
                self.peers.remove(&node);
                hub.forget_node(node);
            }
        }
    }

    /// Forgets nodes that went silent, and notes how far each room is complete.
    fn check_peers(&mut self) {
        let now = Instant::now();
        let hub = &self.hub;
        self.peers.retain(|node, peer| {
            let alive = now.duration_since(peer.last_seen) < NODE_TIMEOUT;
            if !alive {
                tracing::warn!(
                    node = node.0,
                    "a node went silent; its users are shown disconnected"
                );
                hub.forget_node(*node);
            }
            alive
        });
        self.mark_healthy();
    }

    fn mark_healthy(&mut self) {
        self.cursors = self.hub.room_cursors().into_iter().collect();
        self.healthy_at = Utc::now();
    }

    /// Delivers from the database what this node's rooms may have missed: every message
    /// after the last known-good cursor (or what the room has now, for rooms joined since).
    /// Messages the members already have are recognised by the hub and not sent twice.
    async fn catch_up(&mut self) {
        self.metrics.cluster_catch_ups.increment(1);
        self.close_revoked().await;
        for (room, now_through) in self.hub.room_cursors() {
            let mut after = self.cursors.get(&room).copied().unwrap_or(now_through);
            let record = match self.store.get_room(&room).await {
                Ok(Some(record)) => record,
                Ok(None) => continue,
                Err(err) => {
                    tracing::warn!(error = %err, room, "catch-up could not read the room");
                    continue;
                }
            };
            loop {
                let query = MessageQuery {
                    before: None,
                    after: Some(after),
                    limit: CATCH_UP_PAGE,
                };
                let (messages, more) = match self.store.list_messages(record.id, query).await {
                    Ok(page) => page,
                    Err(err) => {
                        tracing::warn!(error = %err, room, "catch-up could not read messages");
                        break;
                    }
                };
                for message in messages {
                    after = message.id;
                    let event = Event::new(ServerFrame::Message(wire::message(message)));
                    self.hub.broadcast(&room, &event, Skip::Nobody);
                }
                if !more {
                    break;
                }
            }
        }
        self.mark_healthy();
    }

    /// Closes this node's sockets of sessions logged out while notices may have been lost.
    /// The margin covers clocks of different nodes that disagree a little.
    async fn close_revoked(&self) {
        let since = self.healthy_at - REVOCATION_MARGIN;
        match self.store.revoked_since(since).await {
            Ok(revoked) => {
                for session_id in revoked {
                    self.hub.close_session(&session_id, CloseReason::LoggedOut);
                }
            }
            Err(err) => tracing::warn!(error = %err, "catch-up could not read logouts"),
        }
    }
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

async fn heartbeat(publisher: Publisher, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(HEARTBEAT);
    loop {
        tokio::select! {
            _ = ticks.tick() => publisher.publish(Body::Heartbeat),
            () = stop.cancelled() => break,
        }
    }
}
