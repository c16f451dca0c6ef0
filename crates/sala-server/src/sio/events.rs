//! The events a Socket.io client may emit (SPEC §4), each turned into a `ClientFrame`.
//! A payload of the wrong shape gets an `error` event (and an error ack), and the socket
//! stays usable.
//!
//! Reading a payload (`*_frame`) is kept apart from acting on it, in plain functions, so
//! that the fuzz target (`crate::fuzzing`) runs exactly the decoding the handlers run.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use sala_proto::frames::ClientFrame;
use serde_json::{Value, json};
use socketioxide::adapter::LocalAdapter;
use socketioxide::extract::{AckSender, SocketRef, TryData};
use socketioxide::handler::FromMessageParts;
use socketioxide::socket::Socket;

use std::collections::HashMap;

use super::{
    PendingAcks, SioConn, Waiting, emit, error_reply, handle, send_ack, take_back, unknown_event,
};
use crate::chat::ChatError;
use crate::domain::RoomName;

/// The ack callback, if the client asked for one: `joined` and `left` answers go to it
/// rather than out as events.
struct MaybeAck(Option<AckSender>);

impl FromMessageParts<LocalAdapter> for MaybeAck {
    type Error = std::convert::Infallible;

    fn from_message_parts(
        socket: &Arc<Socket<LocalAdapter>>,
        value: &mut socketioxide::handler::Value,
        ack_id: &Option<i64>,
    ) -> Result<Self, Self::Error> {
        let ack = AckSender::from_message_parts(socket, value, ack_id)?;
        Ok(Self(ack_id.is_some().then_some(ack)))
    }
}

/// Registers every handler; each holds the connection.
pub(super) fn register(socket: &SocketRef, sio: &Arc<SioConn>) {
    macro_rules! on {
        ($event:literal, $handler:ident) => {{
            let sio = sio.clone();
            socket.on(
                $event,
                move |socket: SocketRef, MaybeAck(ack): MaybeAck, TryData(data): TryData<Value>| {
                    let sio = sio.clone();
                    async move { $handler(&socket, &sio, data.ok(), ack).await }
                },
            );
        }};
    }
    on!("join", join);
    on!("leave", leave);
    on!("chat-message", chat_message);
    on!("send-chat-message", send_chat_message);
    on!("typing", typing);
    on!("status", status);
    on!("history", history);
    on!("read", read);
    on!("ping", ping);
    socket.on_fallback(unknown_event);
}

/// Tells the client its payload was not what the event takes.
fn bad_payload(socket: &SocketRef, ack: Option<AckSender>, event: &str, expected: &str) {
    let body = json!({"code": "bad_request", "message": format!("'{event}' takes {expected}")});
    if let Some(ack) = ack {
        send_ack(ack, &json!({"error": body}));
    }
    emit(socket, "error", &body);
}

/// A room name given as a string or as `{room}`.
pub(crate) fn room_of(data: Option<&Value>) -> Option<String> {
    match data? {
        Value::String(room) => Some(room.clone()),
        Value::Object(fields) => fields.get("room")?.as_str().map(str::to_owned),
        _ => None,
    }
}

/// Canonical room name, so acks can be matched to the `joined`/`left` that answer them.
pub(crate) fn canonical(room: &str) -> String {
    RoomName::parse(room).map_or_else(|_| room.to_owned(), |name| name.as_ref().to_owned())
}

/// `join`: a room name, or `{room, since}`.
pub(crate) fn join_frame(data: Option<&Value>) -> Option<ClientFrame> {
    let room = room_of(data)?;
    let since = data.and_then(|data| data["since"].as_i64());
    Some(ClientFrame::Join { room, since })
}

async fn join(socket: &SocketRef, sio: &SioConn, data: Option<Value>, ack: Option<AckSender>) {
    let Some(ClientFrame::Join { room, since }) = join_frame(data.as_ref()) else {
        return bad_payload(socket, ack, "join", "a room name");
    };
    let key = canonical(&room);
    let frame = ClientFrame::Join { room, since };
    answered_by_reply(sio, |pending| &mut pending.joins, &key, ack, frame).await;
}

