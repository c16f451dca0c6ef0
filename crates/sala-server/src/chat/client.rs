//! One connection's commands (SPEC §3). A transport feeds it frames; every reply, and every
//! error, goes out through the connection's queue in the hub, in order.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use chrono::Utc;
use sala_proto::api::UserStatus;
use sala_proto::frames::{ClientFrame, MemberStatus, ServerFrame};
use sala_store::{
    BusyMember, ChangeKind, MessageChange, MessageQuery, MessageRecord, MessageWrite, NewMessage,
    Restriction, RestrictionRecord, Role, RoomKind, RoomRecord, StoreError,
};

use super::command::{Addressed, Command, Refusal};
use super::commit::CommitRequest;
use super::rate::{self, SharedBucket};
use super::{Chat, ChatError};
use crate::cluster::hub::{ConnHandle, ConnUser, Event, RequestId, Skip};
use crate::domain::{
    Attachments, ClientId, Emoji, MessageText, PageSize, RoomName, lone_surrogate_error,
    mark_lone_surrogates,
};
use crate::wire;

/// Messages in `joined` when the client gives no `since`.
const JOIN_HISTORY: u32 = 50;
/// Most messages a `since` resume returns at once; `more: true` says the client should page
/// on with `history` + `after`.
const RESUME_LIMIT: u32 = 1000;
/// Most bytes of messages one `joined` or `history` reply carries, besides its count limit
/// (a thousand messages of 4,000 characters would be megabytes in one frame). A page cut
/// short by it says `more: true`, as one cut by its count does.
pub const PAGE_BYTES: usize = 1 << 20;
/// Most busy members one `joined` tells of; the rest show as available until they change.
const MAX_BUSY_LISTED: u32 = 1000;
/// What a message costs in a page beyond its text and names: ids, timestamp, field names.
const MESSAGE_OVERHEAD_BYTES: usize = 128;

/// The state of one authenticated connection. Dropping it unregisters the connection.
pub struct Client {
    chat: Chat,
    conn: ConnHandle,
    user: ConnUser,
    /// Ids of rooms this connection joined, so sends need no lookup.
    room_ids: HashMap<String, i64>,
    /// The other people of the DMs this connection joined: a send asks whether one of
    /// them blocks the sender.
    dm_others: HashMap<String, Vec<i64>>,
    /// The user's send-rate bucket, shared with their other connections.
    sends: SharedBucket,
    /// The user's bucket for every other command, shared likewise.
    commands: SharedBucket,
    last_typing: HashMap<String, Instant>,
    /// The request being handled, which its replies answer (see [`RequestId`]).
    request: Option<RequestId>,
}

impl Client {
    pub fn new(chat: Chat, conn: ConnHandle, user: ConnUser) -> Self {
        let sends = chat.send_rates().bucket(user.id, Instant::now());
        let commands = chat.command_rates().bucket(user.id, Instant::now());
        Self {
            chat,
            conn,
            user,
            room_ids: HashMap::new(),
            dm_others: HashMap::new(),
            sends,
            commands,
            last_typing: HashMap::new(),
            request: None,
        }
    }

    pub fn conn(&self) -> &ConnHandle {
        &self.conn
    }

    /// Whether this connection has joined the room.
    pub fn is_member(&self, room: &str) -> bool {
        self.chat.hub().is_member(self.conn.id(), room)
    }

    /// Handles one text frame. Malformed input is answered with `bad_request`.
    pub async fn handle_text(&mut self, text: &str) {
        match serde_json::from_str::<ClientFrame>(text) {
            // The outcome was answered on the connection; nothing more to do with it here.
            Ok(frame) => drop(self.handle(frame, None).await),
            Err(err) => {
                self.request = None;
                // A lone surrogate makes valid JSON undecodable: refused as invalid text,
                // naming the send it was in, as a NUL would be.
                let about = mark_lone_surrogates(text)
                    .and_then(|marked| serde_json::from_str::<ClientFrame>(&marked).ok())
                    .map(|frame| Command::addressed(&frame));
                let (refusal, about) = match about {
                    Some(about) => (ChatError::Invalid(lone_surrogate_error()), about),
                    None => (
                        ChatError::BadRequest(format!("malformed frame: {err}")),
                        Addressed::default(),
                    ),
                };
                drop(self.refuse(refusal, &about));
            }
        }
    }

