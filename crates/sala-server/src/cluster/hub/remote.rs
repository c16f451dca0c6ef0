//! The hub's view of other nodes: who is online in which room through them, and the feed
//! of this node's own presence changes that the cluster link publishes.
//!
//! Presence is cluster-wide: a user counts as online in a room while any node has one of
//! their connections there. Each node reports only transitions of its own users (first
//! connection in a room on this node, last one gone); every node then decides from its full
//! view whether the room sees `joined`, `left` or `disconnected`, so a user with a phone on
//! one node and a laptop on another is announced once, and gone only when both are.

use std::collections::{HashMap, HashSet};

use sala_proto::frames::PresenceEvent;
use tokio::sync::mpsc;

use super::{Hub, LiveRoom, Skip, State, presence};

/// Another node of the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u64);

/// A presence change of one of this node's users, for the other nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalPresence {
    pub room: String,
    pub user_id: i64,
    pub username: String,
    pub event: PresenceEvent,
}

/// Who is online in one room through one node: `(user id, username)`.
pub type RoomPresence = (String, Vec<(i64, String)>);

/// A user online in a room through other nodes.
#[derive(Debug, Default)]
pub(super) struct RemoteUser {
    username: String,
    nodes: HashSet<NodeId>,
}

type RemoteRooms = HashMap<String, HashMap<i64, RemoteUser>>;

/// Whether another node has the user online in the room.
pub(super) fn online_elsewhere(remote: &RemoteRooms, room: &str, user_id: i64) -> bool {
    remote
        .get(room)
        .is_some_and(|users| users.contains_key(&user_id))
}

/// The usernames online in the room on any node, sorted, each once.
pub(super) fn usernames(live: &LiveRoom, remote: Option<&HashMap<i64, RemoteUser>>) -> Vec<String> {
    let mut names: Vec<String> = live.online.values().map(|(name, _)| name.clone()).collect();
    for (user_id, user) in remote.into_iter().flatten() {
        if !live.online.contains_key(user_id) {
            names.push(user.username.clone());
        }
    }
    names.sort_unstable();
    names
}

impl State {
    fn online_anywhere(&self, room: &str, user_id: i64) -> bool {
        online_elsewhere(&self.remote, room, user_id)
            || self
                .rooms
                .get(room)
                .is_some_and(|live| live.online.contains_key(&user_id))
    }

    /// Applies one node's change and tells this node's members of the room if the user's
    /// cluster-wide presence changed.
    fn apply_remote(
        &mut self,
        node: NodeId,
        room: &str,
        user_id: i64,
        username: &str,
        event: PresenceEvent,
    ) {
        let was_online = self.online_anywhere(room, user_id);
        match event {
            PresenceEvent::Joined => {
                let user = self
                    .remote
                    .entry(room.to_owned())
                    .or_default()
                    .entry(user_id)
                    .or_default();
                user.username = username.to_owned();
                user.nodes.insert(node);
            }
            PresenceEvent::Left | PresenceEvent::Disconnected => {
                if let Some(users) = self.remote.get_mut(room) {
                    if let Some(user) = users.get_mut(&user_id) {
                        user.nodes.remove(&node);
                        if user.nodes.is_empty() {
                            users.remove(&user_id);
                        }
                    }
                    if users.is_empty() {
                        self.remote.remove(room);
                    }
                }
            }
        }
        if was_online != self.online_anywhere(room, user_id)
            && let Some(live) = self.rooms.get_mut(room)
        {
            live.broadcast(&presence(room, username.to_owned(), event), Skip::Nobody);
        }
    }

    /// Every `(room, user, username)` the node has online here.
    fn node_entries(&self, node: NodeId) -> Vec<(String, i64, String)> {
        self.remote
            .iter()
            .flat_map(|(room, users)| {
                users
                    .iter()
                    .filter(|(_, user)| user.nodes.contains(&node))
                    .map(|(id, user)| (room.clone(), *id, user.username.clone()))
            })
            .collect()
    }
}

impl Hub {
    /// The feed of this node's presence changes. The first caller gets it; later calls get
    /// `None` (one cluster link per node).
    pub(in crate::cluster) fn presence_feed(
        &self,
    ) -> Option<mpsc::UnboundedReceiver<LocalPresence>> {
        let (sender, receiver) = mpsc::unbounded_channel();
        self.inner.presence_feed.set(sender).ok().map(|()| receiver)
    }

    /// Puts a change on the presence feed, if anyone listens.
    pub(super) fn report(&self, room: &str, user_id: i64, username: String, event: PresenceEvent) {
        if let Some(feed) = self.inner.presence_feed.get() {
            // A closed feed means the cluster link has stopped; it resyncs when it returns.
            let _ = feed.send(LocalPresence {
                room: room.to_owned(),
                user_id,
                username,
                event,
            });
        }
    }

    /// Who is online in each room on this node, for another node that (re)joins the cluster.
    pub(in crate::cluster) fn local_presence(&self) -> Vec<RoomPresence> {
        self.lock()
            .rooms
            .iter()
            .filter(|(_, live)| !live.online.is_empty())
            .map(|(room, live)| {
                let users = live
                    .online
                    .iter()
                    .map(|(id, (name, _))| (*id, name.clone()))
                    .collect();
                (room.clone(), users)
            })
            .collect()
    }

