//! The single error body of SPEC §2, `{"error": {"code", "message"}}`, and the codes every
//! transport uses in it, in the `/ws` `error` frame and in Socket.io error payloads.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The machine-readable reason of a failure, the same over HTTP, `/ws` and Socket.io.
/// Serialised in `snake_case`: `not_member`, `rate_limited`, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Malformed JSON, an unknown frame type or event, a missing field.
    BadRequest,
    /// No valid token.
    Unauthorized,
    /// A wrong username or password at login.
    InvalidCredentials,
    /// Not allowed (a page of another origin, a role without the right).
    Forbidden,
    NotFound,
    /// The room exists but the connection has not joined it.
    NotMember,
    MethodNotAllowed,
    /// A name or email that is taken.
    Conflict,
    PayloadTooLarge,
    HeadersTooLarge,
    UnsupportedMediaType,
    /// A field breaks its rule; the message names the field.
    Invalid,
    RateLimited,
    /// A resource cap: rooms per connection, connections per user.
    LimitReached,
    /// Storage cannot be written now; nothing was stored.
    Unavailable,
    /// The request took longer than its limit (an upload sent too slowly).
    Timeout,
    Internal,
    /// A code this build does not know (a newer server); clients treat it as a failure.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The code as it is written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::Unauthorized => "unauthorized",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::NotMember => "not_member",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::HeadersTooLarge => "headers_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Invalid => "invalid",
            Self::RateLimited => "rate_limited",
            Self::LimitReached => "limit_reached",
            Self::Unavailable => "unavailable",
            Self::Timeout => "timeout",
            Self::Internal => "internal",
            Self::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What every failed HTTP request answers, whatever the status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// A machine-readable code (`snake_case`) and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    #[schema(example = "username must be 3 to 32 characters")]
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code,
                message: message.into(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn codes_are_written_as_their_names_and_unknown_ones_are_read() {
        for code in [
            ErrorCode::NotMember,
            ErrorCode::RateLimited,
            ErrorCode::BadRequest,
        ] {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
        }
        let later: ErrorCode = serde_json::from_str("\"a_code_from_a_newer_server\"").unwrap();
        assert_eq!(later, ErrorCode::Unknown);
    }
}
