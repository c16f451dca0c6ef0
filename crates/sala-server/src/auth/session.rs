//! From a token to a user: the signature and expiry must hold, and the session named by
//! `jti` must still be live in the store (not revoked by logout, not expired, same user).
//! A user deleted since login has no sessions left (they cascade), so their tokens fail too.
//!
//! Nothing here knows HTTP or sockets: the HTTP extractor, `/ws` and Socket.io each call
//! [`authenticate`] and say its [`AuthError`] in their own terms.

use chrono::{DateTime, Utc};
use sala_store::{SessionStore, StoreError};

use super::token::TokenKeys;

/// An authenticated caller: whose session, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser {
    pub user_id: i64,
    pub session_id: String,
    pub expires_at: DateTime<Utc>,
}

/// Why a token did not authenticate anyone.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Bad signature, another algorithm, expired, or an ended session: the caller must log
    /// in again. Which defect it was is logged, never told.
    #[error("invalid, expired or revoked token")]
    Refused,
    /// The sessions could not be read; the token may be good.
    #[error("could not check the session")]
    Store(#[from] StoreError),
}

/// Checks a bearer token completely.
///
/// # Errors
/// [`AuthError::Refused`] for any defect of the token or its session;
/// [`AuthError::Store`] when the store fails.
pub async fn authenticate(
    keys: &TokenKeys,
    sessions: &dyn SessionStore,
    token: &str,
) -> Result<AuthUser, AuthError> {
    let claims = keys.verify(token).map_err(|err| {
        tracing::debug!(error = %err, "bearer token refused");
        AuthError::Refused
    })?;
    let user_id: i64 = claims.sub.parse().map_err(|_| AuthError::Refused)?;
    let session = sessions
        .get_session(&claims.jti)
        .await?
        .ok_or(AuthError::Refused)?;
    if session.user_id != user_id || !session.is_active(Utc::now()) {
        tracing::debug!(session = %session.id, "token of an ended session refused");
        return Err(AuthError::Refused);
    }
    Ok(AuthUser {
        user_id,
        session_id: session.id,
        expires_at: session.expires_at,
    })
}
