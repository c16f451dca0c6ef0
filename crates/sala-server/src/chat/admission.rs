//! Admission: what turns an authenticated token into a chat connection, the same for every
//! transport. The user is loaded, the connection registered in the hub under the per-user
//! cap, `ready` queued as its first frame, and the login session checked once more now that
//! a logout would reach the connection. Then the connection's lifetime is the token's: it
//! is closed when the token expires. A transport authenticates, calls [`Chat::admit`], and
//! is left with socket work only: reading frames into the [`Client`], writing its queue.

use chrono::Utc;

use super::{Chat, ChatError, Client};
use crate::auth::session::AuthUser;
use crate::cluster::hub::{CloseReason, ConnHandle, ConnUser, Event, Outbound, TooManyConnections};

/// Why a connection with a valid token was not admitted.
#[derive(Debug, thiserror::Error)]
pub enum AdmissionError {
    /// The token's user was deleted.
    #[error("no such user")]
    NoSuchUser,
    #[error(transparent)]
    TooManyConnections(#[from] TooManyConnections),
    /// The login session ended while the connection was being admitted.
    #[error("logged out")]
    LoggedOut,
    /// The store could not be asked.
    #[error("the service is temporarily unavailable")]
    Unavailable,
}

impl AdmissionError {
    /// The refusal as an `error` frame can tell it.
    pub fn to_chat_error(&self) -> ChatError {
        match self {
            Self::NoSuchUser | Self::LoggedOut => {
                ChatError::BadRequest("invalid, expired or revoked token".into())
            }
            Self::TooManyConnections(err) => ChatError::LimitReached(err.to_string()),
            Self::Unavailable => ChatError::Unavailable,
        }
    }
}

/// A connection admitted to chat: its chat client, and the queue the transport writes out
/// (`ready` first).
pub struct Admitted {
    pub client: Client,
    pub outbound: Outbound,
}

impl Chat {
    /// Admits a connection authenticated as `auth`.
    ///
    /// # Errors
    /// The user gone, the per-user cap reached, a logout meanwhile, or the store failing.
    /// A refused connection is not registered.
    pub async fn admit(&self, auth: &AuthUser) -> Result<Admitted, AdmissionError> {
        let user = match self.store().get_user(auth.user_id).await {
            Ok(Some(user)) => user,
            Ok(None) => return Err(AdmissionError::NoSuchUser),
            Err(err) => {
                tracing::warn!(error = %err, "could not load a connecting user");
                return Err(AdmissionError::Unavailable);
            }
        };
        let conn_user = ConnUser {
            id: user.id,
            username: user.username.clone(),
            session_id: auth.session_id.clone(),
        };
        let cap = self.limits().max_connections_per_user;
        let (conn, outbound) = self.hub().connect(conn_user.clone(), cap).map_err(|err| {
            let refused = AdmissionError::from(err);
            self.metrics().count_error(refused.to_chat_error().code());
            refused
        })?;
        // The queue is empty, so `ready` is the first frame out.
        conn.send(Event::new(crate::wire::ready(&user)));
        // Dropping the client unregisters the connection, on every path below.
        let client = Client::new(self.clone(), conn.clone(), conn_user);
        // A logout between the token check and the registration above would have missed
        // this connection: now that logouts reach it, look again.
        match self.store().get_session(&auth.session_id).await {
            Ok(Some(login)) if login.is_active(Utc::now()) => {}
            Ok(_) => return Err(AdmissionError::LoggedOut),
            Err(err) => {
                tracing::warn!(error = %err, "could not re-check a connecting session");
                return Err(AdmissionError::Unavailable);
            }
        }
        close_at_expiry(conn, auth.expires_at);
        Ok(Admitted { client, outbound })
    }
}

/// Closes the connection when its token expires (1008 on `/ws`, a disconnect on
/// Socket.io), unless it has closed before. The task ends with the connection.
fn close_at_expiry(conn: ConnHandle, expires_at: chrono::DateTime<Utc>) {
    let remaining = (expires_at - Utc::now()).to_std().unwrap_or_default();
    tokio::spawn(async move {
        tokio::select! {
            () = conn.closed() => {}
            () = tokio::time::sleep(remaining) => {
                tracing::debug!(conn = conn.id().0, "token expired; closing the connection");
                conn.close(CloseReason::TokenExpired);
            }
        }
    });
}
