//! Slow and dead clients (issue #10), against the real `sala` binary:
//!
//! - one that stops reading while its room is busy: closed with 1013 (or dropped, when
//!   not even the close frame fits in what it left unread);
//! - one that vanishes without a close (silent: no FIN, no pong), and one whose connection
//!   is reset: both are dropped, and the room is told `disconnected`;
//! - four waves of 1,000 connections that never authenticate: every one is closed after
//!   the auth timeout, and the server's memory after the last wave is where it was after
//!   the second (no growth per wave; the first wave warms the allocator up).
//!
//! Meanwhile a steady pair keeps chatting: every message still arrives, in order. Their
//! round trips are printed for docs/reliability.md; the test asserts no time.

use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::json;
use tokio::io::AsyncWriteExt as _;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use crate::common::join_room as join;
use crate::common::{Server, Socket, WAIT, connect, next_of, rss_kib, token};

const WAVES: usize = 4;
const SILENT_PER_WAVE: usize = 1000;

/// One value of the server's `/metrics`; a sample not there yet counts as 0.
async fn metric(http: &reqwest::Client, base: &str, sample: &str) -> f64 {
    crate::common::metric(http, base, sample)
        .await
        .unwrap_or(0.0)
}

/// Runs `work` while `socket` is read (and so answers the server's pings): a client that
/// reads nothing for the idle timeout is, rightly, dropped. Frames read meanwhile are
/// discarded; nothing is in flight for it while `work` runs.
async fn keeping_alive<T>(socket: &mut Socket, work: impl std::future::Future<Output = T>) -> T {
    let reading = async {
        while let Some(Ok(_)) = socket.next().await {}
        panic!("a steady connection ended");
    };
    tokio::select! {
        done = work => done,
        () = reading => unreachable!(),
    }
}

/// Waits for `user`'s presence `event`, skipping other frames.
async fn wait_for_presence(socket: &mut Socket, user: &str, event: &str) {
    loop {
        let frame = next_of(socket, "presence").await;
        if frame["user"] == user && frame["event"] == event {
            return;
        }
    }
}

/// The steady pair: `speaker` says one message and `listener` must get it, next in order.
/// Returns the round trip from send to delivery.
async fn round_trip(speaker: &mut Socket, listener: &mut Socket, n: usize) -> Duration {
    let started = Instant::now();
    let text = format!("steady {n}");
    let send = json!({"type": "send", "room": "general", "text": text});
    speaker.send(Message::text(send.to_string())).await.unwrap();
    let ack = next_of(speaker, "ack").await;
    assert!(ack["id"].is_i64(), "{ack}");
    loop {
        let frame = next_of(listener, "message").await;
        if frame["user"] == "speaker" {
            assert_eq!(frame["text"], text, "the steady messages arrive, in order");
            return started.elapsed();
        }
    }
}

async fn round_trips(speaker: &mut Socket, listener: &mut Socket, from: usize) -> Vec<Duration> {
    let mut times = Vec::new();
    for n in from..from + 20 {
        times.push(round_trip(speaker, listener, n).await);
    }
    times.sort();
    times
}

fn median_ms(times: &[Duration]) -> f64 {
    times[times.len() / 2].as_secs_f64() * 1e3
}

/// Opens `count` WebSocket connections that never send `auth`.
async fn silent_connections(base: &str, count: usize) -> Vec<Socket> {
    let url = format!("{}/ws", base.replacen("http", "ws", 1));
    let mut sockets = Vec::with_capacity(count);
    for _ in 0..count {
        let request = url.as_str().into_client_request().unwrap();
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("upgrade");
        sockets.push(socket);
    }
    sockets
}

