//! A connection as the hub sees it: an id, a bounded outbound queue, and a way to close it
//! with a reason. Transports own the socket; the hub only holds this handle.
//!
//! The queue is bounded twice: in frames, and in bytes. A frame count alone let one
//! connection hold gigabytes (a thousand queued `joined` pages of history); so every queued
//! event is charged its size to its connection and to the node until the transport has
//! written it, and a connection whose charge would pass its budget, or whose event would
//! pass the node's, is closed as too slow instead of growing. See [`OutboundLimits`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use super::event::Event;

/// Unique per node for the life of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// The number a transport gives one request of a connection. The replies that answer it
/// (`joined`, `left`, `ack`, `history`, `pong`, `error`) carry it back through the
/// connection's one queue, so a transport that answers per request (Socket.io's ack
/// callbacks) knows which request a reply answers without matching its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// Why a connection is being closed; transports map it to their close code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The server is shutting down (WebSocket 1001).
    GoingAway,
    /// The outbound queue stayed full: the client cannot keep up (1013).
    SlowConsumer,
    /// The session was logged out (1008).
    LoggedOut,
    /// The token's lifetime ended (1008).
    TokenExpired,
    /// Nothing was heard from the client for too long.
    Idle,
    /// A frame over the size limit (1009).
    TooBig,
    /// A frame of a kind the protocol does not use, e.g. binary (1003).
    Unsupported,
    /// A text frame that is not valid UTF-8 (1007).
    InvalidText,
    /// The client went away or the socket failed; nothing more can be sent.
    Gone,
}

/// How much may wait for slow clients, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct OutboundLimits {
    /// Frames one connection's queue holds.
    pub frames: usize,
    /// Bytes one connection may have queued and unwritten. An event that finds the queue
    /// empty is always taken, so a single reply larger than this (a long `joined`) still
    /// reaches a client that reads; past that, the connection is closed as too slow.
    pub bytes_per_connection: usize,
    /// Bytes all connections of the node together may have queued and unwritten. An event
    /// that would pass it closes the connection it was for, whatever that one holds.
    pub bytes_per_node: usize,
}

impl OutboundLimits {
    /// A queue of `frames` with byte budgets too large to matter (unit tests).
    pub fn frames(frames: usize) -> Self {
        Self {
            frames,
            bytes_per_connection: usize::MAX / 4,
            bytes_per_node: usize::MAX / 2,
        }
    }
}

/// The bytes queued and unwritten, on the node.
#[derive(Debug)]
pub(super) struct NodeBudget {
    queued: AtomicUsize,
    limit: usize,
}

impl NodeBudget {
    pub(super) fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            queued: AtomicUsize::new(0),
            limit,
        })
    }

    pub(super) fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }
}

/// The bytes queued and unwritten, on one connection.
#[derive(Debug)]
struct Charge {
    queued: AtomicUsize,
    limit: usize,
    /// Woken when the charge falls under half the budget (see [`ConnHandle::writable`]).
    drained: Notify,
    node: Arc<NodeBudget>,
}

impl Charge {
    fn release(&self, cost: usize) {
        self.node.queued.fetch_sub(cost, Ordering::Relaxed);
        let before = self.queued.fetch_sub(cost, Ordering::AcqRel);
        let resume = self.limit / 2;
        if before >= resume && before - cost < resume {
            self.drained.notify_waiters();
        }
    }
}

#[derive(Debug)]
struct Closer {
    token: CancellationToken,
    /// The first reason given wins.
    reason: OnceLock<CloseReason>,
}

/// The hub's handle on one connection. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ConnHandle {
    id: ConnId,
    /// Bounded in frames here, in bytes by `charge`: a full queue closes the connection
    /// rather than growing or waiting.
    outbound: mpsc::Sender<Queued>,
    charge: Arc<Charge>,
    closer: Arc<Closer>,
}

