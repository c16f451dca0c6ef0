//! Which web pages may open a socket here: a browser sends its cookies and tokens with an
//! upgrade from any site, so `/ws` and the Socket.io handshake refuse pages of other origins
//! unless they are configured (`--allowed-origins`).

use axum::http::{HeaderMap, header};

use crate::error::ApiError;

/// Refuses upgrades from pages of other sites, so they cannot ride a user's session. A
/// request without `Origin` is not from a browser page and passes.
///
/// # Errors
/// 403 `forbidden` for a foreign origin.
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
