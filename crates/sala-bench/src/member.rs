//! Traffic: connections that listen to a room and, as publishers, send to it, moving
//! through the phases of a run together. Used by `fanout` (one room), `rooms` (many) and
//! `churn` (its steady background room).
//!
//! Phases: warm up (a publisher marked `probes` sends probe messages until every member of
//! its room has received one, so every join has taken effect); send, closed loop (each
//! publisher keeps at most `window` messages unconfirmed) or open loop (every `interval`);
//! drain (no more sends; deliveries still on their way are counted); done.
//!
//! What confirms a send, for the closed loop, is the publisher's choice: its own copy
//! coming back (every target), or Sala's ack (stored durably). Either way every delivery of
//! a bench message is counted and its end-to-end latency recorded, and every ack too; a
//! group spawned with a `Ledger` also enters every send, ack and delivery there, message by
//! message (`soak`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt as _, StreamExt as _};
use hdrhistogram::Histogram;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use crate::frames::{self, Seen};
use crate::ledger::{Ledger, Received};
use crate::report;
use crate::target::{Protocol, Socket};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Warmup,
    /// Between the warm-up and the sending: nobody sends, and the last probes land.
    Settle,
    Send,
    Drain,
    Done,
}

/// Counters every member updates.
pub struct Counters {
    /// The clock that send times are measured on (one process, so one `Instant`).
    epoch: Instant,
    /// Bench messages sent (probes not counted).
    pub sent: AtomicU64,
    /// Acks of bench messages received (sends that asked for one).
    pub acked: AtomicU64,
    /// Changes to messages sent (edits, reactions), and their acks.
    pub changes_sent: AtomicU64,
    pub changes_acked: AtomicU64,
    /// Deliveries of bench messages, to every member.
    pub received: AtomicU64,
    /// Deliveries of changes (`message_updated` frames), to every member.
    pub updates_received: AtomicU64,
    /// Members that have received a probe.
    pub probed: AtomicUsize,
    /// Probes sent, and their echoes seen by the members that sent them: the warm-up ends
    /// once they match, so that no probe is stored after the server's counters are read.
    probes_sent: AtomicU64,
    probe_echoes: AtomicU64,
    /// Members that have seen the settle phase (they send no more probes).
    settled: AtomicUsize,
    /// Error frames received.
    pub errors: AtomicU64,
    /// Connections that closed or failed before the run ended.
    pub dropped: AtomicU64,
    /// Members that will send nothing more: they have seen the drain phase, or ended.
    stopped: AtomicUsize,
    /// Told each time a member stops sending (`Group::drain` waits on it).
    stopping: Notify,
}

impl Counters {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            sent: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            changes_sent: AtomicU64::new(0),
            changes_acked: AtomicU64::new(0),
            received: AtomicU64::new(0),
            updates_received: AtomicU64::new(0),
            probed: AtomicUsize::new(0),
            probes_sent: AtomicU64::new(0),
            probe_echoes: AtomicU64::new(0),
            settled: AtomicUsize::new(0),
            errors: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            stopped: AtomicUsize::new(0),
            stopping: Notify::new(),
        }
    }

    /// Counts a member out of the sending, once. Release: whatever it counted before (its
    /// last `sent`) is visible to `Group::drain`'s caller after this.
    fn stop_sending(&self, stopped: &mut bool) {
        if !*stopped {
            *stopped = true;
            self.stopped.fetch_add(1, Ordering::Release);
            self.stopping.notify_one();
        }
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// What frees a closed-loop publisher's window slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    /// The publisher's own copy of the message comes back (every target). Sends carry no
    /// `client_id`.
    Echo,
    /// Sala's ack: the message is stored. Sends carry a `client_id` (and, on Socket.io, ask
    /// for the ack callback).
    Ack,
}

/// A member that sends.
#[derive(Debug, Clone, Copy)]
pub struct Publisher {
    /// Unique among the publishers of the run: it is in every message's text.
    pub index: usize,
    /// Open loop: one send every `interval`. `None`: closed loop.
    pub interval: Option<Duration>,
    /// Open loop: the first send comes `offset` into the sending phase, so that publishers
    /// take turns instead of sending in bursts together.
    pub offset: Duration,
    /// Closed loop: most messages unconfirmed at once.
    pub window: usize,
    /// Sends the probes of its room while warming up.
    pub probes: bool,
    pub confirm: Confirm,
    /// Percent of its operations that change one of its messages instead of sending one
    /// (Sala over `/ws` with acks only): edits, reactions and their removal, in turn, on its
    /// newest acked message.
    pub changes: u32,
}

