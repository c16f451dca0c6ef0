//! What nodes say to each other: one JSON [`Envelope`] per Redis message.
//!
//! Frames travel as the typed `ServerFrame` each receiving node turns into its own shared
//! [`Event`](crate::hub::Event); routing fields say which of its connections get it. Every
//! envelope names its node and carries that node's next number, so a receiver that finds a
//! number missing knows it lost something and catches up (see [`link`](super::link)).

use sala_proto::frames::{PresenceEvent, ServerFrame};
use serde::{Deserialize, Serialize};

use crate::hub::RoomPresence;

/// One event from one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub node: u64,
    pub seq: u64,
    pub body: Body,
}

/// What happened, and who on the receiving node should hear of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Body {
    /// A frame for a room's members (a message, typing), leaving out one user's connections.
    Room {
        room: String,
        skip_user: Option<i64>,
        frame: ServerFrame,
    },
    /// A frame for every connection of one user (read markers, catch-up).
    User { user_id: i64, frame: ServerFrame },
    /// A frame for the members of some rooms and the user's own connections (status).
    RoomsAndUser {
        rooms: Vec<String>,
        user_id: i64,
        frame: ServerFrame,
    },
    /// The user left the room: every connection of theirs leaves it.
    Leave { user_id: i64, room: String },
    /// The session was logged out: its connections close.
    Revoke { session_id: String },
    /// One of the sending node's users came online in a room or went.
    Presence {
        room: String,
        user_id: i64,
        username: String,
        event: PresenceEvent,
    },
    /// Everything the sending node has online; what is not listed is gone.
    Snapshot { rooms: Vec<RoomPresence> },
    /// "Send me your snapshot" (a node starting, or back after losing Redis).
    SyncRequest,
    /// "I am alive", every few seconds.
    Heartbeat,
    /// The sending node is shutting down.
    Goodbye,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_round_trip_as_json() {
        let envelope = Envelope {
            node: 7,
            seq: 42,
            body: Body::Room {
                room: "general".into(),
                skip_user: Some(3),
                frame: ServerFrame::Typing {
                    room: "general".into(),
                    user: "ann".into(),
                },
            },
        };
        let json = serde_json::to_string(&envelope).unwrap();
        assert_eq!(serde_json::from_str::<Envelope>(&json).unwrap(), envelope);
        let snapshot = Envelope {
            node: 1,
            seq: 1,
            body: Body::Snapshot {
                rooms: vec![("r".into(), vec![(1, "ann".into())])],
            },
        };
        let json = serde_json::to_string(&snapshot).unwrap();
        assert_eq!(serde_json::from_str::<Envelope>(&json).unwrap(), snapshot);
    }
}
