//! This node's subscription: other nodes' envelopes, applied to the hub as they arrive.
//!
//! The subscription is kept up for the node's life, re-made with backoff when Redis goes
//! away. Each new subscription starts with this node's presence snapshot, a request for
//! everyone else's, and a catch-up ([`super::recovery`]), since what was published while
//! it was down is gone.

use std::sync::Arc;

use anyhow::Context;
use futures_util::StreamExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Publisher;
use super::envelope::{Body, Envelope};
use super::hub::{CloseReason, Hub, LocalPresence, NodeId, STALL_LIMIT, Skip};
use super::outage::{self, COMMAND_TIMEOUT, CONNECT_TIMEOUT, MIN_BACKOFF, Outage};
use super::peers::{CHECK_INTERVAL, Peers};
use super::recovery::Recovery;
use crate::metrics::Metrics;

pub struct Reader {
    pub client: redis::Client,
    pub channel: String,
    /// This node: its own envelopes come back and are skipped.
    pub node: NodeId,
    pub hub: Hub,
    pub publisher: Publisher,
    pub metrics: Arc<Metrics>,
    pub peers: Peers,
    pub recovery: Recovery,
    /// When the current subscription started.
    pub subscribed_at: Instant,
}

impl Reader {
    pub async fn run(mut self, stop: CancellationToken) {
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
                    backoff = outage::longer(backoff);
                    continue;
                }
            };
            outage.recovered("subscribing");
            self.subscribed_at = Instant::now();
            backoff = MIN_BACKOFF;
            self.metrics.cluster_connected.set(1.0);
            self.peers.excuse_silence();
            self.publisher.publish(Body::Snapshot {
                rooms: self.hub.local_presence(),
            });
            self.publisher.publish(Body::SyncRequest);
            self.recovery.catch_up().await;
            self.hub.release_waiting();

            let mut messages = pubsub.into_on_message();
            let mut checks = tokio::time::interval(CHECK_INTERVAL);
            let mut order_checks = tokio::time::interval(STALL_LIMIT / 2);
            loop {
                tokio::select! {
                    message = messages.next() => match message {
                        Some(message) => self.receive(message.get_payload_bytes()).await,
                        None => break,
                    },
                    _ = checks.tick() => self.check_peers(),
                    _ = order_checks.tick() => {
                        // A room's log waiting on a position never heard: read the rooms
                        // back from the database, which delivers what was missing, then
                        // let everything waiting go.
                        if self.hub.log_stalled(STALL_LIMIT) {
                            self.metrics.cluster_order_stalls.increment(1);
                            self.recovery.catch_up().await;
                            self.hub.release_waiting();
                        }
                    }
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
        let subscribed_for = self.subscribed_at.elapsed();
        if self
            .peers
            .heard(node, envelope.seq, &envelope.body, subscribed_for)
        {
            self.recovery.catch_up().await;
            self.hub.release_waiting();
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
                follows,
                frame,
            } => {
                let skip = skip_user.map_or(Skip::Nobody, Skip::User);
                match follows {
                    Some(follows) => hub.broadcast_in_order(&room, &frame.0, skip, follows),
                    None => hub.broadcast(&room, &frame.0, skip),
                }
            }
            Body::User { user_id, frame } => hub.send_to_user(user_id, &frame.0, None),
            Body::RoomsAndUser {
                rooms,
                user_id,
                frame,
            } => hub.send_to_rooms_and_user(&rooms, user_id, &frame.0),
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
                self.peers.left(node);
                hub.forget_node(node);
            }
        }
    }

    /// Forgets nodes that went silent, and notes how far each room is complete.
    fn check_peers(&mut self) {
        for node in self.peers.expire_silent() {
            self.hub.forget_node(node);
        }
        self.recovery.mark_healthy();
    }
}
