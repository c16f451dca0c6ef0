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
//!
//! The churning itself ([`Churn`], [`Churned`]) is shared with `soak`, which churns beside
//! its own steady traffic, over many rooms, and ends half of its connections by dropping
//! the socket.

use std::hash::{BuildHasher as _, RandomState};
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

/// How a churning connection ends once its lifetime is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// A close frame, then the server's (a client that leaves politely).
    Close,
    /// The socket dropped without a close frame (a lost network, a killed tab).
    Drop,
}

/// Connections opened at a steady rate, each of which connects, authenticates, joins a
/// room, lives a while and ends.
pub struct Churn {
    /// New connections per second.
    pub per_sec: f64,
    /// How long each stays after joining.
    pub lifetime: Duration,
    /// The rooms they join: one picked at random per connection.
    pub rooms: Vec<String>,
    /// The tokens they take in turn.
    pub tokens: Vec<String>,
    pub sources: Sources,
    /// Most alive at once (the open-file limit): a connection due beyond it is skipped.
    pub most_alive: usize,
    /// Every other connection drops its socket instead of closing cleanly.
    pub mixed_endings: bool,
}

/// What the churning connections did, readable while they run.
pub struct Churned {
    pub attempted: AtomicU64,
    /// Not attempted, because `most_alive` connections were alive.
    pub skipped: AtomicU64,
    pub succeeded: AtomicU64,
    pub failures: Failures,
    /// Ended with a close frame after their lifetime.
    pub closed: AtomicU64,
    /// Ended by dropping the socket, without a close frame, after their lifetime.
    pub abandoned: AtomicU64,
    /// Connections the server closed, or that failed, before their lifetime was over.
    pub dropped_early: AtomicU64,
    pub errors: AtomicU64,
    /// Connect latencies; held only to record one or copy them ([`Churned::latency`]).
    latency: Mutex<Histogram<u64>>,
}

impl Churned {
    pub fn new() -> Self {
        Self {
            attempted: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            succeeded: AtomicU64::new(0),
            failures: Failures::default(),
            closed: AtomicU64::new(0),
            abandoned: AtomicU64::new(0),
            dropped_early: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            latency: Mutex::new(report::histogram()),
        }
    }

    pub fn latency(&self) -> Histogram<u64> {
        self.latency
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl Churn {
    /// Churns until `until`, then lets the last connections live and end (each within its
    /// lifetime and the connect and close limits). Returns the seconds of churning.
    pub async fn run(self, target: Target, churned: Arc<Churned>, until: Instant) -> f64 {
        // One permit per connection alive: the open-file limit is never crossed.
        let permits = Arc::new(Semaphore::new(self.most_alive.min(Semaphore::MAX_PERMITS)));
        let rooms = RandomState::new();
        let mut attempted: usize = 0;
        let mut cycles = JoinSet::new();
        let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / self.per_sec));
        // Burst: a tick delayed by a busy moment is made up for, so the offered rate holds.
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let started = Instant::now();
        loop {
            ticker.tick().await;
            if Instant::now() >= until {
                break;
            }
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                churned.skipped.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let index = attempted;
            attempted += 1;
            churned.attempted.fetch_add(1, Ordering::Relaxed);
            let target = target.clone();
            let token = self.tokens[index % self.tokens.len()].clone();
            let pick = usize::try_from(rooms.hash_one(index)).unwrap_or_default();
            let room = self.rooms[pick % self.rooms.len()].clone();
            let dial = self.sources.dial(index, true);
            let ending = if self.mixed_endings && index % 2 == 1 {
                Ending::Drop
            } else {
                Ending::Close
            };
            let lifetime = self.lifetime;
            let churned = churned.clone();
            cycles.spawn(async move {
                cycle(&target, &token, &room, dial, lifetime, ending, &churned).await;
                drop(permit);
            });
            while cycles.try_join_next().is_some() {}
        }
        let churn_secs = started.elapsed().as_secs_f64();
        eprintln!("letting the last churning connections live and end…");
        let _ = tokio::time::timeout(self.lifetime + CONNECT_LIMIT + CLOSE_LIMIT, async {
            while cycles.join_next().await.is_some() {}
        })
        .await;
        cycles.abort_all();
        churn_secs
    }
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
                    changes: 0,
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
    let churned = Arc::new(Churned::new());
    let churn = Churn {
        per_sec: args.connections_per_sec,
        lifetime,
        rooms: vec![args.room.clone()],
        tokens: churn_tokens.to_vec(),
        sources,
        most_alive: usize::try_from(
            setup::connections_allowed(open_files).saturating_sub(steady as u64),
        )
        .unwrap_or(usize::MAX),
        mixed_endings: false,
    };
    let deadline = Instant::now() + Duration::from_secs(args.duration);
    let churn_secs = churn.run(target.clone(), churned.clone(), deadline).await;
    let attempted = churned.attempted.load(Ordering::Relaxed);
    let skipped = churned.skipped.load(Ordering::Relaxed);

    let mut steady_report = Value::Null;
    let mut steady_line = String::new();
    if let Some(group) = group {
        group.drain(Duration::from_secs(args.drain)).await?;
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
    let latency = churned.latency();
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
/// sends), end as `ending` says.
async fn cycle(
    target: &Target,
    token: &str,
    room: &str,
    dial: Dial,
    lifetime: Duration,
    ending: Ending,
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
    match ending {
        Ending::Close => {
            setup::close(socket, CLOSE_LIMIT).await;
            churned.closed.fetch_add(1, Ordering::Relaxed);
        }
        Ending::Drop => {
            drop(socket);
            churned.abandoned.fetch_add(1, Ordering::Relaxed);
        }
    }
}
