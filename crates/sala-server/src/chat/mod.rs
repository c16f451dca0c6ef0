//! What a connected client can do (SPEC §3), whatever its transport: join, leave, send,
//! history, typing, status, read, ping. Each command combines the store (what lasts) and
//! the hub (who is live).
//!
//! - [`admission`]: an authenticated connection admitted (user, cap, `ready`, logout
//!   re-check) and closed when its token expires, for every transport alike.
//! - [`command`]: a client's frame parsed into a [`command::Command`] of domain values,
//!   or refused; the one place a command's fields are checked.
//! - [`dms`]: opening direct messages, and telling their people.
//! - [`moderation`]: who may invite, kick, ban, mute and give roles, and what it does live.
//! - [`visibility`]: who may see which room (private rooms and DMs: members only).
//! - [`client`]: one connected client (any transport): its commands parsed, then applied.
//! - [`commit`]: the group-commit writer that stores messages, then acks and broadcasts them.
//! - [`error`]: `ChatError`, answered as an `error` frame; the connection stays open.
//! - [`rate`]: the token bucket that limits sends.
//! - [`permits`]: who was found free to write where, remembered for a moment.
//! - [`assistant`]: replies for busy users who are mentioned, and their catch-up.
//! - [`background`]: the work those start, tracked and stopped by shutdown.

pub mod admission;
pub mod assistant;
pub mod background;
pub mod changes;
pub mod client;
pub mod command;
pub mod commit;
pub mod dms;
pub mod error;
pub mod mentions;
pub mod moderation;
pub mod permits;
pub mod rate;
pub mod visibility;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sala_proto::frames::ServerFrame;
use sala_store::{StatusRecord, Store, StoreError, UserRecord};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::cluster::Cluster;
use crate::cluster::hub::{CloseReason, Hub};
use crate::metrics::Metrics;
use background::Background;
pub use client::Client;
use commit::CommitRequest;
pub use error::ChatError;

/// How long shutdown waits for the assistant's replies and catch-ups before stopping them.
const BACKGROUND_GRACE: Duration = Duration::from_secs(5);
/// Messages looked through for a catch-up (the user's rooms, since they became busy).
const CATCH_UP_SCAN: u32 = 2000;

/// Tunables of the real-time layer, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct ChatLimits {
    /// Capacity of each connection's outbound queue, in frames.
    pub outbound_queue: usize,
    /// How long a connection may leave its replies unread (or a write make no progress)
    /// before it is closed as too slow.
    pub write_timeout: Duration,
    /// Sustained messages per second one user may send (all their connections together).
    pub sends_per_sec: f64,
    /// Messages one user may send in a burst.
    pub send_burst: u32,
    /// Other commands (join, leave, history, typing, status, read, ping) per second one
    /// user may give, sustained, over all their connections.
    pub commands_per_sec: f64,
    /// Other commands one user may give in a burst.
    pub command_burst: u32,
    /// Connections one user may hold open on this node.
    pub max_connections_per_user: usize,
    /// Rooms one connection may have joined at once.
    pub max_rooms_per_connection: usize,
    /// Shortest interval between two `typing` frames forwarded for one room and connection.
    pub typing_interval: Duration,
    /// Shortest interval between two assistant replies for one busy user in one room.
    pub assistant_interval: Duration,
    /// How long after sending a message may be edited (`None`: always).
    pub edit_window: Option<Duration>,
}

/// The real-time service of a node. Cheap to clone.
#[derive(Clone)]
pub struct Chat {
    inner: Arc<Inner>,
}