    /// Handles one frame: parses it into a [`Command`], then applies it. A refusal or a
    /// failure is answered with an `error` frame (naming the room and `client_id` of a
    /// failed `send`).
    ///
    /// A connection whose replies are piling up unread waits here before its next command
    /// is looked at (and is closed as too slow if it stays so for the write timeout): a
    /// client cannot make the server hold more than it reads.
    ///
    /// Every reply to the frame (`joined`, `left`, `ack`, `history`, `pong`, `error`)
    /// carries `request`, for transports that answer each request (Socket.io acks).
    ///
    /// # Errors
    /// The refusal, already answered on the connection as an `error` frame. A connection
    /// closing meanwhile is `Ok`.
    pub async fn handle(
        &mut self,
        frame: ClientFrame,
        request: Option<RequestId>,
    ) -> Result<(), ChatError> {
        self.request = request;
        if !self.conn.writable(self.chat.limits().write_timeout).await {
            return Ok(());
        }
        // Writes (sends and changes to messages) have their own bucket, taken in
        // `may_write`; every other command takes from this one,
        // refused or not, so that no kind of frame lets one user make the node work without
        // bound. A typing hint over the rate is dropped quietly, like one within the typing
        // interval.
        if !Command::writes(&frame) && !rate::try_take(&self.commands, Instant::now()) {
            return match frame {
                ClientFrame::Typing { .. } => Ok(()),
                _ => Err(self.refuse(ChatError::RateLimited, &Addressed::default())),
            };
        }
        let command = match Command::parse(frame) {
            Ok(command) => command,
            Err(Refusal { error, about }) => return Err(self.refuse(error, &about)),
        };
        let about = command.about();
        self.apply(command)
            .await
            .map_err(|error| self.refuse(error, &about))
    }

    /// Answers a refusal with its `error` frame, and counts it.
    fn refuse(&self, error: ChatError, about: &Addressed) -> ChatError {
        self.chat.metrics().count_error(error.code());
        self.conn.reply(about.error_event(&error), self.request);
        error
    }

    fn reply(&self, frame: ServerFrame) {
        self.conn.reply(Event::new(frame), self.request);
    }

    async fn apply(&mut self, command: Command) -> Result<(), ChatError> {
        match command {
            Command::Join { room, since } => self.join(&room, since).await,
            Command::Leave { room } => self.leave(&room).await,
            Command::Send {
                room,
                text,
                client_id,
                reply_to,
                attachments,
            } => {
                self.send(&room, text, client_id, reply_to, attachments)
                    .await
            }
            Command::Edit {
                room,
                id,
                text,
                client_id,
            } => {
                let kind = ChangeKind::Edit {
                    text: text.into_inner(),
                    client_id: client_id.map(ClientId::into_inner),
                    sent_after: self.chat.edit_window_start(),
                };
                self.change(&room, id, kind).await
            }
            Command::Delete { room, id } => self.delete(&room, id).await,
            Command::React {
                room,
                id,
                emoji,
                add,
            } => {
                let kind = ChangeKind::React {
                    emoji: Emoji::into_inner(emoji),
                    add,
                };
                self.change(&room, id, kind).await
            }
            Command::History {
                room,
                before,
                after,
                limit,
            } => self.history(&room, before, after, limit).await,
            Command::Typing { room } => self.typing(&room).await,
            Command::Status(availability) => {
                self.chat.change_status(self.user.id, availability).await?;
                Ok(())
            }
            Command::Read { room, id } => self.read(&room, id).await,
            Command::Ping => {
                self.reply(ServerFrame::Pong);
                Ok(())
            }
        }
    }

