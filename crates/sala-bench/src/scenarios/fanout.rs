//! The fan-out scenario: S subscribers and P publishers in one room. Publishers send
//! messages whose text carries publisher, sequence and send time; every member (publishers
//! too) receives every message and records its end-to-end latency.
//!
//! Phases: connect and join; warm up (publisher 0 sends probes until every connection has
//! received one, so every join has taken effect); send for `--duration` seconds, closed-loop
//! (each publisher keeps at most `--window` of its own messages not yet echoed back) or
//! open-loop at `--rate` messages/s in total; drain for up to `--drain` seconds; report.

use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use futures_util::{SinkExt as _, StreamExt as _, stream};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::member::{Confirm, Counters, Group, Member, Phase, Publisher};
use crate::report;
use crate::server_metrics;
use crate::setup;
use crate::target::{Kind, Protocol, Socket, Target, TargetArgs};

#[derive(Debug, Args)]
pub struct FanoutArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Connections that only listen.
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,
    /// Connections that send (and listen).
    #[arg(long, default_value_t = 10)]
    publishers: usize,
    /// The room everyone joins (created first on Sala).
    #[arg(long, default_value = "bench")]
    room: String,
    /// Messages per second, all publishers together; 0 = closed loop, as fast as `--window`
    /// allows.
    #[arg(long, default_value_t = 0)]
    rate: u32,
    /// Closed loop: most of its own messages one publisher has in flight.
    #[arg(long, default_value_t = 16)]
    window: usize,
    /// Seconds of sending.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Most seconds to wait afterwards for deliveries still on their way.
    #[arg(long, default_value_t = 10)]
    drain: u64,
    /// Logins and handshakes in flight while setting up.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// PID of the server, to report its memory (VmRSS) before and after.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Another node of the same Sala cluster for the publishers (subscribers stay on
    /// `--server`): every delivery to a subscriber then crosses nodes, through Redis.
    #[arg(long)]
    publish_server: Option<String>,
    /// Percent of each publisher's operations that change one of its messages instead (an
    /// edit, a reaction, its removal, in turn, on its newest acked message; Sala over /ws
    /// only, 0 to 90). Publishers then count a send or a change as confirmed by its ack
    /// (stored), not by their own copy, since a change has none; every member counts the
    /// `message_updated` frames it gets, apart from messages.
    #[arg(long, default_value_t = 0)]
    changes: u32,
}

