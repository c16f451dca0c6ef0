//! The history scenario: reconnecting clients resume with `join` + `since` while the room
//! is busy (SPEC §3: every message with `id > since`, no gap, no duplicate).
//!
//! Setup: one publisher fills the room with `--backlog` messages, closed loop, and keeps
//! the id of every ack. Then for `--duration` seconds, `--joiners` clients each loop:
//! connect, `join` with `since` = a random backlog id (or, with `--resume-within N`, one of
//! the newest N), wait for `joined`, check its history,
//! close. Meanwhile the publisher goes on sending at `--rate` msg/s, so resumes race with
//! new messages. Ids increase within a room but are not consecutive (they are unique across
//! rooms), so the check compares the history with the acked ids: see [`check_resume`].
//!
//! Sala over `/ws` only: the peers keep no history, and Socket.io's `join` event carries no
//! `since`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use futures_util::{SinkExt as _, StreamExt as _};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::sync::{oneshot, watch};
use tokio_tungstenite::tungstenite::Message;

use crate::frames::{self, Seen};
use crate::random::SplitMix;
use crate::report::{self, Failures};
use crate::setup;
use crate::target::{Dial, Kind, Protocol, Socket, Target, TargetArgs};

/// Most time one connect + join may take.
const JOIN_LIMIT: Duration = Duration::from_secs(30);

#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// The room (created first).
    #[arg(long, default_value = "history")]
    room: String,
    /// Messages sent into the room before the joiners start.
    #[arg(long, default_value_t = 2000)]
    backlog: usize,
    /// Clients resuming at once, each in a loop.
    #[arg(long, default_value_t = 8)]
    joiners: usize,
    /// Resume from one of the newest N messages stored (each join then carries about N/2
    /// messages of history, plus what arrives meanwhile) instead of from anywhere in the
    /// backlog (0).
    #[arg(long, default_value_t = 0)]
    resume_within: usize,
    /// Seconds of resuming.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Messages per second the publisher sends while the joiners resume (0: none).
    #[arg(long, default_value_t = 50)]
    rate: u32,
    /// Messages the publisher has unacked at once while filling the backlog.
    #[arg(long, default_value_t = 16)]
    window: usize,
    /// Logins in flight while setting up.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// PID of the server, to report its memory (VmRSS) before and after.
    #[arg(long)]
    server_pid: Option<u32>,
}

impl HistoryArgs {
    fn check(&self) -> anyhow::Result<()> {
        if self.target.target == Kind::Peer {
            bail!(
                "the history scenario needs Sala: the reference servers keep no history \
                 (use --target sala)"
            );
        }
        if self.target.protocol == Protocol::Socketio {
            bail!(
                "the history scenario runs over /ws only: Socket.io's `join` event carries \
                 no `since` (use --protocol ws)"
            );
        }
        if self.backlog == 0 {
            bail!("--backlog must be at least 1");
        }
        if self.joiners == 0 {
            bail!("--joiners must be at least 1");
        }
        if self.duration == 0 {
            bail!("--duration must be at least 1 second");
        }
        if self.window == 0 {
            bail!("--window must be at least 1");
        }
        if self.connect_concurrency == 0 {
            bail!("--connect-concurrency must be at least 1");
        }
        Ok(())
    }
}

/// The ids of the room's messages that have been acked, ascending.
#[derive(Default)]
struct Known {
    /// Held for an insert, or for one resume's check (no await inside).
    ids: Mutex<Vec<i64>>,
}

impl Known {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<i64>> {
        self.ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn insert(&self, id: i64) {
        let mut ids = self.lock();
        // Acks come in order; the search only guards against one that does not.
        match ids.last() {
            Some(&last) if last >= id => {
                if let Err(at) = ids.binary_search(&id) {
                    ids.insert(at, id);
                }
            }
            _ => ids.push(id),
        }
    }

