//! The store traits. Every method is one logical operation and one transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{
    Appended, AuditRecord, BusyMember, FileRecord, InviteRecord, MemberRoomRecord, MessageQuery,
    MessageRecord, MessageSearch, MessageWrite, MessageWritten, Moderation, NewDm, NewFile,
    NewMessage, NewRoom, NewSession, NewUser, Restriction, RestrictionRecord, Role, RoomMember,
    RoomQuery, RoomRecord, SessionRecord, StatusRecord, StoreError, UserRecord, UserSummary,
};

/// Accounts.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// # Errors
    /// `Conflict(Username | Email)` when either is taken, case-insensitively.
    async fn create_user(&self, user: NewUser<'_>) -> Result<UserRecord, StoreError>;

    /// Looks a user up by username, case-insensitively.
    ///
    /// # Errors
    /// Backend failures only; an unknown name is `Ok(None)`.
    async fn find_user_by_username(&self, username: &str)
    -> Result<Option<UserRecord>, StoreError>;

    /// Looks users up by username, case-insensitively, in one query (the users a message
    /// mentions). Unknown names are left out; the order is unspecified.
    ///
    /// # Errors
    /// Backend failures only.
    async fn find_users_by_username(
        &self,
        usernames: &[String],
    ) -> Result<Vec<UserRecord>, StoreError>;

    /// Looks a user up by email, case-insensitively.
    ///
    /// # Errors
    /// Backend failures only.
    async fn find_user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError>;

    /// # Errors
    /// Backend failures only.
    async fn get_user(&self, id: i64) -> Result<Option<UserRecord>, StoreError>;

    /// Sets the user's availability and returns the updated account.
    ///
    /// # Errors
    /// `NotFound` for an unknown user.
    async fn set_status(
        &self,
        user_id: i64,
        status: &StatusRecord,
    ) -> Result<UserRecord, StoreError>;

    /// Users whose username starts with `prefix` (case-insensitively), ordered by
    /// username, after the username `after` (the cursor), at most `limit`.
    ///
    /// # Errors
    /// Backend failures only.
    async fn search_users(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<UserSummary>, StoreError>;

    /// Blocks (`true`) or unblocks `blocked` for `blocker`; returns whether that changed
    /// anything.
    ///
    /// # Errors
    /// `NotFound` for an unknown user.
    async fn set_block(
        &self,
        blocker: i64,
        blocked: i64,
        block: bool,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Which of `among` block `user_id`.
    ///
    /// # Errors
    /// Backend failures only.
    async fn blockers_of(&self, user_id: i64, among: &[i64]) -> Result<Vec<i64>, StoreError>;

    /// The users `blocker` has blocked, ordered by username.
    ///
    /// # Errors
    /// Backend failures only.
    async fn blocked_by(&self, blocker: i64) -> Result<Vec<UserSummary>, StoreError>;
}

/// Login sessions, which tokens refer to by `jti`.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// # Errors
    /// Backend failures; a duplicate id is a `Backend` error (ids are random).
    async fn create_session(&self, session: NewSession<'_>) -> Result<(), StoreError>;

    /// # Errors
    /// Backend failures only.
    async fn get_session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError>;

    /// Marks the session revoked; returns whether it was active until now.
    ///
    /// # Errors
    /// Backend failures only.
    async fn revoke_session(&self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Ids of the sessions revoked at or after `since`: what a node that may have missed
    /// logout notices (Redis was down) must close.
    ///
    /// # Errors
    /// Backend failures only.
    async fn revoked_since(&self, since: DateTime<Utc>) -> Result<Vec<String>, StoreError>;

    /// Deletes the sessions that expired before `expired_before`, revoked or not (a revoked
    /// session must be kept until it expires: its token would be valid again without it).
    /// Returns how many were deleted.
    ///
    /// # Errors
    /// Backend failures only.
    async fn purge_sessions(&self, expired_before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// Rooms and membership.
#[async_trait]
pub trait RoomStore: Send + Sync {
    /// Creates a public or private room; its creator, if any, becomes its owner.
    ///
    /// # Errors
    /// `Conflict(RoomName)` when the name is taken.
    async fn create_room(&self, room: NewRoom<'_>) -> Result<RoomRecord, StoreError>;

    /// Creates the room unless it exists; returns it either way.
    ///
    /// # Errors
    /// Backend failures only.
    async fn ensure_room(&self, room: NewRoom<'_>) -> Result<RoomRecord, StoreError>;

    /// # Errors
    /// Backend failures only.
    async fn get_room(&self, name: &str) -> Result<Option<RoomRecord>, StoreError>;

    /// Opens the DM of exactly these people, or finds the one they have: the same set always
    /// gets the same conversation. Everyone in it is a member. Returns it, and whether it
    /// was made now.
    ///
    /// # Errors
    /// `NotFound` for an unknown user.
    async fn open_dm(&self, dm: NewDm<'_>) -> Result<(RoomRecord, bool), StoreError>;

    /// Archives a public or private room: from then on it is found nowhere (not by name, in
    /// lists, in anyone's rooms, invites or catch-up); its history is kept and its name is
    /// not given again. Returns whether it was live.
    ///
    /// # Errors
    /// Backend failures only.
    async fn archive_room(&self, room_id: i64, at: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Lets every member of a private room invite (`true`), or only its admins and owner.
    ///
    /// # Errors
    /// `NotFound` for an unknown room, or one that is not private.
    async fn set_members_invite(&self, room_id: i64, allowed: bool) -> Result<(), StoreError>;

    /// Replaces the room's topic (`None`: none); returns the room as it is now.
    ///
    /// # Errors
    /// `NotFound` for an unknown room.
    async fn set_topic(&self, room_id: i64, topic: Option<&str>) -> Result<RoomRecord, StoreError>;

    /// The user's role in the room; `None` when not a member.
    ///
    /// # Errors
    /// Backend failures only.
    async fn role_in(&self, user_id: i64, room_id: i64) -> Result<Option<Role>, StoreError>;

    /// Sets a member's role; returns `false` when the user is not a member.
    ///
    /// # Errors
    /// Backend failures only.
    async fn set_role(&self, user_id: i64, room_id: i64, role: Role) -> Result<bool, StoreError>;

    /// The room's members, online or not, ordered by username, after the username `after`
    /// (the cursor), at most `limit`.
    ///
    /// # Errors
    /// Backend failures only.
    async fn room_members(
        &self,
        room_id: i64,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RoomMember>, StoreError>;

    /// Rooms ordered by name, at most `query.limit`: the public ones, and the private ones
    /// `query.viewer` is a member of; never DMs.
    ///
    /// # Errors
    /// Backend failures only.
    async fn list_rooms(&self, query: RoomQuery<'_>) -> Result<Vec<RoomRecord>, StoreError>;

    /// Makes the user a member (no-op when already one), using up any invite they held.
    ///
    /// # Errors
    /// `NotFound` for an unknown user or room.
    async fn add_member(
        &self,
        user_id: i64,
        room_id: i64,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Ends a membership; returns whether there was one.
    ///
    /// # Errors
    /// Backend failures only.
    async fn remove_member(&self, user_id: i64, room_id: i64) -> Result<bool, StoreError>;

    /// The rooms the user is a member of, ordered by name.
    ///
    /// # Errors
    /// Backend failures only.
    async fn member_rooms(&self, user_id: i64) -> Result<Vec<MemberRoomRecord>, StoreError>;

    /// The room's members who are busy, with their notes, ordered by username; at most
    /// `limit`. Costs a look at the busy users, not at every member.
    ///
    /// # Errors
    /// Backend failures only.
    async fn busy_members(&self, room_id: i64, limit: u32) -> Result<Vec<BusyMember>, StoreError>;

    /// Moves the read marker forward (never back, never past the room's newest message);
    /// returns the marker now in force.
    ///
    /// # Errors
    /// `NotFound` when the user is not a member.
    async fn mark_read(&self, user_id: i64, room_id: i64, id: i64) -> Result<i64, StoreError>;

    /// Quiets a room for one member (`true`: it tells them of mentions only), or not.
    ///
    /// # Errors
    /// `NotFound` when the user is not a member.
    async fn set_quiet(&self, user_id: i64, room_id: i64, quiet: bool) -> Result<(), StoreError>;
}

/// Room history.
#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Stores a batch in one transaction and returns one record per input, in order. A message
    /// whose `(user, client_id)` is already stored is not stored again: its existing record is
    /// returned instead, marked not new. Either the whole batch is committed or nothing is.
    ///
    /// # Errors
    /// `NotFound` when a room or user does not exist; `Unavailable` when the database cannot
    /// be written.
    async fn append_messages(&self, batch: &[NewMessage]) -> Result<Vec<Appended>, StoreError> {
        let writes: Vec<MessageWrite> = batch.iter().cloned().map(MessageWrite::Append).collect();
        self.write_messages(&writes)
            .await?
            .into_iter()
            .map(|written| match written {
                MessageWritten::Appended { appended, .. } => Ok(appended),
                // Only a reply is refused, to a message gone.
                _ => Err(StoreError::NotFound),
            })
            .collect()
    }

    /// Carries out a batch of sends and changes in one transaction, in order, each taking
    /// the next position of its room's log (a send its `id`, a change the message's new
    /// `seq`; a reply moves its thread root's `seq` too). A write refused by its own rule
    /// (see [`WriteRefusal`]) stores nothing of itself and leaves the others be; a repeated
    /// `client_id`, a deletion of a deleted message, or a reaction already so takes no
    /// position. Either the whole batch is committed or nothing is.
    ///
    /// # Errors
    /// `NotFound` when a room or user does not exist; `Unavailable` when the database cannot
    /// be written.
    async fn write_messages(
        &self,
        batch: &[MessageWrite],
    ) -> Result<Vec<MessageWritten>, StoreError>;

    /// One message of a room, as it is now (a tombstone too).
    ///
    /// # Errors
    /// Backend failures only.
    async fn get_message(
        &self,
        room_id: i64,
        message_id: i64,
    ) -> Result<Option<MessageRecord>, StoreError>;

    /// A thread: its root, then the messages answering it, by id, after the id `after`,
    /// at most `limit`, and whether more lay beyond. Empty when the root is not the room's.
    ///
    /// # Errors
    /// Backend failures only.
    async fn thread(
        &self,
        room_id: i64,
        root: i64,
        after: Option<i64>,
        limit: u32,
    ) -> Result<(Vec<MessageRecord>, bool), StoreError>;

    /// The room's latest position: the highest `seq` of its messages, 0 when it has none.
    /// Every position up to it was committed before this read.
    ///
    /// # Errors
    /// Backend failures only.
    async fn latest_position(&self, room_id: i64) -> Result<i64, StoreError>;

    /// The room's messages whose latest change lies after position `after`, as they are
    /// now, by `seq`, at most `limit`, and whether more lay beyond: what a client that saw
    /// everything up to `after` has not seen.
    ///
    /// # Errors
    /// Backend failures only.
    async fn changes_after(
        &self,
        room_id: i64,
        after: i64,
        limit: u32,
    ) -> Result<(Vec<MessageRecord>, bool), StoreError>;

    /// Messages in the rooms the user is a member of, sent at or after `since`, oldest
    /// first, at most `limit`.
    ///
    /// # Errors
    /// Backend failures only.
    async fn messages_since(
        &self,
        user_id: i64,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<MessageRecord>, StoreError>;

    /// A page of a room's history, oldest first, and whether more lay beyond it.
    ///
    /// # Errors
    /// Backend failures only.
    async fn list_messages(
        &self,
        room_id: i64,
        query: MessageQuery,
    ) -> Result<(Vec<MessageRecord>, bool), StoreError>;

    /// The messages `search` finds, newest first. A text is found as a substring,
    /// case-insensitively, in any script; any characters may be in it, none is an
    /// operator.
    ///
    /// # Errors
    /// Backend failures only.
    async fn search_messages(
        &self,
        search: MessageSearch<'_>,
    ) -> Result<Vec<MessageRecord>, StoreError>;
}

/// Invites, bans, mutes, role changes, and the record of them.
#[async_trait]
pub trait ModerationStore: Send + Sync {
    /// Carries out one action and records it, in one transaction; an action that changes
    /// nothing (kicking a non-member, lifting a ban nobody has) is not recorded. Returns
    /// whether it changed something. A ban also ends the membership and any invite; a
    /// role is given to members only.
    ///
    /// # Errors
    /// `NotFound` for an unknown room or user.
    async fn moderate(&self, moderation: Moderation<'_>) -> Result<bool, StoreError>;

    /// The ban or mute of the user in the room in force at `now`; an expired one is none.
    ///
    /// # Errors
    /// Backend failures only.
    async fn restriction(
        &self,
        room_id: i64,
        user_id: i64,
        kind: Restriction,
        now: DateTime<Utc>,
    ) -> Result<Option<RestrictionRecord>, StoreError>;

    /// The ids of the rooms where a ban or mute (`kind`) of the user is in force at `now`.
    ///
    /// # Errors
    /// Backend failures only.
    async fn restricted_rooms(
        &self,
        user_id: i64,
        kind: Restriction,
        now: DateTime<Utc>,
    ) -> Result<Vec<i64>, StoreError>;

    /// Whether the user holds an invite into the room (joining uses it up).
    ///
    /// # Errors
    /// Backend failures only.
    async fn has_invite(&self, room_id: i64, user_id: i64) -> Result<bool, StoreError>;

    /// Declines an invite; returns whether there was one.
    ///
    /// # Errors
    /// Backend failures only.
    async fn decline_invite(&self, room_id: i64, user_id: i64) -> Result<bool, StoreError>;

    /// The invites waiting for the user, newest first.
    ///
    /// # Errors
    /// Backend failures only.
    async fn invites_for(&self, user_id: i64) -> Result<Vec<InviteRecord>, StoreError>;

    /// The room's moderation record, newest first, before the id `before`, at most `limit`.
    ///
    /// # Errors
    /// Backend failures only.
    async fn audit(
        &self,
        room_id: i64,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError>;
}

/// What is known of uploaded files (issue 21); their bytes are in the file storage, under
/// the blob names recorded here. A file's bytes may be deleted once no live file names
/// them: such names wait in the store's garbage until the node deletes them.
#[async_trait]
pub trait FileStore: Send + Sync {
    /// Records an uploaded file, not yet attached to any message.
    async fn create_file(&self, file: NewFile) -> Result<FileRecord, StoreError>;

    /// A live file by id (none once its message was deleted or it expired unsent).
    async fn file(&self, id: &str) -> Result<Option<FileRecord>, StoreError>;

    /// Bytes the user uploaded since `since`, counting files deleted since (the daily
    /// quota).
    async fn uploaded_bytes_since(
        &self,
        user_id: i64,
        since: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// Deletes the files uploaded before `before` and never sent, and forgets deleted
    /// files' rows older than that (their bytes already went to the garbage); how many
    /// unsent files it deleted.
    async fn expire_files(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Up to `limit` blob names waiting for deletion that no live file names any more
    /// (names a live file took again leave the garbage here).
    async fn blob_garbage(&self, limit: u32) -> Result<Vec<String>, StoreError>;

    /// The blobs named were deleted from the file storage.
    async fn forget_garbage(&self, blobs: &[String]) -> Result<(), StoreError>;

    /// Whether a live file names this blob (as its bytes or its thumbnail's).
    async fn blob_in_use(&self, blob: &str) -> Result<bool, StoreError>;
}

/// Everything a node stores.
#[async_trait]
pub trait Store:
    AccountStore + SessionStore + RoomStore + MessageStore + ModerationStore + FileStore
{
    /// Cheap round trip for `/healthz`.
    ///
    /// # Errors
    /// `Unavailable` when the database does not answer.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Closes connections after pending writes finish.
    async fn close(&self);
}
