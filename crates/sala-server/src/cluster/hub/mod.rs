//! The hub: who is connected, who is in which room, presence, and fan-out.
//!
//! It knows nothing of axum, sqlx or sockets. Transports register connections and drain
//! each one's bounded queue ([`ConnHandle`], [`Outbound`]); the chat layer calls the hub
//! after it has stored what needs storing. Socket.io and other nodes plug in the same way.
//!
//! All state sits behind one std `Mutex`. Every method is synchronous, holds the lock for a
//! loop over one room's or one user's connections, and sends with `try_send` on bounded
//! queues, so holding it never waits on a client, and no lock is ever held across `.await`.
//!
//! Joining is two-phase so that history and live messages meet without a gap or a
//! duplicate: [`Hub::begin_join`] makes the connection a member whose events are held back,
//! the caller reads history from the store, and [`Hub::complete_join`] sends `joined` and
//! then the held-back events, minus messages the history already contained.
//!
//! In a cluster ([`remote`]), the hub also keeps who is online in each room through other
//! nodes, so that `members` and presence are cluster-wide, and it reports its own users'
//! presence changes on a feed ([`Hub::presence_feed`]) for the cluster link to publish.

mod connection;
mod event;
mod order;
mod remote;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use sala_proto::frames::{PresenceEvent, ServerFrame};
use tokio::sync::mpsc;

pub use connection::{
    CloseReason, ConnHandle, ConnId, Outbound, OutboundLimits, Queued, RequestId,
};
pub use event::Event;
pub use order::STALL_LIMIT;
pub use remote::{LocalPresence, NodeId, RoomPresence};

/// Events held back for one joining connection before it is treated as too slow. The
/// history read that the hold covers takes milliseconds; this is a safety bound.
const MAX_HELD_BACK: usize = 4096;
/// Message ids a room remembers having delivered, so that a message arriving twice (live
/// from another node and again in a catch-up from the database) is delivered once.
const REMEMBERED_IDS: usize = 1024;

/// Who a connection belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnUser {
    pub id: i64,
    pub username: String,
    /// The login session (token `jti`) it was opened with; logout closes it.
    pub session_id: String,
}

/// Which receivers a broadcast leaves out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    Nobody,
    Conn(ConnId),
    /// Every connection of this user (typing goes to the *other* members).
    User(i64),
}

/// The live state of one node. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    next_id: AtomicU64,
    /// How much each connection's outbound queue may hold, in frames and bytes.
    limits: OutboundLimits,
    /// The bytes queued on every connection together, against the node's budget.
    node_budget: Arc<connection::NodeBudget>,
    /// Where this node's presence changes go, once a cluster link listens.
    presence_feed: OnceLock<mpsc::UnboundedSender<LocalPresence>>,
    /// Frames queued to connections by broadcasts, for `/metrics`: one add per broadcast.
    deliveries: AtomicU64,
}

#[derive(Default)]
struct State {
    connections: HashMap<ConnId, Connection>,
    rooms: HashMap<String, LiveRoom>,
    by_session: HashMap<String, HashSet<ConnId>>,
    by_user: HashMap<i64, HashSet<ConnId>>,
    /// Users online in each room through other nodes: room → user → who and where.
    remote: HashMap<String, HashMap<i64, remote::RemoteUser>>,
}

struct Connection {
    handle: ConnHandle,
    user: ConnUser,
    rooms: HashSet<String>,
}

#[derive(Default)]
struct LiveRoom {
    members: HashMap<ConnId, Member>,
    /// Users with at least one fully joined connection here: username and how many.
    /// Presence and `online` counts come from this.
    online: HashMap<i64, (String, u32)>,
    /// The newest message id this room's members have (from history or live).
    last_id: i64,
    /// Recently delivered message ids, the oldest dropped past [`REMEMBERED_IDS`].
    delivered: BTreeSet<i64>,
    /// The room's log, delivered in order when writes name the position they follow.
    order: order::LogOrder,
}