    fn newest(&self) -> Option<i64> {
        self.lock().last().copied()
    }
}

/// What the publisher did.
#[derive(Default)]
struct Published {
    sent: AtomicU64,
    acked: AtomicU64,
    errors: AtomicU64,
    /// The first error frame, to explain a refused backlog.
    first_error: Mutex<Option<String>>,
}

/// What the joiners saw.
struct Resumed {
    joins: AtomicU64,
    joins_with_more: AtomicU64,
    messages: AtomicU64,
    /// Resumes whose history broke the rules, and the first one's description.
    violations: Failures,
    /// Connects or joins that failed.
    failures: Failures,
    /// Join sent to `joined`, and start to upgrade; held only to record one.
    join_latency: Mutex<Histogram<u64>>,
    connect_latency: Mutex<Histogram<u64>>,
}

pub async fn run(args: HistoryArgs) -> anyhow::Result<()> {
    args.check()?;
    let target = Target::new(args.target.clone())?;
    setup::raise_open_file_limit(args.joiners as u64 + 1, "history")?;
    let tokens = setup::login(&target, 0..args.joiners + 1, args.connect_concurrency).await?;
    target.create_room(&tokens[0], &args.room).await?;
    let rss_before = report::rss_kib(args.server_pid);

    eprintln!("filling the room with {} messages…", args.backlog);
    let publisher = setup::connect_and_join(
        &target,
        &tokens[0],
        &args.room,
        None,
        Dial::default(),
        JOIN_LIMIT,
    )
    .await
    .context("the publisher's join")?;
    let known = Arc::new(Known::default());
    let published = Arc::new(Published::default());
    let (filled_tx, filled) = oneshot::channel();
    let (stop, stopped) = watch::channel(false);
    let fill_started = Instant::now();
    let publishing = tokio::spawn(publish(
        publisher.socket,
        args.room.clone(),
        Plan {
            backlog: args.backlog,
            window: args.window,
            rate: args.rate,
        },
        known.clone(),
        published.clone(),
        filled_tx,
        stopped,
    ));
    // The publisher sends this when every backlog send has been answered, or drops it.
    tokio::time::timeout(Duration::from_secs(600), filled)
        .await
        .context("the backlog was not stored within 600 s")?
        .context("the publisher's connection failed while filling the backlog")?;
    let fill_secs = fill_started.elapsed().as_secs_f64();
    let backlog: Vec<i64> = known.lock().clone();
    if backlog.len() < args.backlog {
        let first = published
            .first_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .unwrap_or_default();
        bail!(
            "the server stored {} of {} backlog messages (first refusal: {first}); \
             start it with a higher --send-rate and --send-burst",
            backlog.len(),
            args.backlog
        );
    }
    let backlog = Arc::new(backlog);

    eprintln!(
        "{} joiners resuming for {} s while {} msg/s are sent…",
        args.joiners, args.duration, args.rate
    );
    let resumed = Arc::new(Resumed {
        joins: AtomicU64::new(0),
        joins_with_more: AtomicU64::new(0),
        messages: AtomicU64::new(0),
        violations: Failures::default(),
        failures: Failures::default(),
        join_latency: Mutex::new(report::histogram()),
        connect_latency: Mutex::new(report::histogram()),
    });
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration);
    let joiners: Vec<_> = (1..=args.joiners)
        .map(|n| {
            let joiner = Joiner {
                target: target.clone(),
                token: tokens[n].clone(),
                room: args.room.clone(),
                backlog: backlog.clone(),
                resume_within: args.resume_within,
                known: known.clone(),
                resumed: resumed.clone(),
            };
            tokio::spawn(joiner.run(deadline, n as u64))
        })
        .collect();
    for joiner in joiners {
        joiner.await.context("joiner task")?;
    }
    let resume_secs = started.elapsed().as_secs_f64();
    stop.send_replace(true);
    publishing.await.context("publisher task")?;
    let rss_after = report::rss_kib(args.server_pid);

