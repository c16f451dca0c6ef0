//! Sala's wire types: the JSON shapes of SPEC §2 (HTTP) and §3 (WebSocket) that clients and
//! servers exchange.
//!
//! This crate owns only shapes and their serialisation. It knows nothing of storage,
//! validation rules or transports: the server converts its records into these at the edge,
//! and clients (the terminal client, the load generator) deserialise them.
//!
//! - [`api`]: request and response bodies of the HTTP API.
//! - [`error`]: the one error body every failure uses.
//! - [`frames`]: the WebSocket frames of SPEC §3, both directions.
//! - [`time`]: timestamps as RFC 3339 UTC with milliseconds.

pub mod api;
pub mod error;
pub mod frames;
pub mod time;
