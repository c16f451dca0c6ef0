//! Which other nodes are alive, and whether anything they said was lost.
//!
//! Every node publishes a heartbeat every [`HEARTBEAT`]; a node silent for
//! [`NODE_TIMEOUT`] is forgotten, and its users are shown disconnected. Every envelope
//! carries its node's next number: a number skipped means envelopes were lost on the way,
//! and the receiver must catch up ([`super::recovery`]).

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Publisher;
use super::envelope::Body;
use super::hub::NodeId;

/// How often a node says it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// Silence after which a node counts as dead. Three heartbeats, so one lost or late
/// heartbeat does not make users flicker; with the check interval, a dead node's users are
/// shown disconnected 15–18 s after it died.
pub const NODE_TIMEOUT: Duration = Duration::from_secs(15);
/// How often silent nodes are looked for.
pub const CHECK_INTERVAL: Duration = Duration::from_millis(2500);

/// What this node knows of another.
struct Peer {
    last_seen: Instant,
    last_seq: u64,
}

/// The other nodes this one has heard from.
#[derive(Default)]
pub struct Peers {
    known: HashMap<NodeId, Peer>,
}

impl Peers {
    /// Notes an envelope numbered `seq` from `node`, heard `subscribed_for` after this
    /// node's subscription started. Returns whether something from that node may have been
    /// missed, so that this node must catch up.
    pub fn heard(&mut self, node: NodeId, seq: u64, body: &Body, subscribed_for: Duration) -> bool {
        let now = Instant::now();
        match self.known.get_mut(&node) {
            Some(peer) => {
                let missed = seq > peer.last_seq + 1;
                if missed {
                    tracing::warn!(
                        node = node.0,
                        lost = seq - peer.last_seq - 1,
                        "events from a node were lost; catching up from the database"
                    );
                }
                peer.last_seq = peer.last_seq.max(seq);
                peer.last_seen = now;
                missed
            }
            None if !matches!(body, Body::Goodbye) => {
                tracing::info!(node = node.0, "a node joined the cluster");
                self.known.insert(
                    node,
                    Peer {
                        last_seen: now,
                        last_seq: seq,
                    },
                );
                // A node heard of for the first time long after our own start was not
                // new: it was forgotten (silent too long, say across a network split) and
                // has users this node no longer counts. Its snapshot brings them back.
                // (Right after our start the answers to our own request are on their way.)
                let settled = subscribed_for > HEARTBEAT;
                settled && !matches!(body, Body::Snapshot { .. })
            }
            None => false,
        }
    }

    /// Nobody could be heard while this node's subscription was down: not their fault.
    pub fn excuse_silence(&mut self) {
        let now = Instant::now();
        for peer in self.known.values_mut() {
            peer.last_seen = now;
        }
    }

    /// The node said goodbye.
    pub fn left(&mut self, node: NodeId) {
        tracing::info!(node = node.0, "a node left the cluster");
        self.known.remove(&node);
    }

    /// Forgets the nodes silent for [`NODE_TIMEOUT`], and returns them.
    pub fn expire_silent(&mut self) -> Vec<NodeId> {
        let now = Instant::now();
        let mut silent = Vec::new();
        self.known.retain(|node, peer| {
            let alive = now.duration_since(peer.last_seen) < NODE_TIMEOUT;
            if !alive {
                tracing::warn!(
                    node = node.0,
                    "a node went silent; its users are shown disconnected"
                );
                silent.push(*node);
            }
            alive
        });
        silent
    }
}

/// Publishes this node's heartbeat until `stop`.
pub async fn heartbeat(publisher: Publisher, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(HEARTBEAT);
    loop {
        tokio::select! {
            _ = ticks.tick() => publisher.publish(Body::Heartbeat),
            () = stop.cancelled() => break,
        }
    }
}
