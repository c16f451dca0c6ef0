//! Socket.io at `/socket.io/` (SPEC §4): the second transport, built on socketioxide, so
//! existing socket.io 4.x clients connect unchanged.
//!
//! Like `/ws`, each socket is a connection in the hub with one bounded outbound queue, and
//! its events become `ClientFrame`s for a `chat::Session`: a Socket.io client and a `/ws`
//! client in one room see each other. This module only translates: events in, frames out,
//! and ack callbacks matched to the replies that answer them.
//!
//! socketioxide runs each event's handler in a task of its own, so two events a client
//! emits in the same instant may be handled in either order; the session serialises their
//! effects, and a client that needs an order waits for the ack (as the seeds' apps do).

pub(crate) mod events;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sala_proto::frames::{ClientFrame, PresenceEvent, ServerFrame};
use serde_json::{Value, json};
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Event, SocketRef, State, TryData};
use socketioxide::handler::ConnectHandler as _;
use socketioxide::layer::SocketIoLayer;
use socketioxide::socket::DisconnectReason;

use crate::auth::extractor::bearer_token;
use crate::auth::session::{AuthUser, authenticate};
use crate::chat::Session;
use crate::hub::{CloseReason, ConnHandle, ConnUser, Event as HubEvent, Outbound};
use crate::metrics::{Metrics, OpenConnection, Transport};
use crate::state::AppState;
use sala_store::UserRecord;

/// Socket.io's own settings, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct SocketIoSettings {
    /// How often Engine.IO pings the client.
    pub ping_interval: std::time::Duration,
    /// How long a ping may wait for its pong before the client counts as gone.
    pub ping_timeout: std::time::Duration,
    /// Whether a new connection is subscribed to `general` (SPEC §4; a client may still
    /// say `join_general: false` in its handshake's `auth`).
    pub join_general: bool,
}

/// The layer that serves `/socket.io/`, wired to the node's state.
pub fn layer(state: AppState) -> SocketIoLayer {
    // socketioxide's own per-socket buffer holds as many packets as our queue; when it is
    // full anyway the client is too slow and is disconnected (see `deliver`).
    let buffer = state.chat.limits().outbound_queue;
    let (layer, io) = SocketIo::builder()
        .max_buffer_size(buffer)
        // What a client may send, before authentication as after, is what /ws allows: a
        // 15 MB CONNECT packet was read and parsed whole before its token was refused.
        .max_payload(crate::ws::MAX_FRAME_BYTES as u64)
        .ws_max_message_size(crate::ws::MAX_FRAME_BYTES)
        .ws_max_frame_size(crate::ws::MAX_FRAME_BYTES)
        .ws_read_buffer_size(crate::ws::READ_BUFFER_BYTES)
        // An Engine.IO session that has not connected (authenticated) by then is closed,
        // as a /ws socket without its auth frame is.
        .connect_timeout(state.ws.auth_timeout)
        .ping_interval(state.socketio.ping_interval)
        .ping_timeout(state.socketio.ping_timeout)
        .with_state(state)
        .build_layer();
    io.ns("/", on_connect.with(authenticate_socket));
    layer
}

/// Admits Socket.io requests: refuses the handshake from pages of other origins, as `/ws`
/// does, and caps the new Engine.IO sessions (requests without a `sid`) each client address
/// may open per minute (`--socketio-sessions-per-minute`). A session lives at most the auth
/// timeout before it authenticates, so together they bound the unauthenticated sessions an
/// address can hold.
pub async fn admit(
    axum::extract::State(state): axum::extract::State<AppState>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    if !request.uri().path().starts_with("/socket.io") {
        return next.run(request).await;
    }
    if let Err(err) = crate::ws::check_origin(request.headers(), &state.allowed_origins) {
        return err.into_response();
    }
    let opens_a_session = !request
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .any(|pair| pair.starts_with("sid="));
    if opens_a_session {
        let address = crate::http::client_address::client_address(
            peer.ip(),
            request.headers(),
            &state.trusted_proxies,
        );
        if let Err(exhausted) = state
            .socketio_sessions
            .take(address, std::time::Instant::now())
        {
            tracing::info!(%address, "socket.io sessions throttled");
            return crate::error::ApiError::RateLimited {
                retry_after_secs: exhausted.retry_after.as_secs_f64().ceil() as u64,
            }
            .into_response();
        }
    }
    next.run(request).await
}

