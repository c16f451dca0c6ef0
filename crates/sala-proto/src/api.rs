//! Bodies of the HTTP API (SPEC §2). Field names are the contract: do not rename.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /api/register`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RegisterRequest {
    #[schema(example = "alice")]
    pub username: String,
    #[schema(example = "correct horse battery staple")]
    pub password: String,
    #[serde(default)]
    #[schema(example = "alice@example.org")]
    pub email: Option<String>,
}

/// `POST /api/login`: a username or an email, and the password.
///
/// A `username` that contains `@` is treated as an email, for clients that have one field.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct LoginRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub password: String,
}

/// `POST /api/validate_token`, for other servers that hold a token but no secret.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ValidateTokenRequest {
    pub token: String,
}

/// `PUT /api/me/status`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StatusRequest {
    /// `busy` or `available`.
    #[schema(example = "busy")]
    pub status: String,
    #[serde(default)]
    #[schema(example = "in a meeting until 3")]
    pub note: Option<String>,
}

/// `POST /api/rooms`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateRoomRequest {
    #[schema(example = "rust")]
    pub name: String,
    #[serde(default)]
    #[schema(example = "All things Rust")]
    pub topic: Option<String>,
    /// Invite-only: not listed or found by others, who are answered as for an unknown name.
    #[serde(default)]
    pub private: bool,
}

/// `POST /api/dms`: the people to write to (the caller is added).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OpenDmRequest {
    /// 1 to 8 usernames other than the caller's.
    #[schema(example = json!(["bob"]))]
    pub users: Vec<String>,
}

/// `GET /api/users`: people whose username starts with `q`, and the next page's cursor.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserPage {
    pub users: Vec<UserSummary>,
    pub next_cursor: Option<String>,
}

/// `GET /api/me/blocks`: the people the caller has blocked, by username.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BlockList {
    pub users: Vec<UserSummary>,
}

/// One member of a room, online or not.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RoomMember {
    pub username: String,
    pub role: Role,
    pub status: UserStatus,
    pub status_note: Option<String>,
}

/// `GET /api/rooms/{name}/members`: one page, by username, and the next page's cursor.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MemberPage {
    pub members: Vec<RoomMember>,
    pub next_cursor: Option<String>,
}

/// `PATCH /api/rooms/{name}`: the new topic (`null` or empty: none).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UpdateRoomRequest {
    /// The new topic; `null` or empty: none; absent: unchanged.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub topic: Option<Option<String>>,
    /// Private rooms: whether every member may invite; absent: unchanged.
    #[serde(default)]
    pub members_invite: Option<bool>,
}

/// A field that is there, `null` or not: `Some(None)` for `null`, and (with `default`) `None`
/// when absent.
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// `POST /api/rooms/{name}/invites`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InviteRequest {
    pub username: String,
}

/// `POST /api/rooms/{name}/kick`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KickRequest {
    pub username: String,
    /// Told to the room and to the user; at most 500 characters.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `PUT /api/rooms/{name}/bans/{username}` and `.../mutes/{username}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct RestrictRequest {
    /// Told to the room and to the user; at most 500 characters.
    #[serde(default)]
    pub reason: Option<String>,
    /// How long it holds, 60 s to 10 years; absent: until lifted.
    #[serde(default)]
    pub duration_secs: Option<u64>,
}

/// `PUT /api/rooms/{name}/members/{username}/role`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RoleRequest {
    /// `admin` or `member`.
    pub role: Role,
}

/// An invitation waiting for the caller.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Invite {
    pub room: Room,
    pub invited_by: Option<String>,
    #[serde(with = "crate::time")]
    #[schema(value_type = String)]
    pub created_at: DateTime<Utc>,
}

/// `GET /api/me/invites`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Invites {
    pub invites: Vec<Invite>,
}

/// One moderation action, as the room's record keeps it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    /// Who did it; `null` once their account is gone.
    pub actor: Option<String>,
    /// `invite`, `kick`, `ban`, `unban`, `mute`, `unmute`, `make_admin`, `make_member`.
    pub action: String,
    pub target: Option<String>,
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub until: Option<String>,
    #[serde(with = "crate::time")]
    #[schema(value_type = String)]
    pub at: DateTime<Utc>,
}

/// `GET /api/rooms/{name}/audit`: newest first; `next_before` pages on.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub next_before: Option<i64>,
}

/// Who may find, read and join a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoomKind {
    Public,
    Private,
    Dm,
}

/// A member's role in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Member,
}

/// Whether a user is at the keyboard (SPEC §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    Available,
    Busy,
}

/// A user as the user themselves sees it (register, `GET /api/me`): the email is shown only here.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Account {
    pub id: i64,
    pub username: String,
    pub email: Option<String>,
    #[serde(with = "crate::time")]
    #[schema(value_type = String, example = "2026-11-22T10:04:05.123Z")]
    pub created_at: DateTime<Utc>,
    pub status: UserStatus,
    pub status_note: Option<String>,
}

/// A user as others may see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserSummary {
    pub id: i64,
    pub username: String,
}

