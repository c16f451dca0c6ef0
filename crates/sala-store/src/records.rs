//! Rows as the store hands them out, and the values it takes in.

use chrono::{DateTime, Utc};

/// An account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: i64,
    pub username: String,
    pub email: Option<String>,
    /// The argon2id PHC string.
    pub password_hash: String,
    pub status: StatusRecord,
    pub created_at: DateTime<Utc>,
}

/// Availability and its note.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatusRecord {
    pub busy: bool,
    pub note: Option<String>,
    /// When the user became busy; `None` while available. When setting a status, the
    /// caller passes "now" for a busy status and the store keeps an earlier start.
    pub busy_since: Option<DateTime<Utc>>,
}

/// A new account; `username` and `email` are validated by the caller.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub email: Option<&'a str>,
    pub password_hash: &'a str,
    pub created_at: DateTime<Utc>,
}

/// A login session: the `jti` of the tokens issued for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: String,
    pub user_id: i64,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl SessionRecord {
    /// Whether a token of this session may be accepted at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

/// A session being opened at login.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub id: &'a str,
    pub user_id: i64,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Who may find, read and join a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RoomKind {
    /// Listed, searchable, anyone may join.
    #[default]
    Public,
    /// Invite-only: to anyone but its members it does not exist.
    Private,
    /// A direct conversation of a fixed set of people, with no public name.
    Dm,
}

impl RoomKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Private => "private",
            Self::Dm => "dm",
        }
    }

    /// The kind stored as `text`; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "public" => Some(Self::Public),
            "private" => Some(Self::Private),
            "dm" => Some(Self::Dm),
            _ => None,
        }
    }
}

/// A member's role in one room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Role {
    #[default]
    Member,
    /// Invites, kicks, bans, mutes and edits the topic.
    Admin,
    /// The creator: also promotes and demotes admins, and may archive the room.
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Admin => "admin",
            Self::Owner => "owner",
        }
    }

    /// The role stored as `text`; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "member" => Some(Self::Member),
            "admin" => Some(Self::Admin),
            "owner" => Some(Self::Owner),
            _ => None,
        }
    }
}

/// A room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRecord {
    pub id: i64,
    pub name: String,
    pub kind: RoomKind,
    /// A private room whose members may all invite (else only its admins and owner).
    pub members_invite: bool,
    pub topic: Option<String>,
    /// The creator's username; `None` for rooms the server made.
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A room being created; `name` is validated (and lower-cased) by the caller.
#[derive(Debug, Clone)]
pub struct NewRoom<'a> {
    pub name: &'a str,
    /// `Public` or `Private`; a DM is opened with [`NewDm`].
    pub kind: RoomKind,
    pub topic: Option<&'a str>,
    /// Becomes the room's owner (and first member).
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
}

/// A direct conversation to open, or to find if these people have one.
#[derive(Debug, Clone)]
pub struct NewDm<'a> {
    /// The name it gets if it is new: unguessable, made by the caller, never shown as a
    /// name (clients show the other people's names).
    pub name: &'a str,
    /// Everyone in it, the opener included; order and repeats do not matter.
    pub members: &'a [i64],
    pub created_by: i64,
    pub created_at: DateTime<Utc>,
}

/// One member of a room, as member listings show them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomMember {
    pub user_id: i64,
    pub username: String,
    pub role: Role,
    pub busy: bool,
    pub note: Option<String>,
}

/// A user as others may see them when looking people up: never the email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSummary {
    pub id: i64,
    pub username: String,
}

/// A search over rooms, ordered by name.
#[derive(Debug, Clone, Default)]
pub struct RoomQuery<'a> {
    /// Matches name or topic, case-insensitively, as a literal substring.
    pub search: Option<&'a str>,
    /// Who is looking: public rooms are listed for everyone, private rooms only for their
    /// members, DMs never (they are in the member's own list).
    pub viewer: Option<i64>,
    /// Only rooms whose name sorts after this one (the cursor).
    pub after_name: Option<&'a str>,
    pub limit: u32,
}

/// A room the user is a member of, with their read marker and what lies beyond it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRoomRecord {
    pub room: RoomRecord,
    pub role: Role,
    pub last_read: i64,
    pub unread: u64,
    /// Unread messages that mention the user, or the whole room.
    pub unread_mentions: u64,
    /// The member quieted the room: it tells them of mentions only.
    pub quiet: bool,
}

/// A busy member of a room, as `joined` tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusyMember {
    pub username: String,
    pub note: Option<String>,
}

