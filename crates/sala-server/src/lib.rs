//! Everything a Sala node does. The binary (`crates/sala`) only parses arguments and calls
//! [`startup::App`].
//!
//! Module map:
//! - [`config`]: the one `Config`, every option a flag and a `SALA_*` variable.
//! - [`startup`]: opens the store, builds the router, binds, serves, shuts down.
//! - [`app`]: the router of a node: the HTTP API, `/ws` and `/socket.io/` together.
//! - [`telemetry`]: tracing subscriber set-up.
//! - [`error`]: `ApiError`, the single JSON error shape of SPEC §2.
//! - [`domain`]: validated newtypes (username, password, email, room name, ...).
//! - [`auth`]: password hashing, JWT sessions, login throttling; no HTTP.
//! - [`http`]: one module per resource (SPEC §2), `AppState`, the auth extractor and the
//!   Origin check.
//! - [`cluster`]: fan-out, the only door to it: this node's [`cluster::hub`] (live
//!   connections, room membership, presence; no I/O) and, over Redis, the other nodes.
//! - [`chat`]: what a connected client can do (SPEC §3), over the store and the hub, for
//!   every transport; group commit of messages.
//! - [`ws`]: the `/ws` WebSocket transport.
//! - [`sio`]: the Socket.io transport at `/socket.io/` (socketioxide), on the same hub.
//! - [`wire`]: store records into wire types.
//! - [`metrics`]: counters for `/metrics`.
//! - `fuzzing`: entry points for the fuzz targets in `fuzz/`, behind the `fuzzing` feature
//!   (hidden; not an interface). Its tests replay the saved inputs under plain `cargo test`.
//!
//! Storage is behind the `sala_store::Store` traits; backends live in their own crates.

pub mod app;
pub mod auth;
pub mod chat;
pub mod cluster;
pub mod config;
pub mod domain;
pub mod error;
pub mod files;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod metrics;
pub mod sio;
pub mod startup;
pub mod telemetry;
pub mod wire;
pub mod ws;