/// An event taken off a connection's queue. Its bytes stay charged to the connection and
/// the node until the transport drops it, after writing it out.
#[derive(Debug)]
pub struct Queued {
    event: Arc<Event>,
    /// The request this event answers, if it is a reply.
    reply_to: Option<RequestId>,
    cost: usize,
    charge: Arc<Charge>,
}

impl std::ops::Deref for Queued {
    type Target = Event;

    fn deref(&self) -> &Event {
        &self.event
    }
}

impl Queued {
    /// The request this event answers; `None` for everything else (a room's messages,
    /// presence, and replies to transports that do not number requests).
    pub fn reply_to(&self) -> Option<RequestId> {
        self.reply_to
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.charge.release(self.cost);
    }
}

/// What a transport reads its frames from.
#[derive(Debug)]
pub struct Outbound {
    receiver: mpsc::Receiver<Queued>,
}

impl Outbound {
    /// The next event; `None` once every handle is gone.
    pub async fn recv(&mut self) -> Option<Queued> {
        self.receiver.recv().await
    }

    /// The next event if one is queued.
    ///
    /// # Errors
    /// When the queue is empty (or closed for good).
    pub fn try_recv(&mut self) -> Result<Queued, mpsc::error::TryRecvError> {
        self.receiver.try_recv()
    }
}

impl ConnHandle {
    pub(super) fn new(
        id: ConnId,
        limits: OutboundLimits,
        node: Arc<NodeBudget>,
    ) -> (Self, Outbound) {
        let (outbound, receiver) = mpsc::channel(limits.frames.max(1));
        let closer = Arc::new(Closer {
            token: CancellationToken::new(),
            reason: OnceLock::new(),
        });
        let charge = Arc::new(Charge {
            queued: AtomicUsize::new(0),
            limit: limits.bytes_per_connection,
            drained: Notify::new(),
            node,
        });
        (
            Self {
                id,
                outbound,
                charge,
                closer,
            },
            Outbound { receiver },
        )
    }

    pub fn id(&self) -> ConnId {
        self.id
    }

    /// Queues `event` without waiting. A queue full in frames or in bytes, or a node out
    /// of its byte budget, means the client cannot keep up: the connection is closed with
    /// [`CloseReason::SlowConsumer`] and `false` returned, so one slow reader never slows a
    /// room down nor makes the server buffer without bound.
    pub fn send(&self, event: Arc<Event>) -> bool {
        self.reply(event, None)
    }

    /// Queues `event` as the reply to `request` (see [`RequestId`]); otherwise as
    /// [`ConnHandle::send`].
    pub fn reply(&self, event: Arc<Event>, request: Option<RequestId>) -> bool {
        if self.is_closed() {
            return false;
        }
        let cost = event.cost();
        let charge = &self.charge;
        let held = charge.queued.fetch_add(cost, Ordering::AcqRel);
        let node = charge.node.queued.fetch_add(cost, Ordering::Relaxed);
        let over_own = held > 0 && held + cost > charge.limit;
        let over_node = node + cost > charge.node.limit;
        let queued = Queued {
            event,
            reply_to: request,
            cost,
            charge: charge.clone(),
        };
        if over_own || over_node {
            drop(queued);
            tracing::info!(
                conn = self.id.0,
                queued_bytes = held,
                node_queued_bytes = node,
                over_node,
                "outbound bytes over budget; closing slow client"
            );
            self.close(CloseReason::SlowConsumer);
            return false;
        }
        match self.outbound.try_send(queued) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::info!(conn = self.id.0, "outbound queue full; closing slow client");
                self.close(CloseReason::SlowConsumer);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Bytes queued for this connection and not yet written.
    pub fn queued_bytes(&self) -> usize {
        self.charge.queued.load(Ordering::Acquire)
    }

    /// Waits until this connection's unwritten replies are under half its byte budget, so
    /// that a client that does not read what it asked for cannot make it ask for more. The
    /// transport stops reading meanwhile (TCP pushes back on the client). Returns `false`,
    /// having closed the connection as too slow, when that takes longer than `patience`,
    /// and `false` when the connection closes meanwhile.
    pub async fn writable(&self, patience: Duration) -> bool {
        let resume = self.charge.limit / 2;
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            // Made before the check, so a release between the two still wakes it.
            let drained = self.charge.drained.notified();
            if self.queued_bytes() < resume {
                return !self.is_closed();
            }
            tokio::select! {
                () = drained => {}
                () = self.closed() => return false,
                () = tokio::time::sleep_until(deadline) => {
                    tracing::info!(conn = self.id.0, "replies left unread; closing slow client");
                    self.close(CloseReason::SlowConsumer);
                    return false;
                }
            }
        }
    }