pub async fn run(args: FanoutArgs) -> anyhow::Result<()> {
    if args.publishers == 0 {
        bail!("--publishers must be at least 1");
    }
    if args.connect_concurrency == 0 {
        bail!("--connect-concurrency must be at least 1");
    }
    if args.changes > 90 {
        bail!("--changes is a percent of operations, at most 90");
    }
    let target = Target::new(args.target.clone())?;
    if args.changes > 0 && (target.kind() != Kind::Sala || target.protocol() != Protocol::Ws) {
        bail!("--changes needs Sala over /ws: the peers have no edits or reactions");
    }
    let confirm = if args.changes > 0 {
        Confirm::Ack
    } else {
        Confirm::Echo
    };
    if let Some(server) = &args.publish_server {
        crate::target::check_loopback("--publish-server", server)?;
    }
    let total = args.subscribers + args.publishers;
    setup::raise_open_file_limit(total as u64, "fanout")?;
    let rss_before = report::rss_kib(args.server_pid);

    let tokens = setup::login(&target, 0..total, args.connect_concurrency).await?;
    target.create_room(&tokens[0], &args.room).await?;

    eprintln!("opening {total} connections…");
    let connect_started = Instant::now();
    let sockets: Vec<Socket> = stream::iter(tokens.iter().enumerate())
        .map(|(i, token)| {
            let target = target.clone();
            let room = args.room.clone();
            // Publishers are the first `publishers` connections (see the roles below).
            let server = match &args.publish_server {
                Some(server) if i < args.publishers => server.clone(),
                _ => args.target.server.clone(),
            };
            async move {
                let mut socket = target.connect_at(&server, token).await?;
                socket
                    .send(Message::text(target.protocol().join(&room)))
                    .await?;
                anyhow::Ok(socket)
            }
        })
        .buffered(args.connect_concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let connect_secs = connect_started.elapsed().as_secs_f64();

    let per_publisher = (args.rate > 0)
        .then(|| Duration::from_secs_f64(args.publishers as f64 / f64::from(args.rate)));
    let members = sockets
        .into_iter()
        .enumerate()
        .map(|(i, socket)| Member {
            socket,
            room: args.room.clone(),
            // Publishers are the first `publishers` connections; publisher 0 probes.
            publisher: (i < args.publishers).then(|| Publisher {
                index: i,
                interval: per_publisher,
                offset: per_publisher.map_or(Duration::ZERO, |every| {
                    every.mul_f64(i as f64 / args.publishers as f64)
                }),
                window: args.window.max(1),
                probes: i == 0,
                confirm,
                changes: args.changes,
            }),
        })
        .collect();
    let group = Group::spawn(members, target.protocol());
    let counters = group.counters();

    eprintln!("warming up…");
    group.warm_up(Duration::from_secs(60)).await?;

    eprintln!("sending for {} s…", args.duration);
    let metrics_before = server_metrics::scrape(&target, &args.target.server).await;
    let received_before = Counters::get(&counters.received);
    let updates_before = Counters::get(&counters.updates_received);
    let send_started = Instant::now();
    group.set(Phase::Send);
    tokio::time::sleep(Duration::from_secs(args.duration)).await;
    group.drain(Duration::from_secs(args.drain)).await?;
    let send_secs = send_started.elapsed().as_secs_f64();
    let sent = Counters::get(&counters.sent);
    let expected = sent * total as u64;
    let drain_deadline = Instant::now() + Duration::from_secs(args.drain);
    // With changes, every send and change is confirmed by its ack: wait for those too.
    let unconfirmed = || {
        confirm == Confirm::Ack
            && (Counters::get(&counters.acked) < sent
                || Counters::get(&counters.changes_acked) < Counters::get(&counters.changes_sent))
    };
    while (Counters::get(&counters.received) - received_before < expected || unconfirmed())
        && Instant::now() < drain_deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = send_started.elapsed().as_secs_f64();
    let received = Counters::get(&counters.received) - received_before;
    let updates = Counters::get(&counters.updates_received) - updates_before;
    let changes_sent = Counters::get(&counters.changes_sent);
    let changes_acked = Counters::get(&counters.changes_acked);
    let acked = Counters::get(&counters.acked);
    let rss_after = report::rss_kib(args.server_pid);
    let metrics_after = server_metrics::scrape(&target, &args.target.server).await;
    let server = server_metrics::explain(metrics_before.as_ref(), metrics_after.as_ref());
    let errors = Counters::get(&counters.errors);
    let dropped = Counters::get(&counters.dropped);
    let latency = group.finish().await?.delivery;

    let result = json!({
        "scenario": "fanout",
        "target": target.kind_name(),
        "publish_server": args.publish_server,
        "connections": total,
        "subscribers": args.subscribers,
        "publishers": args.publishers,
        "mode": if args.rate == 0 { format!("closed loop, window {}", args.window) } else { format!("open loop, {} msg/s", args.rate) },
        "connect_secs": connect_secs,
        "send_secs": send_secs,
        "messages_sent": sent,
        "messages_per_sec": sent as f64 / send_secs,
        "deliveries_expected": expected,
        "deliveries_received": received,
        "undelivered": expected.saturating_sub(received),
        "deliveries_per_sec": received as f64 / elapsed,
        "changes_percent": args.changes,
        "changes_sent": changes_sent,
        "changes_acked": changes_acked,
        "messages_acked": (confirm == Confirm::Ack).then_some(acked),
        "update_deliveries": updates,
        "update_deliveries_per_sec": updates as f64 / elapsed,
        "all_deliveries_per_sec": (received + updates) as f64 / elapsed,
        "latency": report::latency_json(&latency),
        "error_frames": errors,
        "connections_dropped": dropped,
        "server_rss_kib_before": rss_before,
        "server_rss_kib_after": rss_after,
        "server_metrics": server,
    });
    println!(
        "fanout: {total} connections ({} subscribers + {} publishers), {}\n\
         sent {sent} messages in {send_secs:.1} s ({:.0}/s); deliveries {received} of {expected} \
         expected, {:.0}/s\nlatency p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms\n\
         {}error frames {}, connections dropped {}",
        args.subscribers,
        args.publishers,
        result["mode"].as_str().unwrap_or_default(),
        result["messages_per_sec"].as_f64().unwrap_or_default(),
        result["deliveries_per_sec"].as_f64().unwrap_or_default(),
        result["latency"]["p50_ms"].as_f64().unwrap_or_default(),
        result["latency"]["p99_ms"].as_f64().unwrap_or_default(),
        result["latency"]["p999_ms"].as_f64().unwrap_or_default(),
        result["latency"]["max_ms"].as_f64().unwrap_or_default(),
        if args.changes > 0 {
            format!(
                "changes {changes_sent} sent, {changes_acked} acked; {updates} message_updated \
                 deliveries ({:.0}/s); all deliveries {:.0}/s\n",
                updates as f64 / elapsed,
                (received + updates) as f64 / elapsed
            )
        } else {
            String::new()
        },
        result["error_frames"],
        result["connections_dropped"],
    );
    print!("{}", server_metrics::line(&result["server_metrics"]));
    println!("{result}");
    Ok(())
}
