//! The soak scenario: a long run at a steady load the machine can sustain, which must lose
//! nothing and must not grow. `--connections` steady members are spread over `--rooms`
//! rooms; the first `--publishers-per-room` members of each room send, paced, `--rate`
//! messages a second in all, each with its own `client_id`, so that Sala acks it once it is
//! stored. Beside them `--churn-per-sec` connections a second come and go (`churn`'s
//! [`Churn`]): each authenticates, joins a room picked at random, lives
//! `--churn-lifetime-ms` and ends, every other one with a clean close and the rest by
//! dropping the socket.
//!
//! Every acked message is owed to every steady member of its room (its sender too). The
//! `Ledger` follows each message, so a loss is an acked message missing at a member, and a
//! second copy at one member is a duplicate. Every `--interval` s one line gives the
//! window's deliveries and latency, the losses so far (messages acked over 10 s earlier and
//! still missing), the churn's connects and the server's memory (VmRSS, with
//! `--server-pid`). At the end come the summary, the memory trend after warm-up (the mean of
//! the later half of the samples against the earlier half, the first `--warmup-samples`
//! left out) and the JSON line. The run fails (exit 1) when an acked message was lost,
//! delivered twice to one member, or delivered to another room.
//!
//! Sala only: the peers ack nothing, so there is no acked message to account for.
//!
//! Accounts: `--users` (by default one per 10 steady connections, since a server may cap
//! the connections of one user) are shared. Steady connection `i` is member `i / R` of room
//! `i % R`, as user `(room × M + member) % U` (M members per room, U users), so that a
//! room's members are different users while there are enough, and every user holds about as
//! many connections; the churning connections take the users in turn. Each room is created
//! by another user (a server may cap the rooms one user creates).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use hdrhistogram::Histogram;
use serde_json::{Value, json};

use super::churn::{Churn, Churned};
use crate::ledger::Ledger;
use crate::member::{Confirm, Counters, Group, Member, Phase, Publisher};
use crate::report;
use crate::server_metrics;
use crate::setup::{self, Sources};
use crate::target::{Kind, Target, TargetArgs};

/// How long after its ack a message still missing at a member counts as lost in the
/// periodic lines. The final account waits for the drain instead.
const SETTLE: Duration = Duration::from_secs(10);
/// The longest run accepted: a soak is long, not endless.
const MOST_SECS: u64 = 24 * 60 * 60;
/// Most time the steady members may take to show that their joins took effect.
const WARM_UP_LIMIT: Duration = Duration::from_secs(120);

#[derive(Debug, Args)]
pub struct SoakArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Steady connections, spread over the rooms; they stay the whole run.
    #[arg(long, default_value_t = 2000)]
    connections: usize,
    /// Rooms (created first), named `<prefix>-0`, `<prefix>-1`, …
    #[arg(long, default_value_t = 50)]
    rooms: usize,
    /// Steady members of each room that send (and listen).
    #[arg(long, default_value_t = 2)]
    publishers_per_room: usize,
    /// Messages per second, all publishers together, paced (open loop). The default is
    /// sustainable on 2 cores shared by the server and the load generator.
    #[arg(long, default_value_t = 100)]
    rate: u32,
    /// Seconds of traffic and churn.
    #[arg(long, default_value_t = 600)]
    duration: u64,
    /// Seconds between two report lines (and server memory samples).
    #[arg(long, default_value_t = 30)]
    interval: u64,
    /// Connections a second that come and go beside the steady ones (0: none).
    #[arg(long, default_value_t = 10.0)]
    churn_per_sec: f64,
    /// How long each churning connection stays after joining, in ms.
    #[arg(long, default_value_t = 1000)]
    churn_lifetime_ms: u64,
    /// Distinct accounts, shared by all connections [default: one per 10 steady
    /// connections].
    #[arg(long)]
    users: Option<usize>,
    /// Samples of server memory left out of the trend, as the warm-up.
    #[arg(long, default_value_t = 2)]
    warmup_samples: usize,
    /// Room names are `<prefix>-0`, `<prefix>-1`, …
    #[arg(long, default_value = "soak")]
    room_prefix: String,
    /// Most seconds to wait at the end for acks and deliveries still on their way.
    #[arg(long, default_value_t = 10)]
    drain: u64,
    /// Logins, room creations and steady connections in flight while setting up.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// PID of the server, to sample its memory (VmRSS) every `--interval`.
    #[arg(long)]
    server_pid: Option<u32>,
}

