//! The HTTP surface (SPEC §2): the router, its middleware, and one module per resource.
//!
//! - [`accounts`]: register, login, logout, validate_token, me, status, my rooms.
//! - [`rooms`]: list/search, create, get, history.
//! - [`messages`]: edits, deletions and reactions.
//! - [`people`]: finding users, opening DMs, blocks.
//! - [`files`]: uploads, downloads and the download cookie.
//! - [`moderation`]: invites, kick, ban, mute, roles, the audit record.
//! - [`health`]: the `/healthz` probe.
//! - [`openapi`]: the generated OpenAPI document at `/api/openapi.json`.
//! - [`web`]: the embedded web chat at `/`.
//! - [`extract`]: JSON and query extractors that fail with `ApiError`.
//! - [`auth`]: the bearer token and the `AuthUser` extractor; [`origin`]: which pages may
//!   open sockets. `/ws` and Socket.io use both.
//! - [`state`]: `AppState`, the handles every request may need.
//!
//! The router that puts these routes, `/ws` and `/socket.io/` together is [`crate::app`]'s.
//!
//! Every failure, including unknown routes, wrong methods, oversized bodies and panics,
//! answers in the one JSON error shape.

pub mod accounts;
pub mod auth;
pub mod client_address;
pub mod extract;
pub mod files;
pub mod health;
pub mod listener;
pub mod messages;
pub mod moderation;
pub mod openapi;
pub mod origin;
pub mod people;
pub mod quota;
pub mod rooms;
pub mod search;
pub mod state;
pub mod web;

pub use state::AppState;

use std::any::Any;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use sala_proto::error::ErrorCode;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::error::{ApiError, ErrorCause};

/// Scripts and styles only from this origin (no inline script), sockets only to it, and no
/// framing by other sites.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// Largest request body accepted (SPEC §2: 413 beyond it).
pub const BODY_LIMIT: usize = 16 * 1024;

/// Largest header section accepted (names and values), as nginx's default buffers: 431
/// beyond it. hyper itself refuses a request head over its read buffer (~400 KiB) before
/// any of this runs, so no request can make a node buffer more.
pub const HEADERS_LIMIT: usize = 16 * 1024;

/// Refuses requests whose headers exceed [`HEADERS_LIMIT`], before any route sees them.
pub async fn limit_headers(request: Request, next: Next) -> Response {
    let size: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if size > HEADERS_LIMIT {
        return ApiError::HeadersTooLarge {
            limit: HEADERS_LIMIT,
        }
        .into_response();
    }
    next.run(request).await
}

/// Fallbacks and middleware every route shares. Public so tests can wrap their own routes.
pub fn with_common_layers(router: Router) -> Router {
    router
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(middleware::from_fn(log_server_errors))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(TraceLayer::new_for_http())
}

/// Counts every response by status, and by error code for errors, for `/metrics`.
pub async fn count_responses(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    state.metrics.count_response(response.status().as_u16());
    if let Some(code) = response.extensions().get::<ErrorCode>() {
        state.metrics.count_error(*code);
    }
    response
}

async fn unknown_route() -> ApiError {
    ApiError::NotFound("no such route".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Logs the hidden cause of every 5xx once, with the request it belongs to.
async fn log_server_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    if let Some(ErrorCause(cause)) = response.extensions().get::<ErrorCause>() {
        // The cause chain on one line; `{:?}` would add a backtrace when RUST_BACKTRACE is set,
        // hundreds of lines per failed request while the database is down.
        let error = format!("{cause:#}");
        tracing::error!(%method, %path, status = %response.status(), error, "request failed");
    }
    response
}

/// A panic in a handler becomes a plain 500; what panicked goes to the log only.
fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("non-string panic payload");
    tracing::error!(panic = detail, "handler panicked");
    ApiError::internal(anyhow::anyhow!("handler panicked")).into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use tower::ServiceExt as _;

    #[tokio::test]
    async fn a_panic_is_a_json_500_without_internals() {
        async fn boom() -> &'static str {
            panic!("secret internal detail")
        }
        let app = super::with_common_layers(axum::Router::new().route("/boom", get(boom)));
        let response = app
            .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], "internal");
        assert!(!body.to_string().contains("secret"), "{body}");
    }
}
