//! The idle scenario: N authenticated connections, each joined to one room, held open
//! while nothing is sent. Sizes memory: the server's RSS is read after the logins and
//! before the first connection, and again once every connection has joined and a short
//! settle has passed; the difference over the connections open is the memory one idle
//! connection costs. Also reports how fast the connections were opened.
//!
//! Logins cost Sala an argon2 hash each, so `--users` accounts (default at most 50) are
//! shared by the connections in turn; a Sala user may have many connections. Beyond
//! about 25,000 connections one source address runs out of ephemeral ports, so the
//! connections are spread over 127.0.0.1 … 127.0.0.K (`--sources`, default one per
//! 20,000). The load generator's own open-file limit is raised to its hard limit first,
//! and a run that cannot fit under it is refused before it starts.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use futures_util::{SinkExt as _, StreamExt as _, stream};
use serde_json::json;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use crate::frames::{self, Seen};
use crate::report::{self, Failures};
use crate::setup::{self, Sources};
use crate::target::{Protocol, Socket, Target, TargetArgs};

/// Most time one connection may take to connect, authenticate and join.
const CONNECT_LIMIT: Duration = Duration::from_secs(30);

#[derive(Debug, Args)]
pub struct IdleArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Connections to open and hold.
    #[arg(long, default_value_t = 1000)]
    connections: usize,
    /// Seconds to hold the connections once all are open and the settle has passed.
    #[arg(long, default_value_t = 10)]
    hold: u64,
    /// Seconds between the last join and reading the server's memory.
    #[arg(long, default_value_t = 2)]
    settle: u64,
    /// The room every connection joins (created first on Sala).
    #[arg(long, default_value = "idle")]
    room: String,
    /// Distinct accounts, taken by the connections in turn [default: connections, at most
    /// 50].
    #[arg(long)]
    users: Option<usize>,
    /// Source addresses 127.0.0.1 … 127.0.0.K to connect from, taken in turn [default: one
    /// per 20,000 connections].
    #[arg(long)]
    sources: Option<u32>,
    /// Logins and connections (TCP + upgrade + join) in flight at once.
    #[arg(long, default_value_t = 100)]
    connect_concurrency: usize,
    /// PID of the server, to report its memory (VmRSS).
    #[arg(long)]
    server_pid: Option<u32>,
}

/// What the held connections saw.
#[derive(Default)]
struct Held {
    /// Connections the server closed, or that failed, while held.
    dropped: AtomicU64,
    errors: AtomicU64,
}