/// `POST /api/login` success.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    pub token: String,
    /// Always `Bearer`.
    pub token_type: String,
    #[serde(with = "crate::time")]
    #[schema(value_type = String)]
    pub expires_at: DateTime<Utc>,
    pub user: UserSummary,
    /// The WebSocket URL to connect to, e.g. `ws://127.0.0.1:3000/ws`.
    pub chat_url: String,
}

/// `validate_token` success.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenValidity {
    pub valid: bool,
    pub user: UserSummary,
    #[serde(with = "crate::time")]
    #[schema(value_type = String)]
    pub expires_at: DateTime<Utc>,
}

/// A room (SPEC §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Room {
    /// For a DM, an unguessable handle rather than a name: show `people` instead.
    pub name: String,
    pub kind: RoomKind,
    /// A private room whose members may all invite (else only its admins and owner).
    #[serde(default)]
    pub members_invite: bool,
    /// A DM's people (the caller included), by username; absent for other rooms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub people: Option<Vec<String>>,
    pub topic: Option<String>,
    /// The creator's username; `null` for rooms the server made (`general`).
    pub created_by: Option<String>,
    #[serde(with = "crate::time")]
    #[schema(value_type = String)]
    pub created_at: DateTime<Utc>,
    /// Users with a live connection in the room.
    pub online: u64,
}

/// `GET /api/rooms`: one page, and the cursor of the next one (`null` on the last page).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RoomPage {
    pub rooms: Vec<Room>,
    pub next_cursor: Option<String>,
}

/// A room the user is a member of, with their read marker.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MemberRoom {
    #[serde(flatten)]
    pub room: Room,
    /// The user's role in it.
    pub role: Role,
    /// The id of the last message the user has read (0: none).
    pub last_read: i64,
    /// Messages after `last_read` (tombstones left out).
    pub unread: u64,
    /// Of those, the ones that mention the user or the whole room (`@room`).
    #[serde(default)]
    pub unread_mentions: u64,
    /// The user quieted the room: clients tell of its mentions only.
    #[serde(default)]
    pub quiet: bool,
}

/// `PUT /api/me/rooms/{name}`: the caller's own settings of a room they are a member of.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MyRoomSettings {
    /// Quiet: tell me of mentions only.
    pub quiet: bool,
}

/// `GET /api/me/rooms`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MemberRooms {
    pub rooms: Vec<MemberRoom>,
}

/// A chat message (SPEC §2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Message {
    /// Its position in the room's log when it was sent.
    pub id: i64,
    /// The position of its latest change (edit, deletion, reaction, reply to it): equal to
    /// `id` until it is first changed. A client keeps the copy with the highest `seq`.
    #[serde(default)]
    pub seq: i64,
    pub room: String,
    pub user: String,
    /// Empty for a deleted message.
    pub text: String,
    #[serde(with = "crate::time")]
    #[schema(value_type = String)]
    pub ts: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default)]
    pub assistant: bool,
    /// When it was last edited (RFC 3339); absent if never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<String>,
    /// A tombstone: the text is gone.
    #[serde(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
    /// The id of the message this one answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<i64>,
    /// How many messages (not deleted) answer this one; absent when none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub replies: u32,
    /// When the last of them came (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reply_at: Option<String>,
    /// By emoji, in the order each was first used; absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
    /// The users it mentions (`@name`), as the server read them when it was sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<String>,
    /// `@room` by an admin or the owner: it mentions every member.
    #[serde(default, skip_serializing_if = "is_false")]
    pub mentions_room: bool,
    /// The files it carries, in order; absent when none (and once it is deleted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

/// A file a message carries (or an upload's answer, before it is sent).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Attachment {
    pub id: String,
    /// The name it was uploaded under (its last path part).
    pub name: String,
    /// Bytes, as served (a picture's metadata removed).
    pub size: u64,
    /// As read from its bytes, not as the uploader said.
    pub content_type: String,
    /// A picture's size in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Where members download it (a path of this server: `/api/files/{id}`), with a bearer
    /// token or the file cookie.
    pub url: String,
    /// A picture's thumbnail, at most 320 pixels a side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
}

/// The answer to an upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UploadedFile {
    pub attachment: Attachment,
}

/// One emoji on a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Reaction {
    pub emoji: String,
    pub count: u32,
    /// Who reacted so, oldest first.
    pub users: Vec<String>,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_false(value: &bool) -> bool {
    !*value
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(value: &u32) -> bool {
    *value == 0
}

/// `PATCH /api/rooms/{name}/messages/{id}`: the new text.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EditRequest {
    pub text: String,
    /// The same `client_id` as the last edit is not applied twice.
    #[serde(default)]
    pub client_id: Option<String>,
}

/// `GET /api/rooms/{name}/messages`: oldest first; `more` says whether the page was cut short.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MessagePage {
    pub messages: Vec<Message>,
    pub more: bool,
}

/// One message `GET /api/search` found.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SearchHit {
    pub message: Message,
    /// Where the words and phrases matched in the message's text: `[start, end)` ranges in
    /// Unicode code points (`Array.from(text)` in JavaScript), sorted, not overlapping.
    pub highlights: Vec<[usize; 2]>,
}

/// `GET /api/search`: newest first; `next_cursor`, when set, fetches the next (older) page.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SearchPage {
    pub hits: Vec<SearchHit>,
    pub next_cursor: Option<i64>,
}

/// `GET /healthz`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
}