/// A stored message, as it is after its latest change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageRecord {
    /// Its position in the room's log when it was sent.
    pub id: i64,
    /// The position of its latest change (`id` until it is first changed).
    pub seq: i64,
    pub room: String,
    pub user_id: i64,
    pub username: String,
    /// Empty once deleted.
    pub text: String,
    pub client_id: Option<String>,
    pub assistant: bool,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted: bool,
    /// The message this one answers.
    pub reply_to: Option<i64>,
    /// Messages (not deleted) answering this one, and when the last came.
    pub replies: u32,
    pub last_reply_at: Option<DateTime<Utc>>,
    /// By emoji, in the order each was first used.
    pub reactions: Vec<ReactionRecord>,
    /// The usernames it mentions (as they were when it was sent), and whether it mentions
    /// everyone in the room (`@room`).
    pub mentions: Vec<String>,
    pub mentions_room: bool,
    /// The files it carries, in the order they were sent (none once deleted).
    pub attachments: Vec<AttachmentRecord>,
}

impl MessageRecord {
    /// The record of `message` as just stored under `id`, in the room and by the author
    /// named: no reactions, replies or edits yet, its time to the millisecond as stored.
    /// A backend builds it from what it wrote instead of reading the row back.
    pub fn just_stored(
        message: NewMessage,
        id: i64,
        room: String,
        username: String,
        attachments: Vec<AttachmentRecord>,
    ) -> Self {
        let created_at = DateTime::from_timestamp_millis(message.created_at.timestamp_millis())
            .unwrap_or(message.created_at);
        Self {
            id,
            seq: id,
            room,
            user_id: message.user_id,
            username,
            text: message.text,
            client_id: message.client_id,
            assistant: message.assistant,
            created_at,
            edited_at: None,
            deleted: false,
            reply_to: message.reply_to,
            replies: 0,
            last_reply_at: None,
            reactions: Vec::new(),
            mentions: message
                .mentions
                .users
                .into_iter()
                .map(|(_, name)| name)
                .collect(),
            mentions_room: message.mentions.room,
            attachments,
        }
    }
}

/// A file as a message carries it: what a client shows before downloading it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "rows", derive(serde::Serialize, serde::Deserialize))]
pub struct AttachmentRecord {
    pub id: String,
    pub name: String,
    pub size: u64,
    pub content_type: String,
    #[cfg_attr(
        feature = "rows",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub width: Option<u32>,
    #[cfg_attr(
        feature = "rows",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub height: Option<u32>,
    /// A smaller picture of it exists (images only).
    #[cfg_attr(feature = "rows", serde(default))]
    pub thumbnail: bool,
}

/// An uploaded file to record (issue 21). Its bytes are already in the file storage
/// under `blob` (and the thumbnail's under `thumbnail_blob`).
#[derive(Debug, Clone)]
pub struct NewFile {
    pub id: String,
    pub room_id: i64,
    pub uploader_id: i64,
    pub name: String,
    pub size: u64,
    /// As sniffed from its bytes, never as the client said.
    pub content_type: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Where its bytes are: the name of their content (a hash) in the file storage.
    pub blob: String,
    pub thumbnail_blob: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A recorded file, attached to a message or waiting to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    pub id: String,
    pub room_id: i64,
    pub uploader_id: i64,
    pub name: String,
    pub size: u64,
    pub content_type: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub blob: String,
    pub thumbnail_blob: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The message that carries it; `None` until it is sent.
    pub message_id: Option<i64>,
}

impl FileRecord {
    /// What a message shows of it.
    pub fn attachment(&self) -> AttachmentRecord {
        AttachmentRecord {
            id: self.id.clone(),
            name: self.name.clone(),
            size: self.size,
            content_type: self.content_type.clone(),
            width: self.width,
            height: self.height,
            thumbnail: self.thumbnail_blob.is_some(),
        }
    }
}

/// Whom a message mentions, resolved when it is sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mentions {
    /// (user id, username) of each person mentioned.
    pub users: Vec<(i64, String)>,
    /// `@room`: every member.
    pub room: bool,
}

/// One emoji on a message, and who put it there, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactionRecord {
    pub emoji: String,
    pub users: Vec<String>,
}

/// The outcome of storing one message of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub record: MessageRecord,
    /// `false` when the `(user, client_id)` was already stored and this is that message.
    pub is_new: bool,
}