struct Member {
    handle: ConnHandle,
    user_id: i64,
    /// `Some` while joining: events held back until `complete_join`.
    held_back: Option<Vec<Arc<Event>>>,
    /// Whether this connection is counted in `online`.
    counted: bool,
    /// Messages up to this id reached the connection in its `joined` history (or it had
    /// them); a copy arriving later, from another node, is not sent again.
    history_through: i64,
}

impl Member {
    /// Keeps an event for after `joined`; a join that gathers too many is a client that
    /// cannot keep up, and is closed.
    fn hold_back(&mut self, event: &Arc<Event>) {
        if let Some(held) = &mut self.held_back {
            if held.len() >= MAX_HELD_BACK {
                self.handle.close(CloseReason::SlowConsumer);
            } else {
                held.push(event.clone());
            }
        }
    }
}

impl LiveRoom {
    /// Records a position (a message, or a change to one) as delivered; `false` when it
    /// already was.
    fn remember(&mut self, id: i64) -> bool {
        if !self.delivered.insert(id) {
            return false;
        }
        if self.delivered.len() > REMEMBERED_IDS {
            self.delivered.pop_first();
        }
        self.last_id = self.last_id.max(id);
        true
    }

    /// Queues `event` for the members unless its position was delivered already; returns
    /// how many got it.
    fn deliver_once(&mut self, event: &Arc<Event>, skip: Skip) -> u64 {
        if let Some(position) = event.position() {
            if !self.remember(position) {
                return 0;
            }
            self.order.note(Some(position));
        }
        self.broadcast(event, skip)
    }

    /// Queues events in the order given, each once.
    fn deliver_all(&mut self, ready: Vec<order::Delivery>) -> u64 {
        ready
            .into_iter()
            .map(|(event, skip)| self.deliver_once(&event, skip))
            .sum()
    }

    /// Queues `event` for the members; returns how many got it.
    fn broadcast(&mut self, event: &Arc<Event>, skip: Skip) -> u64 {
        let position = event.position();
        let mut queued = 0;
        for (id, member) in &mut self.members {
            let skipped = match skip {
                Skip::Nobody => false,
                Skip::Conn(conn) => conn == *id,
                Skip::User(user) => user == member.user_id,
            };
            if skipped || position.is_some_and(|p| p <= member.history_through) {
                continue;
            }
            if member.held_back.is_some() {
                member.hold_back(event);
            } else if member.handle.send(event.clone()) {
                queued += 1;
            }
        }
        queued
    }

    /// Stops counting `member`; returns the username if that was the user's last connection.
    fn uncount(&mut self, member: &Member) -> Option<String> {
        if !member.counted {
            return None;
        }
        let (_, count) = self.online.get_mut(&member.user_id)?;
        *count -= 1;
        if *count == 0 {
            self.online.remove(&member.user_id).map(|(name, _)| name)
        } else {
            None
        }
    }
}

/// A user's connection refused because they hold as many as they may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a user may hold at most {max} connections at once; close one first")]
pub struct TooManyConnections {
    pub max: usize,
}

fn presence(room: &str, user: String, event: PresenceEvent) -> Arc<Event> {
    Event::new(ServerFrame::Presence {
        room: room.to_owned(),
        user,
        event,
    })
}

