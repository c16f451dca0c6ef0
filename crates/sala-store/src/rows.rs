//! Row shapes as the SQL backends return them, and their conversion into the store's
//! records (feature `rows`). SQLite and PostgreSQL keep the same column types (BIGINT
//! milliseconds, BIGINT ids, booleans), so one set of rows, decoded by sqlx for either
//! database, serves both.

use chrono::{DateTime, Utc};

use crate::{
    AuditRecord, InviteRecord, MemberRoomRecord, MessageRecord, RestrictionRecord, Role, RoomKind,
    RoomMember, RoomRecord, SessionRecord, StatusRecord, StoreError, UserRecord,
};

/// Timestamps are stored as milliseconds since the epoch.
pub fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn from_millis(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Backend(format!("stored timestamp {ms} is out of range").into()))
}

#[derive(sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub email: Option<String>,
    pub password_hash: String,
    pub busy: bool,
    pub status_note: Option<String>,
    pub busy_since: Option<i64>,
    pub created_at: i64,
}

impl TryFrom<UserRow> for UserRecord {
    type Error = StoreError;
    fn try_from(row: UserRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.id,
            username: row.username,
            email: row.email,
            password_hash: row.password_hash,
            status: StatusRecord {
                busy: row.busy,
                note: row.status_note,
                busy_since: row.busy_since.map(from_millis).transpose()?,
            },
            created_at: from_millis(row.created_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct SessionRow {
    pub id: String,
    pub user_id: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

impl TryFrom<SessionRow> for SessionRecord {
    type Error = StoreError;
    fn try_from(row: SessionRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.id,
            user_id: row.user_id,
            created_at: from_millis(row.created_at)?,
            expires_at: from_millis(row.expires_at)?,
            revoked_at: row.revoked_at.map(from_millis).transpose()?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct RoomRow {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub members_invite: bool,
    pub topic: Option<String>,
    pub created_by: Option<String>,
    pub created_at: i64,
}

impl TryFrom<RoomRow> for RoomRecord {
    type Error = StoreError;
    fn try_from(row: RoomRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.id,
            name: row.name,
            kind: RoomKind::parse(&row.kind).ok_or_else(|| bad_value("rooms.kind", &row.kind))?,
            members_invite: row.members_invite,
            topic: row.topic,
            created_by: row.created_by,
            created_at: from_millis(row.created_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct MemberRoomRow {
    #[sqlx(flatten)]
    room: RoomRow,
    role: String,
    last_read: i64,
    unread: i64,
    unread_mentions: i64,
    quiet: bool,
}

impl TryFrom<MemberRoomRow> for MemberRoomRecord {
    type Error = StoreError;
    fn try_from(row: MemberRoomRow) -> Result<Self, StoreError> {
        Ok(Self {
            room: row.room.try_into()?,
            role: parse_role(&row.role)?,
            last_read: row.last_read,
            unread: u64::try_from(row.unread).unwrap_or(0),
            unread_mentions: u64::try_from(row.unread_mentions).unwrap_or(0),
            quiet: row.quiet,
        })
    }
}

/// A message as the backends' `message_select!` reads it; its reactions are read apart
/// ([`MessageRow::reaction_rows`] says whether there are any to read).
#[derive(sqlx::FromRow)]
pub struct MessageRow {
    pub id: i64,
    pub seq: i64,
    pub room: String,
    pub user_id: i64,
    pub username: String,
    pub text: String,
    pub client_id: Option<String>,
    pub assistant: bool,
    pub created_at: i64,
    pub edited_at: Option<i64>,
    pub deleted_at: Option<i64>,
    pub reply_to: Option<i64>,
    pub replies: i64,
    pub last_reply_at: Option<i64>,
    pub reaction_rows: i64,
    /// A JSON array of usernames.
    pub mentions: String,
    pub mentions_room: bool,
    /// A JSON array of attachments, or `NULL` for none.
    pub attachments: Option<String>,
}

impl MessageRow {
    pub fn id(&self) -> i64 {
        self.id
    }

    /// How many reactions the message has (each user's emoji counted).
    pub fn reaction_rows(&self) -> i64 {
        self.reaction_rows
    }
}

impl TryFrom<MessageRow> for MessageRecord {
    type Error = StoreError;
    fn try_from(row: MessageRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.id,
            seq: row.seq,
            room: row.room,
            user_id: row.user_id,
            username: row.username,
            text: row.text,
            client_id: row.client_id,
            assistant: row.assistant,
            created_at: from_millis(row.created_at)?,
            edited_at: row.edited_at.map(from_millis).transpose()?,
            deleted: row.deleted_at.is_some(),
            reply_to: row.reply_to,
            replies: u32::try_from(row.replies).unwrap_or(0),
            last_reply_at: row.last_reply_at.map(from_millis).transpose()?,
            reactions: Vec::new(),
            mentions: serde_json::from_str(&row.mentions)
                .map_err(|err| StoreError::Backend(Box::new(err)))?,
            mentions_room: row.mentions_room,
            attachments: match row.attachments {
                Some(json) => {
                    serde_json::from_str(&json).map_err(|err| StoreError::Backend(Box::new(err)))?
                }
                None => Vec::new(),
            },
        })
    }
}

/// The attachments of a message, as its `attachments` column holds them (`NULL`: none).
///
/// # Errors
/// `Backend` if they cannot be written as JSON (they always can).
pub fn attachments_column(
    attachments: &[crate::AttachmentRecord],
) -> Result<Option<String>, StoreError> {
    if attachments.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(attachments)
        .map(Some)
        .map_err(|err| StoreError::Backend(Box::new(err)))
}

/// A row of `files`, as both SQL backends read it.
#[derive(sqlx::FromRow)]
pub struct FileRow {
    pub id: String,
    pub room_id: i64,
    pub uploader_id: i64,
    pub name: String,
    pub size: i64,
    pub content_type: String,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub blob: String,
    pub thumbnail_blob: Option<String>,
    pub created_at: i64,
    pub message_id: Option<i64>,
}

impl TryFrom<FileRow> for crate::FileRecord {
    type Error = StoreError;
    fn try_from(row: FileRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.id,
            room_id: row.room_id,
            uploader_id: row.uploader_id,
            name: row.name,
            size: u64::try_from(row.size).unwrap_or(0),
            content_type: row.content_type,
            width: row.width.and_then(|value| u32::try_from(value).ok()),
            height: row.height.and_then(|value| u32::try_from(value).ok()),
            blob: row.blob,
            thumbnail_blob: row.thumbnail_blob,
            created_at: from_millis(row.created_at)?,
            message_id: row.message_id,
        })
    }
}

/// One user's reaction, as the backends read them: (message id, emoji, username), ordered
/// by message, then by when each was made.
pub type ReactionRow = (i64, String, String);

/// Puts the reactions read (in order) on their messages: each emoji in the order it was
/// first used, its users oldest first.
pub fn attach_reactions(messages: &mut [MessageRecord], rows: Vec<ReactionRow>) {
    let mut by_message: std::collections::HashMap<i64, Vec<crate::ReactionRecord>> =
        std::collections::HashMap::new();
    for (message_id, emoji, username) in rows {
        let reactions = by_message.entry(message_id).or_default();
        match reactions
            .iter_mut()
            .find(|reaction| reaction.emoji == emoji)
        {
            Some(reaction) => reaction.users.push(username),
            None => reactions.push(crate::ReactionRecord {
                emoji,
                users: vec![username],
            }),
        }
    }
    for message in messages {
        if let Some(reactions) = by_message.remove(&message.id) {
            message.reactions = reactions;
        }
    }
}

#[derive(sqlx::FromRow)]
pub struct RoomMemberRow {
    user_id: i64,
    username: String,
    role: String,
    busy: bool,
    status_note: Option<String>,
}

impl TryFrom<RoomMemberRow> for RoomMember {
    type Error = StoreError;
    fn try_from(row: RoomMemberRow) -> Result<Self, StoreError> {
        Ok(Self {
            user_id: row.user_id,
            username: row.username,
            role: parse_role(&row.role)?,
            busy: row.busy,
            note: row.status_note,
        })
    }
}

/// A role as stored.
///
/// # Errors
/// `Backend` for a value this version never writes.
pub fn parse_role(role: &str) -> Result<Role, StoreError> {
    Role::parse(role).ok_or_else(|| bad_value("memberships.role", role))
}

/// The people of a DM, each once, in ascending order.
pub fn distinct(members: &[i64]) -> Vec<i64> {
    let mut members = members.to_vec();
    members.sort_unstable();
    members.dedup();
    members
}

/// What identifies a DM: its people's ids, sorted and comma-separated, so the same set of
/// people always finds the same conversation.
pub fn dm_key(members: &[i64]) -> String {
    distinct(members)
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// A column holding what this version never writes there.
fn bad_value(column: &str, value: &str) -> StoreError {
    StoreError::Backend(format!("{column} holds an unknown value {value:?}").into())
}

#[derive(sqlx::FromRow)]
pub struct RestrictionRow {
    pub reason: Option<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

impl TryFrom<RestrictionRow> for RestrictionRecord {
    type Error = StoreError;
    fn try_from(row: RestrictionRow) -> Result<Self, StoreError> {
        Ok(Self {
            reason: row.reason,
            created_at: from_millis(row.created_at)?,
            expires_at: row.expires_at.map(from_millis).transpose()?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct AuditRow {
    id: i64,
    actor: Option<String>,
    action: String,
    target: Option<String>,
    reason: Option<String>,
    expires_at: Option<i64>,
    created_at: i64,
}

impl TryFrom<AuditRow> for AuditRecord {
    type Error = StoreError;
    fn try_from(row: AuditRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.id,
            actor: row.actor,
            action: row.action,
            target: row.target,
            reason: row.reason,
            expires_at: row.expires_at.map(from_millis).transpose()?,
            created_at: from_millis(row.created_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct InviteRow {
    #[sqlx(flatten)]
    room: RoomRow,
    invited_by: Option<String>,
    invited_at: i64,
}

impl TryFrom<InviteRow> for InviteRecord {
    type Error = StoreError;
    fn try_from(row: InviteRow) -> Result<Self, StoreError> {
        Ok(Self {
            room: row.room.try_into()?,
            invited_by: row.invited_by,
            created_at: from_millis(row.invited_at)?,
        })
    }
}
