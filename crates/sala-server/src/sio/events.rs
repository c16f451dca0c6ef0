//! The events a Socket.io client may emit (SPEC §4), each turned into a `ClientFrame` and
//! queued for the socket's one request task ([`super::requests`]). A payload of the wrong
//! shape gets an `error` event (and an error ack), and the socket stays usable.
//!
//! Reading a payload (`*_frame`) is kept apart from acting on it, in plain functions, so
//! that the fuzz target (`crate::fuzzing`) runs exactly the decoding the handlers run.
//!
//! Why the work happens in an extractor: socketioxide 0.18 spawns every event handler as a
//! task of its own, so two events a client emits back to back could be handled in either
//! order. It runs a handler's extractors synchronously, though, as it reads each packet, in
//! the order the packets arrived. [`Queued`] is that extractor: it decodes the payload and
//! queues the request right there, and the handler itself is empty. The socket's requests
//! are then applied one after another, like a `/ws` connection's frames.

use std::convert::Infallible;
use std::marker::PhantomData;
use std::sync::Arc;

use sala_proto::error::ErrorCode;
use sala_proto::frames::ClientFrame;
use serde_json::{Value, json};
use socketioxide::adapter::LocalAdapter;
use socketioxide::extract::{AckSender, Event, SocketRef, TryData};
use socketioxide::handler::{FromMessage, FromMessageParts};
use socketioxide::socket::Socket;

use super::SioConn;
use super::emit::{emit, send_ack};
use super::requests::{Echo, Request};
use crate::domain::RoomName;

/// One event a client may emit: its name, what its payload must look like, and the frame
/// it becomes.
trait ClientEvent: Send + Sync + 'static {
    const NAME: &'static str;
    /// What the payload must be, for the `bad_request` message.
    const TAKES: &'static str;
    /// Whether the message of a send comes back to the socket that sent it.
    const ECHO: Echo = Echo::ToSender;
    fn frame(data: Option<&Value>) -> Option<ClientFrame>;
}

macro_rules! client_events {
    ($($kind:ident = $name:literal, $takes:literal, $frame:path $(, $echo:expr)?;)*) => {$(
        struct $kind;
        impl ClientEvent for $kind {
            const NAME: &'static str = $name;
            const TAKES: &'static str = $takes;
            $(const ECHO: Echo = $echo;)?
            fn frame(data: Option<&Value>) -> Option<ClientFrame> {
                $frame(data)
            }
        }
    )*};
}

client_events! {
    Join = "join", "a room name, or {room, since}", join_frame;
    Leave = "leave", "a room name", leave_frame;
    ChatMessage = "chat-message", "{room, text, client_id?, reply_to?, attachments?}", chat_message_frame;
    Edit = "edit", "{room, id, text, client_id?}", edit_frame;
    Delete = "delete", "{room, id}", delete_frame;
    React = "react", "{room, id, emoji}", react_frame;
    Unreact = "unreact", "{room, id, emoji}", unreact_frame;
    // The seeds' semantics (`socket.broadcast.emit`): the other users get the message, the
    // sender its ack.
    SendChatMessage = "send-chat-message", "a string", send_chat_message_frame, Echo::OthersOnly;
    Typing = "typing", "a room name", typing_frame;
    Status = "status", "{status, note?}", status_frame;
    History = "history", "{room, before?, after?, limit?}", history_frame;
    Read = "read", "{room, id}", read_frame;
    Ping = "ping", "nothing", ping_frame;
}

/// The extractor that queues an event's request as its packet is read (see the module
/// doc). It never fails: a bad payload is answered here.
struct Queued<E>(PhantomData<E>);

impl<E: ClientEvent> FromMessage<LocalAdapter> for Queued<E> {
    type Error = Infallible;

    fn from_message(
        socket: Arc<Socket<LocalAdapter>>,
        mut value: socketioxide::handler::Value,
        ack_id: Option<i64>,
    ) -> Result<Self, Infallible> {
        let ack = AckSender::from_message_parts(&socket, &mut value, &ack_id)?;
        let ack = ack_id.is_some().then_some(ack);
        let sio = socket.extensions.get::<Arc<SioConn>>();
        let TryData(data) = TryData::<Value>::from_message_parts(&socket, &mut value, &ack_id)?;
        let socket = SocketRef::from(socket);
        let Some(sio) = sio else {
            tracing::error!("a Socket.io event came before its socket was admitted");
            return Ok(Self(PhantomData));
        };
        match E::frame(data.ok().as_ref()) {
            Some(frame) => sio.queue(
                &socket,
                Request {
                    frame,
                    ack,
                    echo: E::ECHO,
                },
            ),
            None => bad_payload(&socket, ack, E::NAME, E::TAKES),
        }
        Ok(Self(PhantomData))
    }
}