    let joins = resumed.joins.load(Ordering::Relaxed);
    let messages = resumed.messages.load(Ordering::Relaxed);
    let lock = |histogram: &Mutex<Histogram<u64>>| {
        histogram
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    };
    let join_latency = lock(&resumed.join_latency);
    let connect_latency = lock(&resumed.connect_latency);
    let sent = published.sent.load(Ordering::Relaxed);
    let background_sent = sent.saturating_sub(args.backlog as u64);
    let messages_per_join = if joins > 0 {
        messages as f64 / joins as f64
    } else {
        0.0
    };
    let result = json!({
        "scenario": "history",
        "target": target.kind_name(),
        "room": args.room,
        "backlog": args.backlog,
        "fill_secs": fill_secs,
        "joiners": args.joiners,
        "resume_within": args.resume_within,
        "duration_secs": resume_secs,
        "joins": joins,
        "joins_per_sec": report::per_sec(joins, resume_secs),
        "join_latency": report::latency_json(&join_latency),
        "connect_latency": report::latency_json(&connect_latency),
        "messages_per_join": messages_per_join,
        "joins_with_more": resumed.joins_with_more.load(Ordering::Relaxed),
        "history_errors": resumed.violations.count(),
        "first_history_error": resumed.violations.first(),
        "join_failures": resumed.failures.count(),
        "first_error": resumed.failures.first(),
        "background": {
            "rate": args.rate,
            "messages_sent": background_sent,
            "messages_acked": published.acked.load(Ordering::Relaxed).saturating_sub(args.backlog as u64),
            "error_frames": published.errors.load(Ordering::Relaxed),
        },
        "server_rss_kib_before": rss_before,
        "server_rss_kib_after": rss_after,
    });
    let summary = format!(
        "history: backlog of {} stored in {fill_secs:.1} s; {} joiners for {resume_secs:.1} s \
         with {background_sent} messages sent meanwhile\n\
         {joins} joins ({:.0}/s), {messages_per_join:.0} messages each; join latency {}\n\
         history errors {}, join failures {}",
        args.backlog,
        args.joiners,
        report::per_sec(joins, resume_secs),
        report::latency_line(&join_latency),
        resumed.violations.count(),
        resumed.failures.count(),
    );
    report::print(&summary, &result);
    Ok(())
}

/// What the publisher sends.
#[derive(Debug, Clone, Copy)]
struct Plan {
    backlog: usize,
    window: usize,
    rate: u32,
}

/// The publisher: the backlog, closed loop (then `filled`), then `rate` msg/s until
/// `stop` (and up to 2 s more for the last acks). Every ack's id goes into `known`.
async fn publish(
    socket: Socket,
    room: String,
    plan: Plan,
    known: Arc<Known>,
    published: Arc<Published>,
    filled: oneshot::Sender<()>,
    mut stop: watch::Receiver<bool>,
) {
    let protocol = Protocol::Ws;
    let (mut sink, mut stream) = socket.split();
    let mut filled = Some(filled);
    let mut seq: u64 = 0;
    let mut answered: usize = 0;
    let epoch = Instant::now();
    let mut ticker =
        tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(plan.rate.max(1))));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    // Once told to stop: sends still unanswered get until then to be acked.
    let mut lingering: Option<tokio::time::Instant> = None;
    loop {
        let filling = filled.is_some();
        let sent = usize::try_from(seq).unwrap_or(usize::MAX);
        if lingering.is_some() && answered >= sent {
            break;
        }
        let may_fill = filling && sent < plan.backlog && sent - answered < plan.window;
        let ticking = !filling && plan.rate > 0 && lingering.is_none();
        let linger_end = lingering.unwrap_or_else(tokio::time::Instant::now);
        tokio::select! {
            biased;
            _ = stop.changed(), if lingering.is_none() => {
                lingering = Some(tokio::time::Instant::now() + Duration::from_secs(2));
            }
            () = tokio::time::sleep_until(linger_end), if lingering.is_some() => break,
            frame = stream.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(_)) => continue,
                    // Dropping `filled` unanswered tells a filling run.
                    Some(Err(_)) | None => break,
                };
                match frames::classify(text.as_str(), protocol) {
                    Seen::Ack { id: Some(id), sent_ns: Some(_), .. } => {
                        known.insert(id);
                        published.acked.fetch_add(1, Ordering::Relaxed);
                        answered += 1;
                    }
                    Seen::Error { send } => {
                        published.errors.fetch_add(1, Ordering::Relaxed);
                        published
                            .first_error
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .get_or_insert_with(|| text.as_str().to_owned());
                        if send {
                            answered += 1;
                        }
                    }
                    _ => {}
                }
                if filling && answered >= plan.backlog
                    && let Some(filled) = filled.take()
                {
                    let _ = filled.send(());
                    ticker.reset();
                }
            }
            () = std::future::ready(()), if may_fill => {
                seq += 1;
                if send(&mut sink, &room, seq, &epoch).await.is_err() { break; }
                published.sent.fetch_add(1, Ordering::Relaxed);
            }
            _ = ticker.tick(), if ticking => {
                seq += 1;
                if send(&mut sink, &room, seq, &epoch).await.is_err() { break; }
                published.sent.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    let _ = sink.close().await;
}

