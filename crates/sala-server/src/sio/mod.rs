//! Socket.io at `/socket.io/` (SPEC §4): the second transport, built on socketioxide, so
//! existing socket.io 4.x clients connect unchanged.
//!
//! Like `/ws`, each socket is a connection in the hub with one bounded outbound queue, and
//! its events become `ClientFrame`s for a chat [`Client`](crate::chat::Client): a Socket.io client and a `/ws`
//! client in one room see each other. This module admits a socket (the handshake); the
//! rest only moves events:
//!
//! - [`events`]: each event decoded into a request, queued in the order it arrived;
//! - [`requests`]: one task per socket applies them, numbered, and keeps the ack callbacks
//!   waiting for the replies that answer them;
//! - [`writer`]: the connection's queue out as emits, and replies into their callbacks;
//! - [`emit`]: the two ways anything reaches a client, an event or an ack callback.

mod emit;
pub(crate) mod events;
mod requests;
mod writer;

use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::Request as HttpRequest;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sala_proto::error::ErrorCode;
use sala_proto::frames::ClientFrame;
use serde_json::{Value, json};
use socketioxide::SocketIo;
use socketioxide::extract::{SocketRef, State, TryData};
use socketioxide::handler::ConnectHandler as _;
use socketioxide::layer::SocketIoLayer;
use socketioxide::socket::DisconnectReason;

use tokio::sync::mpsc;

use crate::auth::session::{AuthError, AuthUser};
use crate::chat::admission::{AdmissionError, Admitted};
use crate::cluster::hub::{CloseReason, ConnHandle, Outbound};
use crate::http::AppState;
use crate::http::auth::bearer_token;
use crate::http::origin::check_origin;
use requests::{Answers, Echo, Request};

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
    /// How long an Engine.IO session may stay without authenticating (the `/ws` auth
    /// timeout).
    pub auth_timeout: std::time::Duration,
}

/// The layer that serves `/socket.io/`, wired to the node's state.
pub fn layer(state: AppState, settings: SocketIoSettings) -> SocketIoLayer {
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
        .connect_timeout(settings.auth_timeout)
        .ping_interval(settings.ping_interval)
        .ping_timeout(settings.ping_timeout)
        .with_state(state)
        .with_state(settings)
        .build_layer();
    io.ns("/", on_connect.with(authenticate_socket));
    layer
}

