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

#[cfg(test)]
mod tests {
    //! Admission on its own, over a real SQLite store: the cases a transport cannot stage
    //! from outside (a logout between the token check and the registration). What each
    //! transport tells its client is tested over real sockets, from one table, in
    //! `tests/sio/main.rs`.

    use std::sync::Arc;
    use std::time::Duration;

    use chrono::{TimeDelta, Utc};
    use sala_store::{NewSession, NewUser, Store};
    use sala_store_sqlite::SqliteStore;

    use super::*;
    use crate::chat::ChatLimits;
    use crate::cluster::Cluster;
    use crate::cluster::hub::{Hub, OutboundLimits};
    use crate::metrics::Metrics;

    struct Fixture {
        chat: Chat,
        store: Arc<dyn Store>,
        /// Removed when dropped: held until the test ends, or the database vanishes.
        _dir: tempfile::TempDir,
    }

    async fn fixture(max_connections_per_user: usize) -> Fixture {
        crate::telemetry::init_for_tests();
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(&dir.path().join("sala.db"))
                .await
                .unwrap(),
        );
        let limits = ChatLimits {
            outbound_queue: 64,
            write_timeout: Duration::from_secs(5),
            sends_per_sec: 100.0,
            send_burst: 100,
            commands_per_sec: 100.0,
            command_burst: 100,
            max_connections_per_user,
            max_rooms_per_connection: 10,
            typing_interval: Duration::from_secs(1),
            assistant_interval: Duration::from_secs(1),
            edit_window: None,
        };
        let hub = Hub::new(OutboundLimits::frames(64));
        let chat = Chat::start(
            store.clone(),
            Cluster::single(hub),
            limits,
            Arc::new(Metrics::new()),
            None,
        );
        Fixture {
            chat,
            store,
            _dir: dir,
        }
    }

    /// A user with a live login session lasting `lasts`, as `authenticate` would return it.
    async fn logged_in(store: &dyn Store, name: &str, lasts: TimeDelta) -> AuthUser {
        let now = Utc::now();
        let user = store
            .create_user(NewUser {
                username: name,
                email: None,
                password_hash: "not a real hash",
                created_at: now,
            })
            .await
            .unwrap();
        let session_id = format!("session-of-{name}");
        let expires_at = now + lasts;
        store
            .create_session(NewSession {
                id: &session_id,
                user_id: user.id,
                created_at: now,
                expires_at,
            })
            .await
            .unwrap();
        AuthUser {
            user_id: user.id,
            session_id,
            expires_at,
        }
    }

    #[tokio::test]
    async fn a_logout_after_the_token_check_is_caught_and_leaves_nothing_registered() {
        let Fixture { chat, store, _dir } = fixture(5).await;
        let auth = logged_in(store.as_ref(), "racer", TimeDelta::hours(1)).await;
        // The token was checked (`auth` exists); the logout lands before the registration.
        assert!(
            store
                .revoke_session(&auth.session_id, Utc::now())
                .await
                .unwrap()
        );
        let refused = chat.admit(&auth).await.err();
        assert!(
            matches!(refused, Some(AdmissionError::LoggedOut)),
            "{refused:?}"
        );
        assert_eq!(chat.hub().connection_count(), 0);
    }

    #[tokio::test]
    async fn the_per_user_cap_refuses_one_more_and_frees_a_place_when_one_goes() {
        let Fixture { chat, store, _dir } = fixture(2).await;
        let auth = logged_in(store.as_ref(), "many", TimeDelta::hours(1)).await;
        let first = chat.admit(&auth).await.unwrap();
        let _second = chat.admit(&auth).await.unwrap();
        let refused = chat.admit(&auth).await.err();
        assert!(
            matches!(refused, Some(AdmissionError::TooManyConnections(_))),
            "{refused:?}"
        );
        drop(first);
        chat.admit(&auth).await.expect("a place was freed");
    }

    #[tokio::test]
    async fn ready_is_the_first_frame_and_the_connection_ends_with_its_token() {
        let Fixture { chat, store, _dir } = fixture(5).await;
        let auth = logged_in(store.as_ref(), "brief", TimeDelta::milliseconds(300)).await;
        let Admitted {
            client,
            mut outbound,
        } = chat.admit(&auth).await.unwrap();
        let first = outbound.recv().await.expect("ready");
        let first = std::str::from_utf8(first.json()).unwrap().to_owned();
        assert!(first.starts_with(r#"{"type":"ready""#), "{first}");
        let conn = client.conn().clone();
        tokio::time::timeout(Duration::from_secs(10), conn.closed())
            .await
            .expect("closed at expiry");
        assert_eq!(conn.close_reason(), Some(CloseReason::TokenExpired));
    }

    #[tokio::test]
    async fn a_deleted_user_is_not_admitted() {
        let Fixture { chat, store, _dir } = fixture(5).await;
        let mut auth = logged_in(store.as_ref(), "ghost", TimeDelta::hours(1)).await;
        auth.user_id += 1000;
        let refused = chat.admit(&auth).await.err();
        assert!(
            matches!(refused, Some(AdmissionError::NoSuchUser)),
            "{refused:?}"
        );
    }
}