impl Hub {
    pub fn new(limits: OutboundLimits) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                next_id: AtomicU64::new(1),
                limits,
                node_budget: connection::NodeBudget::new(limits.bytes_per_node),
                presence_feed: OnceLock::new(),
                deliveries: AtomicU64::new(0),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update below completes before it can panic on another's behalf; recovering
        // keeps the node serving rather than failing every later request.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a connection; the transport drains the returned queue.
    ///
    /// # Errors
    /// `TooManyConnections` if the user already holds `max_per_user` connections here.
    pub fn connect(
        &self,
        user: ConnUser,
        max_per_user: usize,
    ) -> Result<(ConnHandle, Outbound), TooManyConnections> {
        let mut state = self.lock();
        if state.by_user.get(&user.id).map_or(0, HashSet::len) >= max_per_user {
            return Err(TooManyConnections { max: max_per_user });
        }
        let id = ConnId(self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        let (handle, outbound) =
            ConnHandle::new(id, self.inner.limits, self.inner.node_budget.clone());
        state
            .by_session
            .entry(user.session_id.clone())
            .or_default()
            .insert(id);
        state.by_user.entry(user.id).or_default().insert(id);
        state.connections.insert(
            id,
            Connection {
                handle: handle.clone(),
                user,
                rooms: HashSet::new(),
            },
        );
        Ok((handle, outbound))
    }

    /// Forgets a connection. In each room where it was the user's last one, the others get
    /// `presence: disconnected`.
    pub fn disconnect(&self, id: ConnId) {
        let mut guard = self.lock();
        let state = &mut *guard;
        let Some(connection) = state.connections.remove(&id) else {
            return;
        };
        let user = &connection.user;
        for set in [
            state.by_session.get_mut(&user.session_id),
            state.by_user.get_mut(&user.id),
        ]
        .into_iter()
        .flatten()
        {
            set.remove(&id);
        }
        if state
            .by_session
            .get(&user.session_id)
            .is_some_and(HashSet::is_empty)
        {
            state.by_session.remove(&user.session_id);
        }
        if state.by_user.get(&user.id).is_some_and(HashSet::is_empty) {
            state.by_user.remove(&user.id);
        }
        for name in &connection.rooms {
            let Some(room) = state.rooms.get_mut(name) else {
                continue;
            };
            if let Some(member) = room.members.remove(&id)
                && let Some(username) = room.uncount(&member)
            {
                if !remote::online_elsewhere(&state.remote, name, user.id) {
                    room.broadcast(
                        &presence(name, username.clone(), PresenceEvent::Disconnected),
                        Skip::Nobody,
                    );
                }
                self.report(name, user.id, username, PresenceEvent::Disconnected);
            }
            if room.members.is_empty() {
                state.rooms.remove(name);
            }
        }
    }

    /// First half of a join: the connection becomes a member whose events are held back.
    /// Returns `false` if the connection is gone.
    pub fn begin_join(&self, id: ConnId, room: &str) -> bool {
        let mut state = self.lock();
        let Some(connection) = state.connections.get_mut(&id) else {
            return false;
        };
        connection.rooms.insert(room.to_owned());
        let (handle, user_id) = (connection.handle.clone(), connection.user.id);
        let live = state.rooms.entry(room.to_owned()).or_default();
        live.members
            .entry(id)
            .and_modify(|member| {
                member.held_back.get_or_insert_with(Vec::new);
            })
            .or_insert(Member {
                handle,
                user_id,
                held_back: Some(Vec::new()),
                counted: false,
                history_through: 0,
            });
        true
    }

    /// Second half: sends the `joined` event built from the online members (the reply to
    /// `request`), then the held-back events, leaving out messages with an id up to
    /// `seen_through` (the history or the client already has them). The user's first
    /// connection here announces `presence: joined` to the others. Returns `false` if the
    /// join was undone meanwhile.
    pub fn complete_join(
        &self,
        id: ConnId,
        room: &str,
        request: Option<RequestId>,
        seen_through: Option<i64>,
        joined: impl FnOnce(Vec<String>) -> Arc<Event>,
    ) -> bool {
        let mut guard = self.lock();
        let state = &mut *guard;
        let Some(username) = state.connections.get(&id).map(|c| c.user.username.clone()) else {
            return false;
        };
        let Some(live) = state.rooms.get_mut(room) else {
            return false;
        };
        let Some(member) = live.members.get_mut(&id) else {
            return false;
        };
        let held_back = member.held_back.take().unwrap_or_default();
        let first = !member.counted;
        let (handle, user_id) = (member.handle.clone(), member.user_id);
        if let Some(through) = seen_through {
            member.history_through = through;
            live.last_id = live.last_id.max(through);
        }
        if first {
            member.counted = true;
            live.online
                .entry(user_id)
                .or_insert((username.clone(), 0))
                .1 += 1;
        }
        // The user's first connection here, on this node; announced to the room unless the
        // user is already online in it through another node.
        let first_here = first && live.online.get(&user_id).is_some_and(|(_, n)| *n == 1);
        let announce = first_here && !remote::online_elsewhere(&state.remote, room, user_id);
        handle.reply(
            joined(remote::usernames(live, state.remote.get(room))),
            request,
        );
        for event in held_back {
            let seen = matches!((event.position(), seen_through), (Some(at), Some(through)) if at <= through);
            if !seen {
                handle.send(event);
            }
        }
        if announce {
            live.broadcast(
                &presence(room, username.clone(), PresenceEvent::Joined),
                Skip::Conn(id),
            );
        }
        if first_here {
            self.report(room, user_id, username, PresenceEvent::Joined);
        }
        true
    }

    /// Undoes a join that could not complete (the history read failed).
    pub fn abort_join(&self, id: ConnId, room: &str) {
        let mut state = self.lock();
        let Some(live) = state.rooms.get_mut(room) else {
            return;
        };
        let was_member = match live.members.get_mut(&id) {
            Some(member) if member.counted => {
                // A re-join of a live member: keep it, and deliver what was held back.
                for event in member.held_back.take().unwrap_or_default() {
                    member.handle.send(event);
                }
                true
            }
            Some(_) => {
                live.members.remove(&id);
                false
            }
            None => false,
        };
        if live.members.is_empty() {
            state.rooms.remove(room);
        }
        if !was_member && let Some(connection) = state.connections.get_mut(&id) {
            connection.rooms.remove(room);
        }
    }

    /// The user leaves the room on every connection: each gets `left` (as the reply to
    /// `answering`'s request, on the connection that asked), and the remaining members get
    /// `presence: left` if the user was online there.
    pub(in crate::cluster) fn leave(
        &self,
        user_id: i64,
        room: &str,
        answering: Option<(ConnId, RequestId)>,
    ) {
        let mut guard = self.lock();
        let state = &mut *guard;
        let conn_ids: Vec<ConnId> = state
            .by_user
            .get(&user_id)
            .into_iter()
            .flatten()
            .copied()
            .collect();
        let left = Event::new(ServerFrame::Left {
            room: room.to_owned(),
        });
        for id in &conn_ids {
            if let Some(connection) = state.connections.get_mut(id)
                && connection.rooms.remove(room)
            {
                let reply_to = answering
                    .filter(|(asking, _)| asking == id)
                    .map(|(_, request)| request);
                connection.handle.reply(left.clone(), reply_to);
            }
        }
        let Some(live) = state.rooms.get_mut(room) else {
            return;
        };
        let mut username = None;
        for id in &conn_ids {
            if let Some(member) = live.members.remove(id) {
                username = live.uncount(&member).or(username);
            }
        }
        if let Some(username) = username {
            if !remote::online_elsewhere(&state.remote, room, user_id) {
                live.broadcast(
                    &presence(room, username.clone(), PresenceEvent::Left),
                    Skip::Nobody,
                );
            }
            self.report(room, user_id, username, PresenceEvent::Left);
        }
        if live.members.is_empty() {
            state.rooms.remove(room);
        }
    }

    /// Whether the connection has joined the room.
    pub fn is_member(&self, id: ConnId, room: &str) -> bool {
        self.lock()
            .rooms
            .get(room)
            .is_some_and(|live| live.members.contains_key(&id))
    }

    /// Sends `event` to the room's members, except `skip`. A `message` event is delivered
    /// once: a second copy of the same id (from another node, or a catch-up) is dropped.
    pub(in crate::cluster) fn broadcast(&self, room: &str, event: &Arc<Event>, skip: Skip) {
        if let Some(live) = self.lock().rooms.get_mut(room) {
            let queued = live.deliver_once(event, skip);
            self.inner.deliveries.fetch_add(queued, Ordering::Relaxed);
        }
    }

    /// As [`broadcast`](Self::broadcast), for a write of the room's log that follows
    /// position `follows`: delivered once this node has delivered that one (see
    /// [`order`]), with whatever waited for it.
    pub(in crate::cluster) fn broadcast_in_order(
        &self,
        room: &str,
        event: &Arc<Event>,
        skip: Skip,
        follows: i64,
    ) {
        if let Some(live) = self.lock().rooms.get_mut(room) {
            let ready = live.order.admit(follows, event.clone(), skip);
            let queued = live.deliver_all(ready);
            self.inner.deliveries.fetch_add(queued, Ordering::Relaxed);
        }
    }

    /// A joining connection read that the room's log stood at `latest` (before it read its
    /// history): on the room's first member here, the log is delivered in order from there.
    pub fn log_read_at(&self, room: &str, latest: i64) {
        if let Some(live) = self.lock().rooms.get_mut(room) {
            let ready = live.order.start(latest);
            let queued = live.deliver_all(ready);
            self.inner.deliveries.fetch_add(queued, Ordering::Relaxed);
        }
    }

    /// Whether some room's log has waited longer than `limit` for a position it never
    /// heard (the cluster link then reads the rooms back from the database).
    pub fn log_stalled(&self, limit: std::time::Duration) -> bool {
        let now = std::time::Instant::now();
        self.lock().rooms.values().any(|live| {
            live.order
                .stalled_for(now)
                .is_some_and(|waited| waited > limit)
        })
    }

    /// Delivers everything waiting in every room's log, in order (after a read back from
    /// the database delivered what was missing).
    pub fn release_waiting(&self) {
        let mut state = self.lock();
        let mut queued = 0;
        for live in state.rooms.values_mut() {
            let ready = live.order.release_all();
            queued += live.deliver_all(ready);
        }
        self.inner.deliveries.fetch_add(queued, Ordering::Relaxed);
    }

    /// Frames queued to connections by room broadcasts since the start.
    pub fn deliveries(&self) -> u64 {
        self.inner.deliveries.load(Ordering::Relaxed)
    }

    /// Rooms with at least one member connected to this node.
    pub fn room_count(&self) -> usize {
        self.lock().rooms.len()
    }

    /// The rooms with members on this node, each with the newest message id they have:
    /// what a catch-up from the database starts after.
    pub fn room_cursors(&self) -> Vec<(String, i64)> {
        self.lock()
            .rooms
            .iter()
            .map(|(name, live)| (name.clone(), live.last_id))
            .collect()
    }

    /// Sends `event` to every connection of the user, except `skip`.
    pub(in crate::cluster) fn send_to_user(
        &self,
        user_id: i64,
        event: &Arc<Event>,
        skip: Option<ConnId>,
    ) {
        let state = self.lock();
        for id in state.by_user.get(&user_id).into_iter().flatten() {
            if Some(*id) != skip
                && let Some(connection) = state.connections.get(id)
            {
                connection.handle.send(event.clone());
            }
        }
    }

    /// Sends `event` once to every connection that is in any of `rooms` or belongs to
    /// `user_id` (a status change reaches the user's own devices too). A connection still
    /// joining its only room among `rooms` gets it after its `joined`, as a room event does.
    pub(in crate::cluster) fn send_to_rooms_and_user(
        &self,
        rooms: &[String],
        user_id: i64,
        event: &Arc<Event>,
    ) {
        let mut guard = self.lock();
        let state = &mut *guard;
        let mut now: BTreeSet<ConnId> = BTreeSet::new();
        let mut joining: BTreeMap<ConnId, &str> = BTreeMap::new();
        for room in rooms {
            let Some(live) = state.rooms.get(room) else {
                continue;
            };
            for (id, member) in &live.members {
                if member.held_back.is_some() {
                    joining.entry(*id).or_insert(room);
                } else {
                    now.insert(*id);
                }
            }
        }
        now.extend(state.by_user.get(&user_id).into_iter().flatten());
        for (id, room) in joining {
            if now.contains(&id) {
                continue;
            }
            if let Some(member) = state
                .rooms
                .get_mut(room)
                .and_then(|live| live.members.get_mut(&id))
            {
                member.hold_back(event);
            }
        }
        for id in now {
            if let Some(connection) = state.connections.get(&id) {
                connection.handle.send(event.clone());
            }
        }
    }

    /// Closes every connection opened with the session (logout).
    pub(in crate::cluster) fn close_session(&self, session_id: &str, reason: CloseReason) {
        let state = self.lock();
        for id in state.by_session.get(session_id).into_iter().flatten() {
            if let Some(connection) = state.connections.get(id) {
                connection.handle.close(reason);
            }
        }
    }

    /// Closes every connection (shutdown).
    pub(in crate::cluster) fn close_all(&self, reason: CloseReason) {
        for connection in self.lock().connections.values() {
            connection.handle.close(reason);
        }
    }

    /// How many users have a live connection in the room, on any node.
    pub fn online_count(&self, room: &str) -> u64 {
        let state = self.lock();
        let local = state.rooms.get(room);
        let remote = state.remote.get(room);
        let elsewhere = remote.map_or(0, |users| {
            users
                .keys()
                .filter(|user| !local.is_some_and(|live| live.online.contains_key(user)))
                .count()
        });
        (local.map_or(0, |live| live.online.len()) + elsewhere) as u64
    }

    /// Bytes queued on this node's connections and not yet written.
    pub fn queued_bytes(&self) -> usize {
        self.inner.node_budget.queued()
    }

    /// Connections currently registered.
    pub fn connection_count(&self) -> usize {
        self.lock().connections.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sala_proto::api::Message;

    fn user(id: i64, name: &str) -> ConnUser {
        ConnUser {
            id,
            username: name.into(),
            session_id: format!("s-{name}"),
        }
    }

    fn message(id: i64) -> Arc<Event> {
        Event::new(ServerFrame::Message(Message {
            id,
            room: "r".into(),
            user: "u".into(),
            text: "t".into(),
            ts: chrono::DateTime::from_timestamp_millis(0).unwrap(),
            ..Message::default()
        }))
    }

    fn joined(members: Vec<String>) -> Arc<Event> {
        Event::new(ServerFrame::Joined {
            room: "r".into(),
            members,
            statuses: Default::default(),
            history: vec![],
            updated: vec![],
            more: false,
            through: None,
        })
    }

    fn drain(outbound: &mut Outbound) -> Vec<ServerFrame> {
        let mut frames = Vec::new();
        while let Ok(event) = outbound.try_recv() {
            frames.push(event.decode());
        }
        frames
    }

    fn join(hub: &Hub, conn: &ConnHandle) {
        assert!(hub.begin_join(conn.id(), "r"));
        assert!(hub.complete_join(conn.id(), "r", None, None, joined));
    }

    #[test]
    fn events_during_a_join_are_held_back_and_deduplicated_against_history() {
        let hub = Hub::new(OutboundLimits::frames(16));
        let (conn, mut outbound) = hub.connect(user(1, "ann"), usize::MAX).unwrap();
        assert!(hub.begin_join(conn.id(), "r"));
        // Committed while the history was being read: 1 and 2 made it into the history.
        for id in [1, 2, 3] {
            hub.broadcast("r", &message(id), Skip::Nobody);
        }
        assert!(drain(&mut outbound).is_empty(), "nothing before `joined`");
        assert!(hub.complete_join(conn.id(), "r", None, Some(2), joined));
        let frames = drain(&mut outbound);
        assert!(matches!(&frames[0], ServerFrame::Joined { members, .. } if members == &["ann"]));
        assert!(matches!(&frames[1], ServerFrame::Message(m) if m.id == 3));
        assert_eq!(frames.len(), 2);
    }

    #[test]
    fn a_status_sent_during_a_join_comes_after_joined() {
        let hub = Hub::new(OutboundLimits::frames(16));
        let (conn, mut outbound) = hub.connect(user(1, "ann"), usize::MAX).unwrap();
        let status = Event::new(ServerFrame::Status {
            user: "bob".into(),
            status: sala_proto::api::UserStatus::Busy,
            note: None,
        });
        assert!(hub.begin_join(conn.id(), "r"));
        hub.send_to_rooms_and_user(&["r".into()], 2, &status);
        assert!(drain(&mut outbound).is_empty(), "nothing before `joined`");
        assert!(hub.complete_join(conn.id(), "r", None, None, joined));
        let frames = drain(&mut outbound);
        assert!(
            matches!(&frames[0], ServerFrame::Joined { .. }),
            "{frames:?}"
        );
        assert!(matches!(&frames[1], ServerFrame::Status { user, .. } if user == "bob"));
        assert_eq!(frames.len(), 2);

        // Already joined to one of the rooms, or the user's own: sent at once, once.
        assert!(hub.begin_join(conn.id(), "s"));
        hub.send_to_rooms_and_user(&["r".into(), "s".into()], 2, &status);
        let (own, mut own_out) = hub.connect(user(2, "bob"), usize::MAX).unwrap();
        assert!(hub.begin_join(own.id(), "r"));
        hub.send_to_rooms_and_user(&["r".into()], 2, &status);
        assert_eq!(drain(&mut outbound).len(), 2, "one copy for each send");
        assert_eq!(
            drain(&mut own_out).len(),
            1,
            "the user's own device at once"
        );
        assert!(hub.complete_join(conn.id(), "s", None, None, joined));
        assert!(
            matches!(
                drain(&mut outbound).as_slice(),
                [ServerFrame::Joined { .. }]
            ),
            "and not again after the second join"
        );
    }

    #[test]
    fn presence_counts_users_not_connections() {
        let hub = Hub::new(OutboundLimits::frames(16));
        let (watcher, mut watched) = hub.connect(user(1, "watcher"), usize::MAX).unwrap();
        join(&hub, &watcher);
        let (phone, _phone_out) = hub.connect(user(2, "eve"), usize::MAX).unwrap();
        let (laptop, _laptop_out) = hub.connect(user(2, "eve"), usize::MAX).unwrap();
        join(&hub, &phone);
        join(&hub, &laptop);
        let presence: Vec<_> = drain(&mut watched)
            .into_iter()
            .filter(|frame| matches!(frame, ServerFrame::Presence { .. }))
            .collect();
        assert_eq!(
            presence.len(),
            1,
            "one `joined` for two devices: {presence:?}"
        );
        assert_eq!(hub.online_count("r"), 2);

        hub.disconnect(phone.id());
        assert!(drain(&mut watched).is_empty());
        hub.disconnect(laptop.id());
        assert!(matches!(
            drain(&mut watched).as_slice(),
            [ServerFrame::Presence { event: PresenceEvent::Disconnected, user, .. }] if user == "eve"
        ));
        assert_eq!(hub.online_count("r"), 1);
    }

    #[test]
    fn a_full_queue_closes_that_connection_only() {
        let hub = Hub::new(OutboundLimits::frames(2));
        let (slow, _never_read) = hub.connect(user(1, "slow"), usize::MAX).unwrap();
        let (fast, mut fast_out) = hub.connect(user(2, "fast"), usize::MAX).unwrap();
        join(&hub, &slow);
        join(&hub, &fast);
        drain(&mut fast_out);
        for id in 1..=5 {
            hub.broadcast("r", &message(id), Skip::Nobody);
            drain(&mut fast_out);
        }
        assert_eq!(slow.close_reason(), Some(CloseReason::SlowConsumer));
        assert!(!fast.is_closed());
    }

    #[test]
    fn logout_closes_only_that_sessions_connections() {
        let hub = Hub::new(OutboundLimits::frames(4));
        let (a, _a) = hub.connect(user(1, "ann"), usize::MAX).unwrap();
        let mut other = user(1, "ann");
        other.session_id = "s-other".into();
        let (b, _b) = hub.connect(other, usize::MAX).unwrap();
        hub.close_session("s-ann", CloseReason::LoggedOut);
        assert_eq!(a.close_reason(), Some(CloseReason::LoggedOut));
        assert!(!b.is_closed());
    }

    #[test]
    fn a_user_may_hold_only_so_many_connections() {
        let hub = Hub::new(OutboundLimits::frames(4));
        let (first, _first) = hub.connect(user(1, "ann"), 2).unwrap();
        let (_second, _second_out) = hub.connect(user(1, "ann"), 2).unwrap();
        assert_eq!(
            hub.connect(user(1, "ann"), 2).err(),
            Some(TooManyConnections { max: 2 })
        );
        assert!(
            hub.connect(user(2, "bob"), 2).is_ok(),
            "the cap is per user"
        );
        hub.disconnect(first.id());
        assert!(
            hub.connect(user(1, "ann"), 2).is_ok(),
            "a closed one frees its place"
        );
    }
}
