//! The full-screen client: its state, its keys and slash commands, and the event loop that
//! joins the terminal, the connection and a clock. Drawing is in [`crate::view`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use anyhow::Context;
use crossterm::event::{Event, EventStream, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use futures_util::StreamExt as _;
use sala_proto::api::{Message, UserStatus};
use sala_proto::frames::{ClientFrame, PresenceEvent, ServerFrame};

use crate::ChatArgs;
use crate::account::{Accounts, Session, password_from};
use crate::net::{self, Net, NetCommand, NetEvent};
use crate::{menu, view};

const TYPING_SHOWN: Duration = Duration::from_secs(4);
const TYPING_SENT_EVERY: Duration = Duration::from_secs(2);

/// One room as the client sees it.
#[derive(Debug, Default)]
pub struct RoomView {
    /// The conversation, oldest first: messages, and the client's own notes where they
    /// happened.
    pub lines: Vec<Line>,
    pub unread: u64,
    pub members: BTreeSet<String>,
    pub typing: HashMap<String, Instant>,
    /// Older messages exist on the server.
    pub more: bool,
}

impl RoomView {
    /// The id of the oldest message loaded.
    pub fn oldest_id(&self) -> Option<i64> {
        self.lines.iter().find_map(|line| match line {
            Line::Message(message) => Some(message.id),
            Line::Note(_) => None,
        })
    }
}

/// A line of the conversation: a message or a note from the client itself.
#[derive(Debug, Clone)]
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
    /// Lines scrolled up from the bottom of the conversation.
    pub scroll: usize,
    pub connection: String,
    pub busy: Option<Option<String>>,
    pub statuses: HashMap<String, (UserStatus, Option<String>)>,
    last_typing_sent: Option<Instant>,
    sent: u64,
    quit: bool,
}