    async fn find_room(&self, name: &RoomName) -> Result<RoomRecord, ChatError> {
        // A room this user may not see is answered as a name nobody uses.
        self.chat
            .visible_room(self.user.id, name)
            .await?
            .ok_or_else(|| ChatError::NotFound(format!("no room named '{}'", name.as_ref())))
    }

    /// The name and id of a room this connection joined; otherwise `not_member` or
    /// `not_found`.
    async fn joined_room(&self, name: &RoomName) -> Result<(String, i64), ChatError> {
        let name_str = name.as_ref();
        if self.chat.hub().is_member(self.conn.id(), name_str)
            && let Some(id) = self.room_ids.get(name_str)
        {
            return Ok((name_str.to_owned(), *id));
        }
        let room = self.find_room(name).await?;
        Err(ChatError::NotMember(room.name))
    }

    async fn join(&mut self, name: &RoomName, since: Option<i64>) -> Result<(), ChatError> {
        let room = self.find_room(name).await?;
        let max_rooms = self.chat.limits().max_rooms_per_connection;
        if !self.room_ids.contains_key(&room.name) && self.room_ids.len() >= max_rooms {
            // A `leave` from the user's other connection ends this one's membership too.
            let (hub, conn) = (self.chat.hub(), self.conn.id());
            self.room_ids.retain(|name, _| hub.is_member(conn, name));
        }
        if !self.room_ids.contains_key(&room.name) && self.room_ids.len() >= max_rooms {
            return Err(ChatError::LimitReached(format!(
                "a connection may join at most {max_rooms} rooms; leave one first"
            )));
        }
        let store = self.chat.store();
        if let Some(ban) = store
            .restriction(room.id, self.user.id, Restriction::Ban, Utc::now())
            .await?
        {
            return Err(ChatError::Forbidden(restricted(
                "banned from",
                &room.name,
                &ban,
            )));
        }
        let dm_others = self.chat.dm_others(&room, self.user.id).await?;
        store.add_member(self.user.id, room.id, Utc::now()).await?;
        let hub = self.chat.hub();
        if !hub.begin_join(self.conn.id(), &room.name) {
            return Ok(()); // The connection is closing.
        }
        // Read after `begin_join`: a status changed after this read reaches the connection as
        // a `status` frame held back until `joined` is out, so the client ends up current.
        let read = async {
            // Where the log stands, read before the history: every position up to it is
            // in what follows (or older than it), so a cluster node delivers the room's
            // live writes in order from there (see the hub's `order`).
            let latest = store.latest_position(room.id).await?;
            let page = match since {
                // Everything changed after the client's position, as it is now.
                Some(since) => store.changes_after(room.id, since, RESUME_LIMIT).await?,
                None => {
                    let query = MessageQuery {
                        before: None,
                        after: None,
                        limit: JOIN_HISTORY,
                    };
                    store.list_messages(room.id, query).await?
                }
            };
            let busy = store.busy_members(room.id, MAX_BUSY_LISTED).await?;
            Ok::<_, StoreError>((latest, page, busy))
        };
        let ((page, more), busy) = match read.await {
            Ok((latest, (page, more), busy)) => {
                hub.log_read_at(&room.name, latest);
                (cut_to_page_bytes(page, more, since.is_none()), busy)
            }
            Err(err) => {
                hub.abort_join(self.conn.id(), &room.name);
                return Err(err.into());
            }
        };
        let Paged {
            history,
            updated,
            through,
        } = Paged::of(page, since);
        // Live changes up to here are in the answer, or (with `since`) the client has them:
        // positions follow commit order, so every change at or below the highest one read
        // was committed before the read.
        let seen_through = through.max(since);
        let history: Vec<_> = history.into_iter().map(wire::message).collect();
        let updated: Vec<_> = updated.into_iter().map(wire::message).collect();
        let through = since.and(through.max(since));
        let room_name = room.name.clone();
        let request = self.request;
        hub.complete_join(
            self.conn.id(),
            &room.name,
            request,
            seen_through,
            move |members| {
                let statuses = member_statuses(&members, busy);
                Event::new(ServerFrame::Joined {
                    room: room_name,
                    members,
                    statuses,
                    history,
                    updated,
                    more,
                    through,
                })
            },
        );
        if let Some(others) = dm_others {
            self.dm_others.insert(room.name.clone(), others);
        }
        self.room_ids.insert(room.name, room.id);
        Ok(())
    }