/// Admits Socket.io requests: refuses the handshake from pages of other origins, as `/ws`
/// does, and caps the new Engine.IO sessions (requests without a `sid`) each client address
/// may open per minute (`--socketio-sessions-per-minute`). A session lives at most the auth
/// timeout before it authenticates, so together they bound the unauthenticated sessions an
/// address can hold. The request goes on with only the headers read later (see
/// [`kept_head`]).
pub async fn admit(
    axum::extract::State(state): axum::extract::State<AppState>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    request: HttpRequest,
    next: Next,
) -> Response {
    if !request.uri().path().starts_with("/socket.io") {
        return next.run(request).await;
    }
    if let Err(err) = check_origin(request.headers(), &state.allowed_origins) {
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
    let (head, body) = request.into_parts();
    next.run(HttpRequest::from_parts(kept_head(head), body))
        .await
}

/// The headers anything reads after [`admit`]: the token (the handshake may carry it as a
/// header), a polling request's body type, and the WebSocket key the engine answers.
const KEPT_HEADERS: [axum::http::HeaderName; 3] = [
    axum::http::header::AUTHORIZATION,
    axum::http::header::CONTENT_TYPE,
    axum::http::header::SEC_WEBSOCKET_KEY,
];

/// The request's head with a fresh copy of its URI and of [`KEPT_HEADERS`], no other
/// headers, and without axum's copy of the URI as it came.
///
/// The engine keeps the head of the request that opened a session for the session's life.
/// hyper parses the path and the header values as slices of its 8 KiB read buffer, so any
/// one of them (axum's `OriginalUri` too) kept the whole buffer: 8 KiB of the 44 KiB of
/// heap an idle Socket.io connection held (heaptrack, docs/benchmarks.md). Copies are
/// allocations of their own.
fn kept_head(mut head: axum::http::request::Parts) -> axum::http::request::Parts {
    head.extensions.remove::<axum::extract::OriginalUri>();
    // Parsing what was a valid URI cannot fail; if it did, the original stays.
    if let Ok(uri) = head.uri.to_string().parse() {
        head.uri = uri;
    }
    let mut kept = axum::http::HeaderMap::with_capacity(KEPT_HEADERS.len());
    for name in KEPT_HEADERS {
        for value in head.headers.get_all(&name) {
            // From bytes a valid value already has: it cannot fail.
            if let Ok(mut copy) = axum::http::HeaderValue::from_bytes(value.as_bytes()) {
                copy.set_sensitive(value.is_sensitive());
                kept.append(name.clone(), copy);
            }
        }
    }
    head.headers = kept;
    head
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
    TooManyConnections(#[from] crate::cluster::hub::TooManyConnections),
}

/// Connect middleware: the token from `auth: {token}` or the `Authorization` header.
async fn authenticate_socket(
    socket: SocketRef,
    TryData(auth): TryData<Value>,
    State(state): State<AppState>,
    State(settings): State<SocketIoSettings>,
) -> Result<(), HandshakeError> {
    let auth_data = auth.ok();
    let from_auth = auth_data
        .as_ref()
        .and_then(|auth| auth["token"].as_str().map(str::to_owned));
    let token = from_auth
        .or_else(|| bearer_token(&socket.req_parts().headers).map(str::to_owned))
        .ok_or(HandshakeError::NoToken)?;
    let auth = state.authenticate(&token).await.map_err(|err| match err {
        AuthError::Store(_) => {
            tracing::warn!(error = %err, "could not check a Socket.io token");
            HandshakeError::Unavailable
        }
        AuthError::Refused => HandshakeError::BadToken,
    })?;
    // The event handlers are registered here, in the middleware, which socketioxide awaits
    // before it answers the client's CONNECT. Its connect handler, by contrast, is spawned
    // as a task after the answer: a client's first event (a `join` right after `connect`)
    // could beat it and find no handler, and be lost.
    let sio = register(&socket, &state, &auth).await?;
    // The replaced servers broadcast to everyone connected: a client that only listens
    // hears `general` from the start (SPEC §4), unless it asks not to.
    if settings.join_general && !opted_out_of_general(&auth_data) {
        let general = Request {
            frame: ClientFrame::Join {
                room: crate::domain::RoomName::GENERAL.to_owned(),
                since: None,
            },
            ack: None,
            echo: Echo::ToSender,
        };
        // The socket's first request; a refusal (the room cap, a failing store) is told
        // to the client as an `error`.
        sio.queue(&socket, general);
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

/// One Socket.io connection, as its event handlers and its writer share it.
struct SioConn {
    conn: ConnHandle,
    /// Into the socket's request task ([`requests::serve`]); bounded. Boxed: a channel
    /// allocates its first block of 32 slots when it is made, and each idle socket held
    /// 32 requests' worth (3.8 KiB) of it unboxed; 256 bytes boxed.
    requests: mpsc::Sender<Box<Request>>,
    /// The ack callbacks waiting for their replies. A std mutex: taken for a map lookup,
    /// never across an await.
    answers: Mutex<Answers>,
}

impl SioConn {
    fn answers(&self) -> std::sync::MutexGuard<'_, Answers> {
        self.answers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a request for the socket's request task. A client with more requests
    /// waiting than [`requests::QUEUE_CAPACITY`] is refused this one, as `rate_limited`.
    fn queue(&self, socket: &SocketRef, request: Request) {
        match self.requests.try_send(Box::new(request)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(request)) => {
                let body = json!({
                    "code": ErrorCode::RateLimited,
                    "message": "too many requests waiting; slow down",
                });
                if let Some(ack) = request.ack {
                    emit::send_ack(ack, &json!({"error": body}));
                }
                emit::emit(socket, "error", &body);
            }
            // The connection is closing; nothing will answer.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

/// What the middleware prepared and the connect handler starts: the connection's queue
/// and the socket's chat client, for the writer task.
type Prepared = Arc<Mutex<Option<(Outbound, Arc<SioConn>)>>>;

/// Admits the socket as a chat connection, starts its request task and registers its
/// event handlers; the writer starts in [`on_connect`], once the client has been told it
/// is connected.
async fn register(
    socket: &SocketRef,
    state: &AppState,
    auth: &AuthUser,
) -> Result<Arc<SioConn>, HandshakeError> {
    let Admitted { client, outbound } = state.chat.admit(auth).await.map_err(|err| match err {
        AdmissionError::NoSuchUser | AdmissionError::LoggedOut => HandshakeError::BadToken,
        AdmissionError::TooManyConnections(err) => HandshakeError::TooManyConnections(err),
        AdmissionError::Unavailable => HandshakeError::Unavailable,
    })?;
    let conn = client.conn().clone();
    let (requests, queued) = mpsc::channel(requests::QUEUE_CAPACITY);
    let sio = Arc::new(SioConn {
        conn: conn.clone(),
        requests,
        answers: Mutex::default(),
    });
    state.connections.spawn(requests::serve(
        client,
        queued,
        sio.clone(),
        state.chat.stop_reading().clone(),
    ));
    socket.extensions.insert(sio.clone());
    events::register(socket);
    socket.on_disconnect(move |reason: DisconnectReason| {
        let conn = conn.clone();
        async move {
            tracing::debug!(conn = conn.id().0, ?reason, "socket.io client disconnected");
            conn.close(CloseReason::Gone);
        }
    });
    let prepared: Prepared = Arc::new(Mutex::new(Some((outbound, sio.clone()))));
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
    let Some((outbound, sio)) = prepared else {
        tracing::error!("a Socket.io socket connected without its session; disconnecting it");
        let _ = socket.disconnect();
        return;
    };
    if state.chat.stop_reading().is_cancelled() {
        sio.conn.close(CloseReason::GoingAway);
    }
    let tracker = state.connections.clone();
    tracker.spawn(writer::write(socket, outbound, sio, state.metrics.clone()));
}