/// `leave`: a room name.
pub(crate) fn leave_frame(data: Option<&Value>) -> Option<ClientFrame> {
    Some(ClientFrame::Leave {
        room: room_of(data)?,
    })
}

async fn leave(socket: &SocketRef, sio: &SioConn, data: Option<Value>, ack: Option<AckSender>) {
    let Some(ClientFrame::Leave { room }) = leave_frame(data.as_ref()) else {
        return bad_payload(socket, ack, "leave", "a room name");
    };
    let key = canonical(&room);
    let frame = ClientFrame::Leave { room };
    answered_by_reply(sio, |pending| &mut pending.leaves, &key, ack, frame).await;
}

/// Handles a `join` or `leave` whose ack its reply answers (`joined` / `left`, matched in
/// the writer by the canonical room name `key`). A refusal sends no reply, so its ack is
/// taken back, by its number, and answered here with the error: every ack is answered once.
async fn answered_by_reply(
    sio: &SioConn,
    waiting: fn(&mut PendingAcks) -> &mut HashMap<String, Vec<Waiting>>,
    key: &str,
    ack: Option<AckSender>,
    frame: ClientFrame,
) {
    let number = ack.map(|ack| {
        let number = sio.sends.fetch_add(1, Ordering::Relaxed);
        waiting(&mut sio.pending())
            .entry(key.to_owned())
            .or_default()
            .push((number, ack));
        number
    });
    if let Err(err) = handle(sio, frame).await
        && let Some(number) = number
        && let Some(ack) = take_back(waiting(&mut sio.pending()), key, number)
    {
        send_ack(ack, &error_reply(&err));
    }
}

/// Answers the ack callback of a command that no reply answers (`typing`, `status`,
/// `history`, `read`, `ping`): `{ok: true}`, or the error.
fn answer(ack: Option<AckSender>, outcome: Result<(), ChatError>) {
    if let Some(ack) = ack {
        match outcome {
            Ok(()) => send_ack(ack, &json!({"ok": true})),
            Err(err) => send_ack(ack, &error_reply(&err)),
        };
    }
}

/// Whether a send's message comes back to the socket that sent it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Echo {
    /// `chat-message`: as on `/ws`, the sender gets its ack and its message.
    ToSender,
    /// `send-chat-message`: the seeds' semantics, the other users only.
    OthersOnly,
}

/// Sends `text` to `room`, matching the ack callback to the message's ack.
async fn send(
    sio: &SioConn,
    room: String,
    text: String,
    client_id: Option<String>,
    ack: Option<AckSender>,
    echo: Echo,
) {
    // Without a client_id of its own, a send gets one that only serves to match its ack.
    let key = client_id.clone().unwrap_or_else(|| {
        let n = sio.sends.fetch_add(1, Ordering::Relaxed);
        format!("sio-{}-{n}", sio.socket_id)
    });
    {
        let mut pending = sio.pending();
        pending.sends.insert(key.clone(), (ack, client_id));
        if echo == Echo::OthersOnly {
            pending.no_echo.insert(key.clone());
        }
    }
    // A refusal comes back through the writer as an `error` naming the client_id, and
    // that answers the ack.
    let _ = handle(
        sio,
        ClientFrame::Send {
            room,
            text,
            client_id: Some(key),
        },
    )
    .await;
}

/// `chat-message`: `{room, text, client_id?}`, with the `client_id` as the client gave it.
pub(crate) fn chat_message_frame(data: Option<&Value>) -> Option<ClientFrame> {
    let fields = data.and_then(Value::as_object)?;
    let room = fields.get("room").and_then(Value::as_str)?;
    let text = fields.get("text").and_then(Value::as_str)?;
    let client_id = match fields.get("client_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => Some(id.clone()),
        Some(_) => return None,
    };
    Some(ClientFrame::Send {
        room: room.to_owned(),
        text: text.to_owned(),
        client_id,
    })
}

