//! Catching up: what a node does when Redis may have lost events for it (Redis was away,
//! or a gap in a node's numbering showed a loss). Redis is a fan-out path, never the
//! record, so the database has everything: the node re-reads what its rooms may have
//! missed since the last moment all was well, delivers what its members have not seen
//! (the hub recognises what they have), and closes the connections of sessions logged out
//! meanwhile.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sala_proto::frames::{MessageChange, ServerFrame};
use sala_store::Store;

use super::hub::{CloseReason, Event, Hub, Skip};
use crate::metrics::Metrics;
use crate::wire;

/// Messages read per query when catching up.
const CATCH_UP_PAGE: u32 = 500;
/// How far before the last good moment a catch-up looks for logouts.
const REVOCATION_MARGIN: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

/// How far this node is known to be complete.
pub struct Recovery {
    hub: Hub,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    /// Each room's newest message id at the last moment all was well: where a catch-up
    /// starts reading (messages delivered since are recognised and not sent twice).
    cursors: HashMap<String, i64>,
    /// That moment, for logouts: sessions revoked since then may have gone unheard.
    healthy_at: DateTime<Utc>,
}

impl Recovery {
    pub fn new(hub: Hub, store: Arc<dyn Store>, metrics: Arc<Metrics>) -> Self {
        Self {
            hub,
            store,
            metrics,
            cursors: HashMap::new(),
            healthy_at: Utc::now(),
        }
    }

    /// Notes that everything delivered so far is complete.
    pub fn mark_healthy(&mut self) {
        self.cursors = self.hub.room_cursors().into_iter().collect();
        self.healthy_at = Utc::now();
    }

    /// Delivers from the database what this node's rooms may have missed: every message
    /// after the last known-good cursor (or what the room has now, for rooms joined since).
    /// Messages the members already have are recognised by the hub and not sent twice.
    pub async fn catch_up(&mut self) {
        self.metrics.cluster_catch_ups.increment(1);
        self.close_revoked().await;
        for (room, now_through) in self.hub.room_cursors() {
            let mut after = self.cursors.get(&room).copied().unwrap_or(now_through);
            let record = match self.store.get_room(&room).await {
                Ok(Some(record)) => record,
                Ok(None) => continue,
                Err(err) => {
                    tracing::warn!(error = %err, room, "catch-up could not read the room");
                    continue;
                }
            };
            // Every change after the cursor: a message new since as a `message`, one the
            // members had as a `message_updated` (what changed it is not known here).
            let known_through = after;
            loop {
                let (messages, more) = match self
                    .store
                    .changes_after(record.id, after, CATCH_UP_PAGE)
                    .await
                {
                    Ok(page) => page,
                    Err(err) => {
                        tracing::warn!(error = %err, room, "catch-up could not read messages");
                        break;
                    }
                };
                for message in messages {
                    after = message.seq;
                    let frame = if message.id > known_through {
                        ServerFrame::Message(wire::message(message))
                    } else {
                        ServerFrame::MessageUpdated {
                            room: message.room.clone(),
                            change: MessageChange::Changed,
                            by: None,
                            message: wire::message(message),
                        }
                    };
                    self.hub.broadcast(&room, &Event::new(frame), Skip::Nobody);
                }
                if !more {
                    break;
                }
            }
        }
        self.mark_healthy();
    }

    /// Closes this node's sockets of sessions logged out while notices may have been lost.
    /// The margin covers clocks of different nodes that disagree a little.
    async fn close_revoked(&self) {
        let since = self.healthy_at - REVOCATION_MARGIN;
        match self.store.revoked_since(since).await {
            Ok(revoked) => {
                for session_id in revoked {
                    self.hub.close_session(&session_id, CloseReason::LoggedOut);
                }
            }
            Err(err) => tracing::warn!(error = %err, "catch-up could not read logouts"),
        }
    }
}