pub async fn run(args: IdleArgs) -> anyhow::Result<()> {
    if args.connections == 0 {
        bail!("--connections must be at least 1");
    }
    if args.users == Some(0) {
        bail!("--users must be at least 1");
    }
    if args.connect_concurrency == 0 {
        bail!("--connect-concurrency must be at least 1");
    }
    let target = Target::new(args.target.clone())?;
    let open_files = setup::raise_open_file_limit(args.connections as u64, "idle")?;
    let sources = Sources::new(args.sources, args.connections)?;
    let users = args
        .users
        .unwrap_or(args.connections.min(50))
        .min(args.connections);

    let tokens = setup::login(&target, 0..users, args.connect_concurrency).await?;
    target.create_room(&tokens[0], &args.room).await?;
    let rss_before = report::rss_kib(args.server_pid);

    eprintln!(
        "opening {} connections from {} source address(es)…",
        args.connections,
        sources.count()
    );
    let held = Arc::new(Held::default());
    let failures = Failures::default();
    let (stop, stopped) = watch::channel(false);
    let mut latency = report::histogram();
    let mut holders = Vec::with_capacity(args.connections);
    let started = Instant::now();
    let mut opening = stream::iter(0..args.connections)
        .map(|i| {
            let target = target.clone();
            let token = tokens[i % users].clone();
            let room = args.room.clone();
            let dial = sources.dial(i, true);
            async move {
                setup::connect_and_join(&target, &token, &room, None, dial, CONNECT_LIMIT).await
            }
        })
        .buffer_unordered(args.connect_concurrency);
    while let Some(result) = opening.next().await {
        match result {
            Ok(joined) => {
                report::record(&mut latency, joined.joined);
                holders.push(tokio::spawn(hold(
                    joined.socket,
                    target.protocol(),
                    held.clone(),
                    stopped.clone(),
                )));
            }
            Err(err) => failures.add(&err),
        }
    }
    let connect_secs = started.elapsed().as_secs_f64();
    let open = holders.len() as u64;
    eprintln!(
        "{open} open in {connect_secs:.1} s, {} failed; settling {} s…",
        failures.count(),
        args.settle
    );
    tokio::time::sleep(Duration::from_secs(args.settle)).await;
    let rss_after = report::rss_kib(args.server_pid);
    eprintln!("holding for {} s…", args.hold);
    tokio::time::sleep(Duration::from_secs(args.hold)).await;
    let rss_end = report::rss_kib(args.server_pid);
    let dropped = held.dropped.load(Ordering::Relaxed);
    let errors = held.errors.load(Ordering::Relaxed);

    eprintln!("closing…");
    stop.send_replace(true);
    for holder in holders {
        let _ = holder.await;
    }

    let per_connection = match (rss_before, rss_after) {
        (Some(before), Some(after)) if open > 0 => {
            Some((after as f64 - before as f64) / open as f64)
        }
        _ => None,
    };
    let result = json!({
        "scenario": "idle",
        "target": target.kind_name(),
        "room": args.room,
        "connections": args.connections,
        "connections_open": open,
        "connect_failures": failures.count(),
        "first_error": failures.first(),
        "users": users,
        "sources": sources.count(),
        "open_file_limit": open_files,
        "joins_confirmed": target.answers_join(),
        "connect_secs": connect_secs,
        "connects_per_sec": report::per_sec(open, connect_secs),
        "connect_concurrency": args.connect_concurrency,
        "connect_latency": report::latency_json(&latency),
        "settle_secs": args.settle,
        "hold_secs": args.hold,
        "server_rss_kib_before": rss_before,
        "server_rss_kib_after": rss_after,
        "server_rss_kib_end": rss_end,
        "rss_per_connection_kib": per_connection,
        "dropped_while_held": dropped,
        "error_frames": errors,
    });
    let memory = match (rss_before, rss_after, per_connection) {
        (Some(before), Some(after), Some(per)) => format!(
            "server RSS {before} → {after} KiB: {per:.1} KiB per connection; {} KiB after the hold",
            rss_end.unwrap_or_default()
        ),
        _ => "server RSS not measured (--server-pid)".to_owned(),
    };
    let summary = format!(
        "idle: {open} of {} connections open ({} failed) from {} source(s), {users} users\n\
         connected in {connect_secs:.1} s ({:.0}/s, {} in flight); connect latency {}\n\
         {memory}\nheld {} s: dropped {dropped}, error frames {errors}",
        args.connections,
        failures.count(),
        sources.count(),
        report::per_sec(open, connect_secs),
        args.connect_concurrency,
        report::latency_line(&latency),
        args.hold,
    );
    report::print(&summary, &result);
    Ok(())
}

/// Keeps one connection open, answering Engine.IO's pings (tungstenite answers WebSocket
/// pings itself while reading), until told to stop; then closes it.
async fn hold(
    mut socket: Socket,
    protocol: Protocol,
    held: Arc<Held>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            frame = socket.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    if let Some(answer) = protocol.answer(text.as_str()) {
                        let _ = socket.send(Message::text(answer)).await;
                    } else if let Seen::Error { .. } = frames::classify(text.as_str(), protocol) {
                        held.errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    held.dropped.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }
    }
    setup::close(socket, Duration::from_secs(5)).await;
}