    /// Another node reports a presence change of one of its users.
    pub(in crate::cluster) fn remote_presence(&self, node: NodeId, change: &LocalPresence) {
        self.lock().apply_remote(
            node,
            &change.room,
            change.user_id,
            &change.username,
            change.event,
        );
    }

    /// Another node tells everything it has online; what it no longer has is gone.
    pub(in crate::cluster) fn remote_snapshot(&self, node: NodeId, rooms: &[RoomPresence]) {
        let mut state = self.lock();
        let now: HashSet<(&str, i64)> = rooms
            .iter()
            .flat_map(|(room, users)| users.iter().map(move |(id, _)| (room.as_str(), *id)))
            .collect();
        for (room, user_id, username) in state.node_entries(node) {
            if !now.contains(&(room.as_str(), user_id)) {
                state.apply_remote(node, &room, user_id, &username, PresenceEvent::Disconnected);
            }
        }
        for (room, users) in rooms {
            for (user_id, username) in users {
                state.apply_remote(node, room, *user_id, username, PresenceEvent::Joined);
            }
        }
    }

    /// A node left the cluster (shut down, or silent too long): its users are disconnected
    /// wherever they have no other connection.
    pub(in crate::cluster) fn forget_node(&self, node: NodeId) {
        let mut state = self.lock();
        for (room, user_id, username) in state.node_entries(node) {
            state.apply_remote(node, &room, user_id, &username, PresenceEvent::Disconnected);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::hub::{ConnUser, Event, Outbound};
    use sala_proto::frames::ServerFrame;

    fn connect_and_join(hub: &Hub, id: i64, name: &str) -> Outbound {
        let (conn, outbound) = hub
            .connect(
                ConnUser {
                    id,
                    username: name.into(),
                    session_id: format!("s-{name}"),
                },
                usize::MAX,
            )
            .unwrap();
        assert!(hub.begin_join(conn.id(), "r"));
        assert!(hub.complete_join(conn.id(), "r", None, None, |members| {
            Event::new(ServerFrame::Joined {
                room: "r".into(),
                members,
                statuses: Default::default(),
                history: vec![],
                updated: vec![],
                more: false,
                through: None,
            })
        }));
        std::mem::forget(conn);
        outbound
    }

    fn presence_frames(outbound: &mut Outbound) -> Vec<(String, PresenceEvent)> {
        let mut seen = Vec::new();
        while let Ok(event) = outbound.try_recv() {
            if let ServerFrame::Presence { user, event, .. } = event.decode() {
                seen.push((user, event));
            }
        }
        seen
    }

    fn change(user_id: i64, name: &str, event: PresenceEvent) -> LocalPresence {
        LocalPresence {
            room: "r".into(),
            user_id,
            username: name.into(),
            event,
        }
    }

    #[test]
    fn a_user_on_two_nodes_is_announced_once_and_gone_when_both_are() {
        let hub = Hub::new(crate::cluster::hub::OutboundLimits::frames(16));
        let mut watcher = connect_and_join(&hub, 1, "watcher");
        let (a, b) = (NodeId(10), NodeId(20));
        hub.remote_presence(a, &change(2, "eve", PresenceEvent::Joined));
        hub.remote_presence(b, &change(2, "eve", PresenceEvent::Joined));
        assert_eq!(
            presence_frames(&mut watcher),
            [("eve".to_owned(), PresenceEvent::Joined)]
        );
        assert_eq!(hub.online_count("r"), 2);
        hub.remote_presence(a, &change(2, "eve", PresenceEvent::Disconnected));
        assert!(presence_frames(&mut watcher).is_empty());
        hub.forget_node(b);
        assert_eq!(
            presence_frames(&mut watcher),
            [("eve".to_owned(), PresenceEvent::Disconnected)]
        );
        assert_eq!(hub.online_count("r"), 1);
    }

    #[test]
    fn local_changes_are_reported_and_remote_users_are_members() {
        let hub = Hub::new(crate::cluster::hub::OutboundLimits::frames(16));
        let mut feed = hub.presence_feed().expect("first feed");
        assert!(hub.presence_feed().is_none());
        hub.remote_snapshot(NodeId(7), &[("r".into(), vec![(5, "zed".into())])]);
        let mut ann = connect_and_join(&hub, 1, "ann");
        let joined = ann.try_recv().expect("joined");
        assert!(
            matches!(joined.decode(), ServerFrame::Joined { members, .. } if members == ["ann", "zed"])
        );
        assert_eq!(
            feed.try_recv().expect("reported"),
            change(1, "ann", PresenceEvent::Joined)
        );
        // A snapshot without zed: zed is gone.
        hub.remote_snapshot(NodeId(7), &[]);
        assert_eq!(
            presence_frames(&mut ann),
            [("zed".to_owned(), PresenceEvent::Disconnected)]
        );
    }
}
