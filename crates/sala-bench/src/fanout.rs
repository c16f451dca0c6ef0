//! The fan-out scenario: S subscribers and P publishers in one room. Publishers send
//! messages whose text carries publisher, sequence and send time; every member (publishers
//! too) receives every message and records its end-to-end latency.
//!
//! Phases: connect and join; warm up (publisher 0 sends probes until every connection has
//! received one, so every join has taken effect); send for `--duration` seconds, closed-loop
//! (each publisher keeps at most `--window` of its own messages not yet echoed back) or
//! open-loop at `--rate` messages/s in total; drain for up to `--drain` seconds; report.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use futures_util::{SinkExt as _, StreamExt as _, stream};
use hdrhistogram::Histogram;
use serde_json::json;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use crate::report;
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Warmup,
    Send,
    Drain,
    Done,
}

/// Counters every connection task updates.
struct Shared {
    /// The clock that send times are measured on (one process, so one `Instant`).
    epoch: Instant,
    sent: AtomicU64,
    received: AtomicU64,
    probed: AtomicUsize,
    errors: AtomicU64,
    dropped: AtomicU64,
}

impl Shared {
    fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// What a connection does besides listening.
#[derive(Debug, Clone, Copy)]
enum Role {
    Subscriber,
    /// Open loop: sends every `interval`, its first send `offset` into the sending phase so
    /// that publishers take turns instead of sending in bursts together.
    Publisher {
        index: usize,
        interval: Option<Duration>,
        offset: Duration,
        window: usize,
    },
}

pub async fn run(args: FanoutArgs) -> anyhow::Result<()> {
    if args.publishers == 0 {
        bail!("--publishers must be at least 1");
    }
    let target = Target::new(args.target.clone())?;
    if let Some(server) = &args.publish_server {
        crate::target::check_loopback("--publish-server", server)?;
    }
    let total = args.subscribers + args.publishers;
    let rss_before = report::rss_kib(args.server_pid);

    eprintln!("logging in {total} users…");
    let tokens: Vec<String> = stream::iter(0..total)
        .map(|i| {
            let target = target.clone();
            async move { target.token(&target.username(i)).await }
        })
        .buffered(args.connect_concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    if target.kind() == Kind::Sala {
        create_room(&args, &tokens[0]).await?;
    }

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

    let shared = Arc::new(Shared {
        epoch: Instant::now(),
        sent: AtomicU64::new(0),
        received: AtomicU64::new(0),
        probed: AtomicUsize::new(0),
        errors: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
    });
    let (phase_tx, phase) = watch::channel(Phase::Warmup);
    let per_publisher = (args.rate > 0)
        .then(|| Duration::from_secs_f64(args.publishers as f64 / f64::from(args.rate)));
    let tasks: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .map(|(i, socket)| {
            let role = if i < args.publishers {
                Role::Publisher {
                    index: i,
                    interval: per_publisher,
                    offset: per_publisher.map_or(Duration::ZERO, |every| {
                        every.mul_f64(i as f64 / args.publishers as f64)
                    }),
                    window: args.window.max(1),
                }
            } else {
                Role::Subscriber
            };
            tokio::spawn(member(
                socket,
                role,
                target.protocol(),
                args.room.clone(),
                shared.clone(),
                phase.clone(),
            ))
        })
        .collect();

    eprintln!("warming up…");
    let warmup_deadline = Instant::now() + Duration::from_secs(60);
    while shared.probed.load(Ordering::Relaxed) < total {
        if Instant::now() > warmup_deadline {
            bail!(
                "only {} of {total} connections received a probe within 60 s",
                shared.probed.load(Ordering::Relaxed)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    eprintln!("sending for {} s…", args.duration);
    let received_before = shared.received.load(Ordering::Relaxed);
    let send_started = Instant::now();
    phase_tx.send_replace(Phase::Send);
    tokio::time::sleep(Duration::from_secs(args.duration)).await;
    phase_tx.send_replace(Phase::Drain);
    let send_secs = send_started.elapsed().as_secs_f64();
    let sent = shared.sent.load(Ordering::Relaxed);
    let expected = sent * total as u64;
    let drain_deadline = Instant::now() + Duration::from_secs(args.drain);
    while shared.received.load(Ordering::Relaxed) - received_before < expected
        && Instant::now() < drain_deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = send_started.elapsed().as_secs_f64();
    let received = shared.received.load(Ordering::Relaxed) - received_before;
    let rss_after = report::rss_kib(args.server_pid);
    phase_tx.send_replace(Phase::Done);

    let mut latency = report::histogram();
    for task in tasks {
        latency
            .add(task.await.context("connection task")?)
            .context("merging latencies")?;
    }

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
        "latency": report::latency_json(&latency),
        "error_frames": shared.errors.load(Ordering::Relaxed),
        "connections_dropped": shared.dropped.load(Ordering::Relaxed),
        "server_rss_kib_before": rss_before,
        "server_rss_kib_after": rss_after,
    });
    println!(
        "fanout: {total} connections ({} subscribers + {} publishers), {}\n\
         sent {sent} messages in {send_secs:.1} s ({:.0}/s); deliveries {received} of {expected} \
         expected, {:.0}/s\nlatency p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms\n\
         error frames {}, connections dropped {}",
        args.subscribers,
        args.publishers,
        result["mode"].as_str().unwrap_or_default(),
        result["messages_per_sec"].as_f64().unwrap_or_default(),
        result["deliveries_per_sec"].as_f64().unwrap_or_default(),
        result["latency"]["p50_ms"].as_f64().unwrap_or_default(),
        result["latency"]["p99_ms"].as_f64().unwrap_or_default(),
        result["latency"]["p999_ms"].as_f64().unwrap_or_default(),
        result["latency"]["max_ms"].as_f64().unwrap_or_default(),
        result["error_frames"],
        result["connections_dropped"],
    );
    println!("{result}");
    Ok(())
}

async fn create_room(args: &FanoutArgs, token: &str) -> anyhow::Result<()> {
    let base = args.target.server.trim_end_matches('/');
    let response = reqwest::Client::new()
        .post(format!("{base}/api/rooms"))
        .bearer_auth(token)
        .json(&json!({"name": args.room, "topic": "sala-bench"}))
        .send()
        .await?;
    if !(response.status().is_success() || response.status() == 409) {
        bail!("creating room {}: {}", args.room, response.status());
    }
    Ok(())
}

/// What a received frame was, from a cheap scan rather than a full JSON parse: the load
/// generator must stay faster than the server it measures.
enum Seen {
    Bench { publisher: usize, sent_ns: u64 },
    Probe,
    Error,
    Other,
}

fn classify(frame: &str, protocol: Protocol) -> Seen {
    const TEXT: &str = "\"text\":\"";
    if let Some(start) = frame.find(TEXT) {
        let rest = &frame[start + TEXT.len()..];
        let text = &rest[..rest.find('"').unwrap_or(rest.len())];
        let mut words = text.split(' ');
        return match (words.next(), words.next(), words.next(), words.next()) {
            (Some("b"), Some(publisher), Some(_seq), Some(sent_ns)) => {
                match (publisher.parse(), sent_ns.parse()) {
                    (Ok(publisher), Ok(sent_ns)) => Seen::Bench { publisher, sent_ns },
                    _ => Seen::Other,
                }
            }
            (Some("probe"), ..) => Seen::Probe,
            _ => Seen::Other,
        };
    }
    if protocol.is_error(frame) {
        Seen::Error
    } else {
        Seen::Other
    }
}

/// One connection: listens always, sends if it is a publisher. Returns its latencies.
async fn member(
    socket: Socket,
    role: Role,
    protocol: Protocol,
    room: String,
    shared: Arc<Shared>,
    mut phase: watch::Receiver<Phase>,
) -> Histogram<u64> {
    let mut latency = report::histogram();
    let (mut sink, mut stream) = socket.split();
    let mut probed = false;
    let mut seq: u64 = 0;
    let mut in_flight: usize = 0;
    let (my_index, interval, offset, window) = match role {
        Role::Publisher {
            index,
            interval,
            offset,
            window,
        } => (Some(index), interval, offset, window),
        Role::Subscriber => (None, None, Duration::ZERO, 0),
    };
    let mut ticker = tokio::time::interval(interval.unwrap_or(Duration::from_millis(100)));
    // Burst: a tick delayed by a busy moment is made up for, so the offered rate holds.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut current = *phase.borrow();
    loop {
        let warming_probe = my_index == Some(0) && current == Phase::Warmup;
        let closed_loop_ready = my_index.is_some()
            && interval.is_none()
            && current == Phase::Send
            && in_flight < window;
        let ticking =
            warming_probe || (my_index.is_some() && interval.is_some() && current == Phase::Send);
        tokio::select! {
            biased;
            changed = phase.changed() => {
                if changed.is_err() { break; }
                current = *phase.borrow();
                if current == Phase::Done { break; }
                if current == Phase::Send {
                    // Ticks missed while warming up must not burst out now.
                    ticker.reset_at(tokio::time::Instant::now() + offset);
                }
            }
            _ = ticker.tick(), if ticking => {
                let text = if warming_probe {
                    "probe".to_owned()
                } else {
                    seq += 1;
                    format!("b {} {seq} {}", my_index.unwrap_or_default(), shared.now_ns())
                };
                let counted = !warming_probe;
                if send(&mut sink, protocol, &room, &text).await.is_err() { continue; }
                if counted { shared.sent.fetch_add(1, Ordering::Relaxed); in_flight += 1; }
            }
            frame = stream.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => {
                        shared.dropped.fetch_add(1, Ordering::Relaxed);
                        // Wait for the end so the report still collects this histogram.
                        while phase.changed().await.is_ok() && *phase.borrow() != Phase::Done {}
                        break;
                    }
                };
                if let Some(answer) = protocol.answer(text.as_str()) {
                    let _ = sink.send(Message::text(answer)).await;
                    continue;
                }
                match classify(text.as_str(), protocol) {
                    Seen::Bench { publisher, sent_ns } => {
                        shared.received.fetch_add(1, Ordering::Relaxed);
                        let micros = shared.now_ns().saturating_sub(sent_ns) / 1000;
                        let _ = latency.record(micros.max(1));
                        if Some(publisher) == my_index {
                            in_flight = in_flight.saturating_sub(1);
                        }
                    }
                    Seen::Probe if !probed => {
                        probed = true;
                        shared.probed.fetch_add(1, Ordering::Relaxed);
                    }
                    Seen::Error => { shared.errors.fetch_add(1, Ordering::Relaxed); }
                    Seen::Probe | Seen::Other => {}
                }
            }
            () = std::future::ready(()), if closed_loop_ready => {
                seq += 1;
                let text = format!("b {} {seq} {}", my_index.unwrap_or_default(), shared.now_ns());
                if send(&mut sink, protocol, &room, &text).await.is_ok() {
                    shared.sent.fetch_add(1, Ordering::Relaxed);
                    in_flight += 1;
                }
            }
        }
    }
    let _ = sink.close().await;
    latency
}

async fn send(
    sink: &mut futures_util::stream::SplitSink<Socket, Message>,
    protocol: Protocol,
    room: &str,
    text: &str,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    sink.send(Message::text(protocol.send(room, text))).await
}
