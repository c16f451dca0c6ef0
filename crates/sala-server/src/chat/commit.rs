//! Group commit: the one task that stores messages, then acks and broadcasts them.
//!
//! Sessions queue [`CommitRequest`]s; this task takes everything queued (up to
//! [`MAX_BATCH`]) and stores it in one transaction, so messages arriving together share one
//! fsync. Only after the commit does each sender get its `ack` and each room its `message`.
//! Because this single task both commits and broadcasts, in commit order, every member sees
//! a room's messages in id order, and a sender always sees its `ack` before its `message`
//! (both travel through the sender's one FIFO queue).

use std::sync::Arc;

use sala_proto::frames::ServerFrame;
use sala_store::{Appended, MessageRecord, NewMessage, Store, StoreError};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::ChatError;
use crate::cluster::Cluster;
use crate::cluster::hub::{ConnHandle, Event, RequestId, Skip};
use crate::metrics::Metrics;
use crate::wire;

/// Most messages stored in one transaction.
pub const MAX_BATCH: usize = 512;
/// Messages that may wait for the writer before senders have to wait too.
pub const QUEUE_CAPACITY: usize = 8192;

/// One message to store, and where its ack goes.
pub struct CommitRequest {
    pub message: NewMessage,
    pub room: String,
    /// The sender's connection, for the ack (or the error); `None` for the assistant.
    pub sender: Option<ConnHandle>,
    /// The sender's request the ack (or the error) answers.
    pub reply_to: Option<RequestId>,
}

/// Told of every message as it is stored for the first time, on the writer's task: it
/// must return at once (the assistant looks for mentions and replies in the background).
pub trait AfterCommit: Send + Sync + 'static {
    fn stored(&self, message: &MessageRecord, room_id: i64);
}

struct Route {
    room: String,
    room_id: i64,
    client_id: Option<String>,
    sender: Option<ConnHandle>,
    reply_to: Option<RequestId>,
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
        let (messages, routes): (Vec<NewMessage>, Vec<Route>) = batch
            .drain(..)
            .map(|request| {
                let route = Route {
                    room: request.room,
                    room_id: request.message.room_id,
                    client_id: request.message.client_id.clone(),
                    sender: request.sender,
                    reply_to: request.reply_to,
                };
                (request.message, route)
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
    messages: &[NewMessage],
    routes: Vec<Route>,
) {
    let metrics = delivery.metrics;
    let started = std::time::Instant::now();
    let stored = store.append_messages(messages).await;
    metrics.record_commit(messages.len(), started.elapsed());
    match stored {
        Ok(appended) => deliver(delivery, routes, appended),
        // One bad message (say, its room vanished) must not sink the others: retry singly.
        Err(StoreError::NotFound | StoreError::Backend(_)) if messages.len() > 1 => {
            for (message, route) in messages.iter().zip(routes) {
                match store.append_messages(std::slice::from_ref(message)).await {
                    Ok(appended) => deliver(delivery, vec![route], appended),
                    Err(err) => refuse(metrics, vec![route], err),
                }
            }
        }
        Err(err) => refuse(metrics, routes, err),
    }
}

/// After the commit: the ack to each sender, then the message to its room.
fn deliver(delivery: &Delivery<'_, impl AfterCommit>, routes: Vec<Route>, appended: Vec<Appended>) {
    for (route, Appended { record, is_new }) in routes.into_iter().zip(appended) {
        // The stored message's room: a reused client_id names the original message.
        if let Some(sender) = &route.sender {
            let ack = Event::new(ServerFrame::Ack {
                room: record.room.clone(),
                id: record.id,
                client_id: record.client_id.clone(),
            });
            sender.reply(ack, route.reply_to);
        }
        // A repeated client_id was broadcast when it was first stored.
        if is_new {
            delivery.metrics.messages_stored.increment(1);
            delivery.after_commit.stored(&record, route.room_id);
            let event = Event::new(ServerFrame::Message(wire::message(record)));
            delivery
                .cluster
                .broadcast(&route.room, &event, Skip::Nobody);
        }
    }
}

/// Nothing was stored: each sender gets an error naming its message, and no ack; it may
/// retry with the same `client_id`.
fn refuse(metrics: &Metrics, routes: Vec<Route>, err: StoreError) {
    metrics.commit_failures.increment(1);
    let err = ChatError::from(err);
    for route in routes {
        if let Some(sender) = &route.sender {
            metrics.count_error(err.code());
            let error = err.to_event_for(Some(&route.room), route.client_id.as_deref());
            sender.reply(error, route.reply_to);
        }
    }
}
