//! `GET /ws` (SPEC §3): the plain WebSocket transport.
//!
//! This module owns sockets only: authenticating the upgrade, reading frames into a
//! [`Client`](crate::chat::Client), and writing the connection's queue out. What a frame
//! means is the chat layer's business; who receives what is the hub's.

pub mod connection;

use std::time::Duration;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{FromRef, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::error::ApiError;
use crate::http::AppState;
use crate::http::auth::bearer_token;
use crate::http::origin::check_origin;

/// Largest frame or message a client may send (SPEC §3: close 1009 beyond it).
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// Bytes read from a socket at a time, on both transports. Chat frames are a few hundred
/// bytes; a larger frame is read in several pieces. 4 KiB cost an idle connection 3 KiB
/// more (docs/benchmarks.md, the idle scenario), and the rooms rate did not move.
pub(crate) const READ_BUFFER_BYTES: usize = 1024;

/// Timings of the transport, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct WsSettings {
    /// How long a client without an `Authorization` header has to send its `auth` frame.
    pub auth_timeout: Duration,
    /// A connection silent this long (not even a pong) is dropped.
    pub idle_timeout: Duration,
    /// How often the server pings.
    pub ping_interval: Duration,
    /// A write that makes no progress this long closes the connection as too slow (1013).
    pub write_timeout: Duration,
}

/// What the upgrade handler extracts: the node's state and this transport's settings.
#[derive(Clone)]
struct WsState {
    app: AppState,
    settings: WsSettings,
}

impl FromRef<WsState> for AppState {
    fn from_ref(state: &WsState) -> Self {
        state.app.clone()
    }
}

impl FromRef<WsState> for WsSettings {
    fn from_ref(state: &WsState) -> Self {
        state.settings
    }
}

/// The `/ws` route, with its state, to merge into a node's router.
pub fn routes<S: Clone + Send + Sync + 'static>(app: AppState, settings: WsSettings) -> Router<S> {
    Router::new()
        .route("/ws", get(upgrade))
        .with_state(WsState { app, settings })
}

/// Upgrades to a WebSocket. A bearer token in the header is checked first: a bad one gets
/// 401 and no upgrade. Without one, the client must send an `auth` frame.
async fn upgrade(
    State(state): State<AppState>,
    State(settings): State<WsSettings>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return ApiError::BadRequest(rejection.body_text()).into_response(),
    };
    if let Err(err) = check_origin(&headers, &state.allowed_origins) {
        return err.into_response();
    }
    let auth = match bearer_token(&headers) {
        Some(token) => match state.authenticate(token).await {
            Ok(auth) => Some(auth),
            Err(err) => return ApiError::from(err).into_response(),
        },
        None => None,
    };
    let tracker = state.connections.clone();
    upgrade
        // Client frames are small; tungstenite's default 128 KiB read buffer per connection
        // would be most of an idle connection's memory. Larger frames still assemble fine.
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_failed_upgrade(|err| tracing::debug!(error = %err, "websocket upgrade failed"))
        .on_upgrade(move |socket| {
            tracker.track_future(connection::run(socket, state, settings, auth))
        })
}
