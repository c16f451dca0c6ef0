//! Integration tests of the HTTP API (SPEC §2): a real server on port 0 with a temporary
//! data dir, driven over TCP with reqwest. Set `TEST_LOG=1` to see the server's logs.

mod accounts;
mod errors;
mod helpers;
mod persistence;
mod rooms;
mod tokens;
