//! `ApiError`: every failure a client can see, and the one JSON shape it is sent in (SPEC §2).
//!
//! Handlers and extractors return `ApiError`; nothing else reaches the client. A 5xx never
//! carries internal text: its cause travels in a response extension ([`ErrorCause`]) and
//! is logged once, with its chain, by the middleware in `http`.

use std::sync::Arc;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sala_proto::error::{ErrorBody, ErrorCode};
use sala_store::{ConflictOn, StoreError};

use crate::auth::AuthError;
use crate::domain::ValidationError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed JSON, a missing field, a bad query string.
    #[error("{0}")]
    BadRequest(String),
    /// No token, or one that is forged, expired or revoked.
    #[error("a valid bearer token is required")]
    Unauthorized,
    /// Login failed; the same for an unknown user and a wrong password.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// The request is understood and refused (a foreign `Origin` on a WebSocket upgrade).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// The request's header section is over the limit (431).
    #[error("request headers are larger than {limit} bytes")]
    HeadersTooLarge { limit: usize },
    #[error("expected a JSON body with Content-Type: application/json")]
    UnsupportedMediaType,
    /// A value breaks its rule (SPEC §2: 422 `invalid`).
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// A request that breaks a rule of the room (422 `invalid`): the text says which.
    #[error("{0}")]
    Refused(String),
    #[error("too many attempts; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// A quota is used up (bytes uploaded today): 429 `limit_reached`.
    #[error("{0}")]
    QuotaExceeded(String),
    /// The client sent its request too slowly (408 `timeout`).
    #[error("{0}")]
    Timeout(String),
    /// The database cannot be used right now.
    #[error("the service is temporarily unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// A bug or an unexpected failure.
    #[error("internal server error")]
    Internal(#[source] anyhow::Error),
}

/// The hidden cause of a 5xx, for the logging middleware.
#[derive(Clone)]
pub struct ErrorCause(pub Arc<anyhow::Error>);

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized | Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Invalid(_) | Self::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } | Self::QuotaExceeded(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code clients branch on.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest(_) => ErrorCode::BadRequest,
            Self::Unauthorized => ErrorCode::Unauthorized,
            Self::InvalidCredentials => ErrorCode::InvalidCredentials,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            Self::HeadersTooLarge { .. } => ErrorCode::HeadersTooLarge,
            Self::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            Self::Invalid(_) | Self::Refused(_) => ErrorCode::Invalid,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::QuotaExceeded(_) => ErrorCode::LimitReached,
            Self::Timeout(_) => ErrorCode::Timeout,
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self::Internal(cause.into())
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::Refused => Self::Unauthorized,
            AuthError::Store(err) => err.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => Self::NotFound("not found".into()),
            StoreError::Conflict(ConflictOn::Username) => {
                Self::Conflict("that username is taken".into())
            }
            StoreError::Conflict(ConflictOn::Email) => {
                Self::Conflict("that email is already registered".into())
            }
            StoreError::Conflict(ConflictOn::RoomName) => {
                Self::Conflict("a room with that name exists".into())
            }
            StoreError::Unavailable(_) => Self::Unavailable(err.into()),
            StoreError::Backend(_) => Self::Internal(err.into()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        // Display of 5xx variants is a fixed, generic sentence; the cause stays inside.
        let body = ErrorBody::new(self.code(), self.to_string());
        let mut response = (status, Json(body)).into_response();
        // The code, for the metrics middleware.
        response.extensions_mut().insert(self.code());
        match self {
            Self::RateLimited { retry_after_secs } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            Self::Internal(cause) | Self::Unavailable(cause) => {
                response
                    .extensions_mut()
                    .insert(ErrorCause(Arc::new(cause)));
            }
            _ => {}
        }
        response
    }
}
