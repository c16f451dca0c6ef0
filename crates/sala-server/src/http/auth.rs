//! Authentication at the HTTP edge: the `Authorization: Bearer` header, and [`AuthUser`]
//! as an axum extractor, so a protected handler takes it as an argument and a request
//! without a good token never reaches it (401 `unauthorized`). `/ws` and Socket.io read the
//! same header with [`bearer_token`]; what makes a token good is [`crate::auth::session`].

use axum::extract::{FromRef, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::AppState;
use crate::auth::session::AuthUser;
use crate::error::ApiError;

impl<S> FromRequestParts<S> for AuthUser
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let token = bearer_token(&parts.headers).ok_or(ApiError::Unauthorized)?;
        Ok(AppState::from_ref(state).authenticate(token).await?)
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
