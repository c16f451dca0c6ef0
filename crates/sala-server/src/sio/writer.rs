//! A socket's writer: drains the connection's queue into Socket.io emits and ack callbacks
//! (SPEC §4), until the connection closes. The chat layer closes it when its token expires
//! or its session is logged out, as it does a `/ws` connection's.
//!
//! A reply that names a request ([`crate::cluster::hub::RequestId`]) answers that request's ack
//! callback, if the client gave one; everything else is emitted as an event.

use std::sync::Arc;

use sala_proto::frames::{PresenceEvent, ServerFrame};
use serde_json::json;
use socketioxide::extract::SocketRef;

use super::SioConn;
use super::emit::{emit, send_ack};
use super::requests::{Echo, Waiting};
use crate::cluster::hub::{CloseReason, Event, Outbound, Queued};
use crate::metrics::{Metrics, OpenConnection, Transport};

pub async fn write(
    socket: SocketRef,
    mut outbound: Outbound,
    sio: Arc<SioConn>,
    metrics: Arc<Metrics>,
) {
    let _open = OpenConnection::new(&metrics, Transport::SocketIo);
    loop {
        tokio::select! {
            biased;
            () = sio.conn.closed() => break,
            event = outbound.recv() => match event {
                Some(event) => deliver(&socket, &sio, &event),
                None => break,
            },
        }
    }
    if sio.conn.close_reason() != Some(CloseReason::Gone) {
        // Acks and messages committed during a shutdown still go out first.
        while let Ok(event) = outbound.try_recv() {
            deliver(&socket, &sio, &event);
        }
        let _ = socket.disconnect();
    }
    if sio.conn.close_reason() == Some(CloseReason::SlowConsumer) {
        metrics.slow_consumers_closed.increment(1);
    }
}

/// One server frame, as Socket.io clients expect it (SPEC §4). A frame that cannot be
/// handed on is never dropped quietly: the client is disconnected as too slow, and resumes
/// with `since` like any reconnecting client.
fn deliver(socket: &SocketRef, sio: &SioConn, event: &Queued) {
    if !deliver_frame(socket, sio, event) && !sio.conn.is_closed() {
        tracing::info!(
            conn = sio.conn.id().0,
            "socket.io client cannot keep up; disconnecting"
        );
        sio.conn.close(CloseReason::SlowConsumer);
    }
}

/// A `chat-message` argument serialised once per message and shared by every socket that
/// gets it: socketioxide serialises each emit per socket, and for a message that meant
/// formatting its timestamp and escaping its text once per receiver.
#[derive(Clone)]
struct SharedArgument(Arc<serde_json::value::RawValue>);

impl serde::Serialize for SharedArgument {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

fn deliver_frame(socket: &SocketRef, sio: &SioConn, event: &Queued) -> bool {
    if let Some(id) = event.message_id() {
        if sio.answers().is_own_echo(id) {
            return true;
        }
        if let Some(argument) = shared_message(event) {
            return emit(socket, "chat-message", &argument);
        }
        // No shared form (it could not be made): the message is emitted from its decoded
        // frame below, for this receiver alone.
    }
    // What waited for the request this reply answers, if it is one.
    let waiting = || {
        event
            .reply_to()
            .and_then(|request| sio.answers().take(request))
    };
    let frame = event.decode();
    match &frame {
        ServerFrame::Message(message) => emit(socket, "chat-message", message),
        ServerFrame::Presence { room, user, event } => {
            let name = match event {
                PresenceEvent::Joined => "user-connected",
                PresenceEvent::Left | PresenceEvent::Disconnected => "user-disconnected",
            };
            emit(socket, name, &json!({"room": room, "user": user}))
        }
        ServerFrame::Typing { .. } => emit(socket, "typing", &frame),
        ServerFrame::Status { .. } => emit(socket, "status", &frame),
        ServerFrame::Read { .. } => emit(socket, "read", &frame),
        ServerFrame::CatchUp { .. } => emit(socket, "catch-up", &frame),
        ServerFrame::RoomAdded { room } => emit(socket, "room-added", room),
        ServerFrame::Member { .. } => emit(socket, "member", &frame),
        ServerFrame::Invited { .. } => emit(socket, "invited", &frame),
        ServerFrame::RoomUpdated { room } => emit(socket, "room-updated", room),
        ServerFrame::RoomRemoved { .. } => emit(socket, "room-removed", &frame),
        ServerFrame::History { .. } => emit(socket, "history", &frame),
        ServerFrame::MessageUpdated { .. } => emit(socket, "message-updated", &frame),
        ServerFrame::Ready { user } => emit(socket, "ready", user),
        ServerFrame::Pong => emit(socket, "pong", &json!({})),
        ServerFrame::Joined { .. } | ServerFrame::Left { .. } => match waiting() {
            Some(Waiting { ack: Some(ack), .. }) => send_ack(ack, &frame),
            _ => emit(socket, frame_name(&frame), &frame),
        },
        ServerFrame::Ack {
            id,
            client_id,
            room,
            seq,
        } => match waiting() {
            Some(Waiting { ack, echo }) => {
                if echo == Echo::OthersOnly {
                    sio.answers().skip_echo_of(*id);
                }
                ack.is_none_or(|ack| {
                    let mut body = json!({"id": id, "client_id": client_id, "room": room});
                    if let Some(seq) = seq {
                        body["seq"] = json!(seq);
                    }
                    send_ack(ack, &body)
                })
            }
            // A send without a callback: its ack has nowhere to go.
            None if event.reply_to().is_some() => true,
            None => emit(socket, "ack", &frame),
        },
        ServerFrame::Error {
            code,
            message,
            client_id,
            ..
        } => {
            let body = json!({"code": code, "message": message, "client_id": client_id});
            let acked = match waiting() {
                Some(Waiting { ack: Some(ack), .. }) => send_ack(ack, &json!({"error": body})),
                _ => true,
            };
            emit(socket, "error", &body) && acked
        }
    }
}

/// The event name of a reply no callback waited for.
fn frame_name(frame: &ServerFrame) -> &'static str {
    match frame {
        ServerFrame::Joined { .. } => "joined",
        _ => "left",
    }
}

/// The message's `chat-message` argument, made once for every socket that gets it.
fn shared_message(event: &Event) -> Option<SharedArgument> {
    event.prepared(|json| match serde_json::from_slice::<ServerFrame>(json) {
        Ok(ServerFrame::Message(message)) => serde_json::value::to_raw_value(&message)
            .map(|raw| SharedArgument(Arc::from(raw)))
            .ok(),
        _ => None,
    })
}
