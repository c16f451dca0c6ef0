//! The full-screen `sala chat` in a real terminal: tmux runs it, `send-keys` types and
//! `capture-pane` reads the screen (SPEC §6). `scripts/test.sh` installs tmux; plain
//! `cargo test` skips this.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::common::{PASSWORD, Server, Socket, WAIT, connect, next_of, open, token};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// A tmux server of our own (its own socket), so nothing else is touched.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// A terminal of `columns` x `rows` running `command`.
    fn new(command: &str, (columns, rows): (u16, u16)) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let tmux = Self {
            socket: format!(
                "sala-test-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ),
        };
        let (columns, rows) = (columns.to_string(), rows.to_string());
        tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "chat",
            "-x",
            &columns,
            "-y",
            &rows,
            command,
        ]);
        tmux.run(&["set-option", "-t", "chat", "remain-on-exit", "on"]);
        tmux
    }

    fn run(&self, args: &[&str]) -> String {
        let output = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux is installed (scripts/test.sh installs it)");
        assert!(
            output.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "chat"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// Types literally, then presses Enter.
    fn type_line(&self, text: &str) {
        self.run(&["send-keys", "-t", "chat", "-l", text]);
        self.keys(&["Enter"]);
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "chat"])
    }

    /// Polls the screen (a terminal has no events to await) until it shows `text`.
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "the screen never showed {text:?}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Polls the screen until `check` holds for it.
    fn wait_until(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let screen = self.screen();
            if check(&screen) {
                return screen;
            }
            assert!(Instant::now() < deadline, "never {what}:\n{screen}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for the program to end; its exit status ("" when tmux recorded none).
    fn wait_exit(&self) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.pane_dead() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "sala chat did not exit:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `Some(how)` once the program has ended: its exit status, or `signal N`.
    fn pane_dead(&self) -> Option<String> {
        let state = self.run(&[
            "display-message",
            "-p",
            "-t",
            "chat",
            "#{pane_dead}|#{pane_dead_status}|#{pane_dead_signal}",
        ]);
        let mut fields = state.trim().split('|');
        let (dead, status, signal) = (
            fields.next()?,
            fields.next().unwrap_or_default(),
            fields.next().unwrap_or_default(),
        );
        // tmux 3.3 sometimes records neither an exit status nor a signal for a pane that
        // ended normally; "" stands for that.
        match (dead, status, signal) {
            ("1", "", "") => Some(String::new()),
            ("1", "", signal) => Some(format!("signal {signal}")),
            ("1", status, _) => Some(status.to_owned()),
            _ => None,
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

#[tokio::test]
#[ignore = "needs tmux"]
async fn register_chat_and_quit_in_a_real_terminal() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let command = format!(
        "env TERM=xterm-256color {} chat --server {}",
        env!("CARGO_BIN_EXE_sala"),
        server.base
    );
    let tmux = Tmux::new(&command, (110, 34));

    // The menu: 2 registers, then it logs in by itself.
    tmux.wait_for("1) login");
    tmux.keys(&["2"]);
    tmux.wait_for("username:");
    tmux.type_line("tina");
    tmux.wait_for("password:");
    tmux.type_line(PASSWORD);
    let screen = tmux.wait_for(" Rooms ");
    assert!(
        !screen.contains(PASSWORD),
        "the password is never echoed:\n{screen}"
    );
    tmux.wait_for("#general");

    // Someone else in general, over a plain WebSocket.
    let uwe_token = token(&reqwest::Client::new(), &server.base, "uwe", true).await;
    let mut uwe = connect(&server.base, &uwe_token).await;

    tmux.type_line("/join general");
    tmux.type_line("hello from the terminal");
    let heard = next_message(&mut uwe).await;
    assert_eq!(
        (heard["user"].as_str(), heard["text"].as_str()),
        (Some("tina"), Some("hello from the terminal"))
    );

    uwe.send(Message::text(
        json!({"type": "send", "room": "general", "text": "hi tina, welcome"}).to_string(),
    ))
    .await
    .unwrap();
    tmux.wait_for("uwe: hi tina, welcome");
    tmux.type_line("/who");
    tmux.wait_for("online: tina, uwe");

    // /quit leaves the alternate screen: the chat's frame is gone, the shell's screen is back.
    tmux.type_line("/quit");
    let status = tmux.wait_exit();
    assert!(
        status == "0" || status.is_empty(),
        "sala chat ended with {status}"
    );
    let screen = tmux.screen();
    assert!(
        !screen.contains(" Rooms "),
        "the terminal was restored:\n{screen}"
    );
    assert!(
        screen.contains("1) login"),
        "the screen from before the chat is back:\n{screen}"
    );
}

async fn next_message(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a frame in time")
            .unwrap()
            .unwrap();
        if let Message::Text(text) = frame {
            let value: Value = serde_json::from_str(text.as_str()).unwrap();
            if value["type"] == "message" {
                return value;
            }
        }
    }
}

/// `sala chat` logged in as `user` (registered beforehand), in a terminal tmux runs.
fn chat_command(server: &Server, user: &str, room: Option<&str>) -> String {
    let room = room
        .map(|room| format!(" --room {room}"))
        .unwrap_or_default();
    format!(
        "env TERM=xterm-256color SALA_PASSWORD='{PASSWORD}' {} chat --server {} --user {user}{room}",
        env!("CARGO_BIN_EXE_sala"),
        server.base
    )
}

/// Sends a message and waits for its ack; returns its id.
async fn say(socket: &mut Socket, room: &str, text: &str) -> i64 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let client_id = format!("t-{}", NEXT.fetch_add(1, Ordering::Relaxed));
    let frame = json!({"type": "send", "room": room, "text": text, "client_id": client_id});
    socket.send(Message::text(frame.to_string())).await.unwrap();
    loop {
        let ack = next_of(socket, "ack").await;
        if ack["client_id"] == client_id.as_str() {
            return ack["id"].as_i64().unwrap();
        }
    }
}

/// The next message `user` wrote, skipping others'.
async fn next_message_from(socket: &mut Socket, user: &str) -> Value {
    loop {
        let message = next_of(socket, "message").await;
        if message["user"] == user {
            return message;
        }
    }
}

/// The screen's rows.
fn rows(screen: &str) -> Vec<&str> {
    screen.lines().collect()
}

/// The last row of the conversation pane: the screen less the status bar, the input box
/// (3), the typing line and the pane's bottom border.
fn last_conversation_row(screen: &str, height: u16) -> &str {
    rows(screen)
        .get(usize::from(height) - 7)
        .copied()
        .unwrap_or_default()
}

#[tokio::test]
#[ignore = "needs tmux"]
async fn the_newest_message_is_always_on_the_last_row_at_three_sizes() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let http = reqwest::Client::new();
    let carl_token = token(&http, &server.base, "carl", true).await;
    token(&http, &server.base, "vera", true).await;
    let mut carl = connect(&server.base, &carl_token).await;
    // History: an old 300-character message (on the page PageUp loads), many short ones,
    // then what wraps early or takes two columns a character: URLs, CJK, emoji.
    say(
        &mut carl,
        "general",
        &format!("oldest {}", "word ".repeat(59)),
    )
    .await;
    for i in 0..50 {
        say(&mut carl, "general", &format!("short {i}")).await;
    }
    let url = "see https://github.com/example/project/pull/12345/files#diff-0123456789abcdef0123";
    say(&mut carl, "general", url).await;
    say(&mut carl, "general", url).await;
    say(
        &mut carl,
        "general",
        &"会議は午後三時に始まります。資料を確認してください。".repeat(3),
    )
    .await;
    say(&mut carl, "general", &"🎉 ship it 🚀 ".repeat(12)).await;
    say(
        &mut carl,
        "general",
        "cafe\u{301} de\u{301}ja\u{300} vu, combining marks",
    )
    .await;

    for (columns, height) in [(120, 35), (80, 24), (50, 16)] {
        let tmux = Tmux::new(&chat_command(&server, "vera", None), (columns, height));
        tmux.wait_for("combining marks");
        let newest = format!("NEWEST-{columns}-1");
        say(&mut carl, "general", &newest).await;
        let screen = tmux.wait_for(&newest);
        assert!(
            last_conversation_row(&screen, height).contains(&newest),
            "{columns}x{height}: the newest message is on the last row:\n{screen}"
        );

        // Scroll back until the older page, with the 300-character message, is loaded and
        // shown; then Esc returns to the newest, and each new message shows on arrival.
        tmux.wait_until("scrolled back to the oldest message", |screen| {
            if screen.contains("oldest word") {
                return true;
            }
            tmux.keys(&["PageUp"]);
            false
        });
        tmux.keys(&["Escape"]);
        for n in 2..4 {
            let newest = format!("NEWEST-{columns}-{n}");
            say(&mut carl, "general", &newest).await;
            let screen = tmux.wait_for(&newest);
            assert!(
                last_conversation_row(&screen, height).contains(&newest),
                "{columns}x{height}: after scrolling back, the newest message is on the last \
                 row:\n{screen}"
            );
            assert!(!screen.contains("-MORE"), "back at the live end:\n{screen}");
        }
    }
}