/// Registers the handler of every event, and the answer to unknown ones.
pub(super) fn register(socket: &SocketRef) {
    fn on<E: ClientEvent>(socket: &SocketRef) {
        socket.on(E::NAME, |_: Queued<E>| async {});
    }
    on::<Join>(socket);
    on::<Leave>(socket);
    on::<ChatMessage>(socket);
    on::<Edit>(socket);
    on::<Delete>(socket);
    on::<React>(socket);
    on::<Unreact>(socket);
    on::<SendChatMessage>(socket);
    on::<Typing>(socket);
    on::<Status>(socket);
    on::<History>(socket);
    on::<Read>(socket);
    on::<Ping>(socket);
    socket.on_fallback(unknown_event);
}

/// An event's payload decoded by its handler's reader: `None` for an unknown event,
/// `Some(None)` for a payload of the wrong shape. For the fuzz target, which must read
/// payloads exactly as the handlers do.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn decode(name: &str, data: Option<&Value>) -> Option<Option<ClientFrame>> {
    let frame = match name {
        Join::NAME => Join::frame(data),
        Leave::NAME => Leave::frame(data),
        ChatMessage::NAME => ChatMessage::frame(data),
        Edit::NAME => Edit::frame(data),
        Delete::NAME => Delete::frame(data),
        React::NAME => React::frame(data),
        Unreact::NAME => Unreact::frame(data),
        SendChatMessage::NAME => SendChatMessage::frame(data),
        Typing::NAME => Typing::frame(data),
        Status::NAME => Status::frame(data),
        History::NAME => History::frame(data),
        Read::NAME => Read::frame(data),
        Ping::NAME => Ping::frame(data),
        _ => return None,
    };
    Some(frame)
}

/// Tells the client its payload was not what the event takes.
pub(super) fn bad_payload(socket: &SocketRef, ack: Option<AckSender>, event: &str, takes: &str) {
    let body =
        json!({"code": ErrorCode::BadRequest, "message": format!("'{event}' takes {takes}")});
    if let Some(ack) = ack {
        send_ack(ack, &json!({"error": body}));
    }
    emit(socket, "error", &body);
}

/// The unknown-event answer.
async fn unknown_event(socket: SocketRef, Event(event): Event) {
    emit(
        &socket,
        "error",
        &json!({"code": ErrorCode::BadRequest, "message": format!("unknown event '{event}'")}),
    );
}

/// `ping`: no payload needed.
pub(crate) fn ping_frame(_data: Option<&Value>) -> Option<ClientFrame> {
    Some(ClientFrame::Ping)
}

/// A room name given as a string or as `{room}`.
pub(crate) fn room_of(data: Option<&Value>) -> Option<String> {
    match data? {
        Value::String(room) => Some(room.clone()),
        Value::Object(fields) => fields.get("room")?.as_str().map(str::to_owned),
        _ => None,
    }
}

/// `join`: a room name, or `{room, since}`.
pub(crate) fn join_frame(data: Option<&Value>) -> Option<ClientFrame> {
    let room = room_of(data)?;
    let since = data.and_then(|data| data["since"].as_i64());
    Some(ClientFrame::Join { room, since })
}

/// `leave`: a room name.
pub(crate) fn leave_frame(data: Option<&Value>) -> Option<ClientFrame> {
    Some(ClientFrame::Leave {
        room: room_of(data)?,
    })
}

