//! What nodes say to each other: one JSON [`Envelope`] per Redis message.
//!
//! A frame travels as the JSON its [`Event`] already holds, spliced into the envelope as
//! is: the sending node serialised it once for its own members and does not decode and
//! serialise it again for Redis; the receiving node checks it and shares it with its
//! members the same way. Routing fields say which of the receiver's connections get it.
//! Every envelope names its node and carries that node's next number, so a receiver that
//! finds a number missing knows it lost something and catches up (see [`link`](super::link)).
//!
//! The body is externally tagged (`{"room": {...}}`): serde_json can splice raw JSON only
//! outside internally tagged enums. Nodes of one cluster run one version.

use std::sync::Arc;

use bytes::Bytes;
use sala_proto::frames::PresenceEvent;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use super::hub::{Event, RoomPresence};

/// One event from one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub node: u64,
    pub seq: u64,
    pub body: Body,
}

/// What happened, and who on the receiving node should hear of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Body {
    /// A frame for a room's members (a message, typing), leaving out one user's connections.
    Room {
        room: String,
        skip_user: Option<i64>,
        /// For a write of the room's log: the position it follows, delivered first.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        follows: Option<i64>,
        frame: Frame,
    },
    /// A frame for every connection of one user (read markers, catch-up).
    User { user_id: i64, frame: Frame },
    /// A frame for the members of some rooms and the user's own connections (status).
    RoomsAndUser {
        rooms: Vec<String>,
        user_id: i64,
        frame: Frame,
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

/// A server frame in an envelope: the event whose JSON it is.
#[derive(Debug, Clone)]
pub struct Frame(pub Arc<Event>);

impl PartialEq for Frame {
    fn eq(&self, other: &Self) -> bool {
        self.0.json() == other.0.json()
    }
}

impl Serialize for Frame {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Borrowed: a scan of the text, not a copy or a parse into values.
        let raw: &RawValue = serde_json::from_slice(self.0.json())
            .map_err(|err| serde::ser::Error::custom(format!("an event's JSON: {err}")))?;
        raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Frame {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        let text: Box<str> = raw.into();
        Event::from_json(Bytes::from(text.into_string()))
            .map(Frame)
            .map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use sala_proto::frames::ServerFrame;

    use super::*;

    #[test]
    fn envelopes_round_trip_as_json() {
        let envelope = Envelope {
            node: 7,
            seq: 42,
            body: Body::Room {
                room: "general".into(),
                skip_user: Some(3),
                follows: Some(41),
                frame: Frame(Event::new(ServerFrame::Typing {
                    room: "general".into(),
                    user: "ann".into(),
                })),
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

    #[test]
    fn a_frame_travels_as_the_json_it_was_serialised_to() {
        let event = Event::new(ServerFrame::Typing {
            room: "general".into(),
            user: "ann".into(),
        });
        let envelope = Envelope {
            node: 1,
            seq: 2,
            body: Body::User {
                user_id: 5,
                frame: Frame(event.clone()),
            },
        };
        let json = serde_json::to_string(&envelope).unwrap();
        let frame = std::str::from_utf8(event.json()).unwrap();
        assert!(json.contains(frame), "{json}");
        let Body::User { frame, .. } = serde_json::from_str::<Envelope>(&json).unwrap().body else {
            panic!("not a user body: {json}");
        };
        assert_eq!(frame.0.json(), event.json());
    }

    #[test]
    fn an_envelope_whose_frame_is_not_a_server_frame_is_refused() {
        let json =
            r#"{"node":1,"seq":1,"body":{"user":{"user_id":5,"frame":{"type":"no_such_frame"}}}}"#;
        assert!(serde_json::from_str::<Envelope>(json).is_err());
        let json = r#"{"node":1,"seq":1,"body":{"user":{"user_id":5,"frame":[1,2]}}}"#;
        assert!(serde_json::from_str::<Envelope>(json).is_err());
    }
}
