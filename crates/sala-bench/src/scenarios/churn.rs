//! The churn scenario: connections come and go at a steady rate. Every `1/C` s a new
//! connection authenticates and joins the room, stays `--lifetime-ms`, and closes cleanly;
//! the report gives how many connects were attempted, succeeded and failed, their latency
//! (TCP + upgrade + auth + `joined`), the rate achieved and the server's memory.
//!
//! Meanwhile a small steady fan-out runs in the same room (`--publishers` at `--rate`
//! msg/s to `--subscribers` more members, as in `fanout`), and its deliveries, losses and
//! latency show whether the churn hurts the members that stay.
//!
//! Accounts: the steady members have their own; the churning connections share `--users`
//! accounts in turn (each Sala login costs an argon2 hash).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use futures_util::{SinkExt as _, StreamExt as _};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

use crate::frames::{self, Seen};
use crate::member::{Confirm, Counters, Group, Member, Phase, Publisher};
use crate::report::{self, Failures};
use crate::setup::{self, Sources};
use crate::target::{Dial, Target, TargetArgs};

/// Most time one connection may take to connect, authenticate and join.
const CONNECT_LIMIT: Duration = Duration::from_secs(10);
/// Most time a clean close may take.
const CLOSE_LIMIT: Duration = Duration::from_secs(5);

#[derive(Debug, Args)]
pub struct ChurnArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// New connections per second.
    #[arg(long, default_value_t = 100.0)]
    connections_per_sec: f64,
    /// Seconds of churn.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// How long each connection stays after joining before it closes, in ms.
    #[arg(long, default_value_t = 1000)]
    lifetime_ms: u64,
    /// The room every connection joins (created first on Sala).
    #[arg(long, default_value = "churn")]
    room: String,
    /// Distinct accounts the churning connections take in turn [default: connections in
    /// the run, at most 50].
    #[arg(long)]
    users: Option<usize>,
    /// Source addresses 127.0.0.1 … 127.0.0.K the churning connections come from, taken in
    /// turn.
    #[arg(long, default_value_t = 1)]
    sources: u32,
    /// Steady members that send, at `--rate` in total (0: no steady fan-out).
    #[arg(long, default_value_t = 1)]
    publishers: usize,
    /// Steady members that only listen.
    #[arg(long, default_value_t = 10)]
    subscribers: usize,
    /// Messages per second of the steady fan-out, all its publishers together.
    #[arg(long, default_value_t = 10)]
    rate: u32,
    /// Most seconds to wait after the churn for steady deliveries still on their way.
    #[arg(long, default_value_t = 5)]
    drain: u64,
    /// Logins and steady connections in flight while setting up.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// PID of the server, to report its memory (VmRSS) before and after.
    #[arg(long)]
    server_pid: Option<u32>,
}

impl ChurnArgs {
    fn check(&self) -> anyhow::Result<()> {
        if !(self.connections_per_sec > 0.0 && self.connections_per_sec.is_finite()) {
            bail!("--connections-per-sec must be a number above 0");
        }
        if self.duration == 0 {
            bail!("--duration must be at least 1 second");
        }
        if self.users == Some(0) {
            bail!("--users must be at least 1");
        }
        if self.publishers > 0 && self.rate == 0 {
            bail!(
                "--rate must be above 0 when there are --publishers (0 publishers: no steady fan-out)"
            );
        }
        if self.connect_concurrency == 0 {
            bail!("--connect-concurrency must be at least 1");
        }
        Ok(())
    }
}

/// What the churning connections did.
struct Churned {
    succeeded: AtomicU64,
    failures: Failures,
    /// Connections the server closed, or that failed, before their lifetime was over.
    dropped_early: AtomicU64,
    errors: AtomicU64,
    /// Connect latencies; held only to record one.
    latency: Mutex<Histogram<u64>>,
}

