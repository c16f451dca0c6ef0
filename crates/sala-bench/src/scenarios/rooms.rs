//! The rooms scenario: R rooms of M members each, P of them publishing, so traffic is many
//! small rooms rather than one big one. Sizes the store: on Sala every publisher's send is
//! confirmed by its ack (stored durably), so closed loop measures acked messages per
//! second, e.g. `--rooms 100 --members 2 --publishers-per-room 1`.
//!
//! Connection `i` is member `i % M` of room `i / M` (`<prefix>-<n>`); the first P members
//! of each room publish, and the first of those sends the room's probes while warming up.
//! Phases as in `member`: warm up, send for `--duration`, drain for up to `--drain`.
//! Each message reaches the M members of its room (its sender too).

use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use serde_json::{Value, json};

use crate::member::{Confirm, Counters, Group, Member, Phase, Publisher};
use crate::report;
use crate::server_metrics;
use crate::setup;
use crate::target::{Kind, Protocol, Target, TargetArgs};

#[derive(Debug, Args)]
pub struct RoomsArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Rooms (created first on Sala; the peers create them on join).
    #[arg(long, default_value_t = 100)]
    rooms: usize,
    /// Connections in each room, publishers included.
    #[arg(long, default_value_t = 5)]
    members: usize,
    /// Members of each room that send (and listen).
    #[arg(long, default_value_t = 1)]
    publishers_per_room: usize,
    /// Distinct accounts, taken by the connections in turn; 0 = one per connection.
    #[arg(long, default_value_t = 0)]
    users: usize,
    /// Room names are `<prefix>-0`, `<prefix>-1`, …
    #[arg(long, default_value = "bench-room")]
    room_prefix: String,
    /// Messages per second, all publishers together; 0 = closed loop, as fast as `--window`
    /// allows.
    #[arg(long, default_value_t = 0)]
    rate: u32,
    /// Closed loop: most of its own messages one publisher has unconfirmed (on Sala: not yet
    /// acked; on the peers: not yet echoed back).
    #[arg(long, default_value_t = 16)]
    window: usize,
    /// Seconds of sending.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Most seconds to wait afterwards for deliveries and acks still on their way.
    #[arg(long, default_value_t = 10)]
    drain: u64,
    /// Logins and handshakes in flight while setting up.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// PID of the server, to report its memory (VmRSS) before and after.
    #[arg(long)]
    server_pid: Option<u32>,
    /// On Sala, each room is the DM of its members (opened with `POST /api/dms`; 2 to 9
    /// members, one account each), so every send passes the DM's permission checks. The
    /// peers have no DMs and get named rooms of the same shape.
    #[arg(long)]
    dms: bool,
    /// Percent of each publisher's operations that change one of its messages instead (an
    /// edit, a reaction, its removal, in turn, on its newest acked message; Sala over /ws
    /// only, 0 to 90). Sent messages are counted apart from changes.
    #[arg(long, default_value_t = 0)]
    changes: u32,
}

impl RoomsArgs {
    fn check(&self) -> anyhow::Result<()> {
        if self.rooms == 0 {
            bail!("--rooms must be at least 1");
        }
        if self.members == 0 {
            bail!("--members must be at least 1");
        }
        if !(1..=self.members).contains(&self.publishers_per_room) {
            bail!(
                "--publishers-per-room must be between 1 and --members ({})",
                self.members
            );
        }
        if self.window == 0 {
            bail!("--window must be at least 1");
        }
        if self.duration == 0 {
            bail!("--duration must be at least 1 second");
        }
        if self.dms && !(2..=9).contains(&self.members) {
            bail!("--dms needs --members from 2 to 9 (a DM holds at most 9 people)");
        }
        if self.changes > 90 {
            bail!("--changes is a percent of operations, at most 90");
        }
        if self.dms && self.users != 0 {
            bail!("--dms gives every member an account of its own: leave --users at 0");
        }
        if self.connect_concurrency == 0 {
            bail!("--connect-concurrency must be at least 1");
        }
        Ok(())
    }
}