/// `chat-message`: `{room, text, client_id?, reply_to?, attachments?}`, with the
/// `client_id` as the client gave it. `text` may be left out when files are attached.
pub(crate) fn chat_message_frame(data: Option<&Value>) -> Option<ClientFrame> {
    let fields = data.and_then(Value::as_object)?;
    let room = fields.get("room").and_then(Value::as_str)?;
    let attachments = match fields.get("attachments") {
        None | Some(Value::Null) => Vec::new(),
        Some(ids) => ids
            .as_array()?
            .iter()
            .map(|id| id.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()?,
    };
    let text = match fields.get("text") {
        None | Some(Value::Null) if !attachments.is_empty() => None,
        other => Some(other?.as_str()?.to_owned()),
    };
    let reply_to = match fields.get("reply_to") {
        None | Some(Value::Null) => None,
        Some(id) => Some(id.as_i64()?),
    };
    Some(ClientFrame::Send {
        room: room.to_owned(),
        text,
        client_id: client_id_of(fields)?,
        reply_to,
        attachments,
    })
}

/// An optional `client_id`: absent or null is none; anything but a string is malformed.
fn client_id_of(fields: &serde_json::Map<String, Value>) -> Option<Option<String>> {
    match fields.get("client_id") {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(id)) => Some(Some(id.clone())),
        Some(_) => None,
    }
}

/// The `{room, id}` a change names.
fn message_of(data: Option<&Value>) -> Option<(&serde_json::Map<String, Value>, String, i64)> {
    let fields = data.and_then(Value::as_object)?;
    let room = fields.get("room").and_then(Value::as_str)?.to_owned();
    let id = fields.get("id").and_then(Value::as_i64)?;
    Some((fields, room, id))
}

/// `edit`: `{room, id, text, client_id?}`.
pub(crate) fn edit_frame(data: Option<&Value>) -> Option<ClientFrame> {
    let (fields, room, id) = message_of(data)?;
    Some(ClientFrame::Edit {
        room,
        id,
        text: fields.get("text").and_then(Value::as_str)?.to_owned(),
        client_id: client_id_of(fields)?,
    })
}

/// `delete`: `{room, id}`.
pub(crate) fn delete_frame(data: Option<&Value>) -> Option<ClientFrame> {
    let (_, room, id) = message_of(data)?;
    Some(ClientFrame::Delete { room, id })
}

/// `react`: `{room, id, emoji}`.
pub(crate) fn react_frame(data: Option<&Value>) -> Option<ClientFrame> {
    let (fields, room, id) = message_of(data)?;
    let emoji = fields.get("emoji").and_then(Value::as_str)?.to_owned();
    Some(ClientFrame::React { room, id, emoji })
}

/// `unreact`: `{room, id, emoji}`.
pub(crate) fn unreact_frame(data: Option<&Value>) -> Option<ClientFrame> {
    let (fields, room, id) = message_of(data)?;
    let emoji = fields.get("emoji").and_then(Value::as_str)?.to_owned();
    Some(ClientFrame::Unreact { room, id, emoji })
}

/// `send-chat-message`: a bare string, for the room `general`.
pub(crate) fn send_chat_message_frame(data: Option<&Value>) -> Option<ClientFrame> {
    let text = data?.as_str()?;
    Some(ClientFrame::Send {
        room: RoomName::GENERAL.into(),
        text: Some(text.to_owned()),
        client_id: None,
        reply_to: None,
        attachments: Vec::new(),
    })
}

/// `typing`: a room name.
pub(crate) fn typing_frame(data: Option<&Value>) -> Option<ClientFrame> {
    Some(ClientFrame::Typing {
        room: room_of(data)?,
    })
}

/// `status`: `{status, note?}`.
pub(crate) fn status_frame(data: Option<&Value>) -> Option<ClientFrame> {
    let data = data?;
    let status = data["status"].as_str()?.to_owned();
    let note = data["note"].as_str().map(str::to_owned);
    Some(ClientFrame::Status { status, note })
}

/// `history`: `{room, before?, after?, limit?}`; a `limit` that is no `u32` counts as none.
pub(crate) fn history_frame(data: Option<&Value>) -> Option<ClientFrame> {
    let room = room_of(data)?;
    let field = |name: &str| data.and_then(|d| d[name].as_i64());
    let limit = field("limit").and_then(|limit| u32::try_from(limit).ok());
    Some(ClientFrame::History {
        room,
        before: field("before"),
        after: field("after"),
        limit,
    })
}

/// `read`: `{room, id}`.
pub(crate) fn read_frame(data: Option<&Value>) -> Option<ClientFrame> {
    let room = room_of(data)?;
    let id = data.and_then(|d| d["id"].as_i64())?;
    Some(ClientFrame::Read { room, id })
}
