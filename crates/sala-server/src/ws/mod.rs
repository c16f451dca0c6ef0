//! `GET /ws` (SPEC §3): the plain WebSocket transport.
//!
//! This module owns sockets only: authenticating the upgrade, reading frames into a
//! [`Session`](crate::chat::Session), and writing the connection's queue out. What a frame
//! means is the chat layer's business; who receives what is the hub's.

pub mod connection;

use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use crate::auth::extractor::bearer_token;
use crate::auth::session::authenticate;
use crate::error::ApiError;
use crate::state::AppState;

/// Largest frame or message a client may send (SPEC §3: close 1009 beyond it).
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// Bytes read from a socket at a time.
pub(crate) const READ_BUFFER_BYTES: usize = 4 * 1024;

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

/// Refuses upgrades from pages of other sites, so they cannot ride a user's session. A
/// request without `Origin` is not from a browser page and passes.
pub fn check_origin(headers: &HeaderMap, allowed: &[String]) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin
        .to_str()
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_ascii_lowercase();
    // Same origin: the page's host[:port] is the host this request was sent to. Pages of
    // this node always pass; other origins only when configured.
    let host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    let same_origin =
        matches!((origin_host, host), (Some(a), Some(b)) if a == b.to_ascii_lowercase());
    let permitted = same_origin || allowed.contains(&origin);
    if permitted {
        Ok(())
    } else {
        tracing::info!(%origin, "websocket upgrade from a foreign origin refused");
        Err(ApiError::Forbidden(
            "this origin may not open a WebSocket here".into(),
        ))
    }
}

/// Upgrades to a WebSocket. A bearer token in the header is checked first: a bad one gets
/// 401 and no upgrade. Without one, the client must send an `auth` frame.
pub async fn upgrade(
    State(state): State<AppState>,
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
        Some(token) => match authenticate(&state, token).await {
            Ok(auth) => Some(auth),
            Err(err) => return err.into_response(),
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
        .on_upgrade(move |socket| tracker.track_future(connection::run(socket, state, auth)))
}
