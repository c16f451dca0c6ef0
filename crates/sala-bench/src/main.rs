//! `sala-bench`: drives a chat server over real sockets and reports what it measured, as a
//! human summary and a final JSON line.
//!
//! It speaks Sala's protocol (`--target sala`: register + login, `/ws`, acks) and the
//! reference servers' (`--target peer`: `POST /login {username}`, `/ws`), so one command
//! measures both in the same sitting. Traffic goes only where `--server` points, and every
//! run is bounded in connections and time.

mod fanout;
mod report;
mod target;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(version)]
/// Load generator for Sala and the reference chat servers.
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// One room, many subscribers, a few publishers: throughput, loss and latency of fan-out.
    Fanout(fanout::FanoutArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match cli.scenario {
            Scenario::Fanout(args) => fanout::run(args).await,
        }
    })
}