/// One connection, joined to `room` already.
pub struct Member {
    pub socket: Socket,
    pub room: String,
    pub publisher: Option<Publisher>,
}

/// What the members measured, merged.
pub struct Latencies {
    /// Send to delivery, every delivery of a bench message.
    pub delivery: Histogram<u64>,
    /// Send to ack, every acked bench message.
    pub ack: Histogram<u64>,
}

impl Latencies {
    fn new() -> Self {
        Self {
            delivery: report::histogram(),
            ack: report::histogram(),
        }
    }
}

/// Members running, and the phase they are in.
pub struct Group {
    counters: Arc<Counters>,
    phase: watch::Sender<Phase>,
    tasks: Vec<JoinHandle<Latencies>>,
    size: usize,
}

impl Group {
    /// Starts every member, in the warm-up phase.
    pub fn spawn(members: Vec<Member>, protocol: Protocol) -> Self {
        Self::spawn_with(members, protocol, None)
    }

    /// Starts every member, in the warm-up phase, entering every bench message's send, ack
    /// and deliveries in `ledger` (publisher indexes are the ledger's).
    pub fn spawn_tracked(members: Vec<Member>, protocol: Protocol, ledger: Arc<Ledger>) -> Self {
        Self::spawn_with(members, protocol, Some(ledger))
    }

