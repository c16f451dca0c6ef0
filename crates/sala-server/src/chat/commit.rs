//! Group commit: the one task that stores messages and changes to them, then acks and
//! broadcasts them.
//!
//! Sessions queue [`CommitRequest`]s (a send, an edit, a deletion, a reaction); this task
//! takes everything queued (up to [`MAX_BATCH`]) and writes it in one transaction, so writes
//! arriving together share one fsync. Only after the commit does each sender get its `ack`
//! and each room its `message` or `message_updated`. Because this single task both commits
//! and broadcasts, in commit order, every member sees a room's changes in position order,
//! and a sender always sees its `ack` before its own frame (both travel through the
//! sender's one FIFO queue).

use std::sync::Arc;

use sala_proto::frames::{MessageChange, ServerFrame};
use sala_store::{
    Appended, ChangeKind, MessageRecord, MessageWrite, MessageWritten, Store, StoreError,
};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::ChatError;
use crate::cluster::Cluster;
use crate::cluster::hub::{ConnHandle, Event, RequestId};
use crate::metrics::Metrics;
use crate::wire;

/// Most messages stored in one transaction. Only a writer that falls behind fills a batch;
/// then a larger one shares each index page and the fsync among more messages (DMs,
/// 500 rooms × 2, writing all at once: 2,048 gave 1.6 × the acked rate of 512, issue 20).
pub const MAX_BATCH: usize = 2048;
/// Messages that may wait for the writer before senders have to wait too.
pub const QUEUE_CAPACITY: usize = 8192;

/// One write to carry out, and where its ack goes.
pub struct CommitRequest {
    pub write: MessageWrite,
    pub room: String,
    /// Who writes: the `by` of the room's `message_updated`.
    pub by: String,
    /// The sender's connection, for the ack (or the error); `None` for the assistant.
    pub sender: Option<ConnHandle>,
    /// The sender's request the ack (or the error) answers.
    pub reply_to: Option<RequestId>,
    /// Who waits for the outcome itself (an HTTP request), besides any connection.
    pub answer: Option<Answer>,
}

/// Where the outcome of one write goes when a caller awaits it.
pub type Answer = oneshot::Sender<Result<MessageWritten, ChatError>>;

/// Told of every message as it is stored for the first time, on the writer's task: it
/// must return at once (the assistant looks for mentions and replies in the background).
pub trait AfterCommit: Send + Sync + 'static {
    fn stored(&self, message: &MessageRecord, room_id: i64);

    /// A message was deleted (its files with it), on the writer's task.
    fn deleted(&self, _message: &MessageRecord) {}
}

/// The assistant, and the file collector's wake-up: a deletion leaves bytes to delete.
pub struct Observers {
    pub assistant: super::assistant::Assistant,
    pub files_released: Arc<tokio::sync::Notify>,
}

impl AfterCommit for Observers {
    fn stored(&self, message: &MessageRecord, room_id: i64) {
        self.assistant.stored(message, room_id);
    }

    fn deleted(&self, _message: &MessageRecord) {
        self.files_released.notify_one();
    }
}

struct Route {
    room: String,
    room_id: i64,
    by: String,
    /// What a change changes, for its `message_updated` (`None`: a send).
    change: Option<MessageChange>,
    client_id: Option<String>,
    sender: Option<ConnHandle>,
    reply_to: Option<RequestId>,
    answer: Option<Answer>,
}

/// Runs until `stop` is cancelled and everything queued before it has been committed.
pub async fn run(
    store: Arc<dyn Store>,
    cluster: Cluster,
    mut requests: mpsc::Receiver<CommitRequest>,
    stop: CancellationToken,
    metrics: Arc<Metrics>,
    after_commit: impl AfterCommit,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut stopping = false;
    loop {
        let received = if stopping {
            requests.recv_many(&mut batch, MAX_BATCH).await
        } else {
            tokio::select! {
                received = requests.recv_many(&mut batch, MAX_BATCH) => received,
                () = stop.cancelled() => {
                    // No new requests; what is queued is still committed below.
                    requests.close();
                    stopping = true;
                    continue;
                }
            }
        };
        if received == 0 {
            break;
        }
        let (messages, routes): (Vec<MessageWrite>, Vec<Route>) = batch
            .drain(..)
            .map(|request| {
                let (room_id, change, client_id) = match &request.write {
                    MessageWrite::Append(message) => {
                        (message.room_id, None, message.client_id.clone())
                    }
                    MessageWrite::Change(change) => {
                        let (what, client_id) = match &change.kind {
                            ChangeKind::Edit { client_id, .. } => {
                                (MessageChange::Edited, client_id.clone())
                            }
                            ChangeKind::Delete { .. } => (MessageChange::Deleted, None),
                            ChangeKind::React { .. } => (MessageChange::Reacted, None),
                        };
                        (change.room_id, Some(what), client_id)
                    }
                };
                let route = Route {
                    room: request.room,
                    room_id,
                    by: request.by,
                    change,
                    client_id,
                    sender: request.sender,
                    reply_to: request.reply_to,
                    answer: request.answer,
                };
                (request.write, route)
            })
            .unzip();
        let delivery = Delivery {
            cluster: &cluster,
            metrics: &metrics,
            after_commit: &after_commit,
        };
        commit(store.as_ref(), &delivery, &messages, routes).await;
    }
    tracing::debug!("message writer stopped");
}

