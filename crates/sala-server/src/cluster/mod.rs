//! More than one node (SPEC §7): what one node's hub does, the others learn over Redis.
//!
//! [`Cluster`] is what the chat layer fans out through. It delivers to this node's hub at
//! once (local members never wait on Redis, and keep chatting when Redis is down), and, when
//! the node is linked, also publishes the event for the other nodes, which deliver it to
//! their own members. Messages are stored before they are published, by whichever node took
//! them, and the database assigns their ids; see [`link`] for what happens when Redis goes
//! away and comes back.
//!
//! - [`hub`]: this node's live connections, rooms and presence; its fan-out and close
//!   methods are visible in `cluster` only, so nothing else can deliver past the other nodes.
//! - [`envelope`]: what nodes say to each other.
//! - [`link`]: the Redis link: starting and stopping it, and publishing.
//! - `subscription`: the other nodes' envelopes applied here.
//! - [`peers`]: heartbeats, which nodes are alive, and numbering gaps.
//! - `recovery`: the catch-up from the database after a loss.
//! - `outage`: timeouts, backoff and outage logging for Redis.

pub mod envelope;
pub mod hub;
pub mod link;
mod outage;
pub mod peers;
mod recovery;
mod subscription;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

use crate::metrics::Metrics;
use envelope::{Body, Envelope, Frame};
use hub::{CloseReason, ConnId, Event, Hub, NodeId, RequestId, Skip};

/// The hub, plus the other nodes when there are any. Cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    hub: Hub,
    publisher: Option<Publisher>,
}

/// This node's side of the link: numbers events and queues them for the Redis writer.
#[derive(Clone)]
pub struct Publisher {
    node: NodeId,
    /// Numbered per node, so receivers notice what they missed.
    next_seq: Arc<AtomicU64>,
    queue: mpsc::Sender<Envelope>,
    metrics: Arc<Metrics>,
}

impl Publisher {
    pub(crate) fn new(node: NodeId, queue: mpsc::Sender<Envelope>, metrics: Arc<Metrics>) -> Self {
        Self {
            node,
            next_seq: Arc::new(AtomicU64::new(1)),
            queue,
            metrics,
        }
    }

    pub fn node(&self) -> NodeId {
        self.node
    }

    /// Queues `body` for the other nodes without waiting. When the queue is full (Redis
    /// far behind or gone) the event is dropped: its number is used anyway, so the
    /// receivers see the gap and catch up from the database.
    pub fn publish(&self, body: Body) {
        let envelope = Envelope {
            node: self.node.0,
            seq: self.next_seq.fetch_add(1, Ordering::Relaxed),
            body,
        };
        if self.queue.try_send(envelope).is_err() {
            self.metrics.cluster_dropped.increment(1);
        }
    }
}

impl Cluster {
    /// A node on its own.
    pub fn single(hub: Hub) -> Self {
        Self {
            hub,
            publisher: None,
        }
    }

    /// A node linked to others through `publisher`.
    pub fn linked(hub: Hub, publisher: Publisher) -> Self {
        Self {
            hub,
            publisher: Some(publisher),
        }
    }

    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Whether other nodes share this one's database and rooms.
    pub fn is_linked(&self) -> bool {
        self.publisher.is_some()
    }

    fn publish(&self, body: impl FnOnce() -> Body) {
        if let Some(publisher) = &self.publisher {
            publisher.publish(body());
        }
    }

    /// Sends `event` to the room's members on every node, except `skip`.
    pub fn broadcast(&self, room: &str, event: &Arc<Event>, skip: Skip) {
        self.hub.broadcast(room, event, skip);
        self.publish_to_room(room, event, skip, None);
    }

    /// Sends a write of the room's log (a message, a change) to its members on every node.
    /// `follows` is the position it follows, when the store told it: linked nodes then
    /// deliver the room's writes in position order whatever order they hear them in
    /// (see [`hub`]'s `order`). A node on its own orders them by committing them, and
    /// delivers at once.
    pub fn broadcast_write(&self, room: &str, event: &Arc<Event>, follows: Option<i64>) {
        match follows {
            Some(follows) if self.publisher.is_some() => {
                self.hub
                    .broadcast_in_order(room, event, Skip::Nobody, follows);
            }
            _ => self.hub.broadcast(room, event, Skip::Nobody),
        }
        self.publish_to_room(room, event, Skip::Nobody, follows);
    }

    fn publish_to_room(&self, room: &str, event: &Arc<Event>, skip: Skip, follows: Option<i64>) {
        self.publish(|| Body::Room {
            room: room.to_owned(),
            // A connection id means nothing to another node.
            skip_user: match skip {
                Skip::User(user) => Some(user),
                Skip::Nobody | Skip::Conn(_) => None,
            },
            follows,
            frame: Frame(event.clone()),
        });
    }

    /// Sends `event` to every connection of the user on every node, except `skip` here.
    pub fn send_to_user(&self, user_id: i64, event: &Arc<Event>, skip: Option<ConnId>) {
        self.hub.send_to_user(user_id, event, skip);
        self.publish(|| Body::User {
            user_id,
            frame: Frame(event.clone()),
        });
    }

    /// Sends `event` once to every connection in `rooms` or of the user, on every node.
    pub fn send_to_rooms_and_user(&self, rooms: &[String], user_id: i64, event: &Arc<Event>) {
        self.hub.send_to_rooms_and_user(rooms, user_id, event);
        self.publish(|| Body::RoomsAndUser {
            rooms: rooms.to_vec(),
            user_id,
            frame: Frame(event.clone()),
        });
    }

    /// The user leaves the room on every connection of every node; the connection that
    /// asked gets its `left` as the reply to its request.
    pub fn leave(&self, user_id: i64, room: &str, answering: Option<(ConnId, RequestId)>) {
        self.hub.leave(user_id, room, answering);
        self.publish(|| Body::Leave {
            user_id,
            room: room.to_owned(),
        });
    }

    /// Closes every connection of this node (shutdown; the other nodes keep theirs).
    pub fn close_all(&self, reason: CloseReason) {
        self.hub.close_all(reason);
    }

    /// Closes the session's connections on every node (logout).
    pub fn close_session(&self, session_id: &str) {
        self.hub.close_session(session_id, CloseReason::LoggedOut);
        self.publish(|| Body::Revoke {
            session_id: session_id.to_owned(),
        });
    }
}
