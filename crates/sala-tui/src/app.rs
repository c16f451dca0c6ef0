//! The full-screen client: its state, its keys and slash commands, and the event loop that
//! joins the terminal, the connection and a clock. Drawing is in [`crate::view`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use anyhow::Context;
use crossterm::event::{Event, EventStream, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use futures_util::StreamExt as _;
use sala_proto::api::{Message, Role, RoomKind, UserStatus};
use sala_proto::frames::{ClientFrame, MemberChange, PresenceEvent, ServerFrame};

use crate::ChatArgs;
use crate::account::{Accounts, Session, password_from};
use crate::net::{self, Net, NetCommand, NetEvent};
use crate::{menu, view, wrap};

const TYPING_SHOWN: Duration = Duration::from_secs(4);
const TYPING_SENT_EVERY: Duration = Duration::from_secs(2);
/// Most one `read` per room this often, as the web page sends them; the clock sends the
/// marker held back.
const READ_EVERY: Duration = Duration::from_secs(1);

/// One room as the client sees it.
#[derive(Debug, Default)]
pub struct RoomView {
    /// How the room is shown when not by `#name`: a DM by its other people (`@ann, bob`).
    pub label: Option<String>,
    /// The conversation, oldest first: messages, and the client's own notes where they
    /// happened.
    pub lines: Vec<Line>,
    pub unread: u64,
    /// Of the unread, those that mention me (or the whole room).
    pub mentions: u64,
    /// I quieted the room: it tells me of mentions only.
    pub quiet: bool,
    pub members: BTreeSet<String>,
    pub typing: HashMap<String, Instant>,
    /// Older messages exist on the server.
    pub more: bool,
    /// A `history` request for older messages is on its way (one at a time, or the same
    /// page would be inserted twice).
    loading_older: bool,
    /// A `joined` came before: the next one is a return, and what it brings was missed.
    joined: bool,
    /// The read marker this client last sent (or heard from another device), and when.
    read_through: i64,
    read_sent_at: Option<Instant>,
    /// What the last `room_updated` said (its topic, and whether every member may invite),
    /// so the next one's note says what changed.
    settings: Option<(Option<String>, bool)>,
}

impl RoomView {
    /// The id of the oldest message loaded.
    pub fn oldest_id(&self) -> Option<i64> {
        self.messages().next().map(|message| message.id)
    }

    fn newest_id(&self) -> Option<i64> {
        self.messages().next_back().map(|message| message.id)
    }

    fn messages(&self) -> impl DoubleEndedIterator<Item = &Message> {
        self.lines.iter().filter_map(|line| match line {
            Line::Message(message) => Some(message),
            Line::Note(_) => None,
        })
    }

    /// Messages of others after `id` among those loaded.
    fn unread_after(&self, id: i64, me: &str) -> u64 {
        let count = self
            .messages()
            .filter(|message| message.id > id && (message.user != me || message.assistant))
            .count();
        u64::try_from(count).unwrap_or(u64::MAX)
    }
}

/// A line of the conversation: a message or a note from the client itself.
#[derive(Debug, Clone)]
// Nearly every line is a message: boxing them would cost an allocation each, and the
// notes they would save room for are few.
#[allow(clippy::large_enum_variant)]
pub enum Line {
    Message(Message),
    Note(String),
}

/// Everything the screen shows.
pub struct App {
    pub me: String,
    pub server: String,
    pub rooms: BTreeMap<String, RoomView>,
    pub active: Option<String>,
    /// Notes shown while no room is open.
    pub notes: Vec<String>,
    pub input: String,
    /// Cursor position in characters.
    pub cursor: usize,
    pub sent_lines: Vec<String>,
    pub browsing: Option<usize>,
    /// Rows scrolled up from the bottom of the conversation (0: at the live end).
    pub scroll: usize,
    /// Messages that arrived below while scrolled up (the `-MORE(n)-` marker).
    pub unseen: usize,
    /// The conversation pane as last drawn: its width (to count the rows of what arrives
    /// while scrolled up) and height (a page for PageUp and PageDown).
    pub pane: (u16, u16),
    pub connection: String,
    pub busy: Option<Option<String>>,
    pub statuses: HashMap<String, (UserStatus, Option<String>)>,
    /// Frames to send after the one a key or command gave (a `/msg` joins, then sends).
    pub outbox: Vec<ClientFrame>,
    last_typing_sent: Option<Instant>,
    sent: u64,
    quit: bool,
    /// A mention came where I am not looking: the terminal's bell rings once, at the next
    /// draw.
    pub bell: bool,
    /// Uploads under way tell the event loop how they go.
    uploads: tokio::sync::mpsc::UnboundedSender<UploadEvent>,
    upload_events: Option<tokio::sync::mpsc::UnboundedReceiver<UploadEvent>>,
}

/// How an upload started by `/upload` goes, told to the event loop from its task.
#[derive(Debug)]
pub enum UploadEvent {
    /// Another quarter of the file went out.
    Progress {
        name: String,
        percent: u64,
    },
    /// Stored: the loop sends it to `room`.
    Done {
        room: String,
        attachment: sala_proto::api::Attachment,
    },
    Failed {
        name: String,
        error: String,
    },
}

impl App {
    fn new(me: String, server: String) -> Self {
        let (uploads, upload_events) = tokio::sync::mpsc::unbounded_channel();
        Self {
            me,
            server,
            rooms: BTreeMap::new(),
            outbox: Vec::new(),
            active: None,
            notes: vec![
                "Type /help for commands. Tab switches rooms; PageUp scrolls back, Esc returns."
                    .into(),
            ],
            input: String::new(),
            cursor: 0,
            sent_lines: Vec::new(),
            browsing: None,
            scroll: 0,
            unseen: 0,
            pane: (80, 20),
            connection: "connecting…".into(),
            busy: None,
            statuses: HashMap::new(),
            last_typing_sent: None,
            sent: 0,
            quit: false,
            bell: false,
            uploads,
            upload_events: Some(upload_events),
        }
    }

    pub fn active_room(&self) -> Option<&RoomView> {
        self.active.as_ref().and_then(|name| self.rooms.get(name))
    }

    /// A note from the client (help, search results, errors), in the open room's
    /// conversation where it happened.
    fn note(&mut self, text: impl Into<String>) {
        let text = text.into();
        match self
            .active
            .as_ref()
            .and_then(|room| self.rooms.get_mut(room))
        {
            Some(view) => view.lines.push(Line::Note(text)),
            None => self.notes.push(text),
        }
        self.scroll = 0;
    }

    /// Shows the DM `room` by its people other than this user.
    pub fn label_dm(&mut self, room: &str, people: &[String]) {
        let others: Vec<String> = people
            .iter()
            .filter(|person| **person != self.me)
            .map(|person| format!("@{person}"))
            .collect();
        self.rooms.entry(room.to_owned()).or_default().label = Some(others.join(", "));
    }

    /// How a room is named on screen: `#name`, or a DM's people.
    pub fn shown_name(&self, room: &str) -> String {
        self.rooms
            .get(room)
            .and_then(|view| view.label.clone())
            .unwrap_or_else(|| format!("#{room}"))
    }

    /// A changed message takes the place of the copy shown, if one is (and is older).
    fn replace(&mut self, message: Message) {
        let Some(view) = self.rooms.get_mut(&message.room) else {
            return;
        };
        for line in &mut view.lines {
            if let Line::Message(shown) = line
                && shown.id == message.id
            {
                if shown.seq <= message.seq {
                    *shown = message;
                }
                return;
            }
        }
    }

    /// Applies a frame from the server.
    fn on_frame(&mut self, frame: ServerFrame) {
        match frame {
            ServerFrame::Joined {
                room,
                members,
                statuses,
                history,
                updated,
                more,
                ..
            } => {
                for name in &members {
                    let status = statuses
                        .get(name)
                        .map_or((UserStatus::Available, None), |s| {
                            (s.status, s.note.clone())
                        });
                    if *name == self.me {
                        self.busy = (status.0 == UserStatus::Busy).then(|| status.1.clone());
                    }
                    self.statuses.insert(name.clone(), status);
                }
                let at_end = self.viewing_end(&room);
                let me = self.me.clone();
                let view = self.rooms.entry(room.clone()).or_default();
                view.members = members.into_iter().collect();
                if view.oldest_id().is_none() {
                    view.more = more;
                }
                // What a return brings was missed while away: it counts as unread, as live
                // messages do. The first history does not: the server's count came with the
                // room list.
                if view.joined && !at_end {
                    view.unread += history
                        .iter()
                        .filter(|message| message.user != me || message.assistant)
                        .count() as u64;
                }
                view.joined = true;
                let lines = history.into_iter().map(Line::Message).collect();
                self.append(&room, lines);
                for message in updated {
                    self.replace(message);
                }
                if self.active.is_none() {
                    self.active = Some(room);
                    let notes = std::mem::take(&mut self.notes);
                    if let Some(view) = self.rooms.values_mut().next() {
                        view.lines.extend(notes.into_iter().map(Line::Note));
                    }
                }
            }
            ServerFrame::Member {
                room,
                user,
                change,
                role,
                by,
                reason,
                until,
            } => {
                let what = match change {
                    MemberChange::RoleChanged => match role {
                        Some(Role::Admin) => "made an admin",
                        _ => "made a member",
                    },
                    MemberChange::Kicked => "removed",
                    MemberChange::Banned => "banned",
                    MemberChange::Unbanned => "let back in",
                    MemberChange::Muted => "muted",
                    MemberChange::Unmuted => "unmuted",
                };
                let mut line = format!("#{room}: {user} was {what} by {by}");
                if let Some(until) = until {
                    line.push_str(&format!(" until {until}"));
                }
                if let Some(reason) = reason {
                    line.push_str(&format!(": {reason}"));
                }
                self.note(line);
            }
            ServerFrame::RoomRemoved { room, by } => {
                let shown = self.shown_name(&room);
                self.rooms.remove(&room);
                if self.active.as_deref() == Some(room.as_str()) {
                    self.active = self.rooms.keys().next().cloned();
                }
                self.note(format!("{by} archived {shown}"));
            }
            ServerFrame::RoomUpdated { room } => {
                let now = (room.topic.clone(), room.members_invite);
                let before = self
                    .rooms
                    .get_mut(&room.name)
                    .and_then(|view| view.settings.replace(now.clone()));
                if before.as_ref().is_none_or(|(topic, _)| *topic != now.0) {
                    let topic = room.topic.as_deref().unwrap_or("(none)");
                    self.note(format!("#{}: the topic is now {topic}", room.name));
                }
                if room.kind == RoomKind::Private
                    && before.is_none_or(|(_, members_invite)| members_invite != now.1)
                {
                    let who = if now.1 { "every member" } else { "only admins" };
                    self.note(format!("#{}: {who} may invite", room.name));
                }
            }
            ServerFrame::Invited { room, by } => {
                self.note(format!("{by} invited you to #{0}: /join {0}", room.name));
            }
            ServerFrame::RoomAdded { room } => {
                // A DM someone opened with this user: listed and joined, so it is live.
                let people = room.people.unwrap_or_default();
                self.label_dm(&room.name, &people);
                let shown = self.shown_name(&room.name);
                self.note(format!("direct messages with {shown} (Tab to it)"));
                self.outbox.push(ClientFrame::Join {
                    room: room.name,
                    since: None,
                });
            }
            ServerFrame::Left { room } => {
                self.rooms.remove(&room);
                if self.active.as_deref() == Some(room.as_str()) {
                    self.active = self.rooms.keys().next().cloned();
                }
                self.note(format!("left #{room}"));
            }
            ServerFrame::Message(message) => {
                let active = self.active.as_deref() == Some(message.room.as_str());
                let own = message.user == self.me && !message.assistant;
                let room = message.room.clone();
                let view = self.rooms.entry(room.clone()).or_default();
                view.typing.remove(&message.user);
                let mentioned = !own
                    && (message.mentions_room
                        || message
                            .mentions
                            .iter()
                            .any(|name| name.eq_ignore_ascii_case(&self.me)));
                if !active && !own {
                    view.unread += 1;
                    if mentioned {
                        view.mentions += 1;
                        self.bell = true;
                    }
                }
                self.append(&room, vec![Line::Message(message)]);
            }
            ServerFrame::MessageUpdated { message, .. } => self.replace(message),
            ServerFrame::History {
                room,
                messages,
                updated,
                more,
                ..
            } => {
                for message in updated {
                    self.replace(message);
                }
                let view = self.rooms.entry(room).or_default();
                view.more = more;
                view.loading_older = false;
                let mut older: Vec<Line> = messages.into_iter().map(Line::Message).collect();
                older.append(&mut view.lines);
                view.lines = older;
            }
            ServerFrame::Typing { room, user } => {
                self.rooms
                    .entry(room)
                    .or_default()
                    .typing
                    .insert(user, Instant::now());
            }
            ServerFrame::Presence { room, user, event } => {
                let view = self.rooms.entry(room).or_default();
                match event {
                    PresenceEvent::Joined => view.members.insert(user),
                    PresenceEvent::Left | PresenceEvent::Disconnected => view.members.remove(&user),
                };
            }
            ServerFrame::Status { user, status, note } => {
                if user == self.me {
                    self.busy = (status == UserStatus::Busy).then(|| note.clone());
                }
                self.statuses.insert(user, (status, note));
            }
            ServerFrame::Ready { user } => {
                self.busy = (user.status == UserStatus::Busy).then_some(None);
            }
            ServerFrame::Error { message, .. } => self.note(format!("error: {message}")),
            ServerFrame::CatchUp { items, summary } => {
                self.note(format!(
                    "while you were busy, {} message(s) mentioned you:",
                    items.len()
                ));
                if let Some(summary) = summary {
                    self.note(format!("summary: {summary}"));
                }
                for item in items {
                    self.note(format!("#{} {}: {}", item.room, item.user, item.text));
                }
            }
            ServerFrame::Read { room, id } => {
                // Read on another device: what lies beyond that marker is what is unread.
                let me = self.me.clone();
                if let Some(view) = self.rooms.get_mut(&room)
                    && id > view.read_through
                {
                    view.read_through = id;
                    view.unread = view.unread_after(id, &me);
                }
            }
            ServerFrame::Ack { .. } | ServerFrame::Pong => {}
        }
    }

    fn switch_room(&mut self, forward: bool) {
        let names: Vec<String> = self.rooms.keys().cloned().collect();
        if names.is_empty() {
            return;
        }
        let current = self
            .active
            .as_ref()
            .and_then(|a| names.iter().position(|n| n == a))
            .unwrap_or(0);
        let next = if forward {
            (current + 1) % names.len()
        } else {
            (current + names.len() - 1) % names.len()
        };
        self.select(names[next].clone());
    }

    fn select(&mut self, room: String) {
        self.active = Some(room);
        self.go_to_live_end();
    }

    /// Whether the user is looking at the newest lines of `room`.
    fn viewing_end(&self, room: &str) -> bool {
        self.active.as_deref() == Some(room) && self.scroll == 0
    }

    /// Adds lines at the end of a room. A reader scrolled up in it stays where they were:
    /// the offset from the bottom grows by the rows the lines take, and the `-MORE(n)-`
    /// marker counts the messages among them.
    fn append(&mut self, room: &str, lines: Vec<Line>) {
        let scrolled_here = self.active.as_deref() == Some(room) && self.scroll > 0;
        if scrolled_here {
            let width = self.pane.0;
            for line in &lines {
                self.scroll += wrap::rows(
                    &view::conversation_line(line, &self.me, &self.server),
                    width,
                )
                .len();
                self.unseen += usize::from(matches!(line, Line::Message(_)));
            }
        }
        self.rooms
            .entry(room.to_owned())
            .or_default()
            .lines
            .extend(lines);
    }

    fn go_to_live_end(&mut self) {
        self.scroll = 0;
        self.unseen = 0;
    }

    fn scroll_up(&mut self, rows: usize) {
        self.scroll += rows;
    }

    fn scroll_down(&mut self, rows: usize) {
        self.scroll = self.scroll.saturating_sub(rows);
        if self.scroll == 0 {
            self.unseen = 0;
        }
    }

    /// A page for PageUp and PageDown: the pane's height less a row of context.
    fn page(&self) -> usize {
        usize::from(self.pane.1.saturating_sub(1).max(1))
    }

    /// The `read` to send when the open room is viewed at its end and has messages beyond
    /// the marker; at most one per room per [`READ_EVERY`] (the clock sends the rest).
    fn read_due(&mut self, now: Instant) -> Option<ClientFrame> {
        let room = self.active.clone()?;
        if self.scroll > 0 {
            return None;
        }
        let view = self.rooms.get_mut(&room)?;
        view.unread = 0;
        view.mentions = 0;
        let newest = view.newest_id()?;
        let recent = view
            .read_sent_at
            .is_some_and(|at| now.duration_since(at) < READ_EVERY);
        if newest <= view.read_through || recent {
            return None;
        }
        view.read_through = newest;
        view.read_sent_at = Some(now);
        Some(ClientFrame::Read { room, id: newest })
    }

    fn insert(&mut self, c: char) {
        let at = self.byte_at(self.cursor);
        self.input.insert(at, c);
        self.cursor += 1;
    }

    fn byte_at(&self, chars: usize) -> usize {
        self.input
            .char_indices()
            .nth(chars)
            .map_or(self.input.len(), |(i, _)| i)
    }

    /// Deletes the characters between two cursor positions.
    fn delete_chars(&mut self, from: usize, to: usize) {
        let (start, end) = (self.byte_at(from), self.byte_at(to));
        self.input.replace_range(start..end, "");
        self.cursor = from;
    }

    /// Where the word before the cursor starts (Ctrl-W): back over spaces, then over
    /// the word.
    fn word_start(&self) -> usize {
        let before: Vec<char> = self.input.chars().take(self.cursor).collect();
        let spaces = before
            .iter()
            .rev()
            .take_while(|c| c.is_whitespace())
            .count();
        let word = before
            .iter()
            .rev()
            .skip(spaces)
            .take_while(|c| !c.is_whitespace())
            .count();
        self.cursor - spaces - word
    }

    fn take_input(&mut self) -> String {
        self.cursor = 0;
        self.browsing = None;
        std::mem::take(&mut self.input)
    }

    fn browse(&mut self, older: bool) {
        if self.sent_lines.is_empty() {
            return;
        }
        let next = match (self.browsing, older) {
            (None, true) => Some(self.sent_lines.len() - 1),
            (None, false) => None,
            (Some(0), true) => Some(0),
            (Some(i), true) => Some(i - 1),
            (Some(i), false) if i + 1 < self.sent_lines.len() => Some(i + 1),
            (Some(_), false) => None,
        };
        self.browsing = next;
        self.input = next.map(|i| self.sent_lines[i].clone()).unwrap_or_default();
        self.cursor = self.input.chars().count();
    }
}

/// What a key asks of the loop beyond changing the state.
enum Action {
    None,
    Send(ClientFrame),
    Command(String),
    /// Ctrl-L: clear the terminal and draw everything again.
    Redraw,
}

fn on_key(app: &mut App, key: KeyEvent) -> Action {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let end = app.input.chars().count();
    match key.code {
        KeyCode::Char('c') if ctrl => app.quit = true,
        // As in a shell: Ctrl-D ends only an empty line; on a draft it deletes a character.
        KeyCode::Char('d') if ctrl && app.input.is_empty() => app.quit = true,
        KeyCode::Char('d') if ctrl && app.cursor < end => {
            app.delete_chars(app.cursor, app.cursor + 1)
        }
        KeyCode::Char('a') if ctrl => app.cursor = 0,
        KeyCode::Char('e') if ctrl => app.cursor = end,
        KeyCode::Char('u') if ctrl => app.delete_chars(0, app.cursor),
        KeyCode::Char('k') if ctrl => app.delete_chars(app.cursor, end),
        KeyCode::Char('w') if ctrl => app.delete_chars(app.word_start(), app.cursor),
        KeyCode::Char('l') if ctrl => return Action::Redraw,
        KeyCode::Char(_) if ctrl => {} // never typed as a letter
        KeyCode::Char(c) => {
            app.insert(c);
            return typing(app);
        }
        KeyCode::Backspace if app.cursor > 0 => app.delete_chars(app.cursor - 1, app.cursor),
        KeyCode::Delete if app.cursor < end => app.delete_chars(app.cursor, app.cursor + 1),
        KeyCode::Left => app.cursor = app.cursor.saturating_sub(1),
        KeyCode::Right => app.cursor = (app.cursor + 1).min(end),
        KeyCode::Home => app.cursor = 0,
        KeyCode::End => app.cursor = end,
        KeyCode::Up => app.browse(true),
        KeyCode::Down => app.browse(false),
        KeyCode::Tab => app.switch_room(true),
        KeyCode::BackTab => app.switch_room(false),
        KeyCode::PageUp => {
            app.scroll_up(app.page());
            return older(app);
        }
        KeyCode::PageDown => app.scroll_down(app.page()),
        KeyCode::Esc => app.go_to_live_end(),
        KeyCode::Enter => {
            let line = app.take_input();
            if line.trim().is_empty() {
                return Action::None;
            }
            app.sent_lines.push(line.clone());
            if line.starts_with('/') {
                return Action::Command(line);
            }
            return say(app, line);
        }
        _ => {}
    }
    Action::None
}

/// Sends a message to the open room, and goes back to its live end to see it arrive.
fn say(app: &mut App, text: String) -> Action {
    let Some(room) = app.active.clone() else {
        app.note("join a room first: /join ROOM");
        return Action::None;
    };
    app.sent += 1;
    app.go_to_live_end();
    Action::Send(ClientFrame::Send {
        reply_to: None,
        room,
        text: Some(text),
        client_id: Some(format!("tui-{}-{}", std::process::id(), app.sent)),
        attachments: Vec::new(),
    })
}

/// `/edit TEXT` and `/delete` act on my last message in the room on screen; `/reply TEXT`,
/// `/react EMOJI` and `/unreact EMOJI` on its last message from someone else (the one a
/// person answers in a terminal, where messages have no handle to point at).
fn message_command(app: &mut App, command: &str, args: Option<&str>) -> Option<ClientFrame> {
    let Some(room) = app.active.clone() else {
        app.note("join a room first: /join ROOM");
        return None;
    };
    let mine = matches!(command, "/edit" | "/delete");
    let me = app.me.clone();
    let target = app.rooms.get(&room).and_then(|view| {
        view.lines.iter().rev().find_map(|line| match line {
            Line::Message(message)
                if !message.deleted && (message.user == me && !message.assistant) == mine =>
            {
                Some(message.id)
            }
            _ => None,
        })
    });
    let Some(id) = target else {
        app.note(if mine {
            "you have no message here to change"
        } else {
            "there is no message here to answer"
        });
        return None;
    };
    let needs = match command {
        "/edit" | "/reply" => "TEXT",
        "/react" | "/unreact" => "EMOJI",
        _ => "",
    };
    let Some(args) = args.or(needs.is_empty().then_some("")) else {
        app.note(format!("usage: {command} {needs}"));
        return None;
    };
    app.sent += 1;
    let client_id = Some(format!("tui-{}-{}", std::process::id(), app.sent));
    Some(match command {
        "/edit" => ClientFrame::Edit {
            room,
            id,
            text: args.to_owned(),
            client_id,
        },
        "/delete" => ClientFrame::Delete { room, id },
        "/reply" => {
            app.go_to_live_end();
            ClientFrame::Send {
                room,
                text: Some(args.to_owned()),
                client_id,
                reply_to: Some(id),
                attachments: Vec::new(),
            }
        }
        "/react" => ClientFrame::React {
            room,
            id,
            emoji: args.to_owned(),
        },
        _ => ClientFrame::Unreact {
            room,
            id,
            emoji: args.to_owned(),
        },
    })
}

fn typing(app: &mut App) -> Action {
    let due = app
        .last_typing_sent
        .is_none_or(|at| at.elapsed() >= TYPING_SENT_EVERY);
    match (&app.active, due, app.input.starts_with('/')) {
        (Some(room), true, false) => {
            app.last_typing_sent = Some(Instant::now());
            Action::Send(ClientFrame::Typing { room: room.clone() })
        }
        _ => Action::None,
    }
}

fn older(app: &mut App) -> Action {
    let Some(room) = app.active.clone() else {
        return Action::None;
    };
    match app.rooms.get_mut(&room) {
        Some(view) if view.more && !view.loading_older => match view.oldest_id() {
            Some(first) => {
                view.loading_older = true;
                Action::Send(ClientFrame::History {
                    room,
                    before: Some(first),
                    after: None,
                    limit: Some(50),
                })
            }
            None => Action::None,
        },
        _ => Action::None,
    }
}

/// The commands and keys, as `/help` shows them: two columns.
const HELP: &[(&str, &str)] = &[
    ("/msg USER [TEXT]", "write to someone directly"),
    ("/members", "everyone in this room, with roles"),
    ("/invite USER", "invite into this room (admins)"),
    ("/kick USER [WHY]", "remove from this room (admins)"),
    ("/ban, /mute USER [WHY]", "keep out, or silence (admins)"),
    ("/unban, /unmute USER", "lift a ban or a mute (admins)"),
    ("/promote, /demote USER", "make an admin, or a member again"),
    ("/members-invite on|off", "all may invite (private rooms)"),
    ("/archive ROOM", "delete a room you own, for everyone"),
    ("/quiet on|off", "this room: tell me of mentions only"),
    (
        "/block, /unblock USER",
        "stop someone writing to you; /blocks",
    ),
    ("/join ROOM, /j", "join a room (and switch to it)"),
    ("/leave [ROOM], /part", "leave this room (or ROOM)"),
    ("/rooms [QUERY]", "search rooms by name or topic"),
    (
        "/search WORDS",
        "find messages: \"phrase\" from:USER in:#ROOM",
    ),
    (
        "/upload PATH",
        "send a file to this room (progress shown; at most the server's limit, 25 MB by default)",
    ),
    ("/create NAME [TOPIC]", "create a room and join it"),
    ("/topic [TEXT]", "this room's topic; set it (admins)"),
    ("/me ACTION", "say what you do: /me waves"),
    ("/edit TEXT, /delete", "change, delete your last message"),
    ("/reply TEXT", "answer the last message of others"),
    (
        "/react, /unreact EMOJI",
        "react to the last message of others",
    ),
    ("/history", "load older messages (or PageUp)"),
    ("/busy [NOTE]", "set busy, with an optional note"),
    ("/available", "set yourself available"),
    ("/who", "who is online in this room"),
    ("/quit", "leave (also Ctrl-C, or Ctrl-D)"),
    ("Tab, Shift-Tab", "switch rooms"),
    ("PageUp, PageDown", "scroll; Esc back to the newest"),
    ("Up, Down", "recall sent lines"),
    ("Ctrl-A, Ctrl-E", "start, end of the line"),
    ("Ctrl-W, Ctrl-U, Ctrl-K", "delete word, to start, to end"),
    ("Ctrl-L", "redraw the screen"),
];

fn help_lines() -> Vec<String> {
    let width = HELP
        .iter()
        .map(|(what, _)| what.chars().count())
        .max()
        .unwrap_or(0);
    HELP.iter()
        .map(|(what, does)| format!("{what:<width$}  {does}"))
        .collect()
}

/// The HTTP request of a moderation command.
fn moderation_request(
    command: &str,
    room: &str,
    user: &str,
    reason: Option<&str>,
) -> (reqwest::Method, String, serde_json::Value) {
    use reqwest::Method;
    use serde_json::json;
    let role = format!("/api/rooms/{room}/members/{user}/role");
    match command {
        "/invite" => (
            Method::POST,
            format!("/api/rooms/{room}/invites"),
            json!({"username": user}),
        ),
        "/kick" => (
            Method::POST,
            format!("/api/rooms/{room}/kick"),
            json!({"username": user, "reason": reason}),
        ),
        "/ban" => (
            Method::PUT,
            format!("/api/rooms/{room}/bans/{user}"),
            json!({"reason": reason}),
        ),
        "/unban" => (
            Method::DELETE,
            format!("/api/rooms/{room}/bans/{user}"),
            json!({}),
        ),
        "/mute" => (
            Method::PUT,
            format!("/api/rooms/{room}/mutes/{user}"),
            json!({"reason": reason}),
        ),
        "/unmute" => (
            Method::DELETE,
            format!("/api/rooms/{room}/mutes/{user}"),
            json!({}),
        ),
        "/promote" => (Method::PUT, role, json!({"role": "admin"})),
        _ => (Method::PUT, role, json!({"role": "member"})),
    }
}

/// Runs one slash command; returns a frame to send, if any.
async fn command(
    app: &mut App,
    line: &str,
    accounts: &Accounts,
    session: &Session,
) -> Option<ClientFrame> {
    let mut words = line.trim().splitn(2, ' ');
    let name = words.next().unwrap_or_default();
    let rest = words.next().map(str::trim).filter(|rest| !rest.is_empty());
    match (name, rest) {
        ("/quit" | "/exit", _) => {
            app.quit = true;
            None
        }
        ("/help", _) => {
            for line in help_lines() {
                app.note(line);
            }
            None
        }
        ("/join" | "/j", Some(room)) => {
            let room = room.trim_start_matches('#').to_ascii_lowercase();
            app.select(room.clone());
            Some(ClientFrame::Join { room, since: None })
        }
        ("/leave" | "/part", named) => {
            let named = named.map(|room| room.trim_start_matches('#').to_ascii_lowercase());
            match named.or_else(|| app.active.clone()) {
                Some(room) => Some(ClientFrame::Leave { room }),
                None => {
                    app.note("not in a room");
                    None
                }
            }
        }
        ("/me", Some(action)) => match say(app, emote(action)) {
            Action::Send(frame) => Some(frame),
            _ => None,
        },
        ("/edit" | "/delete" | "/reply" | "/react" | "/unreact", args) => {
            message_command(app, name, args)
        }
        ("/topic", Some(topic)) => {
            let Some(room) = app.active.clone() else {
                app.note("not in a room");
                return None;
            };
            let path = format!("/api/rooms/{room}");
            let body = serde_json::json!({"topic": topic});
            let changed = accounts
                .call(&session.token, reqwest::Method::PATCH, &path, body)
                .await;
            if let Err(err) = changed {
                app.note(format!("error: {err:#}"));
            }
            None
        }
        ("/msg", Some(args)) => {
            let mut parts = args.splitn(2, ' ');
            let user = parts.next().unwrap_or_default().trim_start_matches('@');
            match accounts.open_dm(&session.token, user).await {
                Ok((room, people)) => {
                    app.label_dm(&room, &people);
                    app.select(room.clone());
                    let text = parts.next().map(str::trim).filter(|text| !text.is_empty());
                    if let Some(text) = text
                        && let Action::Send(frame) = say(app, text.to_owned())
                    {
                        app.outbox.push(frame);
                    }
                    Some(ClientFrame::Join { room, since: None })
                }
                Err(err) => {
                    app.note(format!("error: {err:#}"));
                    None
                }
            }
        }
        ("/members", _) => {
            let Some(room) = app.active.clone() else {
                app.note("not in a room");
                return None;
            };
            let path = format!("/api/rooms/{room}/members?limit=100");
            let page = accounts
                .call(
                    &session.token,
                    reqwest::Method::GET,
                    &path,
                    serde_json::Value::Null,
                )
                .await;
            match page {
                Ok(page) => {
                    for member in page["members"].as_array().into_iter().flatten() {
                        let name = member["username"].as_str().unwrap_or_default();
                        let role = member["role"].as_str().unwrap_or_default();
                        let busy = if member["status"] == "busy" {
                            " (busy)"
                        } else {
                            ""
                        };
                        app.note(format!("{name} {role}{busy}"));
                    }
                }
                Err(err) => app.note(format!("error: {err:#}")),
            }
            None
        }
        (
            "/invite" | "/kick" | "/ban" | "/unban" | "/mute" | "/unmute" | "/promote" | "/demote",
            Some(args),
        ) => {
            let Some(room) = app.active.clone() else {
                app.note("not in a room");
                return None;
            };
            let mut parts = args.splitn(2, ' ');
            let user = parts
                .next()
                .unwrap_or_default()
                .trim_start_matches('@')
                .to_owned();
            let reason = parts
                .next()
                .map(str::trim)
                .filter(|reason| !reason.is_empty());
            let (method, path, body) = moderation_request(name, &room, &user, reason);
            match accounts.call(&session.token, method, &path, body).await {
                Ok(_) => app.note(format!("{} {user}: done", &name[1..])),
                Err(err) => app.note(format!("error: {err:#}")),
            }
            None
        }
        ("/quiet", Some(switch)) => {
            let Some(room) = app.active.clone() else {
                app.note("not in a room");
                return None;
            };
            let quiet = match switch {
                "on" => true,
                "off" => false,
                _ => {
                    app.note("usage: /quiet on|off");
                    return None;
                }
            };
            let path = format!("/api/me/rooms/{room}");
            match accounts
                .call(
                    &session.token,
                    reqwest::Method::PUT,
                    &path,
                    serde_json::json!({"quiet": quiet}),
                )
                .await
            {
                Ok(_) => {
                    if let Some(view) = app.rooms.get_mut(&room) {
                        view.quiet = quiet;
                    }
                    let shown = app.shown_name(&room);
                    app.note(if quiet {
                        format!("{shown} is quiet: it tells you of mentions only")
                    } else {
                        format!("{shown} tells you of everything again")
                    });
                }
                Err(err) => app.note(format!("error: {err:#}")),
            }
            None
        }
        ("/members-invite", Some(switch)) => {
            let Some(room) = app.active.clone() else {
                app.note("not in a room");
                return None;
            };
            let allow = match switch {
                "on" => true,
                "off" => false,
                _ => {
                    app.note("usage: /members-invite on|off");
                    return None;
                }
            };
            let path = format!("/api/rooms/{room}");
            let body = serde_json::json!({"members_invite": allow});
            match accounts
                .call(&session.token, reqwest::Method::PATCH, &path, body)
                .await
            {
                Ok(_) if allow => app.note(format!("#{room}: every member may invite")),
                Ok(_) => app.note(format!("#{room}: only admins may invite")),
                Err(err) => app.note(format!("error: {err:#}")),
            }
            None
        }
        // The room is named, not taken from the screen: deleting one is never a slip.
        ("/archive", Some(room)) => {
            let room = room.trim_start_matches('#').to_ascii_lowercase();
            let path = format!("/api/rooms/{room}");
            // The room's `room_removed` then takes it off the list, with its own note.
            if let Err(err) = accounts
                .call(
                    &session.token,
                    reqwest::Method::DELETE,
                    &path,
                    serde_json::Value::Null,
                )
                .await
            {
                app.note(format!("error: {err:#}"));
            }
            None
        }
        ("/block" | "/unblock", Some(user)) => {
            let user = user.trim_start_matches('@');
            let method = if name == "/block" {
                reqwest::Method::PUT
            } else {
                reqwest::Method::DELETE
            };
            let path = format!("/api/me/blocks/{user}");
            match accounts
                .call(&session.token, method, &path, serde_json::Value::Null)
                .await
            {
                Ok(_) if name == "/block" => {
                    app.note(format!(
                        "you block {user}: what they write to you is not delivered"
                    ));
                }
                Ok(_) => app.note(format!("you no longer block {user}")),
                Err(err) => app.note(format!("error: {err:#}")),
            }
            None
        }
        ("/blocks", None) => {
            let listed = accounts
                .call(
                    &session.token,
                    reqwest::Method::GET,
                    "/api/me/blocks",
                    serde_json::Value::Null,
                )
                .await;
            match listed {
                Ok(listed) => {
                    let names: Vec<&str> = listed["users"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|user| user["username"].as_str())
                        .collect();
                    if names.is_empty() {
                        app.note("you block nobody");
                    } else {
                        app.note(format!("you block {}", names.join(", ")));
                    }
                }
                Err(err) => app.note(format!("error: {err:#}")),
            }
            None
        }
        ("/topic", None) => {
            let Some(room) = app.active.clone() else {
                app.note("not in a room");
                return None;
            };
            match accounts.room(&session.token, &room).await {
                Ok(found) => match found.topic.filter(|topic| !topic.is_empty()) {
                    Some(topic) => app.note(format!("#{room}: {topic}")),
                    None => app.note(format!("#{room} has no topic")),
                },
                Err(err) => app.note(format!("error: {err:#}")),
            }
            None
        }
        ("/rooms", query) => {
            match accounts
                .search_rooms(&session.token, query.unwrap_or(""))
                .await
            {
                Ok(rooms) if rooms.is_empty() => app.note("no rooms match"),
                Ok(rooms) => {
                    for (name, topic, online) in rooms {
                        app.note(format!("#{name} ({online} online) {topic}"));
                    }
                }
                Err(err) => app.note(format!("error: {err:#}")),
            }
            None
        }
        ("/upload", Some(path)) => {
            let Some(room) = app.active.clone() else {
                app.note("join a room first: /join ROOM");
                return None;
            };
            start_upload(app, accounts, session, room, path);
            None
        }
        ("/upload", None) => {
            app.note("usage: /upload PATH");
            None
        }
        ("/search", Some(query)) => {
            match accounts.search_messages(&session.token, query).await {
                Ok(page) if page.hits.is_empty() => app.note("no messages match"),
                Ok(page) => {
                    // Oldest last: the newest hit sits nearest the input, like the chat.
                    for hit in page.hits.iter().rev() {
                        app.note(search_line(hit));
                    }
                }
                Err(err) => app.note(format!("error: {err:#}")),
            }
            None
        }
        ("/create", Some(args)) => {
            let mut parts = args.splitn(2, ' ');
            let name = parts.next().unwrap_or_default();
            match accounts
                .create_room(&session.token, name, parts.next())
                .await
            {
                Ok(room) => {
                    app.note(format!("created #{room}"));
                    app.select(room.clone());
                    Some(ClientFrame::Join { room, since: None })
                }
                Err(err) => {
                    app.note(format!("error: {err:#}"));
                    None
                }
            }
        }
        ("/history", _) => match older(app) {
            Action::Send(frame) => Some(frame),
            _ => {
                app.note("no older messages");
                None
            }
        },
        ("/busy", note) => Some(ClientFrame::Status {
            status: "busy".into(),
            note: note.map(str::to_owned),
        }),
        ("/available", _) => Some(ClientFrame::Status {
            status: "available".into(),
            note: None,
        }),
        ("/who", _) => {
            let who = app
                .active_room()
                .map(|view| view.members.iter().cloned().collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
            app.note(if who.is_empty() {
                "nobody is online here".to_owned()
            } else {
                format!("online: {who}")
            });
            None
        }
        ("/join" | "/j" | "/create", None) => {
            app.note(format!("usage: {name} NAME"));
            None
        }
        ("/me", None) => {
            app.note("usage: /me ACTION");
            None
        }
        _ => {
            app.note(format!("unknown command {name}; try /help"));
            None
        }
    }
}

/// Uploads the file at `path` to `room` in a task of its own, so the chat goes on
/// meanwhile; its progress, and its attachment once stored, come back as
/// [`UploadEvent`]s.
fn start_upload(app: &mut App, accounts: &Accounts, session: &Session, room: String, path: &str) {
    let path = std::path::PathBuf::from(path.trim().trim_matches(|c| c == '"' || c == '\''));
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    );
    app.note(format!("uploading {name} to #{room}…"));
    let events = app.uploads.clone();
    let accounts = accounts.clone();
    let token = session.token.clone();
    tokio::spawn(async move {
        let told = std::sync::atomic::AtomicU64::new(0);
        let progress_events = events.clone();
        let progress_name = name.clone();
        let progress = move |sent: u64, total: u64| {
            let quarter = (sent * 4).checked_div(total).unwrap_or(4);
            if quarter > told.swap(quarter, std::sync::atomic::Ordering::Relaxed) && quarter < 4 {
                let _ = progress_events.send(UploadEvent::Progress {
                    name: progress_name.clone(),
                    percent: quarter * 25,
                });
            }
        };
        let event = match accounts.upload_file(&token, &room, &path, progress).await {
            Ok(attachment) => UploadEvent::Done { room, attachment },
            Err(err) => UploadEvent::Failed {
                name,
                error: format!("{err:#}"),
            },
        };
        // The loop is gone only once the chat ended: nobody left to tell.
        let _ = events.send(event);
    });
}

impl App {
    /// What an upload's news does: a note, and once stored the message that carries it.
    fn on_upload(&mut self, event: UploadEvent) -> Option<ClientFrame> {
        match event {
            UploadEvent::Progress { name, percent } => {
                self.note(format!("uploading {name}: {percent}%"));
                None
            }
            UploadEvent::Failed { name, error } => {
                self.note(format!("upload of {name} failed: {error}"));
                None
            }
            UploadEvent::Done { room, attachment } => {
                self.note(format!(
                    "uploaded {} ({})",
                    attachment.name,
                    human_size(attachment.size)
                ));
                self.sent += 1;
                Some(ClientFrame::Send {
                    room,
                    text: None,
                    client_id: Some(format!("tui-{}-{}", std::process::id(), self.sent)),
                    reply_to: None,
                    attachments: vec![attachment.id],
                })
            }
        }
    }
}

/// Bytes as people read them: `512 B`, `12.3 KB`, `4.0 MB` (powers of 1,000).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    #[allow(clippy::cast_precision_loss)] // a size shown to one decimal
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 999.95 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A search hit as a line: `#room YYYY-MM-DD HH:MM user: text`, in local time, each
/// matched part of the text between `«` and `»`.
fn search_line(hit: &sala_proto::api::SearchHit) -> String {
    let message = &hit.message;
    let when = message
        .ts
        .with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M");
    let mut text = String::with_capacity(message.text.len() + 4 * hit.highlights.len());
    let mut marks = hit.highlights.iter().peekable();
    for (at, c) in message.text.chars().enumerate() {
        if marks.peek().is_some_and(|[start, _]| *start == at) {
            text.push('«');
        }
        text.push(c);
        if marks.peek().is_some_and(|[_, end]| *end == at + 1) {
            text.push('»');
            marks.next();
        }
    }
    format!("#{} {when} {}: {text}", message.room, message.user)
}

/// What `/me waves` sends: the action in underscores, as Slack and Mattermost write an
/// emote (`_waves_`); [`view`] shows such a message as `* alice waves`.
fn emote(action: &str) -> String {
    format!("_{action}_")
}

/// Signs in (menu, or `--user` with a password from the environment), then runs the
/// full-screen chat until `/quit`. The terminal is restored however it ends.
///
/// # Errors
/// Sign-in refused, the terminal unusable, or the session ended by the server.
pub async fn run(args: ChatArgs) -> anyhow::Result<()> {
    let accounts = Accounts::new(&args.server);
    let given = args.user.as_deref().and_then(|user| {
        password_from(args.password_file.as_deref())
            .ok()
            .map(|p| (user, p))
    });
    let session = match given {
        Some((user, password)) => {
            if args.register
                && let Err(err) = accounts.register(user, &password).await
                && !err.to_string().contains("taken")
            {
                return Err(err);
            }
            accounts.login(user, &password).await?
        }
        None => match menu::sign_in(&accounts, args.user.as_deref())? {
            Some(session) => session,
            None => return Ok(()),
        },
    };
    let mut app = App::new(session.username.clone(), accounts.base().to_owned());
    // Every room of the user comes back, with what is unread in it; `--room` opens first.
    let first = args.room.trim_start_matches('#').to_ascii_lowercase();
    let mut rooms = vec![first.clone()];
    match accounts.my_rooms(&session.token).await {
        Ok(mine) => {
            for member in mine.rooms {
                let name = member.room.name;
                let view = app.rooms.entry(name.clone()).or_default();
                view.unread = member.unread;
                view.mentions = member.unread_mentions;
                view.quiet = member.quiet;
                if let Some(people) = &member.room.people {
                    app.label_dm(&name, people);
                }
                if name != first {
                    rooms.push(name);
                }
            }
        }
        Err(err) => app.note(format!("could not list your rooms: {err:#}")),
    }
    app.select(first);
    let mut net = net::start(session.chat_url.clone(), session.token.clone());
    for room in rooms {
        net.commands
            .send(NetCommand::Send(ClientFrame::Join { room, since: None }))
            .await
            .context("the connection task stopped")?;
    }
    let mut terminal = ratatui::init();
    let outcome = event_loop(&mut terminal, &mut app, &mut net, &accounts, &session).await;
    ratatui::restore();
    outcome
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    net: &mut Net,
    accounts: &Accounts,
    session: &Session,
) -> anyhow::Result<()> {
    let mut keys = EventStream::new();
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    let mut uploads = app
        .upload_events
        .take()
        .context("the chat's event loop runs once")?;
    while !app.quit {
        let mut drawn = None;
        terminal
            .draw(|frame| drawn = Some(view::draw(frame, app)))
            .context("drawing the screen")?;
        if let Some(drawn) = drawn {
            app.pane = drawn.pane;
            app.scroll = drawn.scroll; // never past the top
        }
        if std::mem::take(&mut app.bell) {
            use std::io::Write as _;
            let mut out = std::io::stdout();
            // BEL: the terminal rings, or flashes, or marks the window, as its user chose.
            let _ = out.write_all(b"\x07").and_then(|()| out.flush());
        }
        let to_send = tokio::select! {
            event = keys.next() => match event {
                Some(Ok(Event::Key(key))) if key.kind == KeyEventKind::Press => match on_key(app, key) {
                    Action::None => None,
                    Action::Send(frame) => Some(frame),
                    Action::Command(line) => command(app, &line, accounts, session).await,
                    Action::Redraw => {
                        terminal.clear().context("clearing the screen")?;
                        None
                    }
                },
                Some(Ok(_)) => None, // resize and the like: the next draw adapts
                Some(Err(err)) => return Err(err).context("reading the terminal"),
                None => return Ok(()),
            },
            event = net.events.recv() => match event {
                Some(NetEvent::Connected) => {
                    app.connection = "connected".into();
                    None
                }
                Some(NetEvent::Frame(frame)) => {
                    app.on_frame(*frame);
                    None
                }
                Some(NetEvent::Reconnecting { reason, retry_in }) => {
                    app.connection = format!("{reason}; reconnecting in {:.1} s", retry_in.as_secs_f64());
                    None
                }
                Some(NetEvent::Ended(reason)) => anyhow::bail!("{reason}"),
                None => anyhow::bail!("the connection task stopped"),
            },
            Some(event) = uploads.recv() => app.on_upload(event),
            _ = clock.tick() => {
                for view in app.rooms.values_mut() {
                    view.typing.retain(|_, at| at.elapsed() < TYPING_SHOWN);
                }
                None
            }
        };
        let read = app.read_due(Instant::now());
        let queued: Vec<ClientFrame> = app.outbox.drain(..).collect();
        for frame in to_send.into_iter().chain(queued).chain(read) {
            net.commands
                .send(NetCommand::Send(frame))
                .await
                .context("the connection task stopped")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::search_line;

    #[test]
    fn sizes_read_as_people_say_them() {
        use super::human_size;
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(1000), "1.0 KB");
        assert_eq!(human_size(12_345), "12.3 KB");
        assert_eq!(human_size(26_214_400), "26.2 MB");
        assert_eq!(human_size(999_960), "1.0 MB");
    }

    #[test]
    fn a_search_hit_marks_what_matched() {
        let hit: sala_proto::api::SearchHit = serde_json::from_value(serde_json::json!({
            "message": {"id": 7, "room": "ops", "user": "ann", "text": "東京 deploy done",
                "ts": "2026-12-03T10:00:00.000Z", "assistant": false},
            "highlights": [[0, 2], [3, 9]],
        }))
        .unwrap();
        let line = search_line(&hit);
        assert!(line.starts_with("#ops 2026-12-0"), "{line}");
        assert!(line.ends_with(" ann: «東京» «deploy» done"), "{line}");
    }
}