struct Inner {
    /// The hub, and the other nodes if any: everything fans out through it.
    cluster: Cluster,
    store: Arc<dyn Store>,
    limits: ChatLimits,
    /// Bounded: when the writer falls behind, senders wait (backpressure), nothing grows.
    commits: mpsc::Sender<CommitRequest>,
    /// Cancelled at shutdown: readers stop taking commands.
    stop_reading: CancellationToken,
    /// Cancelled at shutdown after the readers: the writer commits what is queued, then ends.
    stop_committing: CancellationToken,
    committer: Mutex<Option<JoinHandle<()>>>,
    assistant: assistant::Assistant,
    /// The assistant's replies and the catch-ups: finished (or stopped) before the writer.
    background: Background,
    metrics: Arc<Metrics>,
    send_rates: rate::UserRates,
    command_rates: rate::UserRates,
    /// Who may write where, as the store last said (not muted, not blocked).
    write_permits: permits::WritePermits,
    /// Notified after each deletion: the file collector deletes what it released.
    files_released: Arc<tokio::sync::Notify>,
}

impl Chat {
    /// Starts the message writer, delivering through `cluster`.
    pub fn start(
        store: Arc<dyn Store>,
        cluster: Cluster,
        limits: ChatLimits,
        metrics: Arc<Metrics>,
        model: Option<assistant::ModelEndpoint>,
    ) -> Self {
        let (commits, requests) = mpsc::channel(commit::QUEUE_CAPACITY);
        let background = Background::default();
        let assistant = assistant::Assistant::new(
            store.clone(),
            model,
            limits.assistant_interval,
            commits.clone(),
            metrics.clone(),
            background.clone(),
        );
        let stop_committing = CancellationToken::new();
        let files_released = Arc::new(tokio::sync::Notify::new());
        let committer = tokio::spawn(commit::run(
            store.clone(),
            cluster.clone(),
            requests,
            stop_committing.clone(),
            metrics.clone(),
            commit::Observers {
                assistant: assistant.clone(),
                files_released: files_released.clone(),
            },
        ));
        Self {
            inner: Arc::new(Inner {
                cluster,
                store,
                limits,
                commits,
                stop_reading: CancellationToken::new(),
                stop_committing,
                committer: Mutex::new(Some(committer)),
                assistant,
                background,
                metrics,
                send_rates: rate::UserRates::new(limits.sends_per_sec, limits.send_burst),
                command_rates: rate::UserRates::new(limits.commands_per_sec, limits.command_burst),
                write_permits: permits::WritePermits::default(),
                files_released,
            }),
        }
    }

    /// Notified after each deletion of a message (see [`crate::files`]).
    pub fn files_released(&self) -> Arc<tokio::sync::Notify> {
        self.inner.files_released.clone()
    }

    pub fn hub(&self) -> &Hub {
        self.inner.cluster.hub()
    }

    pub fn cluster(&self) -> &Cluster {
        &self.inner.cluster
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub fn limits(&self) -> &ChatLimits {
        &self.inner.limits
    }

    /// The send-rate buckets of the users connected here.
    pub fn send_rates(&self) -> &rate::UserRates {
        &self.inner.send_rates
    }

    /// The buckets of the users connected here for commands other than `send`.
    pub fn command_rates(&self) -> &rate::UserRates {
        &self.inner.command_rates
    }

    /// Who was found free to write where: forgotten by whatever may change that.
    pub fn write_permits(&self) -> &permits::WritePermits {
        &self.inner.write_permits
    }

    /// Users with a live connection in the room, on any node.
    pub fn online_count(&self, room: &str) -> u64 {
        self.hub().online_count(room)
    }

    /// Ends a login session: revoked in the store, then every connection opened with it is
    /// closed, on every node.
    ///
    /// # Errors
    /// When the store fails; no connection is closed then.
    pub async fn end_session(&self, session_id: &str) -> Result<(), StoreError> {
        self.store()
            .revoke_session(session_id, chrono::Utc::now())
            .await?;
        self.cluster().close_session(session_id);
        Ok(())
    }

    /// The live figures `/metrics` reports: rooms with connections, deliveries so far,
    /// bytes queued for sockets.
    pub fn gauges(&self) -> crate::metrics::Gauges {
        let hub = self.hub();
        crate::metrics::Gauges {
            rooms: hub.room_count() as u64,
            deliveries: hub.deliveries(),
            queued_bytes: hub.queued_bytes() as u64,
        }
    }

    /// Resolves when transports should stop reading commands (shutdown has begun).
    pub fn stop_reading(&self) -> &CancellationToken {
        &self.inner.stop_reading
    }

    pub(crate) fn commits(&self) -> &mpsc::Sender<CommitRequest> {
        &self.inner.commits
    }

    /// Sets a user's status (HTTP or `status` frame), tells their rooms and devices, and,
    /// when a busy user becomes available, sends their connections the catch-up.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn change_status(
        &self,
        user_id: i64,
        availability: crate::domain::Availability,
    ) -> Result<UserRecord, StoreError> {
        let store = &self.inner.store;
        let before = store.get_user(user_id).await?.ok_or(StoreError::NotFound)?;
        // The same status again changes nothing: no write, no broadcast (a flood of
        // identical `status` frames was one fsync'd write and one fan-out each).
        if before.status.busy == availability.busy && before.status.note == availability.note {
            return Ok(before);
        }
        let status = StatusRecord {
            busy: availability.busy,
            note: availability.note,
            busy_since: availability.busy.then(chrono::Utc::now),
        };
        let user = store.set_status(user_id, &status).await?;
        self.publish_status(&user).await?;
        if let (true, false, Some(since)) = (
            before.status.busy,
            user.status.busy,
            before.status.busy_since,
        ) {
            let chat = self.clone();
            let user = user.clone();
            self.inner.background.spawn(async move {
                if let Err(err) = chat.catch_up(&user, since).await {
                    tracing::warn!(error = %err, "could not send the catch-up");
                }
            });
        }
        Ok(user)
    }

