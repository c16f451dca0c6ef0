//! The two ways anything reaches a Socket.io client: an event, or the answer to an ack
//! callback. Failures are the client's going away or being too slow, logged at debug; the
//! callers decide what a failure means.

use socketioxide::extract::{AckSender, SocketRef};

/// Emits an event; `false` if socketioxide could not take it (its buffer is full or the
/// socket is closing).
pub fn emit(socket: &SocketRef, event: &'static str, payload: &impl serde::Serialize) -> bool {
    match socket.emit(event, payload) {
        Ok(()) => true,
        Err(err) => {
            tracing::debug!(%event, error = %err, "socket.io emit failed");
            false
        }
    }
}

/// Answers an ack callback; `false` if the socket is gone.
pub fn send_ack(ack: AckSender, payload: &impl serde::Serialize) -> bool {
    match ack.send(payload) {
        Ok(()) => true,
        Err(err) => {
            tracing::debug!(error = %err, "socket.io ack failed");
            false
        }
    }
}
