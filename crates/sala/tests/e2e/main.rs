//! The `sala` binary, tested from outside as its users run it: each module starts real
//! `sala serve` (and `sala chat`) processes on loopback and talks to them over real sockets.
//! One test binary, so CI links it once.
//!
//! - [`bad_clients`]: slow, dead and silent clients.
//! - [`hostile`]: clients that mean harm, before and after authentication.
//! - [`crash`]: SIGKILL while clients send; nothing acked is lost.
//! - [`disk_full`]: a full or read-only disk.
//! - [`cluster`]: several nodes over PostgreSQL (or MariaDB) and Redis.
//! - [`mysql`]: a MySQL database down at start, refusing the password, or killed and back.
//! - [`chat_line`], [`chat_tui`]: `sala chat` in line mode and in tmux.

mod bad_clients;
mod chat_line;
mod chat_tui;
mod cluster;
mod common;
mod crash;
mod disk_full;
mod hostile;
mod mysql;
