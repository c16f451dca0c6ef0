//! `ChatError`: a command that failed. It is answered with an `error` frame carrying the
//! same codes as the HTTP API, and the connection stays open (SPEC §3).

use std::sync::Arc;

use sala_proto::error::ErrorCode;
use sala_proto::frames::ServerFrame;
use sala_store::StoreError;

use crate::cluster::hub::Event;
use crate::domain::ValidationError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ChatError {
    /// Malformed JSON, an unknown type, a missing field.
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    /// The room exists but this connection has not joined it.
    #[error("join the room '{0}' first")]
    NotMember(String),
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("too many messages; slow down")]
    RateLimited,
    /// A resource cap (rooms per connection, connections per user); the message names it.
    #[error("{0}")]
    LimitReached(String),
    /// Storage cannot be written; nothing was stored.
    #[error("the service is temporarily unavailable; nothing was stored")]
    Unavailable,
    /// The user may not do this here (a DM whose other member blocked them).
    #[error("{0}")]
    Forbidden(String),
    #[error("internal server error")]
    Internal,
}

impl ChatError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest(_) => ErrorCode::BadRequest,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::NotMember(_) => ErrorCode::NotMember,
            Self::Invalid(_) => ErrorCode::Invalid,
            Self::RateLimited => ErrorCode::RateLimited,
            Self::LimitReached(_) => ErrorCode::LimitReached,
            Self::Unavailable => ErrorCode::Unavailable,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::Internal => ErrorCode::Internal,
        }
    }

    pub fn to_event(&self) -> Arc<Event> {
        self.to_event_for(None, None)
    }

    /// The error of one `send`, naming its room and `client_id` so the client knows which
    /// message failed (acks and errors of pipelined sends may arrive in any order).
    pub fn to_event_for(&self, room: Option<&str>, client_id: Option<&str>) -> Arc<Event> {
        Event::new(ServerFrame::Error {
            code: self.code(),
            message: self.to_string(),
            room: room.map(str::to_owned),
            client_id: client_id.map(str::to_owned),
        })
    }
}

impl From<StoreError> for ChatError {
    /// Store failures are logged here, where their cause is dropped.
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => Self::NotFound("not found".into()),
            StoreError::Conflict(_) => Self::BadRequest("conflicting request".into()),
            StoreError::Unavailable(_) => {
                tracing::warn!(error = ?anyhow::Error::from(err), "storage unavailable");
                Self::Unavailable
            }
            StoreError::Backend(_) => {
                tracing::error!(error = ?anyhow::Error::from(err), "storage failed");
                Self::Internal
            }
        }
    }
}

impl From<sala_store::WriteRefusal> for ChatError {
    fn from(refusal: sala_store::WriteRefusal) -> Self {
        use sala_store::WriteRefusal;
        match refusal {
            WriteRefusal::NoSuchMessage => Self::NotFound(refusal.to_string()),
            WriteRefusal::NotAuthor | WriteRefusal::EditWindowClosed => {
                Self::Forbidden(refusal.to_string())
            }
            WriteRefusal::TooManyReactions => Self::Invalid(ValidationError::new(
                "emoji",
                "is one too many: a message has at most 20 different reactions",
            )),
            WriteRefusal::NoSuchFile => Self::Invalid(ValidationError::new(
                "attachments",
                "must be files you uploaded to this room and have not sent yet",
            )),
        }
    }
}
