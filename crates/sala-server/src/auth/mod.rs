//! Who is asking: passwords, tokens, sessions, and the gate in front of login. Nothing here
//! knows HTTP or sockets; the HTTP edge (`crate::http::auth`) and the transports call in.
//!
//! - [`password`]: argon2id hashing off the async threads, with a dummy hash so unknown
//!   users cost the same as wrong passwords.
//! - [`token`]: HS256 JWTs (`sub`, `exp`, `iat`, `jti`) and nothing else.
//! - [`session`]: a token is good only while its session (`jti`) is live in the store;
//!   [`authenticate`] and its [`AuthError`].
//! - [`throttle`]: failed-login counters per username and per client address.
//! - [`secret`]: the signing secret, given or generated once into the data dir.

pub mod password;
pub mod secret;
pub mod session;
pub mod throttle;
pub mod token;

pub use session::{AuthError, AuthUser, authenticate};
