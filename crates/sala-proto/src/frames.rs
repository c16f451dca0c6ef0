//! WebSocket frames (SPEC §3): one JSON object per text frame, tagged by `"type"`.
//!
//! Both enums derive both directions so that servers, the terminal client, the load
//! generator and tests share one definition.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::api::{Message, Role, Room, UserStatus};
use crate::error::ErrorCode;

/// What a client may send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// The first frame of a client that could not send an `Authorization` header.
    Auth {
        token: String,
    },
    /// Start receiving the room's frames; `since` is the highest position seen (the highest
    /// `id` or `seq` of the messages the client holds): resume without gaps.
    Join {
        room: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<i64>,
    },
    Leave {
        room: String,
    },
    Send {
        room: String,
        /// Required, but for a message that carries files (then it may be empty or left
        /// out).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
        /// The id of the message (of the same room) this one answers.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<i64>,
        /// Ids of files uploaded to this room (`POST /api/rooms/{name}/files`) and not sent
        /// yet; with at least one, `text` may be empty.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        attachments: Vec<String>,
    },
    /// New text for one's own message.
    Edit {
        room: String,
        id: i64,
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
    },
    /// Deletes one's own message (the room's admins and owner: anyone's).
    Delete {
        room: String,
        id: i64,
    },
    React {
        room: String,
        id: i64,
        emoji: String,
    },
    Unreact {
        room: String,
        id: i64,
        emoji: String,
    },
    /// Older messages (`before`), or newer ones (`after`, a Sala extension for catching up).
    History {
        room: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    Typing {
        room: String,
    },
    Status {
        status: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    Read {
        room: String,
        id: i64,
    },
    Ping,
}

/// The user a connection is authenticated as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadyUser {
    pub id: i64,
    pub username: String,
    pub status: UserStatus,
}

/// A member's availability, as `joined` tells it for everyone online.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberStatus {
    pub status: UserStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What changed about a user's presence in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceEvent {
    /// The user's first connection joined the room.
    Joined,
    /// The user left the room (ended their membership).
    Left,
    /// The user's last connection in the room dropped.
    Disconnected,
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    Ready {
        user: ReadyUser,
    },
    Joined {
        room: String,
        /// Usernames with a live connection in the room.
        members: Vec<String>,
        /// The status of each of `members`; later changes arrive as `status` frames.
        #[serde(default)]
        statuses: BTreeMap<String, MemberStatus>,
        history: Vec<Message>,
        /// With `since`: messages the client had that changed since, as they are now.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        updated: Vec<Message>,
        more: bool,
        /// With `since`: the highest position this answer covers, the next `since`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        through: Option<i64>,
    },
    Left {
        room: String,
    },
    Ack {
        room: String,
        id: i64,
        client_id: Option<String>,
        /// For a change (edit, delete, react): the message's position after it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<i64>,
    },
    Message(Message),
    /// A message changed: what it is now.
    MessageUpdated {
        room: String,
        change: MessageChange,
        /// Who made the change (absent for `changed`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
        message: Message,
    },
    History {
        room: String,
        messages: Vec<Message>,
        /// With `after`: messages up to `after` that changed since, as they are now.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        updated: Vec<Message>,
        more: bool,
        /// With `after`: the highest position this page covers, the next `after`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        through: Option<i64>,
    },
    Typing {
        room: String,
        user: String,
    },
    Status {
        user: String,
        status: UserStatus,
        note: Option<String>,
    },
    Read {
        room: String,
        id: i64,
    },
    Presence {
        room: String,
        user: String,
        event: PresenceEvent,
    },
    /// A change of a room's membership made by its moderators, to the room's connections
    /// (the user concerned among them, so they learn why they were removed).
    Member {
        room: String,
        user: String,
        change: MemberChange,
        /// The new role, for `role_changed`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        role: Option<Role>,
        /// Who made the change.
        by: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// Until when a ban or mute holds (RFC 3339); absent: until lifted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<String>,
    },
    /// The room was archived by its owner, to every connection of each of its members: it
    /// is gone (the connections in it have left it).
    RoomRemoved {
        room: String,
        by: String,
    },
    /// A room's topic was changed (by an admin or its owner), to the room's connections.
    RoomUpdated {
        room: Room,
    },
    /// An invitation into a room, to every connection of the invitee: join to accept.
    Invited {
        room: Room,
        by: String,
    },
    /// A conversation the user was just made part of (a DM opened by someone, or by
    /// them on another device), to every connection of theirs. Join it to read it.
    RoomAdded {
        room: Room,
    },
    /// Private to the user, on becoming available: what mentioned them while busy.
    CatchUp {
        items: Vec<Message>,
        summary: Option<String>,
    },
    Error {
        code: ErrorCode,
        message: String,
        /// For a failed `send`: its room (a Sala addition, absent otherwise).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        /// For a failed `send`: its `client_id`, if it had one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
    },
    Pong,
}

/// What changed a message, as `message_updated` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageChange {
    Edited,
    Deleted,
    /// A reaction was added or removed.
    Reacted,
    /// A reply to it came or was deleted: its thread counts moved.
    Replied,
    /// Changed while this node was cut off from the others; what changed it is not known.
    Changed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_their_type_tag() {
        let frame: ClientFrame =
            serde_json::from_str(r#"{"type":"send","room":"general","text":"hi"}"#).unwrap();
        assert_eq!(
            frame,
            ClientFrame::Send {
                room: "general".into(),
                text: Some("hi".into()),
                client_id: None,
                reply_to: None,
                attachments: Vec::new(),
            }
        );
        let pong = serde_json::to_string(&ServerFrame::Pong).unwrap();
        assert_eq!(pong, r#"{"type":"pong"}"#);
    }

    #[test]
    fn a_message_frame_is_the_message_with_a_type() {
        let message = Message {
            id: 7,
            room: "general".into(),
            user: "alice".into(),
            text: "hi".into(),
            ts: chrono::DateTime::from_timestamp_millis(0).unwrap(),
            ..Message::default()
        };
        let json: serde_json::Value =
            serde_json::to_value(ServerFrame::Message(message.clone())).unwrap();
        assert_eq!(json["type"], "message");
        assert_eq!(json["id"], 7);
        assert_eq!(json["ts"], "1970-01-01T00:00:00.000Z");
        let back: ServerFrame = serde_json::from_value(json).unwrap();
        assert_eq!(back, ServerFrame::Message(message));
    }
}

/// What a moderator changed about a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberChange {
    RoleChanged,
    Kicked,
    Banned,
    Unbanned,
    Muted,
    Unmuted,
}