pub async fn run(args: ChurnArgs) -> anyhow::Result<()> {
    args.check()?;
    let target = Target::new(args.target.clone())?;
    let lifetime = Duration::from_millis(args.lifetime_ms);
    let steady = if args.publishers == 0 {
        0
    } else {
        args.publishers + args.subscribers
    };
    // Connections alive at once, about: one lifetime (plus a connect) worth of the rate.
    let alive = (args.connections_per_sec * (lifetime.as_secs_f64() + 1.0)).ceil() as u64;
    let open_files = setup::raise_open_file_limit(alive + steady as u64, "churn")?;
    let sources = Sources::new(Some(args.sources), 0)?;
    let total = (args.connections_per_sec * args.duration as f64).ceil() as usize;
    let users = args.users.unwrap_or(total.clamp(1, 50));

    let tokens = setup::login(&target, 0..steady + users, args.connect_concurrency).await?;
    let (steady_tokens, churn_tokens) = tokens.split_at(steady);
    target.create_room(&tokens[0], &args.room).await?;
    let rss_before = report::rss_kib(args.server_pid);

    let group = if steady > 0 {
        let plan = steady_tokens
            .iter()
            .map(|token| (token.clone(), args.room.clone()))
            .collect();
        let sockets = setup::open_and_join(&target, plan, args.connect_concurrency).await?;
        let interval = Duration::from_secs_f64(args.publishers as f64 / f64::from(args.rate));
        let members = sockets
            .into_iter()
            .enumerate()
            .map(|(i, socket)| Member {
                socket,
                room: args.room.clone(),
                publisher: (i < args.publishers).then(|| Publisher {
                    index: i,
                    interval: Some(interval),
                    offset: interval.mul_f64(i as f64 / args.publishers as f64),
                    window: 1,
                    probes: i == 0,
                    confirm: Confirm::Echo,
                }),
            })
            .collect();
        let group = Group::spawn(members, target.protocol());
        eprintln!("warming up the steady members…");
        group.warm_up(Duration::from_secs(60)).await?;
        Some(group)
    } else {
        None
    };
    let received_before = group
        .as_ref()
        .map_or(0, |group| Counters::get(&group.counters().received));
    if let Some(group) = &group {
        group.set(Phase::Send);
    }

    eprintln!(
        "churning {} connections/s for {} s, each living {} ms…",
        args.connections_per_sec, args.duration, args.lifetime_ms
    );
    let churned = Arc::new(Churned {
        succeeded: AtomicU64::new(0),
        failures: Failures::default(),
        dropped_early: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        latency: Mutex::new(report::histogram()),
    });
    // One permit per connection alive: the open-file limit is never crossed.
    let permits = Arc::new(Semaphore::new(
        usize::try_from(setup::connections_allowed(open_files).saturating_sub(steady as u64))
            .unwrap_or(usize::MAX)
            .min(Semaphore::MAX_PERMITS),
    ));
    let mut attempted: u64 = 0;
    let mut skipped: u64 = 0;
    let mut cycles = JoinSet::new();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / args.connections_per_sec));
    // Burst: a tick delayed by a busy moment is made up for, so the offered rate holds.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration);
    loop {
        ticker.tick().await;
        if Instant::now() >= deadline {
            break;
        }
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            skipped += 1;
            continue;
        };
        let index = usize::try_from(attempted).unwrap_or_default();
        attempted += 1;
        let target = target.clone();
        let token = churn_tokens[index % users].clone();
        let room = args.room.clone();
        let dial = sources.dial(index, true);
        let churned = churned.clone();
        cycles.spawn(async move {
            cycle(&target, &token, &room, dial, lifetime, &churned).await;
            drop(permit);
        });
        while cycles.try_join_next().is_some() {}
    }
    let churn_secs = started.elapsed().as_secs_f64();
    eprintln!("letting the last connections live and close…");
    let _ = tokio::time::timeout(lifetime + CONNECT_LIMIT + CLOSE_LIMIT, async {
        while cycles.join_next().await.is_some() {}
    })
    .await;
    cycles.abort_all();

    let mut steady_report = Value::Null;
    let mut steady_line = String::new();
    if let Some(group) = group {
        group.set(Phase::Drain);
        let counters = group.counters();
        let sent = Counters::get(&counters.sent);
        let expected = sent * steady as u64;
        let drain_deadline = Instant::now() + Duration::from_secs(args.drain);
        while Counters::get(&counters.received) - received_before < expected
            && Instant::now() < drain_deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let received = Counters::get(&counters.received) - received_before;
        let errors = Counters::get(&counters.errors);
        let dropped = Counters::get(&counters.dropped);
        let latency = group.finish().await?.delivery;
        steady_line = format!(
            "steady fan-out: {sent} sent, deliveries {received} of {expected}; latency {}; \
             error frames {errors}, dropped {dropped}",
            report::latency_line(&latency)
        );
        steady_report = json!({
            "publishers": args.publishers,
            "subscribers": args.subscribers,
            "rate": args.rate,
            "messages_sent": sent,
            "deliveries_expected": expected,
            "deliveries_received": received,
            "undelivered": expected.saturating_sub(received),
            "latency": report::latency_json(&latency),
            "error_frames": errors,
            "connections_dropped": dropped,
        });
    }
    let rss_after = report::rss_kib(args.server_pid);

    let succeeded = churned.succeeded.load(Ordering::Relaxed);
    let failed = churned.failures.count();
    let dropped_early = churned.dropped_early.load(Ordering::Relaxed);
    let errors = churned.errors.load(Ordering::Relaxed);
    let latency = churned
        .latency
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let ends_at = if target.answers_join() {
        "joined"
    } else {
        "join sent"
    };
    let result = json!({
        "scenario": "churn",
        "target": target.kind_name(),
        "room": args.room,
        "connections_per_sec": args.connections_per_sec,
        "duration_secs": args.duration,
        "lifetime_ms": args.lifetime_ms,
        "users": users,
        "sources": sources.count(),
        "churn_secs": churn_secs,
        "attempted": attempted,
        "succeeded": succeeded,
        "failed": failed,
        "first_error": churned.failures.first(),
        "skipped_at_open_file_limit": skipped,
        "attempted_per_sec": report::per_sec(attempted, churn_secs),
        "connects_per_sec": report::per_sec(succeeded, churn_secs),
        "connect_latency": report::latency_json(&latency),
        "connect_latency_ends_at": ends_at,
        "dropped_early": dropped_early,
        "error_frames": errors,
        "steady": steady_report,
        "server_rss_kib_before": rss_before,
        "server_rss_kib_after": rss_after,
    });
    let summary = format!(
        "churn: {} connections/s offered for {} s, lifetime {} ms\n\
         attempted {attempted}, succeeded {succeeded} ({:.0}/s), failed {failed}, skipped \
         {skipped}; dropped early {dropped_early}, error frames {errors}\n\
         connect latency (to {ends_at}) {}\n{steady_line}",
        args.connections_per_sec,
        args.duration,
        args.lifetime_ms,
        report::per_sec(succeeded, churn_secs),
        report::latency_line(&latency),
    );
    report::print(&summary, &result);
    Ok(())
}

/// One churning connection: connect and join, live `lifetime` (reading what the room
/// sends), close cleanly.
async fn cycle(
    target: &Target,
    token: &str,
    room: &str,
    dial: Dial,
    lifetime: Duration,
    churned: &Churned,
) {
    let joined = match setup::connect_and_join(target, token, room, None, dial, CONNECT_LIMIT).await
    {
        Ok(joined) => joined,
        Err(err) => {
            churned.failures.add(&err);
            return;
        }
    };
    churned.succeeded.fetch_add(1, Ordering::Relaxed);
    report::record(
        &mut churned
            .latency
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
        joined.joined,
    );
    let protocol = target.protocol();
    let mut socket = joined.socket;
    let end = tokio::time::sleep(lifetime);
    tokio::pin!(end);
    loop {
        tokio::select! {
            () = &mut end => break,
            frame = socket.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    if let Some(answer) = protocol.answer(text.as_str()) {
                        let _ = socket.send(Message::text(answer)).await;
                    } else if let Seen::Error { .. } = frames::classify(text.as_str(), protocol) {
                        churned.errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    churned.dropped_early.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }
    }
    setup::close(socket, CLOSE_LIMIT).await;
}
