//! Store records into wire types, at the edge (records are not wire types).

use sala_proto::api::{Account, MemberRoom, Message, Reaction, Room, UserStatus, UserSummary};
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
/// A room as the API shows it; a DM's `people` are filled in by the caller, who looks them up.
pub fn room(room: RoomRecord, online: u64) -> Room {
    Room {
        name: room.name,
        kind: room_kind(room.kind),
        members_invite: room.members_invite,
        people: None,
        topic: room.topic,
        created_by: room.created_by,
        created_at: room.created_at,
        online,
    }
}

pub fn member_room(record: MemberRoomRecord, online: u64) -> MemberRoom {
    MemberRoom {
        room: room(record.room, online),
        role: role(record.role),
        last_read: record.last_read,
        unread: record.unread,
        unread_mentions: record.unread_mentions,
        quiet: record.quiet,
    }
}

pub fn message(message: MessageRecord) -> Message {
    Message {
        id: message.id,
        seq: message.seq,
        room: message.room,
        user: message.username,
        text: message.text,
        ts: message.created_at,
        client_id: message.client_id,
        assistant: message.assistant,
        edited_at: message.edited_at.as_ref().map(sala_proto::time::format),
        deleted: message.deleted,
        reply_to: message.reply_to,
        replies: message.replies,
        last_reply_at: message.last_reply_at.as_ref().map(sala_proto::time::format),
        reactions: message
            .reactions
            .into_iter()
            .map(|reaction| Reaction {
                emoji: reaction.emoji,
                count: u32::try_from(reaction.users.len()).unwrap_or(u32::MAX),
                users: reaction.users,
            })
            .collect(),
        mentions: message.mentions,
        mentions_room: message.mentions_room,
        attachments: message.attachments.into_iter().map(attachment).collect(),
    }
}

/// A file as a message (or an upload's answer) shows it, with where to download it.
pub fn attachment(file: sala_store::AttachmentRecord) -> sala_proto::api::Attachment {
    sala_proto::api::Attachment {
        url: format!("/api/files/{}", file.id),
        thumbnail_url: file
            .thumbnail
            .then(|| format!("/api/files/{}/thumbnail", file.id)),
        id: file.id,
        name: file.name,
        size: file.size,
        content_type: file.content_type,
        width: file.width,
        height: file.height,
    }
}

pub fn room_kind(kind: sala_store::RoomKind) -> sala_proto::api::RoomKind {
    match kind {
        sala_store::RoomKind::Public => sala_proto::api::RoomKind::Public,
        sala_store::RoomKind::Private => sala_proto::api::RoomKind::Private,
        sala_store::RoomKind::Dm => sala_proto::api::RoomKind::Dm,
    }
}

pub fn role(role: sala_store::Role) -> sala_proto::api::Role {
    match role {
        sala_store::Role::Owner => sala_proto::api::Role::Owner,
        sala_store::Role::Admin => sala_proto::api::Role::Admin,
        sala_store::Role::Member => sala_proto::api::Role::Member,
    }
}
