//! Integration tests of the HTTP API (SPEC §2) and the WebSocket protocol (SPEC §3): a real
//! server on port 0 with a temporary data dir, driven over TCP with reqwest and
//! tokio-tungstenite. Set `TEST_LOG=1` to see the server's logs.

mod accounts;
mod assistant;
mod authorization;
mod changes;
mod conversations;
mod errors;
mod files;
mod helpers;
mod hostile_input;
mod limits;
mod moderation;
mod persistence;
mod protocol_props;
mod rooms;
mod search;
mod tokens;
mod web;
mod ws_chat;
mod ws_client;
mod ws_errors;
mod ws_lifecycle;
