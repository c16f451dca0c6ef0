//! Who is asking: passwords, tokens, sessions, and the gate in front of login.
//!
//! - [`password`]: argon2id hashing off the async threads, with a dummy hash so unknown
//!   users cost the same as wrong passwords.
//! - [`token`]: HS256 JWTs (`sub`, `exp`, `iat`, `jti`) and nothing else.
//! - [`session`]: a token is good only while its session (`jti`) is live in the store.
//! - [`extractor`]: `AuthUser`, the axum extractor protected routes take.
//! - [`throttle`]: failed-login counters per username and per client address.
//! - [`secret`]: the signing secret, given or generated once into the data dir.

pub mod extractor;
pub mod password;
pub mod secret;
pub mod session;
pub mod throttle;
pub mod token;

pub use extractor::AuthUser;
