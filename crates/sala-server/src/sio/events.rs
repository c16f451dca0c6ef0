//! The events a Socket.io client may emit (SPEC §4), each turned into a `ClientFrame`.
//! A payload of the wrong shape gets an `error` event (and an error ack), and the socket
//! stays usable.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use sala_proto::frames::ClientFrame;
use serde_json::{Value, json};
use socketioxide::adapter::LocalAdapter;
use socketioxide::extract::{AckSender, SocketRef, TryData};
use socketioxide::handler::FromMessageParts;
use socketioxide::socket::Socket;

use super::{SioConn, emit, handle, send_ack, unknown_event};
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
fn room_of(data: Option<&Value>) -> Option<String> {
    match data? {
        Value::String(room) => Some(room.clone()),
        Value::Object(fields) => fields.get("room")?.as_str().map(str::to_owned),
        _ => None,
    }
}

/// Canonical room name, so acks can be matched to the `joined`/`left` that answer them.
fn canonical(room: &str) -> String {
    RoomName::parse(room).map_or_else(|_| room.to_owned(), |name| name.as_ref().to_owned())
}

async fn join(socket: &SocketRef, sio: &SioConn, data: Option<Value>, ack: Option<AckSender>) {
    let Some(room) = room_of(data.as_ref()) else {
        return bad_payload(socket, ack, "join", "a room name");
    };
    let since = data.as_ref().and_then(|data| data["since"].as_i64());
    if let Some(ack) = ack {
        sio.pending()
            .joins
            .entry(canonical(&room))
            .or_default()
            .push(ack);
    }
    handle(sio, ClientFrame::Join { room, since }).await;
}

async fn leave(socket: &SocketRef, sio: &SioConn, data: Option<Value>, ack: Option<AckSender>) {
    let Some(room) = room_of(data.as_ref()) else {
        return bad_payload(socket, ack, "leave", "a room name");
    };
    if let Some(ack) = ack {
        sio.pending()
            .leaves
            .entry(canonical(&room))
            .or_default()
            .push(ack);
    }
    handle(sio, ClientFrame::Leave { room }).await;
}

/// Sends `text` to `room`, matching the ack callback to the message's ack.
async fn send(
    sio: &SioConn,
    room: String,
    text: String,
    client_id: Option<String>,
    ack: Option<AckSender>,
) {
    // Without a client_id of its own, a send gets one that only serves to match its ack.
    let key = client_id.clone().unwrap_or_else(|| {
        let n = sio.sends.fetch_add(1, Ordering::Relaxed);
        format!("sio-{}-{n}", sio.socket_id)
    });
    sio.pending().sends.insert(key.clone(), (ack, client_id));
    handle(
        sio,
        ClientFrame::Send {
            room,
            text,
            client_id: Some(key),
        },
    )
    .await;
}

async fn chat_message(
    socket: &SocketRef,
    sio: &SioConn,
    data: Option<Value>,
    ack: Option<AckSender>,
) {
    let fields = data.as_ref().and_then(Value::as_object);
    let room = fields.and_then(|f| f.get("room")).and_then(Value::as_str);
    let text = fields.and_then(|f| f.get("text")).and_then(Value::as_str);
    let client_id = fields.and_then(|f| f.get("client_id"));
    let client_id = match client_id {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(id)) => Some(Some(id.clone())),
        Some(_) => None,
    };
    match (room, text, client_id) {
        (Some(room), Some(text), Some(client_id)) => {
            send(sio, room.to_owned(), text.to_owned(), client_id, ack).await;
        }
        _ => bad_payload(socket, ack, "chat-message", "{room, text, client_id?}"),
    }
}

/// The seeds' apps: a bare string, for the room `general`, which the socket joins first
/// if it has not.
async fn send_chat_message(
    socket: &SocketRef,
    sio: &SioConn,
    data: Option<Value>,
    ack: Option<AckSender>,
) {
    let Some(Value::String(text)) = data else {
        return bad_payload(socket, ack, "send-chat-message", "a string");
    };
    let joined = {
        let session = sio.session.lock().await;
        session.is_member(RoomName::GENERAL)
    };
    if !joined {
        handle(
            sio,
            ClientFrame::Join {
                room: RoomName::GENERAL.into(),
                since: None,
            },
        )
        .await;
    }
    send(sio, RoomName::GENERAL.into(), text, None, ack).await;
}

async fn typing(socket: &SocketRef, sio: &SioConn, data: Option<Value>, ack: Option<AckSender>) {
    let Some(room) = room_of(data.as_ref()) else {
        return bad_payload(socket, ack, "typing", "a room name");
    };
    handle(sio, ClientFrame::Typing { room }).await;
}

async fn status(socket: &SocketRef, sio: &SioConn, data: Option<Value>, ack: Option<AckSender>) {
    let status = data
        .as_ref()
        .and_then(|d| d["status"].as_str())
        .map(str::to_owned);
    let note = data
        .as_ref()
        .and_then(|d| d["note"].as_str())
        .map(str::to_owned);
    let Some(status) = status else {
        return bad_payload(socket, ack, "status", "{status, note?}");
    };
    handle(sio, ClientFrame::Status { status, note }).await;
}

async fn history(socket: &SocketRef, sio: &SioConn, data: Option<Value>, ack: Option<AckSender>) {
    let Some(room) = room_of(data.as_ref()) else {
        return bad_payload(socket, ack, "history", "{room, before?, after?, limit?}");
    };
    let field = |name: &str| data.as_ref().and_then(|d| d[name].as_i64());
    let limit = field("limit").and_then(|limit| u32::try_from(limit).ok());
    handle(
        sio,
        ClientFrame::History {
            room,
            before: field("before"),
            after: field("after"),
            limit,
        },
    )
    .await;
}

async fn read(socket: &SocketRef, sio: &SioConn, data: Option<Value>, ack: Option<AckSender>) {
    let room = room_of(data.as_ref());
    let id = data.as_ref().and_then(|d| d["id"].as_i64());
    let (Some(room), Some(id)) = (room, id) else {
        return bad_payload(socket, ack, "read", "{room, id}");
    };
    handle(sio, ClientFrame::Read { room, id }).await;
}

async fn ping(_socket: &SocketRef, sio: &SioConn, _data: Option<Value>, _ack: Option<AckSender>) {
    handle(sio, ClientFrame::Ping).await;
}
