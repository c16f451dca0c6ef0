//! From a token to a user: the signature and expiry must hold, and the session named by
//! `jti` must still be live in the store (not revoked by logout, not expired, same user).
//! A user deleted since login has no sessions left (they cascade), so their tokens fail too.

use chrono::{DateTime, Utc};

use crate::error::ApiError;
use crate::state::AppState;

/// An authenticated caller: whose session, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser {
    pub user_id: i64,
    pub session_id: String,
    pub expires_at: DateTime<Utc>,
}

/// Checks a bearer token completely.
///
/// # Errors
/// `Unauthorized` for any defect; `Unavailable`/`Internal` when the store fails.
pub async fn authenticate(state: &AppState, token: &str) -> Result<AuthUser, ApiError> {
    let claims = state.tokens.verify(token).map_err(|err| {
        tracing::debug!(error = %err, "bearer token refused");
        ApiError::Unauthorized
    })?;
    let user_id: i64 = claims.sub.parse().map_err(|_| ApiError::Unauthorized)?;
    let session = state
        .store
        .get_session(&claims.jti)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if session.user_id != user_id || !session.is_active(Utc::now()) {
        tracing::debug!(session = %session.id, "token of an ended session refused");
        return Err(ApiError::Unauthorized);
    }
    Ok(AuthUser {
        user_id,
        session_id: session.id,
        expires_at: session.expires_at,
    })
}
