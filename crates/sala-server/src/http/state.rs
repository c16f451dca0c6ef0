//! `AppState`: the shared handles a request may need. Cheap to clone (all `Arc`s); handlers
//! take it whole or extract parts, and nothing in it is global. It names no transport: the
//! router's state ([`crate::app::NodeState`]) adds the `/ws` and Socket.io settings beside
//! it, and each handler extracts what it uses.

use std::net::SocketAddr;
use std::sync::Arc;

use sala_store::Store;
use tokio_util::task::TaskTracker;

use super::client_address::ProxyRange;
use super::quota::Quota;
use crate::auth::password::PasswordHasher;
use crate::auth::session::{self, AuthError, AuthUser};
use crate::auth::throttle::LoginThrottle;
use crate::auth::token::TokenKeys;
use crate::chat::Chat;
use crate::files::Files;
use crate::metrics::Metrics;

#[derive(Clone)]
pub struct AppState {
    /// The database, behind the store seam.
    pub store: Arc<dyn Store>,
    /// Signs and checks login tokens.
    pub tokens: Arc<TokenKeys>,
    /// argon2id, off the async threads.
    pub passwords: PasswordHasher,
    /// Failed-login counters.
    pub throttle: Arc<LoginThrottle>,
    /// Rooms each user may still create this hour.
    pub room_quota: Arc<Quota>,
    /// Registrations each client address may still make this hour.
    pub register_quota: Arc<Quota<std::net::IpAddr>>,
    /// New Engine.IO sessions each client address may still open this minute.
    pub socketio_sessions: Arc<Quota<std::net::IpAddr>>,
    /// The configured public URL, if any, for `chat_url`.
    pub public_url: Option<Arc<str>>,
    /// Where this node listens; the last resort for `chat_url`.
    pub local_addr: SocketAddr,
    /// The real-time layer: hub, sessions, message writer.
    pub chat: Chat,
    /// Reverse proxies whose `X-Forwarded-For` names the client (`--trusted-proxies`).
    pub trusted_proxies: Arc<[ProxyRange]>,
    /// Origins allowed to open WebSockets; empty: same origin only.
    pub allowed_origins: Arc<[String]>,
    /// Uploaded files: their storage and limits.
    pub files: Files,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Upgraded connections run detached from the HTTP server; this lets shutdown wait
    /// for them.
    pub connections: TaskTracker,
}

impl AppState {
    /// Checks a token against this node's keys and sessions.
    ///
    /// # Errors
    /// As [`session::authenticate`].
    pub async fn authenticate(&self, token: &str) -> Result<AuthUser, AuthError> {
        session::authenticate(&self.tokens, self.store.as_ref(), token).await
    }
}
