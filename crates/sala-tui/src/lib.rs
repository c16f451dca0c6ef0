//! `sala chat` (SPEC §6): a terminal client for Sala.
//!
//! - [`account`]: register and log in over HTTP; where the password comes from.
//! - [`net`]: the connection to `/ws`, which heals itself: it reconnects with backoff,
//!   rejoins its rooms with `since`, resends unacked messages, and drops duplicates, so
//!   both front ends see every message once.
//! - [`line`]: line mode, for pipes and scripts.
//! - [`menu`], [`app`], [`view`]: the full-screen client (ratatui + crossterm); [`wrap`]
//!   breaks its lines into the rows it draws.

pub mod account;
pub mod app;
pub mod line;
pub mod menu;
pub mod net;
pub mod view;
pub mod wrap;

use std::io::IsTerminal as _;
use std::path::PathBuf;

use clap::Args;

/// Options of `sala chat`.
#[derive(Debug, Clone, Args)]
pub struct ChatArgs {
    /// The server to talk to.
    #[arg(long, env = "SALA_SERVER", default_value = "http://127.0.0.1:3000")]
    pub server: String,
    /// Log in as this user without asking (line mode needs it).
    #[arg(long)]
    pub user: Option<String>,
    /// The room to join first.
    #[arg(long, default_value = "general")]
    pub room: String,
    /// Create the account first (it is fine if it exists with the same password).
    #[arg(long)]
    pub register: bool,
    /// Read the password from this file (first line). Otherwise from SALA_PASSWORD, or
    /// asked for without echo in a terminal. There is deliberately no --password flag:
    /// command lines are visible to other users of the machine.
    #[arg(long)]
    pub password_file: Option<PathBuf>,
}

/// Runs the client: full screen when stdin and stdout are a terminal, line mode otherwise.
///
/// # Errors
/// Whatever ends the session: the server unreachable, bad credentials, a closed session.
/// The message is one line, meant for the user.
pub async fn run(args: ChatArgs) -> anyhow::Result<()> {
    if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        app::run(args).await
    } else {
        line::run(args).await
    }
}
