//! `sala-bench`: drives a chat server over real sockets and reports what it measured, as a
//! human summary and a final JSON line, for sizing a deployment.
//!
//! It speaks Sala's protocol (`--target sala`: register + login, `/ws` or Socket.io, acks)
//! and the reference servers' (`--target peer`: `POST /login {username}`, `/ws` or
//! Socket.io), so one command measures both in the same sitting. Traffic goes only where
//! `--server` points (loopback only), and every run is bounded in connections and time.
//!
//! Module map:
//! - `scenarios/`: fanout, rooms, idle, churn, history, soak, files, search: flags, run,
//!   report;
//! - `member`: connections that listen to a room and publish, moving through the phases of
//!   a traffic run together (fanout, rooms, churn's and soak's steady members);
//! - `ledger`: what became of every message of a run, for naming losses and duplicates
//!   (soak);
//! - `setup`: logins in parallel, rooms, opening and joining connections, source
//!   addresses, the open-file limit;
//! - `target`: the server under test (Sala or a peer) and the frames each protocol sends;
//! - `frames`: telling received frames apart cheaply;
//! - `report`: latency histograms, server memory, the final report.

mod frames;
mod ledger;
mod member;
mod random;
mod report;
mod scenarios;
mod server_metrics;
mod setup;
mod target;

use clap::{Parser, Subcommand};

use scenarios::{churn, fanout, files, history, idle, rooms, search, soak};

#[derive(Debug, Parser)]
#[command(version)]
/// Load generator for Sala and the reference chat servers. Each scenario prints a short
/// summary, then one JSON line with every figure. Against Sala, start the server with a
/// high --send-rate and --send-burst so its per-user rate limit does not cap the load.
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// One room, many subscribers, a few publishers: throughput, loss and latency of fan-out.
    Fanout(fanout::FanoutArgs),
    /// Many small rooms, a few publishers each: messages (on Sala: acked, stored durably)
    /// per second, loss and latency.
    Rooms(rooms::RoomsArgs),
    /// Many connections joined to one room, held idle: server memory per connection and
    /// connect rate.
    Idle(idle::IdleArgs),
    /// Connections opened and closed at a steady rate, beside a small steady fan-out:
    /// connect latency and failures, and whether the steady members suffer.
    Churn(churn::ChurnArgs),
    /// Clients resuming with `join` + `since` while the room is busy (Sala, /ws): join rate
    /// and latency, and that every history is complete (no gap, no duplicate).
    History(history::HistoryArgs),
    /// A long run at a steady load over many rooms, with connections coming and going (Sala):
    /// every acked message must reach every member of its room, once, and the server's
    /// memory must not grow; a line every --interval, and exit 1 on any loss.
    Soak(soak::SoakArgs),
    /// Files uploaded over HTTP, several at once (Sala): MiB per second, each upload's
    /// latency, and the server's memory at its peak while they stream.
    Files(files::FilesArgs),
    /// A large store of messages, then searches of several kinds (Sala): the latency of
    /// `GET /api/search` by kind.
    Search(search::SearchArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match cli.scenario {
            Scenario::Fanout(args) => fanout::run(args).await,
            Scenario::Rooms(args) => rooms::run(args).await,
            Scenario::Idle(args) => idle::run(args).await,
            Scenario::Churn(args) => churn::run(args).await,
            Scenario::History(args) => history::run(args).await,
            Scenario::Soak(args) => soak::run(args).await,
            Scenario::Files(args) => files::run(args).await,
            Scenario::Search(args) => search::run(args).await,
        }
    })
}