/// Where stored messages go.
struct Delivery<'a, A> {
    /// This node's members, and the other nodes'.
    cluster: &'a Cluster,
    metrics: &'a Metrics,
    after_commit: &'a A,
}

async fn commit(
    store: &dyn Store,
    delivery: &Delivery<'_, impl AfterCommit>,
    writes: &[MessageWrite],
    routes: Vec<Route>,
) {
    let metrics = delivery.metrics;
    let started = std::time::Instant::now();
    let stored = store.write_messages(writes).await;
    metrics.record_commit(writes.len(), started.elapsed());
    match stored {
        Ok(written) => deliver(delivery, routes, written),
        // One bad write (say, its room vanished) must not sink the others: retry singly.
        Err(StoreError::NotFound | StoreError::Backend(_)) if writes.len() > 1 => {
            for (write, route) in writes.iter().zip(routes) {
                match store.write_messages(std::slice::from_ref(write)).await {
                    Ok(written) => deliver(delivery, vec![route], written),
                    Err(err) => refuse(metrics, vec![route], err),
                }
            }
        }
        Err(err) => refuse(metrics, routes, err),
    }
}

/// After the commit: the ack (or the refusal) to each sender, then what changed to its
/// room.
fn deliver(
    delivery: &Delivery<'_, impl AfterCommit>,
    routes: Vec<Route>,
    written: Vec<MessageWritten>,
) {
    for (mut route, written) in routes.into_iter().zip(written) {
        if let Some(answer) = route.answer.take() {
            // A caller that stopped waiting (a dropped request) misses nothing it needs.
            let _ = answer.send(Ok(written.clone()));
        }
        // Each position this write took follows the one before it in the room's log.
        let mut follows = written.follows();
        let mut told = |event: &Arc<Event>| {
            delivery
                .cluster
                .broadcast_write(&route.room, event, follows);
            if let (Some(_), Some(position)) = (follows, event.position()) {
                follows = Some(position);
            }
        };
        match written {
            MessageWritten::Appended {
                appended: Appended { record, is_new },
                thread_root,
                ..
            } => {
                // The stored message's room: a reused client_id names the original message.
                ack(&route, &record, None);
                // A repeated client_id was broadcast when it was first stored.
                if is_new {
                    delivery.metrics.messages_stored.increment(1);
                    delivery.after_commit.stored(&record, route.room_id);
                    told(&Event::new(ServerFrame::Message(wire::message(record))));
                }
                if let Some(root) = thread_root {
                    told(&updated(&route, MessageChange::Replied, root));
                }
            }
            MessageWritten::Changed {
                record,
                changed,
                thread_root,
                ..
            } => {
                ack(&route, &record, Some(record.seq));
                if changed && route.change == Some(MessageChange::Deleted) {
                    delivery.after_commit.deleted(&record);
                }
                if changed {
                    let change = route.change.unwrap_or(MessageChange::Changed);
                    told(&updated(&route, change, record));
                }
                if let Some(root) = thread_root {
                    told(&updated(&route, MessageChange::Replied, root));
                }
            }
            MessageWritten::Refused(refusal) => {
                if let Some(sender) = &route.sender {
                    let err = ChatError::from(refusal);
                    delivery.metrics.count_error(err.code());
                    let error = err.to_event_for(Some(&route.room), route.client_id.as_deref());
                    sender.reply(error, route.reply_to);
                }
            }
        }
    }
}

/// The sender's `ack`: the message's id, and for a change its position after it. A send's
/// ack names the stored message's `client_id` (a repeated one names the original); a
/// change's names the change's own, or none: never the message's, which was its send's.
fn ack(route: &Route, record: &MessageRecord, seq: Option<i64>) {
    if let Some(sender) = &route.sender {
        let client_id = match route.change {
            Some(_) => route.client_id.clone(),
            None => record.client_id.clone(),
        };
        let ack = Event::new(ServerFrame::Ack {
            room: record.room.clone(),
            id: record.id,
            client_id,
            seq,
        });
        sender.reply(ack, route.reply_to);
    }
}

/// A changed message, as it is now, for its room.
fn updated(route: &Route, change: MessageChange, record: MessageRecord) -> Arc<Event> {
    Event::new(ServerFrame::MessageUpdated {
        room: route.room.clone(),
        change,
        by: Some(route.by.clone()),
        message: wire::message(record),
    })
}

/// Nothing was stored: each sender gets an error naming its message, and no ack; it may
/// retry with the same `client_id`.
fn refuse(metrics: &Metrics, routes: Vec<Route>, err: StoreError) {
    metrics.commit_failures.increment(1);
    let err = ChatError::from(err);
    for mut route in routes {
        if let Some(answer) = route.answer.take() {
            let _ = answer.send(Err(err.clone()));
        }
        if let Some(sender) = &route.sender {
            metrics.count_error(err.code());
            let error = err.to_event_for(Some(&route.room), route.client_id.as_deref());
            sender.reply(error, route.reply_to);
        }
    }
}