    /// The messages that mentioned the user since `since`, as a private `catch_up` frame.
    async fn catch_up(
        &self,
        user: &UserRecord,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        let missed: Vec<_> = self
            .inner
            .store
            .messages_since(user.id, since, CATCH_UP_SCAN)
            .await?
            .into_iter()
            .filter(|m| {
                !m.assistant
                    && m.user_id != user.id
                    && mentions::mentions_user(&m.text, &user.username)
            })
            .collect();
        let summary = self
            .inner
            .assistant
            .summarize(&user.username, &missed)
            .await;
        let frame = ServerFrame::CatchUp {
            items: missed.into_iter().map(crate::wire::message).collect(),
            summary,
        };
        self.inner
            .cluster
            .send_to_user(user.id, &crate::cluster::hub::Event::new(frame), None);
        Ok(())
    }

    /// Tells the user's rooms and devices about a status change (HTTP or `status` frame).
    ///
    /// # Errors
    /// When the user's rooms cannot be read.
    pub async fn publish_status(&self, user: &UserRecord) -> Result<(), StoreError> {
        let store = &self.inner.store;
        // A muted user's status (and its note) is not pushed into the rooms they are muted
        // in: a note is text, and a mute keeps their text out of that room.
        let muted = store
            .restricted_rooms(user.id, sala_store::Restriction::Mute, chrono::Utc::now())
            .await?;
        let rooms: Vec<String> = store
            .member_rooms(user.id)
            .await?
            .into_iter()
            .filter(|membership| !muted.contains(&membership.room.id))
            .map(|membership| membership.room.name)
            .collect();
        let event = crate::cluster::hub::Event::new(ServerFrame::Status {
            user: user.username.clone(),
            status: crate::wire::status(user),
            note: user.status.note.clone(),
        });
        self.inner
            .cluster
            .send_to_rooms_and_user(&rooms, user.id, &event);
        Ok(())
    }

    /// Shuts the real-time layer down without losing an acked message: readers stop taking
    /// commands, the writer commits and acks everything queued, then every connection is
    /// closed with "going away" after its queue drains.
    pub async fn shutdown(&self) {
        self.inner.stop_reading.cancel();
        // Replies to messages already stored go out before the writer stops.
        self.inner.background.finish(BACKGROUND_GRACE).await;
        self.inner.stop_committing.cancel();
        let committer = self
            .inner
            .committer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(committer) = committer
            && let Err(err) = committer.await
        {
            tracing::error!(error = %err, "the message writer ended abnormally");
        }
        self.cluster().close_all(CloseReason::GoingAway);
    }
}