impl App {
    fn new(me: String, server: String) -> Self {
        Self {
            me,
            server,
            rooms: BTreeMap::new(),
            active: None,
            notes: vec![
                "Type /help for commands. Tab switches rooms; PageUp loads older messages.".into(),
            ],
            input: String::new(),
            cursor: 0,
            sent_lines: Vec::new(),
            browsing: None,
            scroll: 0,
            connection: "connecting…".into(),
            busy: None,
            statuses: HashMap::new(),
            last_typing_sent: None,
            sent: 0,
            quit: false,
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

    /// Applies a frame from the server.
    fn on_frame(&mut self, frame: ServerFrame) {
        match frame {
            ServerFrame::Joined {
                room,
                members,
                history,
                more,
            } => {
                let view = self.rooms.entry(room.clone()).or_default();
                view.members = members.into_iter().collect();
                if view.oldest_id().is_none() {
                    view.more = more;
                }
                view.lines.extend(history.into_iter().map(Line::Message));
                if self.active.is_none() {
                    self.active = Some(room);
                    let notes = std::mem::take(&mut self.notes);
                    if let Some(view) = self.rooms.values_mut().next() {
                        view.lines.extend(notes.into_iter().map(Line::Note));
                    }
                }
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
                let own = message.user == self.me;
                let view = self.rooms.entry(message.room.clone()).or_default();
                view.typing.remove(&message.user);
                if !active && !own {
                    view.unread += 1;
                }
                view.lines.push(Line::Message(message));
            }
            ServerFrame::History {
                room,
                messages,
                more,
            } => {
                let view = self.rooms.entry(room).or_default();
                view.more = more;
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
            ServerFrame::Ack { .. } | ServerFrame::Read { .. } | ServerFrame::Pong => {}
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
        if let Some(view) = self.rooms.get_mut(&room) {
            view.unread = 0;
        }
        self.active = Some(room);
        self.scroll = 0;
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
}

fn on_key(app: &mut App, key: KeyEvent) -> Action {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    match key.code {
        KeyCode::Char('c' | 'd') if ctrl => app.quit = true,
        KeyCode::Char('a') if ctrl => app.cursor = 0,
        KeyCode::Char('e') if ctrl => app.cursor = app.input.chars().count(),
        KeyCode::Char('u') if ctrl => {
            app.take_input();
        }
        KeyCode::Char(c) => {
            app.insert(c);
            return typing(app);
        }
        KeyCode::Backspace if app.cursor > 0 => {
            app.cursor -= 1;
            let at = app.byte_at(app.cursor);
            app.input.remove(at);
        }
        KeyCode::Delete if app.cursor < app.input.chars().count() => {
            let at = app.byte_at(app.cursor);
            app.input.remove(at);
        }
        KeyCode::Left => app.cursor = app.cursor.saturating_sub(1),
        KeyCode::Right => app.cursor = (app.cursor + 1).min(app.input.chars().count()),
        KeyCode::Home => app.cursor = 0,
        KeyCode::End => app.cursor = app.input.chars().count(),
        KeyCode::Up => app.browse(true),
        KeyCode::Down => app.browse(false),
        KeyCode::Tab => app.switch_room(true),
        KeyCode::BackTab => app.switch_room(false),
        KeyCode::PageUp => {
            app.scroll += 10;
            return older(app);
        }
        KeyCode::PageDown => app.scroll = app.scroll.saturating_sub(10),
        KeyCode::Enter => {
            let line = app.take_input();
            if line.trim().is_empty() {
                return Action::None;
            }
            app.sent_lines.push(line.clone());
            if line.starts_with('/') {
                return Action::Command(line);
            }
            let Some(room) = app.active.clone() else {
                app.note("join a room first: /join ROOM");
                return Action::None;
            };
            app.sent += 1;
            app.scroll = 0;
            return Action::Send(ClientFrame::Send {
                room,
                text: line,
                client_id: Some(format!("tui-{}-{}", std::process::id(), app.sent)),
            });
        }
        _ => {}
    }
    Action::None
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
    match (&app.active, app.active_room()) {
        (Some(room), Some(view)) if view.more => match view.oldest_id() {
            Some(first) => Action::Send(ClientFrame::History {
                room: room.clone(),
                before: Some(first),
                after: None,
                limit: Some(50),
            }),
            None => Action::None,
        },
        _ => Action::None,
    }
}

const HELP: &[&str] = &[
    "/join ROOM          join a room (and switch to it)",
    "/leave              leave the current room",
    "/rooms [QUERY]      search rooms by name or topic",
    "/create NAME [TOPIC] create a room and join it",
    "/history            load older messages (or PageUp)",
    "/busy [NOTE]        set yourself busy, with an optional note",
    "/available          set yourself available",
    "/who                who is online in this room",
    "/quit               leave the client (or Ctrl-C)",
    "Tab / Shift-Tab switch rooms, Up/Down recall sent lines, PageUp/PageDown scroll.",
];

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
            for line in HELP {
                app.note(*line);
            }
            None
        }
        ("/join", Some(room)) => {
            let room = room.trim_start_matches('#').to_ascii_lowercase();
            app.select(room.clone());
            Some(ClientFrame::Join { room, since: None })
        }
        ("/leave", _) => match app.active.clone() {
            Some(room) => Some(ClientFrame::Leave { room }),
            None => {
                app.note("not in a room");
                None
            }
        },
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
        ("/join" | "/create", None) => {
            app.note(format!("usage: {name} NAME"));
            None
        }
        _ => {
            app.note(format!("unknown command {name}; try /help"));
            None
        }
    }
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
    let mut net = net::start(session.chat_url.clone(), session.token.clone());
    net.commands
        .send(NetCommand::Send(ClientFrame::Join {
            room: args.room.to_ascii_lowercase(),
            since: None,
        }))
        .await
        .context("the connection task stopped")?;
    let mut app = App::new(session.username.clone(), accounts.base().to_owned());
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
    while !app.quit {
        terminal
            .draw(|frame| view::draw(frame, app))
            .context("drawing the screen")?;
        let to_send = tokio::select! {
            event = keys.next() => match event {
                Some(Ok(Event::Key(key))) if key.kind == KeyEventKind::Press => match on_key(app, key) {
                    Action::None => None,
                    Action::Send(frame) => Some(frame),
                    Action::Command(line) => command(app, &line, accounts, session).await,
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
                    app.on_frame(frame);
                    None
                }
                Some(NetEvent::Reconnecting { reason, retry_in }) => {
                    app.connection = format!("{reason}; reconnecting in {:.1} s", retry_in.as_secs_f64());
                    None
                }
                Some(NetEvent::Ended(reason)) => anyhow::bail!("{reason}"),
                None => anyhow::bail!("the connection task stopped"),
            },
            _ = clock.tick() => {
                for view in app.rooms.values_mut() {
                    view.typing.retain(|_, at| at.elapsed() < TYPING_SHOWN);
                }
                None
            }
        };
        if let Some(frame) = to_send {
            net.commands
                .send(NetCommand::Send(frame))
                .await
                .context("the connection task stopped")?;
        }
    }
    Ok(())
}