#[tokio::test]
#[ignore = "needs tmux"]
async fn the_users_rooms_come_back_with_unread_counts_reading_clears_them_and_busy_shows() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let http = reqwest::Client::new();
    let ivy_token = token(&http, &server.base, "ivy", true).await;
    let bob_token = token(&http, &server.base, "bob", true).await;
    let created = http
        .post(format!("{}/api/rooms", server.base))
        .bearer_auth(&ivy_token)
        .json(&json!({"name": "garden"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    // ivy is a member of general and garden, then goes away.
    let mut ivy = connect(&server.base, &ivy_token).await;
    let join = json!({"type": "join", "room": "garden"}).to_string();
    ivy.send(Message::text(join)).await.unwrap();
    next_of(&mut ivy, "joined").await;
    drop(ivy);

    // Meanwhile bob writes 2 messages in general and 3 in garden, and goes busy.
    let mut bob = connect(&server.base, &bob_token).await;
    let join = json!({"type": "join", "room": "garden"}).to_string();
    bob.send(Message::text(join)).await.unwrap();
    next_of(&mut bob, "joined").await;
    let mut last_general = 0;
    for i in 0..2 {
        last_general = say(&mut bob, "general", &format!("general news {i}")).await;
    }
    let mut last_garden = 0;
    for i in 0..3 {
        last_garden = say(&mut bob, "garden", &format!("tomatoes {i}")).await;
    }
    let busy = json!({"type": "status", "status": "busy", "note": "in a meeting"});
    bob.send(Message::text(busy.to_string())).await.unwrap();
    next_of(&mut bob, "status").await;

    // Another device of ivy hears the read markers the terminal moves.
    let mut ivy_phone = open(&server.base, &ivy_token).await;
    let tmux = Tmux::new(&chat_command(&server, "ivy", None), (120, 35));
    tmux.wait_for("#garden (3)");
    tmux.wait_for("general news 1"); // general opens first, as --room defaults to it
    // Loaded after bob went busy, it shows him busy, by a sign and with his note.
    let screen = tmux.wait_for("in a meeting");
    assert!(
        screen.contains("⊘ bob busy"),
        "busy is marked by a sign:\n{screen}"
    );

    // general is open at its end: read. Then garden, once switched to.
    let read = next_of(&mut ivy_phone, "read").await;
    assert_eq!(
        (read["room"].as_str(), read["id"].as_i64()),
        (Some("general"), Some(last_general))
    );
    tmux.keys(&["Tab"]);
    tmux.wait_for("tomatoes 2");
    let read = next_of(&mut ivy_phone, "read").await;
    assert_eq!(
        (read["room"].as_str(), read["id"].as_i64()),
        (Some("garden"), Some(last_garden))
    );
    tmux.wait_until("the garden badge cleared", |screen| {
        !screen.contains("#garden (")
    });
    let mine: Value = http
        .get(format!("{}/api/me/rooms", server.base))
        .bearer_auth(&ivy_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let unread: Vec<(&str, u64)> = mine["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|room| {
            (
                room["name"].as_str().unwrap(),
                room["unread"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        unread,
        [("garden", 0), ("general", 0)],
        "the web would agree"
    );
}

#[tokio::test]
#[ignore = "needs tmux"]
async fn readline_keys_irc_commands_and_the_more_marker() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let http = reqwest::Client::new();
    let zed_token = token(&http, &server.base, "zed", true).await;
    token(&http, &server.base, "uma", true).await;
    let created = http
        .post(format!("{}/api/rooms", server.base))
        .bearer_auth(&zed_token)
        .json(&json!({"name": "garden", "topic": "plants and soil"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let mut zed = connect(&server.base, &zed_token).await;
    let tmux = Tmux::new(&chat_command(&server, "uma", None), (80, 24));
    tmux.wait_for("#general");
    say(&mut zed, "general", "uma is here").await;
    tmux.wait_for("uma is here");
    let input_row = |screen: &str| rows(screen)[24 - 3].to_owned();

    // Ctrl-W deletes the word before the cursor, Ctrl-K to the end, Ctrl-D a character.
    tmux.run(&["send-keys", "-t", "chat", "-l", "hello wor"]);
    tmux.keys(&["C-w"]);
    tmux.wait_until("Ctrl-W deleted a word", |screen| {
        let row = input_row(screen);
        row.contains("hello") && !row.contains("wor")
    });
    tmux.run(&["send-keys", "-t", "chat", "-l", "there"]);
    tmux.keys(&["C-a", "C-k"]);
    tmux.wait_until("Ctrl-K emptied the line", |screen| {
        !input_row(screen).contains("hello")
    });
    tmux.run(&["send-keys", "-t", "chat", "-l", "draft"]);
    tmux.keys(&["C-a", "C-d", "C-l", "Enter"]);
    let heard = next_message_from(&mut zed, "uma").await;
    assert_eq!(
        heard["text"], "raft",
        "Ctrl-D deleted a character and did not quit"
    );

    // IRC habits.
    tmux.type_line("/me waves");
    let heard = next_message_from(&mut zed, "uma").await;
    assert_eq!(heard["text"], "_waves_");
    tmux.wait_for("* uma waves");
    tmux.type_line("/j garden");
    tmux.wait_for(" #garden ");
    tmux.type_line("/topic");
    tmux.wait_for("#garden: plants and soil");
    tmux.type_line("/part");
    tmux.wait_for("left #garden");
    tmux.type_line("/help");
    let screen = tmux.wait_for("redraw the screen");
    let column = |text: &str| {
        rows(&screen)
            .iter()
            .find_map(|row| row.find(text))
            .unwrap_or_else(|| panic!("{text} in /help:\n{screen}"))
    };
    // (The top of a long /help may have scrolled away: PageUp shows it.)
    assert_eq!(
        column("switch rooms"),
        column("redraw the screen"),
        "/help is aligned:\n{screen}"
    );

    // Scrolled up, what arrives is counted, not shown; Esc goes back to it.
    for i in 0..30 {
        say(&mut zed, "general", &format!("filler {i}")).await;
    }
    tmux.wait_for("filler 29");
    tmux.keys(&["PageUp"]);
    tmux.wait_until("scrolled up", |screen| !screen.contains("filler 29"));
    say(&mut zed, "general", "while you scrolled").await;
    say(&mut zed, "general", "and again").await;
    let screen = tmux.wait_for("-MORE(2)-");
    assert!(
        !screen.contains("while you scrolled"),
        "the view stayed put:\n{screen}"
    );
    tmux.keys(&["Escape"]);
    let screen = tmux.wait_for("and again");
    assert!(!screen.contains("-MORE"), "{screen}");

    // Ctrl-D on an empty line quits.
    tmux.keys(&["C-d"]);
    let status = tmux.wait_exit();
    assert!(
        status == "0" || status.is_empty(),
        "sala chat ended with {status}"
    );
}

/// `/msg` opens a DM shown by the other person's name and sends into it; a DM someone else
/// opens appears by their name and is live; `/kick` and `/members` moderate the open room.
#[tokio::test]
#[ignore = "needs tmux"]
async fn direct_messages_and_moderation_from_the_terminal() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let http = reqwest::Client::new();
    token(&http, &server.base, "ada", true).await;
    let bob_token = token(&http, &server.base, "bob", true).await;
    let cy_token = token(&http, &server.base, "cyd", true).await;
    let created = http
        .post(format!("{}/api/rooms", server.base))
        .bearer_auth(&bob_token)
        .json(&json!({"name": "den"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let mut bob = connect(&server.base, &bob_token).await;

    let tmux = Tmux::new(&chat_command(&server, "ada", None), (120, 35));
    tmux.wait_for("general");
    tmux.type_line("/msg bob hello in private");
    let added = next_of(&mut bob, "room_added").await;
    let dm = added["room"]["name"].as_str().unwrap().to_owned();
    let screen = tmux.wait_for("@bob");
    assert!(
        !screen.contains("dm."),
        "a DM is shown by its people:\n{screen}"
    );
    let join = json!({"type": "join", "room": dm}).to_string();
    bob.send(Message::text(join)).await.unwrap();
    let joined = next_of(&mut bob, "joined").await;
    let mut texts: Vec<String> = joined["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["text"].as_str().map(str::to_owned))
        .collect();
    // The DM is made first and the text sent after it: bob may join in between, and then
    // the text comes live rather than in the history.
    if texts.is_empty() {
        let live = next_of(&mut bob, "message").await;
        texts.push(live["text"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(texts, ["hello in private"], "{joined}");
    say(&mut bob, &dm, "hi ada").await;
    tmux.wait_for("hi ada");

    // cy opens a DM with ada: it appears by cy's name, and is live.
    let opened = http
        .post(format!("{}/api/dms", server.base))
        .bearer_auth(&cy_token)
        .json(&json!({"users": ["ada"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), 201);
    let cy_dm = opened.json::<Value>().await.unwrap()["name"]
        .as_str()
        .unwrap()
        .to_owned();
    tmux.wait_for("@cyd");
    let mut cy = connect(&server.base, &cy_token).await;
    let join = json!({"type": "join", "room": cy_dm}).to_string();
    cy.send(Message::text(join)).await.unwrap();
    next_of(&mut cy, "joined").await;
    say(&mut cy, &cy_dm, "ping from cy").await;
    tmux.wait_until("cyd's DM counted unread", |screen| {
        screen.contains("@cyd (1)")
    });

    // In bob's room, ada is a member: she may not kick; bob makes her an admin, and she may.
    tmux.type_line("/join den");
    tmux.wait_for("#den");
    let join = json!({"type": "join", "room": "den"}).to_string();
    cy.send(Message::text(join)).await.unwrap();
    next_of(&mut cy, "joined").await;
    tmux.type_line("/kick cyd");
    tmux.wait_for("only the room's admins and owner");
    let promoted = http
        .put(format!("{}/api/rooms/den/members/ada/role", server.base))
        .bearer_auth(&bob_token)
        .json(&json!({"role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(promoted.status(), 204);
    tmux.type_line("/kick cyd too loud");
    assert_eq!(next_of(&mut cy, "member").await["change"], "role_changed");
    let kicked = next_of(&mut cy, "member").await;
    assert_eq!(
        (
            kicked["change"].as_str(),
            kicked["by"].as_str(),
            kicked["reason"].as_str()
        ),
        (Some("kicked"), Some("ada"), Some("too loud")),
        "{kicked}"
    );
    tmux.type_line("/members");
    tmux.wait_for("ada admin");
    tmux.wait_for("bob owner");
}

/// The owner's commands and blocks from the terminal: `/members-invite on` opens a private
/// room's invitations to every member (the room's members hear it), `/block` and
/// `/unblock` change what `/blocks` lists, and `/archive ROOM` deletes the room for
/// everyone.
#[tokio::test]
#[ignore = "needs tmux"]
async fn the_owner_opens_invitations_blocks_and_archives_from_the_terminal() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let http = reqwest::Client::new();
    let ada_token = token(&http, &server.base, "ada", true).await;
    let bob_token = token(&http, &server.base, "bob", true).await;
    let created = http
        .post(format!("{}/api/rooms", server.base))
        .bearer_auth(&ada_token)
        .json(&json!({"name": "nook", "private": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let invited = http
        .post(format!("{}/api/rooms/nook/invites", server.base))
        .bearer_auth(&ada_token)
        .json(&json!({"username": "bob"}))
        .send()
        .await
        .unwrap();
    assert_eq!(invited.status(), 204);
    let mut bob = connect(&server.base, &bob_token).await;
    let join = json!({"type": "join", "room": "nook"}).to_string();
    bob.send(Message::text(join)).await.unwrap();
    next_of(&mut bob, "joined").await;

    let tmux = Tmux::new(&chat_command(&server, "ada", None), (120, 35));
    tmux.wait_for("general");
    tmux.type_line("/join nook");
    tmux.wait_for("#nook");
    tmux.type_line("/members-invite on");
    tmux.wait_for("every member may invite");
    let updated = next_of(&mut bob, "room_updated").await;
    assert_eq!(updated["room"]["members_invite"], true, "{updated}");
    tmux.type_line("/members-invite maybe");
    tmux.wait_for("usage: /members-invite on|off");

    tmux.type_line("/blocks");
    tmux.wait_for("you block nobody");
    tmux.type_line("/block bob");
    tmux.wait_for("you block bob: what they write to you is not delivered");
    tmux.type_line("/blocks");
    // The block's own note, then the list's.
    tmux.wait_until("the list names bob", |screen| {
        screen.matches("you block bob").count() >= 2
    });
    tmux.type_line("/block nobody-here");
    tmux.wait_for("no user named 'nobody-here'");
    tmux.type_line("/unblock bob");
    tmux.wait_for("you no longer block bob");

    tmux.type_line("/archive nook");
    let removed = next_of(&mut bob, "room_removed").await;
    assert_eq!(
        (removed["room"].as_str(), removed["by"].as_str()),
        (Some("nook"), Some("ada")),
        "{removed}"
    );
    tmux.wait_for("ada archived #nook");
    let gone = http
        .get(format!("{}/api/rooms/nook", server.base))
        .bearer_auth(&ada_token)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    tmux.type_line("/archive nook");
    tmux.wait_for("error: no room named 'nook'");
}

/// Changes to messages from the terminal (issue 19): `/react` and `/reply` act on the last
/// message from someone else, `/edit` and `/delete` on one's own; what others change shows
/// as edited, deleted, and with its reactions.
#[tokio::test]
#[ignore = "needs tmux"]
async fn reactions_replies_edits_and_deletions_from_the_terminal() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let http = reqwest::Client::new();
    token(&http, &server.base, "ada", true).await;
    let bob_token = token(&http, &server.base, "bob", true).await;
    let mut bob = connect(&server.base, &bob_token).await;
    let join = json!({"type": "join", "room": "general"}).to_string();
    bob.send(Message::text(join)).await.unwrap();
    next_of(&mut bob, "joined").await;

    let tmux = Tmux::new(&chat_command(&server, "ada", None), (120, 35));
    tmux.wait_for("general");
    let plan = say(&mut bob, "general", "teh plan").await;
    tmux.wait_for("teh plan");

    tmux.type_line("/react 🎉");
    let reacted = next_of(&mut bob, "message_updated").await;
    assert_eq!(
        (
            reacted["message"]["id"].as_i64(),
            reacted["change"].as_str()
        ),
        (Some(plan), Some("reacted"))
    );
    tmux.wait_for("🎉 1");
    tmux.type_line("/react nope");
    tmux.wait_for("emoji must be one emoji");

    tmux.type_line("/reply sounds good");
    let reply = next_of(&mut bob, "message").await;
    assert_eq!(
        (reply["reply_to"].as_i64(), reply["text"].as_str()),
        (Some(plan), Some("sounds good"))
    );
    tmux.wait_for("[1 reply]");

    // bob fixes his typo: ada's screen follows.
    let edit = json!({"type": "edit", "room": "general", "id": plan, "text": "the plan"});
    bob.send(Message::text(edit.to_string())).await.unwrap();
    tmux.wait_for("the plan (edited)");

    tmux.type_line("/edit");
    tmux.wait_for("usage: /edit TEXT");
    tmux.type_line("/edit sounds great");
    // (The thread's and bob's own changes come first.)
    let edited = loop {
        let updated = next_of(&mut bob, "message_updated").await;
        if updated["change"] == "edited" && updated["by"] == "ada" {
            break updated;
        }
    };
    assert_eq!(edited["message"]["text"], "sounds great", "{edited}");
    tmux.wait_for("sounds great (edited)");
    tmux.type_line("/delete");
    tmux.wait_for("(message deleted)");
    let screen = tmux.wait_for("(message deleted)");
    assert!(
        !screen.contains("sounds great"),
        "the text is gone:\n{screen}"
    );

    // A mention where ada is not looking: the room list says so apart from plain activity.
    let made = http
        .post(format!("{}/api/rooms", server.base))
        .bearer_auth(&bob_token)
        .json(&json!({"name": "side"}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    tmux.type_line("/join side");
    tmux.wait_for(" #side ");
    say(&mut bob, "general", "plain news").await;
    say(&mut bob, "general", "@ada are you there?").await;
    tmux.wait_until("the mention is counted apart", |screen| {
        screen.contains("#general @1 (2)")
    });
    tmux.type_line("/quiet on");
    tmux.wait_for("#side is quiet: it tells you of mentions only");
    tmux.type_line("/quiet maybe");
    tmux.wait_for("usage: /quiet on|off");

    // Search: bob's edited message found by a word of its new text, the match marked.
    tmux.type_line("/search PLAN from:bob");
    tmux.wait_for("bob: the «plan»");
    tmux.type_line("/search teh");
    tmux.wait_for("no messages match");
    tmux.type_line("/search from:b");
    tmux.wait_for("from: takes a username");
}

#[tokio::test]
#[ignore = "needs tmux"]
async fn a_file_is_uploaded_from_the_terminal_and_shown_as_name_size_and_link() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &["--max-upload-bytes", "1000"]);
    let http = reqwest::Client::new();
    token(&http, &server.base, "ada", true).await;
    let bob_token = token(&http, &server.base, "bob", true).await;
    let mut bob = connect(&server.base, &bob_token).await;
    let join = json!({"type": "join", "room": "general"}).to_string();
    bob.send(Message::text(join)).await.unwrap();
    next_of(&mut bob, "joined").await;
    let files = tempfile::tempdir().unwrap();
    let notes = files.path().join("notes.txt");
    std::fs::write(&notes, "meeting notes").unwrap();
    let big = files.path().join("big.bin");
    std::fs::write(&big, vec![1u8; 2000]).unwrap();

    let tmux = Tmux::new(&chat_command(&server, "ada", None), (150, 35));
    tmux.wait_for("general");
    tmux.type_line(&format!("/upload {}", notes.display()));
    tmux.wait_for("uploaded notes.txt (13 B)");
    let message = next_message_from(&mut bob, "ada").await;
    let attachment = &message["attachments"][0];
    assert_eq!(
        (attachment["name"].as_str(), attachment["size"].as_u64()),
        (Some("notes.txt"), Some(13)),
        "{message}"
    );
    let link = format!("{}{}", server.base, attachment["url"].as_str().unwrap());
    tmux.wait_for(&format!("[file: notes.txt, 13 B, {link}]"));
    let served = http
        .get(&link)
        .bearer_auth(&bob_token)
        .send()
        .await
        .unwrap();
    assert_eq!(served.text().await.unwrap(), "meeting notes");

    // Refusals are said as the server says them; a missing file as what it is.
    tmux.type_line(&format!("/upload {}", big.display()));
    tmux.wait_for("upload of big.bin failed: request body is larger than 1000 bytes");
    tmux.type_line("/upload /no/such/file.txt");
    tmux.wait_for("upload of file.txt failed: cannot read /no/such/file.txt");
    tmux.type_line("/upload");
    tmux.wait_for("usage: /upload PATH");
}
