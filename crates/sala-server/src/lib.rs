//! Everything a Sala node does. The binary (`crates/sala`) only parses arguments and calls
//! [`startup::App`].
//!
//! Module map:
//! - [`config`]: the one `Config`, every option a flag and a `SALA_*` variable.
//! - [`startup`]: opens the store, builds the router, binds, serves, shuts down.
//! - [`state`]: `AppState`, the handles every request may need.
//! - [`telemetry`]: tracing subscriber set-up.
//! - [`error`]: `ApiError`, the single JSON error shape of SPEC §2.
//! - [`domain`]: validated newtypes (username, password, email, room name, ...).
//! - [`auth`]: password hashing, JWT sessions, the auth extractor, login throttling.
//! - [`http`]: the router and one module per resource (SPEC §2).
//!
//! Storage is behind the `sala_store::Store` traits; backends live in their own crates.

pub mod auth;
pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod startup;
pub mod state;
pub mod telemetry;