/// A message to store.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub room_id: i64,
    pub user_id: i64,
    pub text: String,
    /// The sender's idempotency key: the same `(user, client_id)` stores one message.
    pub client_id: Option<String>,
    pub assistant: bool,
    pub created_at: DateTime<Utc>,
    /// The message of the same room this one answers.
    pub reply_to: Option<i64>,
    pub mentions: Mentions,
    /// Ids of files the sender uploaded to this room and has not sent yet, in order.
    pub attachments: Vec<String>,
}

/// Most distinct emoji on one message.
pub const MAX_REACTION_KINDS: usize = 20;

/// One change to a stored message.
#[derive(Debug, Clone)]
pub struct MessageChange {
    pub room_id: i64,
    pub message_id: i64,
    /// Who makes the change.
    pub user_id: i64,
    pub at: DateTime<Utc>,
    pub kind: ChangeKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    /// New text, by the author only; the same `client_id` as the last edit changes nothing.
    /// With `sent_after`, only a message sent after that moment may be edited (the edit
    /// window).
    Edit {
        text: String,
        client_id: Option<String>,
        sent_after: Option<DateTime<Utc>>,
    },
    /// Empties the text and drops the reactions; `any_author` lets a moderator delete
    /// someone else's message. Deleting a deleted message changes nothing.
    Delete { any_author: bool },
    /// Adds (`true`) or removes the user's reaction; a reaction already there, or not
    /// there, changes nothing.
    React { emoji: String, add: bool },
}

/// One write of the writer's batch.
#[derive(Debug, Clone)]
pub enum MessageWrite {
    Append(NewMessage),
    Change(MessageChange),
}

impl MessageWrite {
    /// The room it writes to.
    pub fn room_id(&self) -> i64 {
        match self {
            Self::Append(message) => message.room_id,
            Self::Change(change) => change.room_id,
        }
    }
}

/// What one write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageWritten {
    /// Stored (or, with `is_new` false, found stored), and the message it answers, when
    /// its thread counts moved.
    Appended {
        appended: Appended,
        thread_root: Option<MessageRecord>,
        /// The room's latest position before this write, when the store can tell (see
        /// [`MessageWritten::follows`]).
        follows: Option<i64>,
    },
    /// The message after the change (`changed` false: it already was so), and the root of
    /// its thread when a deletion moved that thread's counts.
    Changed {
        record: MessageRecord,
        changed: bool,
        thread_root: Option<MessageRecord>,
        /// As for `Appended`.
        follows: Option<i64>,
    },
    /// Not carried out, and nothing of it stored.
    Refused(WriteRefusal),
}

impl MessageWritten {
    /// The position of the room's log this write's first new position follows: the room's
    /// latest position before it (0 for an empty room). PostgreSQL tells it, read under the
    /// room's write lock, so that nodes hearing one another's writes out of order can put
    /// them back in order (a node delivers a position only after the one it follows). `None`
    /// on SQLite, whose one writer on one node orders everything already.
    pub fn follows(&self) -> Option<i64> {
        match self {
            Self::Appended { follows, .. } | Self::Changed { follows, .. } => *follows,
            Self::Refused(_) => None,
        }
    }

    /// The positions this write took in its room's log that readers see, in order: a new
    /// message's id, a change's new `seq`, and its thread root's new `seq`.
    pub fn positions(&self) -> impl Iterator<Item = i64> {
        let (own, root) = match self {
            Self::Appended {
                appended,
                thread_root,
                ..
            } => (appended.is_new.then_some(appended.record.id), thread_root),
            Self::Changed {
                record,
                changed,
                thread_root,
                ..
            } => (changed.then_some(record.seq), thread_root),
            Self::Refused(_) => (None, &None),
        };
        own.into_iter().chain(root.as_ref().map(|root| root.seq))
    }

    /// Sets [`follows`](Self::follows) (the stores' writers fill it in last).
    pub fn set_follows(&mut self, position: i64) {
        if let Self::Appended { follows, .. } | Self::Changed { follows, .. } = self {
            *follows = Some(position);
        }
    }
}

/// Why one write of a batch was not carried out (the others still are).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WriteRefusal {
    /// No such message in the room, or it is deleted (so it cannot be edited, reacted to
    /// or answered).
    #[error("no such message in this room")]
    NoSuchMessage,
    /// Only its author may do this.
    #[error("only its author may change a message")]
    NotAuthor,
    /// The message has as many distinct emoji as it may.
    #[error("a message has at most 20 different reactions")]
    TooManyReactions,
    /// The message was sent longer ago than it may be edited.
    #[error("this message can no longer be edited")]
    EditWindowClosed,
    /// An attachment is not a file the sender uploaded to this room and has not sent yet.
    #[error("no such file to attach: each must be uploaded to this room by you, and not sent yet")]
    NoSuchFile,
}