impl SoakArgs {
    fn check(&self) -> anyhow::Result<()> {
        if self.target.target != Kind::Sala {
            bail!(
                "soak accounts for every acked message, and the reference servers ack nothing: \
                 it runs against Sala only"
            );
        }
        if self.rooms == 0 {
            bail!("--rooms must be at least 1");
        }
        if self.connections < self.rooms {
            bail!(
                "--connections must be at least --rooms ({}): every room needs members",
                self.rooms
            );
        }
        let smallest_room = self.connections / self.rooms;
        if !(1..=smallest_room).contains(&self.publishers_per_room) {
            bail!(
                "--publishers-per-room must be between 1 and the members of the smallest room \
                 ({smallest_room})"
            );
        }
        if self.rate == 0 {
            bail!("--rate must be at least 1 message per second");
        }
        if !(1..=MOST_SECS).contains(&self.duration) {
            bail!("--duration must be between 1 and {MOST_SECS} seconds");
        }
        if self.interval == 0 {
            bail!("--interval must be at least 1 second");
        }
        if !(self.churn_per_sec >= 0.0 && self.churn_per_sec.is_finite()) {
            bail!("--churn-per-sec must be a number, 0 or more");
        }
        if self.users == Some(0) {
            bail!("--users must be at least 1");
        }
        if self.connect_concurrency == 0 {
            bail!("--connect-concurrency must be at least 1");
        }
        Ok(())
    }
}

/// Running totals, read at the edges of a window.
#[derive(Debug, Clone, Copy)]
struct Totals {
    received: u64,
    sent: u64,
    acked: u64,
    churn_ok: u64,
    churn_failed: u64,
}

impl Totals {
    fn read(counters: &Counters, churned: &Churned) -> Self {
        Self {
            received: Counters::get(&counters.received),
            sent: Counters::get(&counters.sent),
            acked: Counters::get(&counters.acked),
            churn_ok: churned.succeeded.load(Ordering::Relaxed),
            churn_failed: churned.failures.count(),
        }
    }
}

/// One report line's worth.
struct Window {
    /// Seconds since sending started, at the window's end.
    elapsed: f64,
    /// The window's length, in seconds.
    secs: f64,
    deliveries: u64,
    sent: u64,
    acked: u64,
    latency: Histogram<u64>,
    /// So far: deliveries missing of the messages acked [`SETTLE`] before the window's end.
    lost: u64,
    /// So far.
    duplicates: u64,
    churn_ok: u64,
    churn_failed: u64,
    rss_kib: Option<u64>,
}

impl Window {
    fn line(&self) -> String {
        let ms = |quantile: f64| self.latency.value_at_quantile(quantile) as f64 / 1000.0;
        let rss = self
            .rss_kib
            .map_or_else(|| "n/a".to_owned(), |kib| format!("{kib} KiB"));
        format!(
            "soak @ {:.0} s: deliveries {} ({:.0}/s), sent {}, acked {}; lost {}, duplicates {}; \
             latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; churn ok {}, failed {}; \
             server RSS {rss}",
            self.elapsed,
            self.deliveries,
            report::per_sec(self.deliveries, self.secs),
            self.sent,
            self.acked,
            self.lost,
            self.duplicates,
            ms(0.5),
            ms(0.99),
            self.latency.max() as f64 / 1000.0,
            self.churn_ok,
            self.churn_failed,
        )
    }

    fn json(&self) -> Value {
        json!({
            "elapsed_secs": self.elapsed,
            "deliveries": self.deliveries,
            "deliveries_per_sec": report::per_sec(self.deliveries, self.secs),
            "sent": self.sent,
            "acked": self.acked,
            "lost_so_far": self.lost,
            "duplicates_so_far": self.duplicates,
            "latency": report::latency_json(&self.latency),
            "churn_connects_ok": self.churn_ok,
            "churn_connects_failed": self.churn_failed,
            "server_rss_kib": self.rss_kib,
        })
    }
}

/// Server memory after the warm-up: the later half of the samples against the earlier.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Trend {
    /// Samples compared (the warm-up's left out).
    samples: usize,
    first_half_kib: f64,
    second_half_kib: f64,
    growth_pct: f64,
}