    /// Asks the transport to close the connection. The first reason sticks.
    pub fn close(&self, reason: CloseReason) {
        let _ = self.closer.reason.set(reason);
        self.closer.token.cancel();
    }

    pub fn is_closed(&self) -> bool {
        self.closer.token.is_cancelled()
    }

    /// Resolves once [`close`](Self::close) has been called.
    pub fn closed(&self) -> WaitForCancellationFuture<'_> {
        self.closer.token.cancelled()
    }

    pub fn close_reason(&self) -> Option<CloseReason> {
        self.closer.reason.get().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sala_proto::frames::ServerFrame;

    fn event(bytes: usize) -> Arc<Event> {
        Event::new(ServerFrame::Left {
            room: "r".repeat(bytes),
        })
    }

    fn conn(per_connection: usize, node: &Arc<NodeBudget>) -> (ConnHandle, Outbound) {
        let limits = OutboundLimits {
            frames: 1024,
            bytes_per_connection: per_connection,
            bytes_per_node: node.limit,
        };
        ConnHandle::new(ConnId(1), limits, node.clone())
    }

    #[test]
    fn a_connection_over_its_byte_budget_is_closed_and_its_bytes_released() {
        let node = NodeBudget::new(1 << 30);
        let (conn, mut outbound) = conn(10_000, &node);
        // The first event is taken whatever its size: the queue was empty.
        assert!(conn.send(event(50_000)));
        assert!(!conn.send(event(10)), "a second event over the budget");
        assert_eq!(conn.close_reason(), Some(CloseReason::SlowConsumer));
        assert!(conn.queued_bytes() > 50_000);
        drop(outbound.try_recv().unwrap());
        assert_eq!(conn.queued_bytes(), 0, "written bytes are released");
        assert_eq!(node.queued(), 0);
    }

    #[test]
    fn the_node_budget_closes_whoever_would_pass_it() {
        let node = NodeBudget::new(30_000);
        let (a, _a) = conn(1 << 20, &node);
        let (b, _b) = conn(1 << 20, &node);
        assert!(a.send(event(20_000)));
        assert!(!b.send(event(20_000)));
        assert_eq!(b.close_reason(), Some(CloseReason::SlowConsumer));
        assert!(!a.is_closed());
        assert!(node.queued() < 30_000, "the refused event is not counted");
    }

    #[tokio::test]
    async fn a_reader_waits_while_its_replies_are_unread_and_gives_up_in_time() {
        let node = NodeBudget::new(1 << 30);
        let (conn, mut outbound) = conn(10_000, &node);
        assert!(conn.send(event(8_000)));
        let writer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            drop(outbound.try_recv().unwrap());
            outbound
        });
        assert!(
            conn.writable(Duration::from_secs(5)).await,
            "drained in time"
        );
        let _outbound = writer.await.unwrap();
        assert!(conn.send(event(8_000)));
        assert!(
            !conn.writable(Duration::from_millis(200)).await,
            "never drained"
        );
        assert_eq!(conn.close_reason(), Some(CloseReason::SlowConsumer));
    }
}