/// Waits until the server ends `socket`: a close frame or the end of the stream.
async fn closed_by_server(socket: &mut Socket) {
    loop {
        match tokio::time::timeout(WAIT, socket.next()).await {
            Err(_) => panic!("the server never closed an unauthenticated connection"),
            Ok(None | Some(Err(_) | Ok(Message::Close(_)))) => return,
            Ok(Some(Ok(_))) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_dead_and_silent_clients_are_cleaned_up_while_the_others_chat_on() {
    // 1,000 silent sockets plus the rest need more than the usual 1,024 descriptors.
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    rlimit::setrlimit(rlimit::Resource::NOFILE, hard, hard).unwrap();

    let data_dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        data_dir.path(),
        &[
            "--auth-timeout-secs",
            "1",
            "--idle-timeout-secs",
            "3",
            "--outbound-queue",
            "256",
        ],
    );
    let base = server.base.clone();
    let http = reqwest::Client::builder().timeout(WAIT).build().unwrap();
    let mut speaker = connect(&base, &token(&http, &base, "speaker", true).await).await;
    let mut listener = connect(&base, &token(&http, &base, "listener", true).await).await;
    let before = round_trips(&mut speaker, &mut listener, 0).await;

    // A client that stops reading while its room is busy (another room: the steady pair
    // chats on meanwhile): its queue fills, and it is closed.
    let flooder_token = token(&http, &base, "flooder", true).await;
    let made = http
        .post(format!("{base}/api/rooms"))
        .bearer_auth(&flooder_token)
        .json(&json!({"name": "busy"}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    let mut stalled = join(&base, &token(&http, &base, "stalled", true).await, "busy").await;
    let flooder = join(&base, &flooder_token, "busy").await;
    let (mut flood_sink, mut flood_stream) = flooder.split();
    // The flooder reads everything, and waits for each batch's acks before the next, so
    // its own queue never fills: only the stalled client falls behind.
    let (acks_tx, mut acks) = tokio::sync::mpsc::unbounded_channel();
    let draining = tokio::spawn(async move {
        while let Some(Ok(message)) = flood_stream.next().await {
            if message
                .to_text()
                .is_ok_and(|text| text.contains(r#""type":"ack""#))
            {
                let _ = acks_tx.send(());
            }
        }
    });
    let flood = json!({"type": "send", "room": "busy", "text": "x".repeat(2000)}).to_string();
    // Filling the stalled client's queue and socket buffers can take longer than the idle
    // timeout: the steady pair keeps reading (and answering pings) meanwhile.
    let flooding = async {
        let mut sent = 0;
        while metric(&http, &base, "sala_slow_consumers_closed_total ").await < 1.0 {
            for _ in 0..100 {
                flood_sink.send(Message::text(flood.clone())).await.unwrap();
            }
            for _ in 0..100 {
                acks.recv().await.expect("the flooder is served");
            }
            sent += 100;
            assert!(sent < 100_000, "the stalled client was never closed");
        }
    };
    keeping_alive(&mut speaker, keeping_alive(&mut listener, flooding)).await;
    let during_flood = round_trips(&mut speaker, &mut listener, 100).await;
    let ended = loop {
        match tokio::time::timeout(WAIT, stalled.next())
            .await
            .expect("ends")
        {
            Some(Ok(Message::Close(frame))) => break frame.map(|frame| u16::from(frame.code)),
            Some(Ok(_)) => {}
            _ => break None,
        }
    };
    // Close 1013 when the close frame still fits in the socket's buffers; when they are
    // full of what the client never read, the server drops the connection instead.
    assert!(
        matches!(ended, Some(1013) | None),
        "the stalled client is closed with 1013 or dropped, got {ended:?}"
    );
    drop(flood_sink);
    draining.abort();
    // One vanishes: its socket stays open but never answers again (as a pulled cable).
    let vanished = connect(&base, &token(&http, &base, "ghost", true).await).await;
    wait_for_presence(&mut listener, "ghost", "joined").await;
    keeping_alive(
        &mut speaker,
        wait_for_presence(&mut listener, "ghost", "disconnected"),
    )
    .await;
    drop(vanished);
    // One resets its connection (RST, no close frame).
    let resetting = connect(&base, &token(&http, &base, "reset", true).await).await;
    wait_for_presence(&mut listener, "reset", "joined").await;
    if let tokio_tungstenite::MaybeTlsStream::Plain(mut tcp) = resetting.into_inner() {
        tcp.flush().await.unwrap();
        // SO_LINGER 0: closing sends RST at once. (Deprecated because a non-zero linger
        // blocks the thread on drop; zero does not.)
        #[allow(deprecated)]
        tcp.set_linger(Some(Duration::ZERO)).unwrap();
        drop(tcp);
    } else {
        unreachable!("plain TCP");
    }
    wait_for_presence(&mut listener, "reset", "disconnected").await;
    // Waves of connections that never authenticate.
    let pid = server.pid();
    let mut during = Vec::new();
    let mut after_wave = Vec::new();
    let mut rss_after = Vec::new();
    for wave in 0..WAVES {
        let mut silent = keeping_alive(&mut speaker, async {
            keeping_alive(&mut listener, silent_connections(&base, SILENT_PER_WAVE)).await
        })
        .await;
        let rss_peak = rss_kib(pid);
        during.extend(round_trips(&mut speaker, &mut listener, 1000 + wave * 100).await);
        keeping_alive(&mut speaker, async {
            keeping_alive(&mut listener, async {
                for socket in &mut silent {
                    closed_by_server(socket).await;
                }
            })
            .await;
        })
        .await;
        drop(silent);
        after_wave.extend(round_trips(&mut speaker, &mut listener, 2000 + wave * 100).await);
        rss_after.push(rss_kib(pid));
        eprintln!(
            "wave {}: {SILENT_PER_WAVE} silent connections, server RSS {} KiB with them, {} KiB after",
            wave + 1,
            rss_peak,
            rss_after[wave]
        );
    }
    assert_eq!(
        metric(&http, &base, "sala_connections{transport=\"ws\"} ").await,
        2.0,
        "only the steady pair is left"
    );
    // The first wave is the warm-up: the allocator's arenas and caches grow to their
    // working size then (the second wave ended 0–5.8 MiB above it, then flat). After it, a leak of 2 KiB
    // per connection would add 4 MiB over the last two waves.
    assert!(
        rss_after[WAVES - 1] <= rss_after[1] + 4096,
        "memory does not grow per wave after the first: {rss_after:?} KiB"
    );
    during.sort();
    after_wave.sort();
    eprintln!(
        "steady round trip, median: before {:.2} ms, beside the stalled client's flood {:.2} ms, \
         with 1,000 silent connections {:.2} ms, after {:.2} ms",
        median_ms(&before),
        median_ms(&during_flood),
        median_ms(&during),
        median_ms(&after_wave)
    );
}