/// The trend of `series` once its first `warmup` samples are left out; `None` when fewer
/// than two samples remain. With an odd count the middle sample is in neither half.
fn rss_trend(series: &[u64], warmup: usize) -> Option<Trend> {
    let kept = series.get(warmup..)?;
    let half = kept.len() / 2;
    if half == 0 {
        return None;
    }
    let mean = |samples: &[u64]| samples.iter().sum::<u64>() as f64 / samples.len() as f64;
    let first = mean(&kept[..half]);
    let second = mean(&kept[kept.len() - half..]);
    (first > 0.0).then(|| Trend {
        samples: kept.len(),
        first_half_kib: first,
        second_half_kib: second,
        growth_pct: (second - first) / first * 100.0,
    })
}

pub async fn run(args: SoakArgs) -> anyhow::Result<()> {
    args.check()?;
    let target = Target::new(args.target.clone())?;
    let lifetime = Duration::from_millis(args.churn_lifetime_ms);
    // Churning connections alive at once, about: one lifetime (plus a connect) worth.
    let churn_alive = (args.churn_per_sec * (lifetime.as_secs_f64() + 1.0)).ceil() as u64;
    let open_files = setup::raise_open_file_limit(args.connections as u64 + churn_alive, "soak")?;
    let users = args
        .users
        .unwrap_or(args.connections.div_ceil(10))
        .min(args.connections);

    let tokens = setup::login(&target, 0..users, args.connect_concurrency).await?;
    let rooms: Vec<String> = (0..args.rooms)
        .map(|n| format!("{}-{n}", args.room_prefix))
        .collect();
    setup::create_rooms(&target, &tokens, &rooms, args.connect_concurrency).await?;
    let rss_before = report::rss_kib(args.server_pid);

    let per_room = args.connections.div_ceil(args.rooms);
    let place = |i: usize| (i % args.rooms, i / args.rooms);
    let connect_started = Instant::now();
    let plan = (0..args.connections)
        .map(|i| {
            let (room, member) = place(i);
            (
                tokens[(room * per_room + member) % users].clone(),
                rooms[room].clone(),
            )
        })
        .collect();
    let sockets = setup::open_and_join(&target, plan, args.connect_concurrency).await?;
    let connect_secs = connect_started.elapsed().as_secs_f64();

    let publishers = args.rooms * args.publishers_per_room;
    let every = Duration::from_secs_f64(publishers as f64 / f64::from(args.rate));
    let mut members_per_room = vec![0u32; args.rooms];
    let members = sockets
        .into_iter()
        .enumerate()
        .map(|(i, socket)| {
            let (room, member) = place(i);
            members_per_room[room] += 1;
            let index = room * args.publishers_per_room + member;
            Member {
                socket,
                room: rooms[room].clone(),
                publisher: (member < args.publishers_per_room).then(|| Publisher {
                    index,
                    interval: Some(every),
                    offset: every.mul_f64(index as f64 / publishers as f64),
                    window: 1,
                    probes: member == 0,
                    confirm: Confirm::Ack,
                    changes: 0,
                }),
            }
        })
        .collect();
    let room_of_publisher = (0..publishers)
        .map(|index| index / args.publishers_per_room)
        .collect();
    let ledger = Arc::new(Ledger::new(
        rooms.clone(),
        members_per_room,
        room_of_publisher,
    ));
    let group = Group::spawn_tracked(members, target.protocol(), ledger.clone());
    let counters = group.counters();
    eprintln!("warming up…");
    group.warm_up(WARM_UP_LIMIT).await?;

    let churned = Arc::new(Churned::new());
    let churn = (args.churn_per_sec > 0.0).then(|| Churn {
        per_sec: args.churn_per_sec,
        lifetime,
        rooms: rooms.clone(),
        tokens: tokens.clone(),
        sources: Sources::new(Some(1), 0).expect("BUG: one source address is allowed"),
        most_alive: usize::try_from(
            setup::connections_allowed(open_files).saturating_sub(args.connections as u64),
        )
        .unwrap_or(usize::MAX),
        mixed_endings: true,
    });

    eprintln!(
        "soaking for {} s: {} msg/s over {} rooms, {} connections/s churning; a line every {} s…",
        args.duration, args.rate, args.rooms, args.churn_per_sec, args.interval
    );
    let metrics_before = server_metrics::scrape(&target, &args.target.server).await;
    let started = Instant::now();
    let until = started + Duration::from_secs(args.duration);
    group.set(Phase::Send);
    let churning =
        churn.map(|churn| tokio::spawn(churn.run(target.clone(), churned.clone(), until)));
    let mut windows: Vec<Window> = Vec::new();
    let mut last = Totals::read(counters, &churned);
    let mut window_start = started;
    loop {
        let end = (window_start + Duration::from_secs(args.interval)).min(until);
        tokio::time::sleep_until(end.into()).await;
        let now = Totals::read(counters, &churned);
        let window = Window {
            elapsed: end.duration_since(started).as_secs_f64(),
            secs: end.duration_since(window_start).as_secs_f64(),
            deliveries: now.received - last.received,
            sent: now.sent - last.sent,
            acked: now.acked - last.acked,
            latency: ledger.take_window(),
            lost: ledger
                .account(end.checked_sub(SETTLE).unwrap_or(started))
                .lost,
            duplicates: ledger.duplicates(),
            churn_ok: now.churn_ok - last.churn_ok,
            churn_failed: now.churn_failed - last.churn_failed,
            rss_kib: report::rss_kib(args.server_pid),
        };
        println!("{}", window.line());
        windows.push(window);
        last = now;
        window_start = end;
        if end >= until {
            break;
        }
    }
    let send_secs = started.elapsed().as_secs_f64();

    eprintln!("draining…");
    group.drain(Duration::from_secs(args.drain)).await?;
    let drain_until = Instant::now() + Duration::from_secs(args.drain);
    while Instant::now() < drain_until
        && (Counters::get(&counters.acked) < Counters::get(&counters.sent)
            || ledger.account(Instant::now()).lost > 0)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let churn_secs = match churning {
        Some(task) => task.await.context("churn task")?,
        None => 0.0,
    };
    let account = ledger.account(Instant::now());
    let rss_after = report::rss_kib(args.server_pid);
    let metrics_after = server_metrics::scrape(&target, &args.target.server).await;
    let server = server_metrics::explain(metrics_before.as_ref(), metrics_after.as_ref());
    let sent = Counters::get(&counters.sent);
    let acked = Counters::get(&counters.acked);
    let received = Counters::get(&counters.received);
    let errors = Counters::get(&counters.errors);
    let dropped = Counters::get(&counters.dropped);
    let duplicates = ledger.duplicates();
    let misrouted = ledger.misrouted();
    let latencies = group.finish().await?;

    let series: Vec<u64> = windows.iter().filter_map(|window| window.rss_kib).collect();
    let trend = rss_trend(&series, args.warmup_samples);
    let churn_latency = churned.latency();
    let churn_count = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
    let passed = account.lost == 0 && duplicates == 0 && misrouted == 0;
    let unacked = sent.saturating_sub(acked);

    let result = json!({
        "scenario": "soak",
        "target": target.kind_name(),
        "connections": args.connections,
        "rooms": args.rooms,
        "publishers_per_room": args.publishers_per_room,
        "publishers": publishers,
        "users": users,
        "rate": args.rate,
        "duration_secs": args.duration,
        "interval_secs": args.interval,
        "connect_secs": connect_secs,
        "send_secs": send_secs,
        "messages_sent": sent,
        "messages_acked": acked,
        "unacked": unacked,
        "ack_latency": report::latency_json(&latencies.ack),
        "deliveries_owed": account.owed,
        "deliveries_received": account.delivered,
        "lost": account.lost,
        "messages_lost": account.messages_lost,
        "duplicates": duplicates,
        "misrouted": misrouted,
        "deliveries_total": received,
        "latency": report::latency_json(&latencies.delivery),
        "error_frames": errors,
        "connections_dropped": dropped,
        "churn": {
            "per_sec": args.churn_per_sec,
            "lifetime_ms": args.churn_lifetime_ms,
            "churn_secs": churn_secs,
            "attempted": churn_count(&churned.attempted),
            "succeeded": churn_count(&churned.succeeded),
            "failed": churned.failures.count(),
            "first_error": churned.failures.first(),
            "skipped_at_open_file_limit": churn_count(&churned.skipped),
            "closed_cleanly": churn_count(&churned.closed),
            "socket_dropped": churn_count(&churned.abandoned),
            "dropped_early": churn_count(&churned.dropped_early),
            "error_frames": churn_count(&churned.errors),
            "connect_latency": report::latency_json(&churn_latency),
        },
        "windows": windows.iter().map(Window::json).collect::<Vec<_>>(),
        "server_rss_kib_before": rss_before,
        "server_rss_kib_after": rss_after,
        "server_rss_series_kib": series,
        "server_rss_trend": trend.map(|trend| json!({
            "warmup_samples_skipped": args.warmup_samples,
            "samples": trend.samples,
            "first_half_mean_kib": trend.first_half_kib,
            "second_half_mean_kib": trend.second_half_kib,
            "growth_pct": trend.growth_pct,
        })),
        "server_metrics": server,
        "passed": passed,
    });

    let series_line = if series.is_empty() {
        "server RSS: not sampled (no --server-pid)".to_owned()
    } else {
        format!(
            "server RSS every {} s, KiB: {}",
            args.interval,
            series
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        )
    };
    let trend_line = match trend {
        Some(trend) => format!(
            "server RSS trend after warm-up ({} samples skipped, {} compared): {:.0} KiB → \
             {:.0} KiB, {:+.1} %",
            args.warmup_samples,
            trend.samples,
            trend.first_half_kib,
            trend.second_half_kib,
            trend.growth_pct
        ),
        None => format!(
            "server RSS trend: too few samples after the first {} to compare",
            args.warmup_samples
        ),
    };
    let first_churn_error = churned
        .failures
        .first()
        .map(|reason| format!("first churn failure: {reason}\n"))
        .unwrap_or_default();
    let verdict = if passed {
        "PASS: every acked message reached every member of its room, once".to_owned()
    } else {
        format!(
            "FAIL: {} deliveries of acked messages lost ({} messages), {duplicates} duplicates, \
             {misrouted} misrouted",
            account.lost, account.messages_lost
        )
    };
    let summary = format!(
        "soak: {} connections in {} rooms ({} publishing each), {} users, {} msg/s, churn {}/s, \
         {} s\n\
         sent {sent}, acked {acked}, unacked {unacked}; ack latency {}\n\
         deliveries owed by acked messages {}, received {}, lost {} ({} messages); duplicates \
         {duplicates}, misrouted {misrouted}\n\
         delivery latency, whole run: {}\n\
         churn: attempted {}, connected {} ({} closed cleanly, {} dropped the socket), failed \
         {}, skipped {}, dropped early {}, error frames {}; connect latency {}\n\
         {first_churn_error}\
         steady members: error frames {errors}, connections dropped {dropped}\n\
         {series_line}\n{trend_line}\n{}{verdict}",
        args.connections,
        args.rooms,
        args.publishers_per_room,
        users,
        args.rate,
        args.churn_per_sec,
        args.duration,
        report::latency_line(&latencies.ack),
        account.owed,
        account.delivered,
        account.lost,
        account.messages_lost,
        report::latency_line(&latencies.delivery),
        churn_count(&churned.attempted),
        churn_count(&churned.succeeded),
        churn_count(&churned.closed),
        churn_count(&churned.abandoned),
        churned.failures.count(),
        churn_count(&churned.skipped),
        churn_count(&churned.dropped_early),
        churn_count(&churned.errors),
        report::latency_line(&churn_latency),
        server_metrics::line(&result["server_metrics"]),
    );
    report::print(&summary, &result);
    if !passed {
        bail!(
            "{} deliveries of acked messages lost, {duplicates} duplicated, {misrouted} misrouted",
            account.lost
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rss_trend_leaves_the_warm_up_out_and_compares_halves() {
        let trend = rss_trend(&[10, 50, 100, 100, 999, 110, 110], 2).unwrap();
        assert_eq!(trend.samples, 5);
        assert!((trend.first_half_kib - 100.0).abs() < 1e-9);
        assert!((trend.second_half_kib - 110.0).abs() < 1e-9);
        assert!((trend.growth_pct - 10.0).abs() < 1e-9);
    }

    #[test]
    fn the_rss_trend_needs_two_samples_after_the_warm_up() {
        assert_eq!(rss_trend(&[10, 20, 30], 2), None);
        assert_eq!(rss_trend(&[10], 2), None);
        assert!(rss_trend(&[10, 20, 30, 30], 2).is_some());
    }
}
