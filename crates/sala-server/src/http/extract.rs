//! Extractors that reject with `ApiError`, so malformed input gets the one error shape:
//! bad JSON or a missing field → 400 `bad_request`, a lone surrogate escape → 422 `invalid`,
//! no JSON content type → 415, a body over the limit → 413, a bad query string → 400.

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

use super::BODY_LIMIT;
use crate::domain::{lone_surrogate_error, mark_lone_surrogates};
use crate::error::ApiError;

/// A JSON request body.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        // Read here rather than by axum's `Json`, which keeps the body to itself when it
        // refuses it: a lone surrogate is told apart by looking at the text.
        if !is_json(request.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let body =
            Bytes::from_request(request, state)
                .await
                .map_err(|rejection| match rejection.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => {
                        ApiError::PayloadTooLarge { limit: BODY_LIMIT }
                    }
                    _ => ApiError::BadRequest(rejection.body_text()),
                })?;
        match serde_json::from_slice::<T>(&body) {
            Ok(value) => Ok(Self(value)),
            Err(_)
                if std::str::from_utf8(&body)
                    .ok()
                    .and_then(mark_lone_surrogates)
                    .is_some() =>
            {
                Err(ApiError::Invalid(lone_surrogate_error()))
            }
            Err(err) => Err(ApiError::BadRequest(format!("invalid JSON body: {err}"))),
        }
    }
}

/// Whether the content type is JSON: `application/json`, or a `+json` type, with any
/// parameters (what axum's `Json` accepts).
fn is_json(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Query-string parameters.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(query_error(&rejection)),
        }
    }
}

fn query_error(rejection: &QueryRejection) -> ApiError {
    ApiError::BadRequest(rejection.body_text())
}