/// Why a handshake was refused; the text reaches the client's `connect_error`.
#[derive(Debug, thiserror::Error)]
enum HandshakeError {
    #[error("authentication required: connect with auth: {{token}} or an Authorization header")]
    NoToken,
    #[error("invalid, expired or revoked token")]
    BadToken,
    #[error("the service is temporarily unavailable")]
    Unavailable,
    #[error(transparent)]
    TooManyConnections(#[from] crate::hub::TooManyConnections),
}

/// Connect middleware: the token from `auth: {token}` or the `Authorization` header.
async fn authenticate_socket(
    socket: SocketRef,
    TryData(auth): TryData<Value>,
    State(state): State<AppState>,
) -> Result<(), HandshakeError> {
    let auth_data = auth.ok();
    let from_auth = auth_data
        .as_ref()
        .and_then(|auth| auth["token"].as_str().map(str::to_owned));
    let token = from_auth
        .or_else(|| bearer_token(&socket.req_parts().headers).map(str::to_owned))
        .ok_or(HandshakeError::NoToken)?;
    let auth = authenticate(&state, &token)
        .await
        .map_err(|err| match err {
            crate::error::ApiError::Unavailable(_) | crate::error::ApiError::Internal(_) => {
                tracing::warn!(error = %err, "could not check a Socket.io token");
                HandshakeError::Unavailable
            }
            _ => HandshakeError::BadToken,
        })?;
    let user = match state.store.get_user(auth.user_id).await {
        Ok(Some(user)) => user,
        Ok(None) => return Err(HandshakeError::BadToken),
        Err(err) => {
            tracing::warn!(error = %err, "could not load a Socket.io user");
            return Err(HandshakeError::Unavailable);
        }
    };
    // The event handlers are registered here, in the middleware, which socketioxide awaits
    // before it answers the client's CONNECT. Its connect handler, by contrast, is spawned
    // as a task after the answer: a client's first event (a `join` right after `connect`)
    // could beat it and find no handler, and be lost.
    let sio = register(&socket, &state, &auth, &user)?;
    // A logout between the token check and the registration above would have missed this
    // connection: now that logouts reach it, look again (as /ws does).
    match state.store.get_session(&auth.session_id).await {
        Ok(Some(session)) if session.is_active(chrono::Utc::now()) => {}
        Ok(_) => return Err(HandshakeError::BadToken),
        Err(err) => {
            tracing::warn!(error = %err, "could not re-check a Socket.io session");
            return Err(HandshakeError::Unavailable);
        }
    }
    // The replaced servers broadcast to everyone connected: a client that only listens
    // hears `general` from the start (SPEC §4), unless it asks not to.
    if state.socketio.join_general && !opted_out_of_general(&auth_data) {
        let general = ClientFrame::Join {
            room: crate::domain::RoomName::GENERAL.to_owned(),
            since: None,
        };
        // A refusal (the room cap, a failing store) is told to the client as an `error`.
        let _ = handle(&sio, general).await;
    }
    Ok(())
}

/// Whether the handshake's `auth` says `join_general: false`.
fn opted_out_of_general(auth: &Option<Value>) -> bool {
    auth.as_ref()
        .and_then(|auth| auth.get("join_general"))
        .and_then(Value::as_bool)
        == Some(false)
}

/// An ack callback waiting for the reply that answers it, with the number its handler
/// knows it by (to take it back and answer it with the error, should the command fail).
pub(crate) type Waiting = (u64, AckSender);

/// Ack callbacks waiting for the reply that answers them.
#[derive(Default)]
pub(crate) struct PendingAcks {
    joins: HashMap<String, Vec<Waiting>>,
    leaves: HashMap<String, Vec<Waiting>>,
    /// By the client_id the session saw: the ack, and the client_id the client gave.
    sends: HashMap<String, (Option<AckSender>, Option<String>)>,
    /// Keys of legacy `send-chat-message` sends whose message must not come back to this
    /// socket: the replaced servers sent it to the *other* users only.
    no_echo: HashSet<String>,
}

/// One Socket.io connection.
struct SioConn {
    /// Serialises the effects of this socket's events.
    session: tokio::sync::Mutex<Session>,
    conn: ConnHandle,
    pending: Mutex<PendingAcks>,
    /// Numbers the sends that came without a client_id, to match their acks, and the
    /// join and leave acks.
    sends: std::sync::atomic::AtomicU64,
    socket_id: String,
}

impl SioConn {
    fn pending(&self) -> std::sync::MutexGuard<'_, PendingAcks> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What the middleware prepared and the connect handler starts: the connection's queue
/// and the socket's session, for the writer task.
type Prepared = Arc<Mutex<Option<(Outbound, Arc<SioConn>, Expiry)>>>;

/// When the connection's token expires.
type Expiry = chrono::DateTime<chrono::Utc>;

/// Registers the socket as a hub connection with its session and event handlers; the
/// writer starts in [`on_connect`], once the client has been told it is connected.
fn register(
    socket: &SocketRef,
    state: &AppState,
    auth: &AuthUser,
    user: &UserRecord,
) -> Result<Arc<SioConn>, HandshakeError> {
    let conn_user = ConnUser {
        id: user.id,
        username: user.username.clone(),
        session_id: auth.session_id.clone(),
    };
    let (conn, outbound) = state.chat.hub().connect(
        conn_user.clone(),
        state.chat.limits().max_connections_per_user,
    )?;
    conn.send(HubEvent::new(crate::wire::ready(user)));
    let sio = Arc::new(SioConn {
        session: tokio::sync::Mutex::new(Session::new(state.chat.clone(), conn.clone(), conn_user)),
        conn: conn.clone(),
        pending: Mutex::default(),
        sends: std::sync::atomic::AtomicU64::new(0),
        socket_id: socket.id.to_string(),
    });
    events::register(socket, &sio);
    socket.on_disconnect(move |reason: DisconnectReason| {
        let conn = conn.clone();
        async move {
            tracing::debug!(conn = conn.id().0, ?reason, "socket.io client disconnected");
            conn.close(CloseReason::Gone);
        }
    });
    let prepared: Prepared = Arc::new(Mutex::new(Some((outbound, sio.clone(), auth.expires_at))));
    socket.extensions.insert(prepared);
    Ok(sio)
}

async fn on_connect(socket: SocketRef, State(state): State<AppState>) {
    let prepared = socket.extensions.get::<Prepared>().and_then(|prepared| {
        prepared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    });
    let Some((outbound, sio, expires_at)) = prepared else {
        tracing::error!("a Socket.io socket connected without its session; disconnecting it");
        let _ = socket.disconnect();
        return;
    };
    if state.chat.stop_reading().is_cancelled() {
        sio.conn.close(CloseReason::GoingAway);
    }
    let tracker = state.connections.clone();
    tracker.spawn(write(
        socket,
        outbound,
        sio,
        expires_at,
        state.metrics.clone(),
    ));
}

/// Drains the connection's queue into Socket.io emits and ack callbacks, until the
/// connection closes or its token expires (as a `/ws` connection does, with 1008).
async fn write(
    socket: SocketRef,
    mut outbound: Outbound,
    sio: Arc<SioConn>,
    expires_at: Expiry,
    metrics: Arc<Metrics>,
) {
    let _open = OpenConnection::new(&metrics, Transport::SocketIo);
    let remaining = (expires_at - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    let expiry = tokio::time::sleep(remaining);
    tokio::pin!(expiry);
    loop {
        tokio::select! {
            biased;
            () = sio.conn.closed() => break,
            () = &mut expiry => {
                tracing::debug!(conn = sio.conn.id().0, "socket.io token expired");
                sio.conn.close(CloseReason::TokenExpired);
                break;
            }
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
    // Dropping the last handle on the session unregisters the connection from the hub.
    drop(sio);
}

/// Emits an event; `false` if socketioxide could not take it (its buffer is full or the
/// socket is closing).
fn emit(socket: &SocketRef, event: &'static str, payload: &impl serde::Serialize) -> bool {
    match socket.emit(event, payload) {
        Ok(()) => true,
        Err(err) => {
            tracing::debug!(%event, error = %err, "socket.io emit failed");
            false
        }
    }
}

/// One server frame, as Socket.io clients expect it (SPEC §4). A frame that cannot be
/// handed on is never dropped quietly: the client is disconnected as too slow, and resumes
/// with `since` like any reconnecting client.
fn deliver(socket: &SocketRef, sio: &SioConn, event: &HubEvent) {
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

fn deliver_frame(socket: &SocketRef, sio: &SioConn, event: &HubEvent) -> bool {
    if event.message_id().is_some() && !sio.pending().no_echo.is_empty() {
        // Decoded only while a legacy send of this socket is on its way.
        if let ServerFrame::Message(message) = event.decode()
            && let Some(key) = &message.client_id
            && sio.pending().no_echo.remove(key)
        {
            return true;
        }
    }
    if event.message_id().is_some() {
        let argument = event.prepared(|json| match serde_json::from_slice::<ServerFrame>(json) {
            Ok(ServerFrame::Message(message)) => serde_json::value::to_raw_value(&message)
                .map(|raw| SharedArgument(Arc::from(raw)))
                .ok(),
            _ => None,
        });
        if let Some(argument) = argument {
            return emit(socket, "chat-message", &argument);
        }
        // No shared form (it could not be made): the message is emitted from its decoded
        // frame below, for this receiver alone.
    }
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
        ServerFrame::History { .. } => emit(socket, "history", &frame),
        ServerFrame::Ready { user } => emit(socket, "ready", user),
        ServerFrame::Pong => emit(socket, "pong", &json!({})),
        ServerFrame::Joined { room, .. } => {
            let ack = take(&mut sio.pending().joins, room);
            match ack {
                Some(ack) => send_ack(ack, &frame),
                None => emit(socket, "joined", &frame),
            }
        }
        ServerFrame::Left { room } => {
            let ack = take(&mut sio.pending().leaves, room);
            match ack {
                Some(ack) => send_ack(ack, &frame),
                None => emit(socket, "left", &frame),
            }
        }
        ServerFrame::Ack {
            id,
            client_id,
            room,
        } => {
            let pending = client_id
                .as_ref()
                .and_then(|key| sio.pending().sends.remove(key));
            match pending {
                Some((Some(ack), given)) => {
                    send_ack(ack, &json!({"id": id, "client_id": given, "room": room}))
                }
                Some((None, _)) => true,
                None => emit(socket, "ack", &frame),
            }
        }
        ServerFrame::Error {
            code,
            message,
            client_id,
            ..
        } => {
            let pending = client_id.as_ref().and_then(|key| {
                let mut pending = sio.pending();
                pending.no_echo.remove(key);
                pending.sends.remove(key)
            });
            let given = match &pending {
                Some((_, given)) => given.clone(),
                None => client_id.clone(),
            };
            let body = json!({"code": code, "message": message, "client_id": given});
            let acked = match pending {
                Some((Some(ack), _)) => send_ack(ack, &json!({"error": body})),
                _ => true,
            };
            emit(socket, "error", &body) && acked
        }
    }
}

/// The oldest ack waiting for the room's reply.
fn take(waiting: &mut HashMap<String, Vec<Waiting>>, room: &str) -> Option<AckSender> {
    take_at(waiting, room, |_| Some(0))
}

/// Takes back the ack numbered `number`, if no reply has taken it yet.
fn take_back(
    waiting: &mut HashMap<String, Vec<Waiting>>,
    room: &str,
    number: u64,
) -> Option<AckSender> {
    take_at(waiting, room, |acks| {
        acks.iter().position(|(n, _)| *n == number)
    })
}

/// Removes the ack `pick` chooses among the room's, forgetting the room once none waits.
fn take_at(
    waiting: &mut HashMap<String, Vec<Waiting>>,
    room: &str,
    pick: impl FnOnce(&[Waiting]) -> Option<usize>,
) -> Option<AckSender> {
    let acks = waiting.get_mut(room)?;
    let ack = pick(acks)
        .filter(|&index| index < acks.len())
        .map(|index| acks.remove(index).1);
    if acks.is_empty() {
        waiting.remove(room);
    }
    ack
}

/// The error an ack callback gets, in the shape of the `error` event.
fn error_reply(err: &crate::chat::ChatError) -> Value {
    json!({"error": {"code": err.code(), "message": err.to_string()}})
}

fn send_ack(ack: AckSender, payload: &impl serde::Serialize) -> bool {
    match ack.send(payload) {
        Ok(()) => true,
        Err(err) => {
            tracing::debug!(error = %err, "socket.io ack failed");
            false
        }
    }
}

/// Hands a frame to the session, in this socket's order of arrival at the lock.
///
/// # Errors
/// The refusal, already sent to the client as an `error` event.
async fn handle(sio: &SioConn, frame: ClientFrame) -> Result<(), crate::chat::ChatError> {
    sio.session.lock().await.handle(frame).await
}

/// The unknown-event answer.
async fn unknown_event(socket: SocketRef, Event(event): Event) {
    emit(
        &socket,
        "error",
        &json!({"code": "bad_request", "message": format!("unknown event '{event}'")}),
    );
}