    fn spawn_with(members: Vec<Member>, protocol: Protocol, ledger: Option<Arc<Ledger>>) -> Self {
        let counters = Arc::new(Counters::new());
        let (phase, watching) = watch::channel(Phase::Warmup);
        let size = members.len();
        let tasks = members
            .into_iter()
            .map(|member| {
                let shared = Shared {
                    protocol,
                    counters: counters.clone(),
                    ledger: ledger.clone(),
                };
                tokio::spawn(run(member, shared, watching.clone()))
            })
            .collect();
        Self {
            counters,
            phase,
            tasks,
            size,
        }
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Waits until every member has received a probe, then until the probes still on their
    /// way have landed (a probe stored after the server's counters were read made the
    /// server count one message more than the bench had sent).
    ///
    /// # Errors
    /// When that takes longer than `limit`.
    pub async fn warm_up(&self, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        self.wait_until(deadline, "received a probe", || {
            self.counters.probed.load(Ordering::Relaxed) >= self.size
        })
        .await?;
        self.set(Phase::Settle);
        self.wait_until(deadline, "settled after the warm-up", || {
            let counters = &self.counters;
            counters.settled.load(Ordering::Acquire) >= self.size
                && counters.probe_echoes.load(Ordering::Acquire)
                    >= counters.probes_sent.load(Ordering::Acquire)
        })
        .await
    }

    async fn wait_until(
        &self,
        deadline: Instant,
        what: &str,
        done: impl Fn() -> bool,
    ) -> anyhow::Result<()> {
        while !done() {
            if Instant::now() > deadline {
                bail!(
                    "not every connection {what} in time ({} of {} probed, {} settled)",
                    self.counters.probed.load(Ordering::Relaxed),
                    self.size,
                    self.counters.settled.load(Ordering::Relaxed),
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    pub fn set(&self, phase: Phase) {
        self.phase.send_replace(phase);
    }

    /// Ends the sending phase, and returns once every member has finished the send it may
    /// have been in the middle of: from then on `sent` is final. (Reading it right after
    /// `set(Phase::Drain)` could miss a send still on its way, whose deliveries then
    /// arrived beyond what was expected.)
    ///
    /// # Errors
    /// When a member is still sending after `limit` (its socket blocked).
    pub async fn drain(&self, limit: Duration) -> anyhow::Result<()> {
        self.set(Phase::Drain);
        let deadline = tokio::time::Instant::now() + limit;
        // notify_one keeps a permit when no one waits, so a member that stops between the
        // check and the wait is not missed.
        while self.counters.stopped.load(Ordering::Acquire) < self.size {
            if tokio::time::timeout_at(deadline, self.counters.stopping.notified())
                .await
                .is_err()
            {
                bail!(
                    "{} of {} connections were still sending {} s after the sending phase",
                    self.size - self.counters.stopped.load(Ordering::Acquire),
                    self.size,
                    limit.as_secs()
                );
            }
        }
        Ok(())
    }

    /// Ends the run (phase done) and merges the members' latencies.
    ///
    /// # Errors
    /// When a member task panicked.
    pub async fn finish(self) -> anyhow::Result<Latencies> {
        self.set(Phase::Done);
        let mut merged = Latencies::new();
        for task in self.tasks {
            let latencies = task.await.context("connection task")?;
            merged
                .delivery
                .add(latencies.delivery)
                .context("merging latencies")?;
            merged.ack.add(latencies.ack).context("merging latencies")?;
        }
        Ok(merged)
    }
}

/// What every member of a group shares.
struct Shared {
    protocol: Protocol,
    counters: Arc<Counters>,
    ledger: Option<Arc<Ledger>>,
}

/// One connection: listens always, sends if it is a publisher. Returns its latencies.
async fn run(member: Member, shared: Shared, mut phase: watch::Receiver<Phase>) -> Latencies {
    let Shared {
        protocol,
        counters,
        ledger,
    } = shared;
    let ledger = ledger.as_deref();
    let mut received = Received::default();
    let mut latencies = Latencies::new();
    let Member {
        socket,
        room,
        publisher,
    } = member;
    let (mut sink, mut stream) = socket.split();
    let mut probed = false;
    let mut seq: u64 = 0;
    let mut in_flight: usize = 0;
    let mut stopped = false;
    let my_index = publisher.map(|p| p.index);
    let interval = publisher.and_then(|p| p.interval);
    let offset = publisher.map_or(Duration::ZERO, |p| p.offset);
    let window = publisher.map_or(0, |p| p.window.max(1));
    let probes = publisher.is_some_and(|p| p.probes);
    let confirm = publisher.map_or(Confirm::Echo, |p| p.confirm);
    let changes = publisher.map_or(0, |p| p.changes);
    // The newest of its messages acked (what a change changes), and how many operations
    // it has made (every `100 / changes`-th is a change).
    let mut newest_acked: Option<i64> = None;
    let mut operations: u64 = 0;
    let mut ticker = tokio::time::interval(interval.unwrap_or(Duration::from_millis(100)));
    // Burst: a tick delayed by a busy moment is made up for, so the offered rate holds.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut current = *phase.borrow();
    loop {
        let warming_probe = probes && current == Phase::Warmup;
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
                if matches!(current, Phase::Drain | Phase::Done) {
                    counters.stop_sending(&mut stopped);
                }
                if current == Phase::Done { break; }
                if current == Phase::Settle {
                    counters.settled.fetch_add(1, Ordering::AcqRel);
                }
                if current == Phase::Send {
                    // Ticks missed while warming up must not burst out now.
                    ticker.reset_at(tokio::time::Instant::now() + offset);
                }
            }
            _ = ticker.tick(), if ticking => {
                if warming_probe {
                    // Counted before it leaves, so that the settle phase waits for its echo.
                    counters.probes_sent.fetch_add(1, Ordering::AcqRel);
                    if sink.send(Message::text(protocol.send(&room, "probe"))).await.is_err() {
                        counters.probes_sent.fetch_sub(1, Ordering::AcqRel);
                    }
                    continue;
                }
                operations += 1;
                if let Some(target) = newest_acked.filter(|_| change_due(operations, changes)) {
                    if send_change(&mut sink, &room, target, operations).await.is_ok() {
                        counters.changes_sent.fetch_add(1, Ordering::Relaxed);
                        in_flight += 1;
                    }
                    continue;
                }
                seq += 1;
                let index = my_index.unwrap_or_default();
                let bench = Bench { index, seq, sent_ns: counters.now_ns() };
                if send(&mut sink, protocol, &room, confirm, bench, ledger).await.is_ok() {
                    counters.sent.fetch_add(1, Ordering::Relaxed);
                    in_flight += 1;
                }
            }
            frame = stream.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => {
                        counters.dropped.fetch_add(1, Ordering::Relaxed);
                        counters.stop_sending(&mut stopped);
                        // Wait for the end so the report still collects these latencies.
                        while phase.changed().await.is_ok() && *phase.borrow() != Phase::Done {}
                        break;
                    }
                };
                if let Some(answer) = protocol.answer(text.as_str()) {
                    let _ = sink.send(Message::text(answer)).await;
                    continue;
                }
                match frames::classify(text.as_str(), protocol) {
                    Seen::Bench { publisher, seq: their_seq, sent_ns } => {
                        counters.received.fetch_add(1, Ordering::Relaxed);
                        let micros = counters.now_ns().saturating_sub(sent_ns) / 1000;
                        let _ = latencies.delivery.record(micros.max(1));
                        if let Some(ledger) = ledger {
                            ledger.delivered(&mut received, &room, publisher, their_seq, micros);
                        }
                        if confirm == Confirm::Echo && Some(publisher) == my_index {
                            in_flight = in_flight.saturating_sub(1);
                        }
                    }
                    Seen::Ack { seq: acked_seq, sent_ns: Some(sent_ns), id } => {
                        counters.acked.fetch_add(1, Ordering::Relaxed);
                        if changes > 0 {
                            newest_acked = id.max(newest_acked);
                        }
                        let micros = counters.now_ns().saturating_sub(sent_ns) / 1000;
                        let _ = latencies.ack.record(micros.max(1));
                        if let (Some(ledger), Some(index), Some(acked_seq)) = (ledger, my_index, acked_seq) {
                            ledger.acked(index, acked_seq);
                        }
                        if confirm == Confirm::Ack {
                            in_flight = in_flight.saturating_sub(1);
                        }
                    }
                    Seen::Updated => {
                        counters.updates_received.fetch_add(1, Ordering::Relaxed);
                    }
                    Seen::Probe => {
                        if probes {
                            counters.probe_echoes.fetch_add(1, Ordering::AcqRel);
                        }
                        if !probed {
                            probed = true;
                            counters.probed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Seen::Error { send } => {
                        counters.errors.fetch_add(1, Ordering::Relaxed);
                        if send && confirm == Confirm::Ack {
                            in_flight = in_flight.saturating_sub(1);
                        }
                    }
                    Seen::SendRefused if confirm == Confirm::Ack => {
                        in_flight = in_flight.saturating_sub(1);
                    }
                    // A change's ack carries no bench client_id. (Nor does a probe's, but
                    // the probes are all answered before the sending starts.)
                    Seen::Ack { sent_ns: None, .. }
                        if changes > 0
                            && confirm == Confirm::Ack
                            && matches!(current, Phase::Send | Phase::Drain) =>
                    {
                        counters.changes_acked.fetch_add(1, Ordering::Relaxed);
                        in_flight = in_flight.saturating_sub(1);
                    }
                    Seen::Ack { .. } | Seen::Joined | Seen::SendRefused | Seen::Other => {}
                }
            }
            () = std::future::ready(()), if closed_loop_ready => {
                operations += 1;
                if let Some(target) = newest_acked.filter(|_| change_due(operations, changes)) {
                    if send_change(&mut sink, &room, target, operations).await.is_ok() {
                        counters.changes_sent.fetch_add(1, Ordering::Relaxed);
                        in_flight += 1;
                    }
                    continue;
                }
                seq += 1;
                let index = my_index.unwrap_or_default();
                let bench = Bench { index, seq, sent_ns: counters.now_ns() };
                if send(&mut sink, protocol, &room, confirm, bench, ledger).await.is_ok() {
                    counters.sent.fetch_add(1, Ordering::Relaxed);
                    in_flight += 1;
                }
            }
        }
    }
    counters.stop_sending(&mut stopped);
    let _ = sink.close().await;
    latencies
}

/// Whether operation `n` (from 1) is a change, `percent` of them spread evenly.
fn change_due(n: u64, percent: u32) -> bool {
    let percent = u64::from(percent);
    percent > 0 && n * percent / 100 > (n - 1) * percent / 100
}

/// A change to message `id`: an edit, a reaction, or its removal, in turn. An edit's
/// `client_id` has no dash, so its ack is not read as a bench message's.
async fn send_change(
    sink: &mut SplitSink<Socket, Message>,
    room: &str,
    id: i64,
    operation: u64,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    let frame = match operation % 3 {
        0 => serde_json::json!({"type": "edit", "room": room, "id": id,
            "text": format!("edited {operation}"), "client_id": format!("e{operation}")}),
        1 => serde_json::json!({"type": "react", "room": room, "id": id, "emoji": "👍"}),
        _ => serde_json::json!({"type": "unreact", "room": room, "id": id, "emoji": "👍"}),
    };
    sink.send(Message::text(frame.to_string())).await
}

/// One bench message: message `seq` of publisher `index`, sent at `sent_ns`.
#[derive(Debug, Clone, Copy)]
struct Bench {
    index: usize,
    seq: u64,
    sent_ns: u64,
}

/// Sends a bench message, asking for an ack if `confirm` says so, and enters it in
/// `ledger` first.
async fn send(
    sink: &mut SplitSink<Socket, Message>,
    protocol: Protocol,
    room: &str,
    confirm: Confirm,
    bench: Bench,
    ledger: Option<&Ledger>,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    let Bench {
        index,
        seq,
        sent_ns,
    } = bench;
    if let Some(ledger) = ledger {
        ledger.sent(index, seq);
    }
    let text = frames::bench_text(index, seq, sent_ns);
    let frame = match confirm {
        Confirm::Echo => protocol.send(room, &text),
        Confirm::Ack => {
            protocol.send_acked(room, &text, &frames::client_id(index, seq, sent_ns), seq)
        }
    };
    sink.send(Message::text(frame)).await
}