    async fn leave(&mut self, name: &RoomName) -> Result<(), ChatError> {
        let room = self.find_room(name).await?;
        self.chat
            .store()
            .remove_member(self.user.id, room.id)
            .await?;
        let was_here = self.chat.hub().is_member(self.conn.id(), &room.name);
        // Every connection of the user that was in the room gets `left`.
        let answering = self.request.map(|request| (self.conn.id(), request));
        self.chat
            .cluster()
            .leave(self.user.id, &room.name, answering);
        if !was_here {
            self.reply(ServerFrame::Left {
                room: room.name.clone(),
            });
        }
        self.room_ids.remove(&room.name);
        self.dm_others.remove(&room.name);
        Ok(())
    }

    /// What every write into a room asks first: that this connection joined it, that the
    /// user's write rate allows it, that they are not muted there, and, in a DM, that
    /// nobody in it blocks them. Returns the room's name and id.
    async fn may_write(&mut self, room: &RoomName) -> Result<(String, i64), ChatError> {
        let (room, room_id) = self.joined_room(room).await?;
        if !rate::try_take(&self.sends, Instant::now()) {
            return Err(ChatError::RateLimited);
        }
        self.chat
            .unless_silenced(
                self.user.id,
                &room,
                room_id,
                self.dm_others.get(&room).map(Vec::as_slice),
            )
            .await?;
        Ok((room, room_id))
    }

    /// Queues a write for the writer, which acks it once it is stored.
    async fn queue(&self, room: String, write: MessageWrite) -> Result<(), ChatError> {
        let request = CommitRequest {
            write,
            room,
            by: self.user.username.clone(),
            answer: None,
            sender: Some(self.conn.clone()),
            reply_to: self.request,
        };
        // Waits when the writer is behind: backpressure on this one connection.
        self.chat
            .commits()
            .send(request)
            .await
            .map_err(|_| ChatError::Unavailable)
    }

    async fn send(
        &mut self,
        room: &RoomName,
        text: MessageText,
        client_id: Option<ClientId>,
        reply_to: Option<i64>,
        attachments: Attachments,
    ) -> Result<(), ChatError> {
        let (room, room_id) = self.may_write(room).await?;
        self.chat.metrics().messages_received.increment(1);
        let kind = if self.dm_others.contains_key(&room) {
            RoomKind::Dm
        } else {
            RoomKind::Public
        };
        let mentions = self
            .chat
            .mentions_in(text.as_ref(), self.user.id, room_id, kind)
            .await?;
        let message = NewMessage {
            room_id,
            user_id: self.user.id,
            text: text.into_inner(),
            client_id: client_id.map(ClientId::into_inner),
            assistant: false,
            created_at: Utc::now(),
            reply_to,
            mentions,
            attachments: attachments.into_inner(),
        };
        self.queue(room, MessageWrite::Append(message)).await
    }

    /// An edit or a reaction: the writer checks the message (its room, author, tombstone)
    /// as it applies the change, and refuses it there if it must.
    async fn change(
        &mut self,
        room: &RoomName,
        id: i64,
        kind: ChangeKind,
    ) -> Result<(), ChatError> {
        let (room, room_id) = self.may_write(room).await?;
        let change = MessageChange {
            room_id,
            message_id: id,
            user_id: self.user.id,
            at: Utc::now(),
            kind,
        };
        self.queue(room, MessageWrite::Change(change)).await
    }

