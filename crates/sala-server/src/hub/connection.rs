//! A connection as the hub sees it: an id, a bounded outbound queue, and a way to close it
//! with a reason. Transports own the socket; the hub only holds this handle.

use std::sync::{Arc, OnceLock};

use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use super::event::Event;

/// Unique per node for the life of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

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
    /// Bounded: a full queue closes the connection rather than growing or waiting.
    outbound: mpsc::Sender<Arc<Event>>,
    closer: Arc<Closer>,
}

/// What a transport reads its frames from.
pub type Outbound = mpsc::Receiver<Arc<Event>>;

impl ConnHandle {
    pub(super) fn new(id: ConnId, capacity: usize) -> (Self, Outbound) {
        let (outbound, receiver) = mpsc::channel(capacity);
        let closer = Arc::new(Closer {
            token: CancellationToken::new(),
            reason: OnceLock::new(),
        });
        (
            Self {
                id,
                outbound,
                closer,
            },
            receiver,
        )
    }

    pub fn id(&self) -> ConnId {
        self.id
    }

    /// Queues `event` without waiting. A full queue means the client cannot keep up: the
    /// connection is closed with [`CloseReason::SlowConsumer`] and `false` returned, so one
    /// slow reader never slows a room down nor makes the server buffer without bound.
    pub fn send(&self, event: Arc<Event>) -> bool {
        match self.outbound.try_send(event) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                if !self.is_closed() {
                    tracing::info!(conn = self.id.0, "outbound queue full; closing slow client");
                }
                self.close(CloseReason::SlowConsumer);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
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