/// Sends message `seq` of the history publisher (publisher index 0), asking for its ack.
async fn send(
    sink: &mut futures_util::stream::SplitSink<Socket, Message>,
    room: &str,
    seq: u64,
    epoch: &Instant,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    let sent_ns = u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
    let frame = Protocol::Ws.send_acked(
        room,
        &format!("history {seq}"),
        &frames::client_id(0, seq, sent_ns),
        seq,
    );
    sink.send(Message::text(frame)).await
}

/// One resuming client.
struct Joiner {
    target: Target,
    token: String,
    room: String,
    backlog: Arc<Vec<i64>>,
    /// See [`HistoryArgs::resume_within`].
    resume_within: usize,
    known: Arc<Known>,
    resumed: Arc<Resumed>,
}

impl Joiner {
    /// Where the next resume starts: a backlog id, or one of the newest `resume_within`.
    fn pick_since(&self, random: &mut SplitMix) -> i64 {
        if self.resume_within > 0 {
            let known = self.known.lock();
            let newest = &known[known.len().saturating_sub(self.resume_within)..];
            if !newest.is_empty() {
                let pick = usize::try_from(random.next() % newest.len() as u64).unwrap_or(0);
                return newest[pick];
            }
        }
        let pick = usize::try_from(random.next() % self.backlog.len() as u64).unwrap_or(0);
        self.backlog[pick]
    }