pub async fn run(args: RoomsArgs) -> anyhow::Result<()> {
    args.check()?;
    let target = Target::new(args.target.clone())?;
    if args.changes > 0 && (target.kind() != Kind::Sala || target.protocol() != Protocol::Ws) {
        bail!("--changes needs Sala over /ws: the peers have no edits or reactions");
    }
    let connections = args.rooms * args.members;
    let publishers = args.rooms * args.publishers_per_room;
    let users = match args.users {
        0 => connections,
        users => users.min(connections),
    };
    setup::raise_open_file_limit(connections as u64, "rooms")?;

    let tokens = setup::login(&target, 0..users, args.connect_concurrency).await?;
    let rooms: Vec<String> = if args.dms && target.kind() == Kind::Sala {
        setup::open_dms(&target, &tokens, args.members, args.connect_concurrency).await?
    } else {
        let rooms: Vec<String> = (0..args.rooms)
            .map(|n| format!("{}-{n}", args.room_prefix))
            .collect();
        setup::create_rooms(&target, &tokens, &rooms, args.connect_concurrency).await?;
        rooms
    };
    let rss_before = report::rss_kib(args.server_pid);

    let connect_started = Instant::now();
    let plan = (0..connections)
        .map(|i| (tokens[i % users].clone(), rooms[i / args.members].clone()))
        .collect();
    let sockets = setup::open_and_join(&target, plan, args.connect_concurrency).await?;
    let connect_secs = connect_started.elapsed().as_secs_f64();

    // Sala confirms a send by its ack; the peers only by the sender's own copy.
    let confirm = match target.kind() {
        Kind::Sala => Confirm::Ack,
        Kind::Peer => Confirm::Echo,
    };
    let per_publisher =
        (args.rate > 0).then(|| Duration::from_secs_f64(publishers as f64 / f64::from(args.rate)));
    let members = sockets
        .into_iter()
        .enumerate()
        .map(|(i, socket)| {
            let (room, position) = (i / args.members, i % args.members);
            let index = room * args.publishers_per_room + position;
            Member {
                socket,
                room: rooms[room].clone(),
                publisher: (position < args.publishers_per_room).then(|| Publisher {
                    index,
                    interval: per_publisher,
                    offset: per_publisher.map_or(Duration::ZERO, |every| {
                        every.mul_f64(index as f64 / publishers as f64)
                    }),
                    window: args.window,
                    probes: position == 0,
                    confirm,
                    changes: args.changes,
                }),
            }
        })
        .collect();
    let group = Group::spawn(members, target.protocol());
    let counters = group.counters();

    eprintln!("warming up…");
    group.warm_up(Duration::from_secs(60)).await?;

    eprintln!("sending for {} s…", args.duration);
    let metrics_before = server_metrics::scrape(&target, &args.target.server).await;
    let received_before = Counters::get(&counters.received);
    let send_started = Instant::now();
    group.set(Phase::Send);
    tokio::time::sleep(Duration::from_secs(args.duration)).await;
    group.drain(Duration::from_secs(args.drain)).await?;
    let send_secs = send_started.elapsed().as_secs_f64();
    let acked_while_sending = Counters::get(&counters.acked);
    let sent = Counters::get(&counters.sent);
    let expected = sent * args.members as u64;
    let acks_expected = if confirm == Confirm::Ack { sent } else { 0 };
    let drain_deadline = Instant::now() + Duration::from_secs(args.drain);
    while (Counters::get(&counters.received) - received_before < expected
        || Counters::get(&counters.acked) < acks_expected)
        && Instant::now() < drain_deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = send_started.elapsed().as_secs_f64();
    let received = Counters::get(&counters.received) - received_before;
    let acked = Counters::get(&counters.acked);
    let changes_sent = Counters::get(&counters.changes_sent);
    let changes_acked = Counters::get(&counters.changes_acked);
    let rss_after = report::rss_kib(args.server_pid);
    let metrics_after = server_metrics::scrape(&target, &args.target.server).await;
    let server = server_metrics::explain(metrics_before.as_ref(), metrics_after.as_ref());
    let errors = Counters::get(&counters.errors);
    let dropped = Counters::get(&counters.dropped);
    let latencies = group.finish().await?;

    let sala = confirm == Confirm::Ack;
    let acks_counted_as = sala.then(|| match target.protocol() {
        Protocol::Ws => "ack frame",
        Protocol::Socketio => "ack callback",
    });
    let mode = if args.rate == 0 {
        format!("closed loop, window {}", args.window)
    } else {
        format!("open loop, {} msg/s", args.rate)
    };
    let result = json!({
        "scenario": "rooms",
        "target": target.kind_name(),
        "rooms": args.rooms,
        "members_per_room": args.members,
        "publishers_per_room": args.publishers_per_room,
        "publishers": publishers,
        "connections": connections,
        "users": users,
        "mode": mode,
        "connect_secs": connect_secs,
        "send_secs": send_secs,
        "messages_sent": sent,
        "messages_per_sec": report::per_sec(sent, send_secs),
        "acks_counted_as": acks_counted_as,
        "messages_acked": sala.then_some(acked),
        "changes_percent": args.changes,
        "changes_sent": changes_sent,
        "changes_acked": changes_acked,
        "writes_acked_per_sec": sala.then(|| report::per_sec(acked + changes_acked, send_secs)),
        "acked_per_sec": sala.then(|| report::per_sec(acked_while_sending, send_secs)),
        "unacked": sala.then(|| sent.saturating_sub(acked)),
        "ack_latency": if sala { report::latency_json(&latencies.ack) } else { Value::Null },
        "deliveries_expected": expected,
        "deliveries_received": received,
        "undelivered": expected.saturating_sub(received),
        "deliveries_per_sec": report::per_sec(received, elapsed),
        "latency": report::latency_json(&latencies.delivery),
        "error_frames": errors,
        "connections_dropped": dropped,
        "server_rss_kib_before": rss_before,
        "server_rss_kib_after": rss_after,
        "server_metrics": server,
    });
    let acks = if sala {
        let changes = if args.changes > 0 {
            format!(
                "changes {changes_sent} sent, {changes_acked} acked; writes {:.0}/s\n",
                report::per_sec(acked + changes_acked, send_secs)
            )
        } else {
            String::new()
        };
        format!(
            "acked {acked} ({:.0}/s while sending), unacked {}; ack latency {}\n{changes}",
            report::per_sec(acked_while_sending, send_secs),
            sent.saturating_sub(acked),
            report::latency_line(&latencies.ack),
        )
    } else {
        String::new()
    };
    let summary = format!(
        "rooms: {} rooms × {} members ({} publishing each), {connections} connections, {mode}\n\
         sent {sent} messages in {send_secs:.1} s ({:.0}/s)\n{acks}\
         deliveries {received} of {expected} expected ({:.0}/s); latency {}\n\
         error frames {errors}, connections dropped {dropped}\n{}",
        args.rooms,
        args.members,
        args.publishers_per_room,
        report::per_sec(sent, send_secs),
        report::per_sec(received, elapsed),
        report::latency_line(&latencies.delivery),
        server_metrics::line(&result["server_metrics"]),
    );
    report::print(&summary, &result);
    Ok(())
}