    /// A deletion: of one's own message, or, by the room's admins and owner, of anyone's.
    /// A muted user may still take back their own words.
    async fn delete(&mut self, name: &RoomName, id: i64) -> Result<(), ChatError> {
        let (room, room_id) = self.joined_room(name).await?;
        if !rate::try_take(&self.sends, Instant::now()) {
            return Err(ChatError::RateLimited);
        }
        let role = self.chat.store().role_in(self.user.id, room_id).await?;
        let change = MessageChange {
            room_id,
            message_id: id,
            user_id: self.user.id,
            at: Utc::now(),
            kind: ChangeKind::Delete {
                any_author: matches!(role, Some(Role::Owner | Role::Admin)),
            },
        };
        self.queue(room, MessageWrite::Change(change)).await
    }

    async fn history(
        &mut self,
        name: &RoomName,
        before: Option<i64>,
        after: Option<i64>,
        limit: PageSize,
    ) -> Result<(), ChatError> {
        let limit = limit.get();
        let room = self.find_room(name).await?;
        let store = self.chat.store();
        let (page, more) = match (after, before) {
            // Forward from a position: every change after it, as a resume pages on.
            (Some(after), None) => store.changes_after(room.id, after, limit).await?,
            _ => {
                let query = MessageQuery {
                    before,
                    after,
                    limit,
                };
                store.list_messages(room.id, query).await?
            }
        };
        // A page read forward (`after`) keeps its oldest; one read backward, its newest, so
        // that paging on from the cut leaves no gap.
        let (page, more) = cut_to_page_bytes(page, more, after.is_none());
        let forward = after.filter(|_| before.is_none());
        let Paged {
            history,
            updated,
            through,
        } = Paged::of(page, forward);
        self.reply(ServerFrame::History {
            room: room.name,
            messages: history.into_iter().map(wire::message).collect(),
            updated: updated.into_iter().map(wire::message).collect(),
            more,
            through: forward.and(through.max(forward)),
        });
        Ok(())
    }

    async fn typing(&mut self, room: &RoomName) -> Result<(), ChatError> {
        let (room, room_id) = self.joined_room(room).await?;
        // A typing hint is writing too; a DM's blocks do not hold it back (it stores nothing).
        self.chat
            .unless_silenced(self.user.id, &room, room_id, None)
            .await?;
        let now = Instant::now();
        let interval = self.chat.limits().typing_interval;
        if let Some(last) = self.last_typing.get(&room)
            && now.duration_since(*last) < interval
        {
            return Ok(()); // Throttled: typing is a hint, dropping extras loses nothing.
        }
        self.last_typing.insert(room.clone(), now);
        let event = Event::new(ServerFrame::Typing {
            room: room.clone(),
            user: self.user.username.clone(),
        });
        self.chat
            .cluster()
            .broadcast(&room, &event, Skip::User(self.user.id));
        Ok(())
    }

    async fn read(&mut self, name: &RoomName, id: i64) -> Result<(), ChatError> {
        let room = self.find_room(name).await?;
        let marker = match self.chat.store().mark_read(self.user.id, room.id, id).await {
            Ok(marker) => marker,
            Err(sala_store::StoreError::NotFound) => return Err(ChatError::NotMember(room.name)),
            Err(err) => return Err(err.into()),
        };
        let event = Event::new(ServerFrame::Read {
            room: room.name,
            id: marker,
        });
        self.chat
            .cluster()
            .send_to_user(self.user.id, &event, Some(self.conn.id()));
        Ok(())
    }
}

/// The `statuses` of a `joined`: the busy ones among the online `members` (sorted), with
/// their notes. A member left out is available, which keeps the frame small in a big room.
fn member_statuses(members: &[String], busy: Vec<BusyMember>) -> BTreeMap<String, MemberStatus> {
    busy.into_iter()
        .filter(|member| members.binary_search(&member.username).is_ok())
        .map(|member| {
            let status = MemberStatus {
                status: UserStatus::Busy,
                note: member.note,
            };
            (member.username, status)
        })
        .collect()
}

/// A page as `joined` and `history` carry it.
struct Paged {
    /// Messages new to the client, by id.
    history: Vec<MessageRecord>,
    /// With a position to resume after: messages the client had that changed since, in
    /// the order of their changes.
    updated: Vec<MessageRecord>,
    /// The highest position the page holds.
    through: Option<i64>,
}

