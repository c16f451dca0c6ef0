//! Store records into wire types, at the edge (records are not wire types).

use sala_proto::api::{Account, MemberRoom, Message, Room, UserStatus, UserSummary};
use sala_proto::frames::{ReadyUser, ServerFrame};
use sala_store::{MemberRoomRecord, MessageRecord, RoomRecord, UserRecord};

/// The account as its owner sees it (with email and status).
pub fn account(user: UserRecord) -> Account {
    Account {
        status: status(&user),
        id: user.id,
        username: user.username,
        email: user.email,
        created_at: user.created_at,
        status_note: user.status.note,
    }
}

/// The `ready` frame a connection gets once authenticated.
pub fn ready(user: &UserRecord) -> ServerFrame {
    ServerFrame::Ready {
        user: ReadyUser {
            id: user.id,
            username: user.username.clone(),
            status: status(user),
        },
    }
}

/// A user's availability on the wire.
pub fn status(user: &UserRecord) -> UserStatus {
    if user.status.busy {
        UserStatus::Busy
    } else {
        UserStatus::Available
    }
}

pub fn user_summary(user: &UserRecord) -> UserSummary {
    UserSummary {
        id: user.id,
        username: user.username.clone(),
    }
}

/// A room, with `online`: how many users have a live connection in it (from the hub).
pub fn room(room: RoomRecord, online: u64) -> Room {
    Room {
        name: room.name,
        topic: room.topic,
        created_by: room.created_by,
        created_at: room.created_at,
        online,
    }
}

pub fn member_room(record: MemberRoomRecord, online: u64) -> MemberRoom {
    MemberRoom {
        room: room(record.room, online),
        last_read: record.last_read,
        unread: record.unread,
    }
}

pub fn message(message: MessageRecord) -> Message {
    Message {
        id: message.id,
        room: message.room,
        user: message.username,
        text: message.text,
        ts: message.created_at,
        client_id: message.client_id,
        assistant: message.assistant,
    }
}