/// A search of the messages a user can read (issue 21): newest first, at most `limit`,
/// never a deleted message, never one of a room the reader is not a member of.
#[derive(Debug, Clone, Copy, Default)]
pub struct MessageSearch<'a> {
    /// Who searches: only the rooms they are a member of are searched.
    pub reader_id: i64,
    /// Texts a hit must contain, each anywhere, case-insensitively (a phrase is one text
    /// with its spaces). Empty: every message passes.
    pub texts: &'a [&'a str],
    /// Only messages by this user (a username, matched case-insensitively).
    pub author: Option<&'a str>,
    /// Only messages of this room (its name).
    pub room: Option<&'a str>,
    /// Only messages sent after this moment.
    pub after: Option<DateTime<Utc>>,
    /// Only messages sent before this moment.
    pub before: Option<DateTime<Utc>>,
    /// Only messages with a smaller id: the cursor of the previous page.
    pub older_than: Option<i64>,
    /// Only messages that carry a file (`has:file`).
    pub with_files: bool,
    pub limit: u32,
}

/// A page of a room's history.
///
/// With `after`, the page starts just after that id and runs forward (bounded by `before`
/// if given). Without it, the page is the newest messages before `before` (or the newest
/// of all). Either way the store returns at most `limit` messages, oldest first, and says
/// whether more lay beyond the cut.
#[derive(Debug, Clone, Copy, Default)]
pub struct MessageQuery {
    pub before: Option<i64>,
    pub after: Option<i64>,
    pub limit: u32,
}

impl MessageQuery {
    /// How many rows a backend reads: one beyond the limit tells whether the page was cut
    /// short.
    pub fn fetch(&self) -> i64 {
        i64::from(self.limit) + 1
    }

    /// The page from the rows read (ascending ids with `after`, descending without): at
    /// most `limit`, oldest first, and whether more lay beyond.
    pub fn finish<T>(&self, mut rows: Vec<T>) -> (Vec<T>, bool) {
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        let more = rows.len() > limit;
        rows.truncate(limit);
        if self.after.is_none() {
            rows.reverse();
        }
        (rows, more)
    }
}

/// What a room's moderators can restrict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Restriction {
    /// Not a member, and cannot become one.
    Ban,
    /// May read, cannot write.
    Mute,
}

impl Restriction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ban => "ban",
            Self::Mute => "mute",
        }
    }
}

/// A ban or mute in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestrictionRecord {
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    /// `None`: until lifted.
    pub expires_at: Option<DateTime<Utc>>,
}

/// One moderation action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModerationAction {
    /// Lets the target join (what a private room needs).
    Invite,
    /// Ends the target's membership; they may join again where they may.
    Kick,
    /// Ends the membership (and any invite) and keeps the target out.
    Ban,
    Unban,
    Mute,
    Unmute,
    /// Gives a member this role.
    SetRole(Role),
}

impl ModerationAction {
    /// The action as the audit record names it.
    pub fn audit_name(self) -> &'static str {
        match self {
            Self::Invite => "invite",
            Self::Kick => "kick",
            Self::Ban => "ban",
            Self::Unban => "unban",
            Self::Mute => "mute",
            Self::Unmute => "unmute",
            Self::SetRole(Role::Owner) => "make_owner",
            Self::SetRole(Role::Admin) => "make_admin",
            Self::SetRole(Role::Member) => "make_member",
        }
    }
}

/// An action of `actor` on `target` in a room; who may do what is the caller's to check.
#[derive(Debug, Clone)]
pub struct Moderation<'a> {
    pub room_id: i64,
    pub actor: i64,
    pub target: i64,
    pub action: ModerationAction,
    pub reason: Option<&'a str>,
    /// For bans and mutes: until when (`None`: until lifted).
    pub expires_at: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
}

/// One line of a room's moderation record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub id: i64,
    /// Usernames; `None` once the account is gone.
    pub actor: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub reason: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// An invitation waiting for its invitee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteRecord {
    pub room: RoomRecord,
    pub invited_by: Option<String>,
    pub created_at: DateTime<Utc>,
}