impl Paged {
    /// Splits a page read after `after` (in position order) into what is new and what
    /// changed; without `after` the page (by id) is all history.
    fn of(page: Vec<MessageRecord>, after: Option<i64>) -> Self {
        let through = page.iter().map(|m| m.seq.max(m.id)).max();
        let Some(after) = after else {
            return Self {
                history: page,
                updated: Vec::new(),
                through,
            };
        };
        let (mut history, updated): (Vec<_>, Vec<_>) =
            page.into_iter().partition(|message| message.id > after);
        history.sort_by_key(|message| message.id);
        Self {
            history,
            updated,
            through,
        }
    }
}

/// Cuts a page of messages (oldest first) to [`PAGE_BYTES`], keeping its newest messages
/// when `keep_newest`, else its oldest; a cut page has `more`. A single message always fits.
fn cut_to_page_bytes(
    mut page: Vec<MessageRecord>,
    more: bool,
    keep_newest: bool,
) -> (Vec<MessageRecord>, bool) {
    let cost = |m: &MessageRecord| {
        m.text.len()
            + m.username.len()
            + m.room.len()
            + m.client_id.as_ref().map_or(0, String::len)
            + m.reactions
                .iter()
                .map(|r| r.emoji.len() + r.users.iter().map(|u| u.len() + 3).sum::<usize>() + 32)
                .sum::<usize>()
            + MESSAGE_OVERHEAD_BYTES
    };
    let mut total = 0;
    let fits = |m: &MessageRecord, total: &mut usize| {
        *total += cost(m);
        *total <= PAGE_BYTES
    };
    let kept = if keep_newest {
        page.iter()
            .rev()
            .position(|m| !fits(m, &mut total))
            .map(|n| page.len() - n.max(1))
    } else {
        page.iter()
            .position(|m| !fits(m, &mut total))
            .map(|n| n.max(1))
    };
    match kept {
        None => (page, more),
        Some(split) if keep_newest => (page.split_off(split), true),
        Some(split) => {
            page.truncate(split);
            (page, true)
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.chat.hub().disconnect(self.conn.id());
    }
}

/// "You are banned from #room until …: reason", as a refusal tells it.
pub(super) fn restricted(what: &str, room: &str, restriction: &RestrictionRecord) -> String {
    let mut told = format!("you are {what} #{room}");
    if let Some(until) = restriction.expires_at {
        told.push_str(&format!(
            " until {}",
            until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ));
    }
    if let Some(reason) = &restriction.reason {
        told.push_str(&format!(": {reason}"));
    }
    told
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: i64, text_bytes: usize) -> MessageRecord {
        MessageRecord {
            id,
            room: "r".into(),
            user_id: 1,
            username: "u".into(),
            text: "x".repeat(text_bytes),
            created_at: Utc::now(),
            ..MessageRecord::default()
        }
    }

    fn ids(page: &[MessageRecord]) -> Vec<i64> {
        page.iter().map(|m| m.id).collect()
    }

    #[test]
    fn a_page_over_its_byte_budget_is_cut_on_the_side_paging_continues_from() {
        let page = || {
            (1..=5)
                .map(|id| record(id, PAGE_BYTES / 3))
                .collect::<Vec<_>>()
        };
        let (newest, more) = cut_to_page_bytes(page(), false, true);
        assert_eq!((ids(&newest), more), (vec![4, 5], true));
        let (oldest, more) = cut_to_page_bytes(page(), false, false);
        assert_eq!((ids(&oldest), more), (vec![1, 2], true));
        let small: Vec<_> = (1..=3).map(|id| record(id, 10)).collect();
        assert_eq!(ids(&cut_to_page_bytes(small, false, true).0), vec![1, 2, 3]);
        let huge = vec![record(7, PAGE_BYTES * 2)];
        assert_eq!(
            ids(&cut_to_page_bytes(huge, false, false).0),
            vec![7],
            "one always fits"
        );
    }
}
