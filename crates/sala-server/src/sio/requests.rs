//! A socket's requests, applied in order, and the ack callbacks waiting for their answers.
//!
//! The event handlers ([`super::events`]) queue each request as its packet is read. One
//! task per socket, [`serve`], owns the socket's chat [`Client`] and applies the requests
//! one after another, the way a `/ws` reader loop applies frames. Each request gets a
//! [`RequestId`]; the replies that answer it (`joined`, `left`, `ack`, `error`) carry it
//! back through the connection's one queue, and the writer hands each to the ack callback
//! waiting under that id ([`Answers`]). Nothing is matched by room name or `client_id`: two
//! sends with the same `client_id`, or two joins of one room, each get their own answer.

use std::collections::{HashMap, HashSet};

use sala_proto::frames::ClientFrame;
use serde_json::json;
use socketioxide::extract::AckSender;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::SioConn;
use super::emit::send_ack;
use crate::chat::Client;
use crate::cluster::hub::RequestId;

/// Requests one socket may have waiting to be applied. A client that emits faster than
/// its requests are applied is refused (`rate_limited`) past this, rather than queued
/// without bound; at the command rate limit of 20 a second this is seconds of work.
pub const QUEUE_CAPACITY: usize = 256;

/// One event of a client, decoded.
pub struct Request {
    pub frame: ClientFrame,
    /// The client's ack callback, if it gave one.
    pub ack: Option<AckSender>,
    pub echo: Echo,
}

/// Whether a send's message comes back to the socket that sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Echo {
    /// As on `/ws`: the sender gets its ack and its message (`chat-message`).
    ToSender,
    /// The seeds' `send-chat-message`: the other users get the message; the sender its ack.
    OthersOnly,
}

/// What a request waits with for its answer.
pub struct Waiting {
    pub ack: Option<AckSender>,
    pub echo: Echo,
}

/// The requests of one socket waiting for the reply that answers them.
#[derive(Default)]
pub struct Answers {
    waiting: HashMap<RequestId, Waiting>,
    /// Messages of this socket's legacy sends, acked and not yet seen coming back: their
    /// broadcast skips this socket. The ack travels ahead of the message in the one queue.
    no_echo: HashSet<i64>,
}

impl Answers {
    /// What waited for `request`, now answered (each request is answered once).
    pub fn take(&mut self, request: RequestId) -> Option<Waiting> {
        self.waiting.remove(&request)
    }

    /// A legacy send's message was stored as `message_id`: it must not come back here.
    pub fn skip_echo_of(&mut self, message_id: i64) {
        self.no_echo.insert(message_id);
    }

    /// Whether the message is one to skip (once).
    pub fn is_own_echo(&mut self, message_id: i64) -> bool {
        !self.no_echo.is_empty() && self.no_echo.remove(&message_id)
    }
}

/// Applies the socket's requests in order until the connection closes. At shutdown it
/// stops taking requests but keeps the session registered until the hub closes the
/// connection, so that acks of what was committed still reach the client. Dropping the
/// session at the end unregisters the connection.
pub async fn serve(
    mut client: Client,
    mut requests: mpsc::Receiver<Box<Request>>,
    sio: std::sync::Arc<SioConn>,
    stop: CancellationToken,
) {
    let conn = client.conn().clone();
    let mut numbered = 0;
    loop {
        let request = tokio::select! {
            () = conn.closed() => break,
            () = stop.cancelled() => {
                conn.closed().await;
                break;
            }
            request = requests.recv() => match request {
                Some(request) => request,
                None => break,
            },
        };
        numbered += 1;
        apply(&mut client, &sio, *request, RequestId(numbered)).await;
    }
}

async fn apply(client: &mut Client, sio: &SioConn, request: Request, id: RequestId) {
    let Request { frame, ack, echo } = request;
    // `joined`, `left`, `ack` and `error` answer their request through the writer; the
    // other commands have no reply that does, and are answered here once applied.
    let answered_by_reply = matches!(
        frame,
        ClientFrame::Join { .. }
            | ClientFrame::Leave { .. }
            | ClientFrame::Send { .. }
            | ClientFrame::Edit { .. }
            | ClientFrame::Delete { .. }
            | ClientFrame::React { .. }
            | ClientFrame::Unreact { .. }
    );
    if echo == Echo::OthersOnly
        && let ClientFrame::Send { room, .. } = &frame
        && !client.is_member(room)
    {
        // The seeds' apps never join: their string goes to `general`, joined first. A
        // refused join is told as an `error` event; the send's own answer follows.
        let join = ClientFrame::Join {
            room: room.clone(),
            since: None,
        };
        let _ = client.handle(join, None).await;
    }
    if ack.is_some() || echo == Echo::OthersOnly {
        sio.answers().waiting.insert(id, Waiting { ack, echo });
    }
    let outcome = client.handle(frame, Some(id)).await;
    if outcome.is_ok()
        && !answered_by_reply
        && let Some(Waiting { ack: Some(ack), .. }) = sio.answers().take(id)
    {
        send_ack(ack, &json!({"ok": true}));
    }
}