async fn chat_message(
    socket: &SocketRef,
    sio: &SioConn,
    data: Option<Value>,
    ack: Option<AckSender>,
) {
    match chat_message_frame(data.as_ref()) {
        Some(ClientFrame::Send {
            room,
            text,
            client_id,
        }) => send(sio, room, text, client_id, ack, Echo::ToSender).await,
        _ => bad_payload(socket, ack, "chat-message", "{room, text, client_id?}"),
    }
}

/// `send-chat-message`: a bare string, for the room `general`.
pub(crate) fn send_chat_message_frame(data: Option<&Value>) -> Option<ClientFrame> {
    let text = data?.as_str()?;
    Some(ClientFrame::Send {
        room: RoomName::GENERAL.into(),
        text: text.to_owned(),
        client_id: None,
    })
}

/// The seeds' apps: a bare string, for the room `general`, which the socket joins first
/// if it has not. As their servers did (`socket.broadcast.emit`), the message goes to the
/// other users; the sender gets its ack, not its own line back.
async fn send_chat_message(
    socket: &SocketRef,
    sio: &SioConn,
    data: Option<Value>,
    ack: Option<AckSender>,
) {
    let Some(ClientFrame::Send { room, text, .. }) = send_chat_message_frame(data.as_ref()) else {
        return bad_payload(socket, ack, "send-chat-message", "a string");
    };
    let joined = {
        let session = sio.session.lock().await;
        session.is_member(&room)
    };
    if !joined {
        // A refused join was told as an `error` event; the send's own answer follows.
        let _ = handle(
            sio,
            ClientFrame::Join {
                room: room.clone(),
                since: None,
            },
        )
        .await;
    }
    send(sio, room, text, None, ack, Echo::OthersOnly).await;
}

/// `typing`: a room name.
pub(crate) fn typing_frame(data: Option<&Value>) -> Option<ClientFrame> {
    Some(ClientFrame::Typing {
        room: room_of(data)?,
    })
}

async fn typing(socket: &SocketRef, sio: &SioConn, data: Option<Value>, ack: Option<AckSender>) {
    let Some(frame) = typing_frame(data.as_ref()) else {
        return bad_payload(socket, ack, "typing", "a room name");
    };
    answer(ack, handle(sio, frame).await);
}

/// `status`: `{status, note?}`.
pub(crate) fn status_frame(data: Option<&Value>) -> Option<ClientFrame> {
    let data = data?;
    let status = data["status"].as_str()?.to_owned();
    let note = data["note"].as_str().map(str::to_owned);
    Some(ClientFrame::Status { status, note })
}

async fn status(socket: &SocketRef, sio: &SioConn, data: Option<Value>, ack: Option<AckSender>) {
    let Some(frame) = status_frame(data.as_ref()) else {
        return bad_payload(socket, ack, "status", "{status, note?}");
    };
    answer(ack, handle(sio, frame).await);
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

async fn history(socket: &SocketRef, sio: &SioConn, data: Option<Value>, ack: Option<AckSender>) {
    let Some(frame) = history_frame(data.as_ref()) else {
        return bad_payload(socket, ack, "history", "{room, before?, after?, limit?}");
    };
    answer(ack, handle(sio, frame).await);
}

/// `read`: `{room, id}`.
pub(crate) fn read_frame(data: Option<&Value>) -> Option<ClientFrame> {
    let room = room_of(data)?;
    let id = data.and_then(|d| d["id"].as_i64())?;
    Some(ClientFrame::Read { room, id })
}

async fn read(socket: &SocketRef, sio: &SioConn, data: Option<Value>, ack: Option<AckSender>) {
    let Some(frame) = read_frame(data.as_ref()) else {
        return bad_payload(socket, ack, "read", "{room, id}");
    };
    answer(ack, handle(sio, frame).await);
}

async fn ping(_socket: &SocketRef, sio: &SioConn, _data: Option<Value>, ack: Option<AckSender>) {
    answer(ack, handle(sio, ClientFrame::Ping).await);
}