    async fn run(self, deadline: Instant, seed: u64) {
        let mut random = SplitMix(seed);
        while Instant::now() < deadline {
            let since = self.pick_since(&mut random);
            let newest_before = self.known.newest().unwrap_or(since);
            let joined = match setup::connect_and_join(
                &self.target,
                &self.token,
                &self.room,
                Some(since),
                Dial::default(),
                JOIN_LIMIT,
            )
            .await
            {
                Ok(joined) => joined,
                Err(err) => {
                    self.resumed.failures.add(&err);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            self.record(&joined, since, newest_before);
            setup::close(joined.socket, Duration::from_secs(5)).await;
        }
    }

    fn record(&self, joined: &setup::Joined, since: i64, newest_before: i64) {
        let resumed = &self.resumed;
        resumed.joins.fetch_add(1, Ordering::Relaxed);
        report::record(
            &mut resumed
                .join_latency
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            joined.joined.saturating_sub(joined.upgraded),
        );
        report::record(
            &mut resumed
                .connect_latency
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            joined.upgraded,
        );
        let verdict =
            parse_joined(joined.frame.as_deref().unwrap_or_default()).and_then(|(ids, more)| {
                resumed
                    .messages
                    .fetch_add(ids.len() as u64, Ordering::Relaxed);
                if more {
                    resumed.joins_with_more.fetch_add(1, Ordering::Relaxed);
                }
                check_resume(&ids, more, since, &self.known.lock(), newest_before)
            });
        if let Err(violation) = verdict {
            resumed
                .violations
                .add(&anyhow::anyhow!("since {since}: {violation}"));
        }
    }
}

/// The history ids and `more` of a `joined` frame.
fn parse_joined(frame: &str) -> Result<(Vec<i64>, bool), String> {
    let joined: Value =
        serde_json::from_str(frame).map_err(|err| format!("`joined` is not JSON: {err}"))?;
    let history = joined["history"]
        .as_array()
        .ok_or("`joined` has no history array")?;
    let ids = history
        .iter()
        .map(|message| message["id"].as_i64().ok_or("a history message has no id"))
        .collect::<Result<Vec<_>, _>>()?;
    let more = joined["more"].as_bool().ok_or("`joined` has no `more`")?;
    Ok((ids, more))
}

/// Checks one resume: `history` (ids in the order received) answered `join` with `since`,
/// with `more`. `known` is every id acked in the room so far, ascending, and
/// `newest_before` the newest acked before the join was sent. The history must:
/// - be strictly increasing, and start after `since`;
/// - hold exactly the known ids after `since`, up to its own last id (ids past the newest
///   known may belong to messages whose ack is still on its way: not checked);
/// - if `more` is false, reach at least `newest_before` (a message acked before the join
///   must be in it); if `more` is true, not be empty.
fn check_resume(
    history: &[i64],
    more: bool,
    since: i64,
    known: &[i64],
    newest_before: i64,
) -> Result<(), String> {
    if let Some(pair) = history.windows(2).find(|pair| pair[0] >= pair[1]) {
        return Err(format!("ids not increasing: {} then {}", pair[0], pair[1]));
    }
    if let Some(&first) = history.first()
        && first <= since
    {
        return Err(format!("first id {first} is not after since"));
    }
    let newest_known = known.last().copied().unwrap_or(since);
    let upto = history.last().copied().unwrap_or(since).min(newest_known);
    let start = known.partition_point(|&id| id <= since);
    let end = known.partition_point(|&id| id <= upto);
    let expected = &known[start..end.max(start)];
    let got: Vec<i64> = history.iter().copied().filter(|&id| id <= upto).collect();
    if got != expected {
        let missing = expected.iter().find(|id| !got.contains(id));
        let unexpected = got.iter().find(|id| !expected.contains(id));
        return Err(match (missing, unexpected) {
            (Some(id), _) => format!("message {id} is missing"),
            (None, Some(id)) => format!("message {id} is not one of the room's"),
            (None, None) => "the history repeats a message".to_owned(),
        });
    }
    match (history.last(), more) {
        (None, true) => Err("`more` is true but the history is empty".to_owned()),
        (Some(&last), false) if last < newest_before => Err(format!(
            "the history ends at {last}, but {newest_before} was acked before the join \
             (and `more` is false)"
        )),
        (None, false) if newest_before > since => Err(format!(
            "the history is empty, but {newest_before} was acked before the join"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[i64] = &[10, 12, 13, 20, 21];

    #[test]
    fn a_complete_resume_passes() {
        assert_eq!(check_resume(&[13, 20, 21], false, 12, KNOWN, 21), Ok(()));
        assert_eq!(check_resume(&[], false, 21, KNOWN, 21), Ok(()));
        // 22 is newer than anything acked yet: its ack may be on its way.
        assert_eq!(
            check_resume(&[13, 20, 21, 22], false, 12, KNOWN, 21),
            Ok(())
        );
        // Cut short with `more`: the first page must still be gap-free.
        assert_eq!(check_resume(&[12, 13], true, 10, KNOWN, 21), Ok(()));
    }

    #[test]
    fn gaps_repeats_and_old_messages_fail() {
        assert!(check_resume(&[13, 21], false, 12, KNOWN, 21).is_err());
        assert!(check_resume(&[13, 13, 20, 21], false, 12, KNOWN, 21).is_err());
        assert!(check_resume(&[12, 13, 20, 21], false, 12, KNOWN, 21).is_err());
        assert!(check_resume(&[13, 15, 20, 21], false, 12, KNOWN, 21).is_err());
    }

    #[test]
    fn a_history_that_stops_early_fails() {
        assert!(check_resume(&[13, 20], false, 12, KNOWN, 21).is_err());
        assert!(check_resume(&[], false, 12, KNOWN, 21).is_err());
        assert!(check_resume(&[], true, 12, KNOWN, 21).is_err());
    }

    #[test]
    fn joined_frames_are_parsed() {
        let frame = r#"{"type":"joined","room":"r","members":[],"history":[{"id":3},{"id":5}],"more":true}"#;
        assert_eq!(parse_joined(frame), Ok((vec![3, 5], true)));
        assert!(parse_joined(r#"{"type":"joined"}"#).is_err());
    }
}
