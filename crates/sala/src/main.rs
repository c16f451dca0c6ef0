//! `sala`: the command line. Parses arguments and calls the library; no logic lives here.

use anyhow::Context;
use clap::{Parser, Subcommand};
use sala_server::config::Config;
use sala_server::startup::App;
use sala_server::telemetry;

/// mimalloc rather than glibc's malloc: with glibc, every argon2 hash (a 19 MiB block,
/// allocated and freed) ratcheted the heap up by megabytes that were never returned, so a
/// few dozen logins left the server at hundreds of MiB. mimalloc returns them. Without the
/// `mimalloc` feature the system's malloc serves, for heap profilers that follow it.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Sala: a real-time chat server in one binary.
#[derive(Debug, Parser)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// With no subcommand, `sala` serves with these options.
    #[command(flatten)]
    serve: Config,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the chat server (the default).
    Serve(Box<Config>),
    /// Chat from the terminal: full screen, or line mode for pipes and scripts.
    ///
    /// In a terminal: a menu "1) login  2) register" (arrow keys or the digit; the password
    /// is not echoed), then rooms with unread counts, the conversation and who is online.
    /// Keys: Enter sends, Up/Down recall sent lines, Tab switches rooms, PageUp loads older
    /// messages, Ctrl-C quits. Commands: /join ROOM, /leave, /rooms [QUERY],
    /// /create NAME [TOPIC], /history, /busy [NOTE], /available, /who, /quit, /help.
    ///
    /// With stdin or stdout not a terminal it runs in line mode:
    /// `sala chat --user NAME --room ROOM` (password from SALA_PASSWORD or --password-file)
    /// sends each stdin line, prints each message as `[HH:MM:SS] #room user: text`, and at
    /// EOF exits 0 once everything sent is acked.
    ///
    /// Either way a dropped connection is retried with backoff and resumed with no message
    /// lost or shown twice; errors are one line on stderr, with exit status 1.
    Chat(sala_tui::ChatArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = match cli.command {
        Some(Command::Serve(config)) => *config,
        Some(Command::Chat(args)) => chat(args),
        None => cli.serve,
    };
    telemetry::init(config.log_format);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(serve(config))
}

/// Runs the terminal client and exits: errors are one line for the user, never a trace.
fn chat(args: sala_tui::ChatArgs) -> ! {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("sala chat: starting the async runtime: {err}");
            std::process::exit(1);
        }
    };
    let outcome = runtime.block_on(sala_tui::run(args));
    // Not a plain drop: that would wait for the terminal reader thread, which may be
    // blocked reading stdin for ever.
    runtime.shutdown_background();
    match outcome {
        Ok(()) => std::process::exit(0),
        // Each refused line was told on stderr already, one line each.
        Err(err) if err.is::<sala_tui::line::LinesRefused>() => std::process::exit(1),
        Err(err) => {
            eprintln!("sala chat: {err:#}");
            std::process::exit(1);
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = App::build(config).await?;
    let shutdown = app.shutdown_token();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown signal received; finishing in-flight requests");
        shutdown.cancel();
    });
    app.run().await
}

/// SIGINT (Ctrl-C) or SIGTERM.
async fn wait_for_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM; only Ctrl-C stops the server");
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
