//! Socket.io (SPEC §4) with the real clients: `socket.io-client` from npm (Node) and
//! `python-socketio` from PyPI, each driven through a small script in `clients/` over
//! stdin/stdout. `scripts/test.sh` installs both (into ignored folders) and runs these;
//! plain `cargo test` skips them.

#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;
mod resume_model;
#[path = "../api/ws_client.rs"]
#[allow(dead_code)]
mod ws_client;

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use helpers::TestApp;
use serde_json::{Value, json};
use ws_client::WsClient;

const WAIT: Duration = Duration::from_secs(30);

/// One scenario at a time: each starts node and python interpreters, which on two cores
/// would otherwise compete with the server under test.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[derive(Debug, Clone, Copy)]
enum Kind {
    Node,
    Python,
}

fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sio/clients")
}

/// A real Socket.io client in a child process.
struct SioClient {
    kind: Kind,
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<Value>,
    acks: u64,
}

impl SioClient {
    fn start(kind: Kind, app: &TestApp, token: Option<&str>, transport: &str) -> Self {
        Self::start_with_auth(kind, app, token, transport, &json!({}))
    }

    /// With more fields in the handshake's `auth` than the token (node's client only).
    fn start_with_auth(
        kind: Kind,
        app: &TestApp,
        token: Option<&str>,
        transport: &str,
        extra: &Value,
    ) -> Self {
        let dir = clients_dir();
        let mut command = match kind {
            Kind::Node => {
                let mut command = Command::new("node");
                command.arg(dir.join("driver.mjs"));
                command
            }
            Kind::Python => {
                let python = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("../../.tools/sio-venv/bin/python");
                let mut command = Command::new(python);
                command.arg(dir.join("driver.py"));
                command
            }
        };
        command
            .args([&app.base, transport])
            .env("SALA_AUTH_EXTRA", extra.to_string())
            .current_dir(&dir);
        match token {
            Some(token) => command.env("SALA_TOKEN", token),
            None => command.env_remove("SALA_TOKEN"),
        };
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect(
                "the client runs (scripts/test.sh installs node's and python's Socket.io clients)",
            );
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // A line that is not one JSON value is kept as it is, so that a wait that
                // fails shows it among what it skipped.
                let value =
                    serde_json::from_str(&line).unwrap_or_else(|_| json!({"unparsed": line}));
                if sender.send(value).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take().unwrap();
        Self {
            kind,
            child,
            stdin,
            lines,
            acks: 0,
        }
    }

    fn command(&mut self, command: &Value) {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
    }

    fn emit(&mut self, event: &str, data: Value) {
        self.command(&json!({"emit": event, "data": data}));
    }

    /// Emits with an ack callback and waits for the reply.
    fn call(&mut self, event: &str, data: Value) -> Value {
        self.acks += 1;
        let number = self.acks;
        self.command(&json!({"emit": event, "data": data, "ack": number}));
        self.wait(|line| line["ack"] == number)["data"].clone()
    }

    /// Emits with an ack callback and returns its number, without waiting for the reply.
    fn call_later(&mut self, event: &str, data: Value) -> u64 {
        self.acks += 1;
        let number = self.acks;
        self.command(&json!({"emit": event, "data": data, "ack": number}));
        number
    }

    /// The replies of the callbacks `numbers`, in whatever order they come, each once.
    fn replies(&mut self, numbers: &[u64]) -> std::collections::BTreeMap<u64, Value> {
        let mut replies = std::collections::BTreeMap::new();
        while replies.len() < numbers.len() {
            let line = self.wait(|line| {
                line["ack"]
                    .as_u64()
                    .is_some_and(|number| numbers.contains(&number))
            });
            let number = line["ack"].as_u64().unwrap();
            let earlier = replies.insert(number, line["data"].clone());
            assert!(
                earlier.is_none(),
                "{:?}: callback {number} answered twice",
                self.kind
            );
        }
        replies
    }

    /// The next line matching `wanted`, skipping others.
    fn wait(&mut self, wanted: impl Fn(&Value) -> bool) -> Value {
        let mut skipped = Vec::new();
        loop {
            let Ok(line) = self.lines.recv_timeout(WAIT) else {
                panic!(
                    "{:?}: nothing wanted arrived in time; skipped {skipped:#?}",
                    self.kind
                );
            };
            if wanted(&line) {
                return line;
            }
            skipped.push(line);
        }
    }

    /// Closes the socket the way a client app does (`socket.close()`), then waits for exit.
    fn close(mut self) {
        self.command(&json!({"close": true}));
        let _ = self.child.wait();
    }

    fn event(&mut self, name: &str) -> Value {
        self.wait(|line| line["event"] == name)
    }
}

impl Drop for SioClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn connected(kind: Kind, app: &TestApp, token: &str, transport: &str) -> SioClient {
    let is_connect = |line: &Value| line["event"] == "connect" || line["event"] == "connect_error";
    let mut client = SioClient::start(kind, app, Some(token), transport);
    let connect = client.wait(is_connect);
    assert_eq!(connect["event"], "connect", "{kind:?}: {connect}");
    assert_eq!(connect["transport"], transport);
    client
}

async fn refused_without_a_good_token(kind: Kind) {
    let app = TestApp::spawn().await;
    for token in [None, Some("not-a-token")] {
        let mut client = SioClient::start(kind, &app, token, "websocket");
        let error = client.event("connect_error");
        let message = error["message"].as_str().unwrap_or_default();
        assert!(message.contains("token"), "{kind:?} {token:?}: {error}");
    }
}

async fn chat_with_acks_and_with_a_ws_client(kind: Kind, transport: &str) {
    let app = TestApp::spawn().await;
    let sio_token = app.user_token("sioux").await;
    let mut ws = WsClient::connect(&app, &app.user_token("webby").await).await;
    ws.join("general").await;
    let mut sio = connected(kind, &app, &sio_token, transport);

    let joined = sio.call("join", json!("general"));
    assert_eq!(joined["type"], "joined", "{joined}");
    assert_eq!(joined["room"], "general");
    assert_eq!(joined["members"], json!(["sioux", "webby"]));
    let presence = ws.next_of("presence").await;
    assert_eq!(
        (presence["user"].as_str(), presence["event"].as_str()),
        (Some("sioux"), Some("joined"))
    );

    // Socket.io → storage → both.
    let ack = sio.call(
        "chat-message",
        json!({"room": "general", "text": "hello from socket.io", "client_id": "s-1"}),
    );
    assert_eq!(ack["client_id"], "s-1", "{ack}");
    let id = ack["id"].as_i64().expect("an id");
    let echo = sio.event("chat-message")["data"].clone();
    assert_eq!(
        (echo["id"].as_i64(), echo["user"].as_str()),
        (Some(id), Some("sioux"))
    );
    let heard = ws.next_of("message").await;
    assert_eq!(
        (heard["id"].as_i64(), heard["text"].as_str()),
        (Some(id), Some("hello from socket.io"))
    );

    // /ws → Socket.io.
    let from_ws = ws.say("general", "hello from /ws").await;
    let heard =
        sio.wait(|line| line["event"] == "chat-message" && line["data"]["id"] == from_ws)["data"]
            .clone();
    assert_eq!(heard["user"], "webby");

    // Typing and status cross too.
    ws.send(json!({"type": "typing", "room": "general"})).await;
    assert_eq!(sio.event("typing")["data"]["user"], "webby");
    sio.emit("status", json!({"status": "busy", "note": "on a call"}));
    let status = ws.next_of("status").await;
    assert_eq!(
        (status["user"].as_str(), status["note"].as_str()),
        (Some("sioux"), Some("on a call"))
    );

    // A send without a client_id is acked with client_id null.
    let ack = sio.call("chat-message", json!({"room": "general", "text": "no key"}));
    assert!(ack["id"].is_i64() && ack["client_id"].is_null(), "{ack}");
    assert_eq!(ws.next_of("message").await["id"], ack["id"]);

    // Closing tells the others. (A client that vanishes without closing is noticed by the
    // heartbeat instead, up to pingInterval + pingTimeout later.)
    sio.close();
    let gone = ws.next_of("presence").await;
    assert_eq!(
        (gone["user"].as_str(), gone["event"].as_str()),
        (Some("sioux"), Some("disconnected"))
    );
}

async fn bad_input_gets_an_error_and_the_socket_stays_usable(kind: Kind) {
    let app = TestApp::spawn().await;
    let token = app.user_token("oops").await;
    let mut sio = connected(kind, &app, &token, "websocket");
    sio.call("join", json!("general"));
    let cases = [
        ("join", json!(42), "bad_request"),
        ("join", json!("no-such-room"), "not_found"),
        ("chat-message", json!("just a string"), "bad_request"),
        ("chat-message", json!({"text": "no room"}), "bad_request"),
        (
            "chat-message",
            json!({"room": "general", "text": ""}),
            "invalid",
        ),
        (
            "chat-message",
            json!({"room": "no-such-room", "text": "hi"}),
            "not_found",
        ),
        ("no-such-event", json!({"x": 1}), "bad_request"),
        ("status", json!({"status": "asleep"}), "invalid"),
    ];
    for (event, data, code) in cases {
        eprintln!("{kind:?}: {event} {data}");
        sio.emit(event, data.clone());
        let error = sio.event("error");
        assert_eq!(
            error["data"]["code"], code,
            "{kind:?} {event} {data}: {error}"
        );
    }
    let ack = sio.call(
        "chat-message",
        json!({"room": "general", "text": "still here"}),
    );
    assert!(ack["id"].is_i64(), "{ack}");
}

async fn the_legacy_string_event_goes_to_general(kind: Kind) {
    let app = TestApp::spawn().await;
    let mut ws = WsClient::connect(&app, &app.user_token("listener").await).await;
    ws.join("general").await;
    let mut sio = connected(kind, &app, &app.user_token("legacy").await, "websocket");
    let ack = sio.call("send-chat-message", json!("hi from an old client"));
    let legacy_id = ack["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{kind:?}: an ack with an id: {ack}"));
    let heard = ws.next_of("message").await;
    assert_eq!(
        (
            heard["id"].as_i64(),
            heard["user"].as_str(),
            heard["text"].as_str(),
            heard["room"].as_str()
        ),
        (
            Some(legacy_id),
            Some("legacy"),
            Some("hi from an old client"),
            Some("general")
        )
    );
    // The seeds' servers sent it to the *other* users: the sender's own line does not come
    // back (it would print twice), though the next message in the room does.
    let after = ws.say("general", "and the next one").await;
    let next = sio.wait(|line| {
        assert!(
            !(line["event"] == "chat-message" && line["data"]["id"] == legacy_id),
            "{kind:?}: the legacy sender got its own line back: {line}"
        );
        line["event"] == "chat-message"
    });
    assert_eq!(next["data"]["id"], after, "{kind:?}: {next}");
    // The newer `chat-message` event still echoes to its sender, as on /ws.
    let own = sio.call(
        "chat-message",
        json!({"room": "general", "text": "new style"}),
    );
    let echo = sio.event("chat-message");
    assert_eq!(echo["data"]["id"], own["id"], "{kind:?}: {echo}");

    // user-connected / user-disconnected, as the seeds' apps broadcast them.
    let late = WsClient::connect(&app, &app.user_token("late").await).await;
    let mut late = late;
    late.join("general").await;
    assert_eq!(
        sio.event("user-connected")["data"],
        json!({"room": "general", "user": "late"})
    );
    drop(late);
    assert_eq!(
        sio.event("user-disconnected")["data"],
        json!({"room": "general", "user": "late"})
    );
}

async fn logout_disconnects_the_client(kind: Kind) {
    let app = TestApp::spawn().await;
    let token = app.user_token("leaver").await;
    let mut sio = connected(kind, &app, &token, "websocket");
    sio.call("join", json!("general"));
    let logout = app.post_authed("/api/logout", &token, &json!({})).await;
    assert_eq!(logout.status(), 204);
    sio.event("disconnect");
}

/// Every ack callback is answered once: a join or leave that fails gets its error (it was
/// never answered, and the next successful join of that name took the oldest stale ack),
/// and commands without a reply of their own get `{ok: true}`.
async fn every_ack_is_answered_once_even_when_the_command_fails(kind: Kind) {
    let app = TestApp::spawn().await;
    let token = app.user_token("acker").await;
    let mut sio = connected(kind, &app, &token, "websocket");
    for n in 0..40 {
        // Valid names of rooms that do not exist, and names too long to be valid.
        let name = if n % 2 == 0 {
            format!("nosuchroom{n}")
        } else {
            format!("{}{n}", "x".repeat(100))
        };
        let reply = sio.call("join", json!(name));
        assert_eq!(
            reply["error"]["code"], "not_found",
            "{kind:?} join {name}: {reply}"
        );
    }
    let reply = sio.call("join", json!("nosuchroom0"));
    assert_eq!(reply["error"]["code"], "not_found", "{kind:?}: {reply}");
    let left = sio.call("leave", json!("nosuchroom0"));
    assert_eq!(left["error"]["code"], "not_found", "{kind:?}: {left}");
    let joined = sio.call("join", json!("general"));
    assert_eq!(
        (joined["type"].as_str(), joined["room"].as_str()),
        (Some("joined"), Some("general")),
        "{kind:?}: the join's own answer: {joined}"
    );
    assert_eq!(sio.call("typing", json!("general")), json!({"ok": true}));
    let typing_elsewhere = sio.call("typing", json!("nosuchroom0"));
    assert_eq!(
        typing_elsewhere["error"]["code"], "not_found",
        "{typing_elsewhere}"
    );
    let left = sio.call("leave", json!("general"));
    assert_eq!(left["type"], "left", "{kind:?}: {left}");
}

/// A socket's events are applied in the order they were emitted, and each callback gets
/// the reply to its own request: a join then sends emitted without waiting all land (none
/// finds the room not joined), two sends with one `client_id` both get their callback (the
/// same message), two joins of one room both get theirs. A send without a `client_id` is
/// stored without one (the server no longer makes one up to match its ack).
async fn requests_are_applied_in_order_and_each_reply_finds_its_callback(kind: Kind) {
    let app = TestApp::spawn().await;
    let token = app.user_token("orderly").await;
    assert_eq!(app.create_room(&token, "queue", None).await.status(), 201);
    let mut ws = WsClient::connect(&app, &app.user_token("watcher").await).await;
    ws.join("queue").await;
    let mut sio = connected(kind, &app, &token, "websocket");

    let join = sio.call_later("join", json!("queue"));
    let sends: Vec<u64> = (0..10)
        .map(|n| {
            sio.call_later(
                "chat-message",
                json!({"room": "queue", "text": format!("n{n}")}),
            )
        })
        .collect();
    let twice = [
        sio.call_later(
            "chat-message",
            json!({"room": "queue", "text": "once", "client_id": "k"}),
        ),
        sio.call_later(
            "chat-message",
            json!({"room": "queue", "text": "once", "client_id": "k"}),
        ),
    ];
    let joins_again = [
        sio.call_later("join", json!("queue")),
        sio.call_later("join", json!("Queue")),
    ];
    let mut all = vec![join];
    all.extend(&sends);
    all.extend(twice);
    all.extend(joins_again);
    let replies = sio.replies(&all);

    assert_eq!(
        replies[&join]["type"], "joined",
        "{kind:?}: {}",
        replies[&join]
    );
    let mut ids = Vec::new();
    for number in &sends {
        let ack = &replies[number];
        assert!(
            ack["id"].is_i64() && ack["client_id"].is_null(),
            "{kind:?}: {ack}"
        );
        ids.push(ack["id"].as_i64().unwrap());
    }
    assert!(
        ids.is_sorted(),
        "{kind:?}: stored in the order emitted: {ids:?}"
    );
    let (first, second) = (&replies[&twice[0]], &replies[&twice[1]]);
    assert_eq!(
        (first["client_id"].as_str(), first["id"].as_i64()),
        (Some("k"), second["id"].as_i64())
    );
    for number in joins_again {
        assert_eq!(
            replies[&number]["type"], "joined",
            "{kind:?}: {}",
            replies[&number]
        );
    }
    for id in &ids {
        let heard = ws.next_of("message").await;
        assert_eq!(heard["id"].as_i64(), Some(*id));
        assert!(
            heard.get("client_id").is_none_or(Value::is_null),
            "no made-up client_id: {heard}"
        );
    }
}

/// Both transports close a connection when its token expires (`/ws` with 1008, Socket.io
/// by disconnecting it); before, a Socket.io connection outlived its token.
async fn both_transports_end_a_connection_when_its_token_expires(kind: Kind) {
    let app = TestApp::spawn_with(|config| config.token_ttl_secs = 2).await;
    let token = app.user_token("brief").await;
    let mut ws = WsClient::connect(&app, &token).await;
    let mut sio = connected(kind, &app, &token, "websocket");
    assert_eq!(
        ws.ended().await,
        ws_client::Ended::Closed(Some(1008)),
        "/ws"
    );
    sio.event("disconnect");
}

/// A client of the replaced systems connects and only listens: it hears `general` without
/// emitting anything, as their servers broadcast to everyone connected (it heard nothing).
async fn a_client_that_only_listens_hears_general(kind: Kind) {
    let app = TestApp::spawn().await;
    let mut sio = connected(kind, &app, &app.user_token("quiet").await, "websocket");
    // Connected means subscribed: the `joined` for general was queued before `connect`.
    let joined = sio.event("joined");
    assert_eq!(joined["data"]["room"], "general", "{kind:?}: {joined}");
    let mut ws = WsClient::connect(&app, &app.user_token("talker").await).await;
    ws.join("general").await;
    let id = ws.say("general", "is anyone there?").await;
    let heard = sio.event("chat-message");
    assert_eq!(
        (heard["data"]["id"].as_i64(), heard["data"]["user"].as_str()),
        (Some(id), Some("talker")),
        "{kind:?}: {heard}"
    );
}

/// A private room and a DM are, to an outsider's Socket.io client, rooms nobody made; a new
/// DM reaches its people's sockets as `room-added`, and they chat in it.
async fn private_rooms_and_dms_keep_outsiders_out(kind: Kind) {
    let app = TestApp::spawn().await;
    let owner = app.user_token("insider").await;
    let friend = app.user_token("friend").await;
    let outsider = app.user_token("outsider").await;
    let made = app
        .post_authed(
            "/api/rooms",
            &owner,
            &json!({"name": "hideout", "private": true}),
        )
        .await;
    assert_eq!(made.status(), 201);
    let mut nosy = connected(kind, &app, &outsider, "websocket");
    for (event, data) in [
        ("join", json!("hideout")),
        ("typing", json!("hideout")),
        (
            "chat-message",
            json!({"room": "hideout", "text": "let me in"}),
        ),
    ] {
        let reply = nosy.call(event, data);
        assert_eq!(
            reply["error"]["code"], "not_found",
            "{kind:?} {event}: {reply}"
        );
    }

    let mut friend_sio = connected(kind, &app, &friend, "websocket");
    let opened = app
        .post_authed("/api/dms", &owner, &json!({"users": ["friend"]}))
        .await;
    assert_eq!(opened.status(), 201);
    let dm: Value = opened.json().await.unwrap();
    let added = friend_sio.event("room-added");
    assert_eq!(added["data"]["name"], dm["name"], "{kind:?}: {added}");
    assert_eq!(added["data"]["people"], json!(["friend", "insider"]));
    let joined = friend_sio.call("join", dm["name"].clone());
    assert_eq!(joined["type"], "joined", "{kind:?}: {joined}");
    let mut owner_ws = WsClient::connect(&app, &owner).await;
    owner_ws.join(dm["name"].as_str().unwrap()).await;
    let id = owner_ws.say(dm["name"].as_str().unwrap(), "just us").await;
    let heard = friend_sio.event("chat-message");
    assert_eq!(heard["data"]["id"].as_i64(), Some(id), "{kind:?}: {heard}");
    let reply = nosy.call("join", dm["name"].clone());
    assert_eq!(reply["error"]["code"], "not_found", "{kind:?}: {reply}");
}

/// One admission case (`chat::admission`): how the connection is set up, and what each
/// transport must tell its client. The chat layer admits for both; this table shows each
/// transport says the same thing in its own terms.
#[derive(Debug, Clone, Copy)]
enum AdmissionCase {
    /// No token at all (on `/ws`: a first frame that is not `auth`).
    NoToken,
    /// A token not signed with the server's secret.
    ForgedToken,
    /// A token whose session was logged out before connecting.
    LoggedOutBefore,
    /// One connection more than the per-user cap (here 1).
    OverTheCap,
    /// A token that expires while the connection is open.
    TokenExpires,
    /// A logout while the connection is open.
    LoggedOutWhileOpen,
}

/// What a client sees of its connection.
#[derive(Debug, PartialEq)]
enum Seen {
    /// Refused before any chat: `/ws` answers the upgrade with this status.
    UpgradeRefused(u16),
    /// `/ws`: an `error` frame with this code, then a close with this code.
    ErrorThenClose(&'static str, u16),
    /// `/ws`: admitted (`ready`), later closed with this code.
    ReadyThenClose(u16),
    /// Socket.io: `connect_error` whose message says this.
    ConnectError(&'static str),
    /// Socket.io: connected, later disconnected by the server.
    ConnectThenDisconnect,
}

impl AdmissionCase {
    const ALL: [Self; 6] = [
        Self::NoToken,
        Self::ForgedToken,
        Self::LoggedOutBefore,
        Self::OverTheCap,
        Self::TokenExpires,
        Self::LoggedOutWhileOpen,
    ];

    /// What `/ws` and Socket.io must show.
    fn expected(self) -> (Seen, Seen) {
        match self {
            Self::NoToken => (
                Seen::ErrorThenClose("bad_request", 1008),
                Seen::ConnectError("authentication required"),
            ),
            Self::ForgedToken | Self::LoggedOutBefore => (
                Seen::UpgradeRefused(401),
                Seen::ConnectError("invalid, expired or revoked token"),
            ),
            Self::OverTheCap => (
                Seen::ErrorThenClose("limit_reached", 1008),
                Seen::ConnectError("connections"),
            ),
            Self::TokenExpires | Self::LoggedOutWhileOpen => {
                (Seen::ReadyThenClose(1008), Seen::ConnectThenDisconnect)
            }
        }
    }

    async fn app(self) -> TestApp {
        TestApp::spawn_with(|config| {
            config.max_connections_per_user = 1;
            if matches!(self, Self::TokenExpires) {
                config.token_ttl_secs = 2;
            }
        })
        .await
    }

    /// The token to connect with, after whatever must happen first.
    async fn token(self, app: &TestApp, name: &str) -> Option<String> {
        let token = app.user_token(name).await;
        match self {
            Self::NoToken => None,
            Self::ForgedToken => {
                // A well-formed token for a user id that exists, signed with another secret.
                let other = secrecy::SecretString::from(
                    "another-secret-that-is-at-least-32-bytes".to_owned(),
                );
                let keys =
                    sala_server::auth::token::TokenKeys::new(&other, chrono::Duration::hours(1));
                let (forged, _) = keys
                    .issue(1, "forged-session", chrono::Utc::now())
                    .expect("a token");
                Some(forged)
            }
            Self::LoggedOutBefore => {
                let logout = app.post_authed("/api/logout", &token, &json!({})).await;
                assert_eq!(logout.status(), 204);
                Some(token)
            }
            Self::OverTheCap | Self::TokenExpires | Self::LoggedOutWhileOpen => Some(token),
        }
    }

    /// Once connected: what ends the connection, if the case has something.
    async fn after_connecting(self, app: &TestApp, token: Option<&str>) {
        if let (Self::LoggedOutWhileOpen, Some(token)) = (self, token) {
            let logout = app.post_authed("/api/logout", token, &json!({})).await;
            assert_eq!(logout.status(), 204);
        }
    }

    async fn over_ws(self) -> Seen {
        let app = self.app().await;
        let token = self.token(&app, "wsuser").await;
        // Over the cap: the one allowed connection is held while the next one tries.
        let _held = match (self, &token) {
            (Self::OverTheCap, Some(token)) => Some(WsClient::connect(&app, token).await),
            _ => None,
        };
        let mut client = match WsClient::connect_raw(&app, token.as_deref()).await {
            Ok(client) => client,
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                return Seen::UpgradeRefused(response.status().as_u16());
            }
            Err(err) => panic!("{self:?}: the upgrade failed oddly: {err}"),
        };
        if token.is_none() {
            client
                .send(json!({"type": "join", "room": "general"}))
                .await;
        }
        let first = client.next_frame().await;
        if first["type"] == "ready" {
            self.after_connecting(&app, token.as_deref()).await;
        }
        let code = match client.ended().await {
            ws_client::Ended::Closed(Some(code)) => code,
            other => panic!("{self:?}: /ws ended without a close code: {other:?}"),
        };
        match first["type"].as_str() {
            Some("ready") => Seen::ReadyThenClose(code),
            Some("error") => {
                let error = match first["code"].as_str() {
                    Some("bad_request") => "bad_request",
                    Some("limit_reached") => "limit_reached",
                    other => panic!("{self:?}: unexpected error code {other:?}: {first}"),
                };
                Seen::ErrorThenClose(error, code)
            }
            _ => panic!("{self:?}: unexpected first frame {first}"),
        }
    }

    async fn over_socket_io(self, kind: Kind) -> Seen {
        let app = self.app().await;
        let token = self.token(&app, "siouser").await;
        let _held = match (self, &token) {
            (Self::OverTheCap, Some(token)) => Some(connected(kind, &app, token, "websocket")),
            _ => None,
        };
        let mut client = SioClient::start(kind, &app, token.as_deref(), "websocket");
        let outcome =
            client.wait(|line| line["event"] == "connect" || line["event"] == "connect_error");
        if outcome["event"] == "connect_error" {
            let message = outcome["message"].as_str().unwrap_or_default().to_owned();
            let said = [
                "authentication required",
                "invalid, expired or revoked token",
                "connections",
            ]
            .into_iter()
            .find(|expected| message.contains(expected))
            .unwrap_or_else(|| panic!("{self:?} {kind:?}: connect_error says {message:?}"));
            return Seen::ConnectError(said);
        }
        self.after_connecting(&app, token.as_deref()).await;
        client.event("disconnect");
        Seen::ConnectThenDisconnect
    }
}

/// Edits, reactions, replies and deletions from a Socket.io client (issue 19): each answered
/// on its ack callback (with the new `seq`), heard as `message-updated` by the client and
/// by a `/ws` client in the room; a bad one answered with its error.
async fn changes_to_messages_from_socket_io(kind: Kind) {
    let app = TestApp::spawn().await;
    let sio_token = app.user_token("changer").await;
    let mut ws = WsClient::connect(&app, &app.user_token("watcher").await).await;
    ws.join("general").await;
    let mut sio = connected(kind, &app, &sio_token, "websocket");
    sio.call("join", json!("general"));
    let id = sio.call("chat-message", json!({"room": "general", "text": "frist"}))["id"]
        .as_i64()
        .unwrap();
    assert_eq!(ws.next_of("message").await["id"].as_i64(), Some(id));

    let edited = sio.call(
        "edit",
        json!({"room": "general", "id": id, "text": "first", "client_id": "e-1"}),
    );
    assert_eq!(
        (edited["id"].as_i64(), edited["client_id"].as_str()),
        (Some(id), Some("e-1")),
        "{edited}"
    );
    let seq = edited["seq"].as_i64().expect("a position");
    let heard = sio.event("message-updated")["data"].clone();
    assert_eq!(
        (heard["change"].as_str(), heard["message"]["text"].as_str()),
        (Some("edited"), Some("first"))
    );
    let over_ws = ws.next_of("message_updated").await;
    assert_eq!(over_ws["message"]["seq"].as_i64(), Some(seq));

    let reacted = sio.call("react", json!({"room": "general", "id": id, "emoji": "👍"}));
    assert!(reacted["seq"].as_i64() > Some(seq), "{reacted}");
    let over_ws = ws.next_of("message_updated").await;
    assert_eq!(
        over_ws["message"]["reactions"],
        json!([{"emoji": "👍", "count": 1, "users": ["changer"]}])
    );
    sio.call(
        "unreact",
        json!({"room": "general", "id": id, "emoji": "👍"}),
    );
    assert_eq!(ws.next_of("message_updated").await["change"], "reacted");

    let reply = sio.call(
        "chat-message",
        json!({"room": "general", "text": "me too", "reply_to": id}),
    );
    assert!(reply["id"].is_i64(), "{reply}");
    assert_eq!(ws.next_of("message").await["reply_to"].as_i64(), Some(id));
    assert_eq!(ws.next_of("message_updated").await["change"], "replied");

    for (event, data) in [
        (
            "react",
            json!({"room": "general", "id": id, "emoji": "nope"}),
        ),
        (
            "edit",
            json!({"room": "general", "id": 999_999, "text": "x"}),
        ),
        ("edit", json!({"room": "general", "id": "one", "text": "x"})),
    ] {
        let refused = sio.call(event, data.clone());
        assert!(
            refused["error"]["code"].is_string(),
            "{event} {data}: {refused}"
        );
    }
    let deleted = sio.call("delete", json!({"room": "general", "id": id}));
    assert!(deleted["seq"].is_i64(), "{deleted}");
    let over_ws = ws.next_of("message_updated").await;
    assert_eq!(
        (
            over_ws["change"].as_str(),
            over_ws["message"]["deleted"].as_bool()
        ),
        (Some("deleted"), Some(true))
    );
    sio.close();
}

/// Files from Socket.io (issue 21): uploaded over HTTP, sent in `chat-message` with no
/// text, heard with their attachments by both transports; a file that is not the
/// sender's is refused in the ack.
async fn files_sent_from_socket_io(kind: Kind) {
    let app = TestApp::spawn().await;
    let sio_token = app.user_token("sender").await;
    let ws_token = app.user_token("watcher").await;
    let mut ws = WsClient::connect(&app, &ws_token).await;
    ws.join("general").await;
    let mut sio = connected(kind, &app, &sio_token, "websocket");
    sio.call("join", json!("general"));
    let upload = |token: &str| {
        app.client
            .post(app.url("/api/rooms/general/files?name=notes.txt"))
            .bearer_auth(token)
            .body("meeting notes")
            .send()
    };
    let uploaded: Value = upload(&sio_token).await.unwrap().json().await.unwrap();
    let file = uploaded["attachment"]["id"]
        .as_str()
        .expect("uploaded")
        .to_owned();
    let ack = sio.call(
        "chat-message",
        json!({"room": "general", "attachments": [file], "client_id": "f-1"}),
    );
    let id = ack["id"].as_i64().unwrap_or_else(|| panic!("{ack}"));
    let echo = sio.event("chat-message")["data"].clone();
    assert_eq!(echo["attachments"][0]["name"], "notes.txt", "{echo}");
    let heard = ws.next_of("message").await;
    assert_eq!(heard["id"].as_i64(), Some(id));
    assert_eq!(heard["attachments"], echo["attachments"]);
    assert_eq!(heard["attachments"][0]["url"], format!("/api/files/{file}"));

    let theirs: Value = upload(&ws_token).await.unwrap().json().await.unwrap();
    let refused = sio.call(
        "chat-message",
        json!({"room": "general", "text": "x", "attachments": [theirs["attachment"]["id"]]}),
    );
    assert_eq!(refused["error"]["code"], "invalid", "{refused}");
    let malformed = sio.call(
        "chat-message",
        json!({"room": "general", "attachments": "nope"}),
    );
    assert!(malformed["error"]["code"].is_string(), "{malformed}");
    sio.close();
}

/// Every admission case against `/ws` and against Socket.io (both real clients), from one
/// table: the same rule, told in each transport's terms.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs node's socket.io-client and python-socketio (scripts/test.sh installs them)"]
async fn admission_is_one_rule_for_both_transports() {
    let _turn = ONE_AT_A_TIME.lock().await;
    for case in AdmissionCase::ALL {
        let (ws, socket_io) = case.expected();
        assert_eq!(case.over_ws().await, ws, "{case:?} over /ws");
        for kind in [Kind::Node, Kind::Python] {
            assert_eq!(
                case.over_socket_io(kind).await,
                socket_io,
                "{case:?} over Socket.io ({kind:?})"
            );
        }
    }
}

macro_rules! both_clients {
    ($($name:ident => $scenario:ident($($arg:expr),*);)*) => {$(
        #[tokio::test(flavor = "multi_thread")]
        #[ignore = "needs node's socket.io-client and python-socketio (scripts/test.sh installs them)"]
        async fn $name() {
            let _turn = ONE_AT_A_TIME.lock().await;
            for kind in [Kind::Node, Kind::Python] {
                $scenario(kind $(, $arg)*).await;
            }
        }
    )*};
}

both_clients! {
    a_client_without_a_good_token_is_refused => refused_without_a_good_token();
    socket_io_and_ws_clients_chat_with_acks => chat_with_acks_and_with_a_ws_client("websocket");
    long_polling_works_too => chat_with_acks_and_with_a_ws_client("polling");
    bad_input_gets_an_error_event => bad_input_gets_an_error_and_the_socket_stays_usable();
    send_chat_message_goes_to_general => the_legacy_string_event_goes_to_general();
    logout_disconnects_socket_io_clients => logout_disconnects_the_client();
    every_ack_callback_is_answered_once => every_ack_is_answered_once_even_when_the_command_fails();
    an_expired_token_ends_the_connection_on_both_transports => both_transports_end_a_connection_when_its_token_expires();
    a_listening_client_is_subscribed_to_general => a_client_that_only_listens_hears_general();
    private_rooms_and_dms_keep_outsiders_out_of_socket_io => private_rooms_and_dms_keep_outsiders_out();
    requests_are_applied_in_order_and_each_ack_is_addressed => requests_are_applied_in_order_and_each_reply_finds_its_callback();
    edits_reactions_replies_and_deletions_from_socket_io => changes_to_messages_from_socket_io();
    files_travel_with_socket_io_messages => files_sent_from_socket_io();
}

/// `auth: {token, join_general: false}` opts out: the client hears `general` only once it
/// joins (node's client; the first message it hears is the one sent after its join).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs node's socket.io-client (scripts/test.sh installs it)"]
async fn a_client_may_opt_out_of_general() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let app = TestApp::spawn().await;
    let token = app.user_token("picky").await;
    let mut sio = SioClient::start_with_auth(
        Kind::Node,
        &app,
        Some(&token),
        "websocket",
        &json!({"join_general": false}),
    );
    assert_eq!(
        sio.wait(|line| line["event"] == "connect" || line["event"] == "connect_error")["event"],
        "connect"
    );
    let mut ws = WsClient::connect(&app, &app.user_token("speaker").await).await;
    ws.join("general").await;
    let before = ws.say("general", "before the join").await;
    let joined = sio.call("join", json!("general"));
    assert_eq!(joined["type"], "joined", "{joined}");
    let after = ws.say("general", "after the join").await;
    let first = sio.wait(|line| line["event"] == "chat-message");
    assert_eq!(
        first["data"]["id"], after,
        "nothing of {before} before the join: {first}"
    );
}

/// Engine.IO's ping interval and timeout are flags, as `/ws`'s heartbeat is: the
/// handshake tells the client the configured values.
#[tokio::test]
async fn the_socket_io_heartbeat_is_configurable() {
    let app = TestApp::spawn_with(|config| {
        config.socketio_ping_interval_secs = 3;
        config.socketio_ping_timeout_secs = 2;
    })
    .await;
    let open = app.get_text("/socket.io/?EIO=4&transport=polling").await;
    let open: Value = serde_json::from_str(open.trim_start_matches('0')).unwrap();
    assert_eq!(
        (open["pingInterval"].as_u64(), open["pingTimeout"].as_u64()),
        (Some(3000), Some(2000)),
        "{open}"
    );
}

/// Socket.io clients take part in a cluster through the same path (SPEC §7): a Socket.io
/// client on one node and a `/ws` client on another, sharing PostgreSQL and Redis.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs node's socket.io-client, PostgreSQL and Redis (scripts/test.sh provides them)"]
async fn a_socket_io_client_chats_with_a_ws_client_on_another_node() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let database = sala_store_postgres::test_support::TempDatabase::create().await;
    let redis = std::env::var("SALA_TEST_REDIS_URL")
        .expect("SALA_TEST_REDIS_URL is not set: run scripts/test.sh, which starts Redis");
    let prefix = format!("test-sio-{}", std::process::id());
    let cluster_node = |config: &mut sala_server::config::Config| {
        config.database_url = Some(database.url.clone().into());
        config.redis_url = Some(redis.clone().into());
        config.redis_prefix = prefix.clone();
    };
    let node_a = TestApp::spawn_with(cluster_node).await;
    let node_b = TestApp::spawn_with(cluster_node).await;

    let mut ws = WsClient::connect(&node_a, &node_a.user_token("wsonA").await).await;
    ws.join("general").await;
    let sio_token = node_b.user_token("sioOnB").await;
    let mut sio = connected(Kind::Node, &node_b, &sio_token, "websocket");
    let joined = sio.call("join", json!("general"));
    assert_eq!(joined["type"], "joined", "{joined}");
    let presence = ws.next_of("presence").await;
    assert_eq!(
        (presence["user"].as_str(), presence["event"].as_str()),
        (Some("sioOnB"), Some("joined"))
    );

    let ack = sio.call(
        "chat-message",
        json!({"room": "general", "text": "from socket.io on B", "client_id": "x-1"}),
    );
    let id = ack["id"].as_i64().expect("an id");
    let heard = ws.next_of("message").await;
    assert_eq!(
        (heard["id"].as_i64(), heard["text"].as_str()),
        (Some(id), Some("from socket.io on B"))
    );
    let from_ws = ws.say("general", "from /ws on A").await;
    let heard =
        sio.wait(|line| line["event"] == "chat-message" && line["data"]["id"] == from_ws)["data"]
            .clone();
    assert_eq!(heard["user"], "wsonA");

    sio.close();
    let gone = ws.next_of("presence").await;
    assert_eq!(
        (gone["user"].as_str(), gone["event"].as_str()),
        (Some("sioOnB"), Some("disconnected"))
    );
    drop((node_a, node_b));
    database.drop_now().await;
}

/// A DM opened through one node reaches its people's connections on another at once, and a
/// block set through one node refuses a send through the other.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs node's socket.io-client, PostgreSQL and Redis (scripts/test.sh provides them)"]
async fn a_dm_opened_on_one_node_reaches_its_people_on_another() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let database = sala_store_postgres::test_support::TempDatabase::create().await;
    let redis = std::env::var("SALA_TEST_REDIS_URL")
        .expect("SALA_TEST_REDIS_URL is not set: run scripts/test.sh, which starts Redis");
    let prefix = format!("test-dm-{}", std::process::id());
    let cluster_node = |config: &mut sala_server::config::Config| {
        config.database_url = Some(database.url.clone().into());
        config.redis_url = Some(redis.clone().into());
        config.redis_prefix = prefix.clone();
    };
    let node_a = TestApp::spawn_with(cluster_node).await;
    let node_b = TestApp::spawn_with(cluster_node).await;
    let opener = node_a.user_token("openerA").await;
    let reader = node_b.user_token("readerB").await;
    let mut on_b = WsClient::connect(&node_b, &reader).await;
    let mut sio_on_b = connected(Kind::Node, &node_b, &reader, "websocket");

    let opened = node_a
        .post_authed("/api/dms", &opener, &json!({"users": ["readerB"]}))
        .await;
    assert_eq!(opened.status(), 201);
    let dm: Value = opened.json().await.unwrap();
    let name = dm["name"].as_str().unwrap().to_owned();
    let added = on_b.next_of("room_added").await;
    assert_eq!(added["room"]["name"], name.as_str(), "{added}");
    let added = sio_on_b.event("room-added");
    assert_eq!(added["data"]["name"], name.as_str(), "{added}");

    on_b.join(&name).await;
    let mut on_a = WsClient::connect(&node_a, &opener).await;
    on_a.join(&name).await;
    let id = on_a.say(&name, "across nodes").await;
    let heard = on_b.next_of("message").await;
    assert_eq!(heard["id"].as_i64(), Some(id), "{heard}");

    // The reader blocks the opener on node B; the opener's next send on node A is refused.
    let blocked = node_b
        .client
        .put(node_b.url("/api/me/blocks/openerA"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(blocked.status(), 204);
    on_a.send(json!({"type": "send", "room": name, "text": "still there?", "client_id": "x"}))
        .await;
    let refused = on_a.next_of("error").await;
    assert_eq!(refused["code"], "forbidden", "{refused}");
    drop((node_a, node_b));
    database.drop_now().await;
}

/// A ban through one node takes the room from all three of the user's connections, two on
/// the other node, at once, and a message sent after it reaches none of them.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs node's socket.io-client, PostgreSQL and Redis (scripts/test.sh provides them)"]
async fn a_ban_on_one_node_removes_the_user_from_every_node() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let database = sala_store_postgres::test_support::TempDatabase::create().await;
    let redis = std::env::var("SALA_TEST_REDIS_URL")
        .expect("SALA_TEST_REDIS_URL is not set: run scripts/test.sh, which starts Redis");
    let prefix = format!("test-ban-{}", std::process::id());
    let cluster_node = |config: &mut sala_server::config::Config| {
        config.database_url = Some(database.url.clone().into());
        config.redis_url = Some(redis.clone().into());
        config.redis_prefix = prefix.clone();
    };
    let node_a = TestApp::spawn_with(cluster_node).await;
    let node_b = TestApp::spawn_with(cluster_node).await;
    let owner = node_a.user_token("banner").await;
    let target = node_a.user_token("banned").await;
    assert_eq!(
        node_a.create_room(&owner, "arena", None).await.status(),
        201
    );
    let mut owner_ws = WsClient::connect(&node_a, &owner).await;
    owner_ws.join("arena").await;
    let mut theirs = Vec::new();
    for node in [&node_a, &node_b, &node_b] {
        let mut ws = WsClient::connect(node, &target).await;
        ws.join("arena").await;
        theirs.push(ws);
    }
    let banned = node_a
        .client
        .put(node_a.url("/api/rooms/arena/bans/banned"))
        .bearer_auth(&owner)
        .json(&json!({"reason": "enough"}))
        .send()
        .await
        .unwrap();
    assert_eq!(banned.status(), 204);
    for ws in &mut theirs {
        let told = ws.next_of("member").await;
        assert_eq!(told["change"], "banned", "{told}");
        assert_eq!(ws.next_of("left").await["room"], "arena");
    }
    assert_eq!(owner_ws.next_of("member").await["user"], "banned");
    let after = owner_ws.say("arena", "after the ban").await;
    for ws in &mut theirs {
        // A ping answered means everything queued before it came out: no message.
        ws.send(json!({"type": "ping"})).await;
        loop {
            let frame = ws.next_frame().await;
            assert_ne!(
                frame["id"].as_i64(),
                Some(after),
                "the banned user heard {frame}"
            );
            if frame["type"] == "pong" {
                break;
            }
        }
    }
    drop((node_a, node_b));
    database.drop_now().await;
}

/// Changes to messages across nodes (issue 19): two writers on two nodes change one room's
/// messages at once; a `/ws` client on the other node hears every change, and a client
/// that comes back through that node with `since` gets exactly the room read from scratch.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs PostgreSQL and Redis (scripts/test.sh starts them)"]
async fn changes_on_two_nodes_reach_the_other_and_a_resume_misses_none() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let database = sala_store_postgres::test_support::TempDatabase::create().await;
    let redis = std::env::var("SALA_TEST_REDIS_URL")
        .expect("SALA_TEST_REDIS_URL is not set: run scripts/test.sh, which starts Redis");
    let prefix = format!("test-changes-{}", std::process::id());
    let cluster_node = |config: &mut sala_server::config::Config| {
        config.database_url = Some(database.url.clone().into());
        config.redis_url = Some(redis.clone().into());
        config.redis_prefix = prefix.clone();
    };
    let node_a = TestApp::spawn_with(cluster_node).await;
    let node_b = TestApp::spawn_with(cluster_node).await;
    let ann = node_a.user_token("ann-a").await;
    let bob = node_a.user_token("bob-b").await;
    let cy = node_a.user_token("cy-watch").await;
    let mut on_a = WsClient::connect(&node_a, &ann).await;
    let mut on_b = WsClient::connect(&node_b, &bob).await;
    let mut watcher = WsClient::connect(&node_b, &cy).await;
    for ws in [&mut on_a, &mut on_b, &mut watcher] {
        ws.join("general").await;
    }
    let mut ids = Vec::new();
    for n in 0..6_u32 {
        let (ws, who) = if n.is_multiple_of(2) {
            (&mut on_a, "a")
        } else {
            (&mut on_b, "b")
        };
        ws.send(json!({"type": "send", "room": "general", "text": format!("{who}{n}")}))
            .await;
        ids.push(ws.until("ack").await["id"].as_i64().unwrap());
    }
    // The watcher's position, then it goes away.
    let mut since = 0;
    while since < *ids.last().unwrap() {
        let frame = watcher.next_frame().await;
        since = since.max(frame["id"].as_i64().unwrap_or(0));
    }
    drop(watcher);
    // Both nodes change the same messages at once.
    for id in &ids {
        on_a.send(json!({"type": "react", "room": "general", "id": id, "emoji": "👍"}))
            .await;
        on_b.send(json!({"type": "react", "room": "general", "id": id, "emoji": "🎉"}))
            .await;
    }
    on_a.send(json!({"type": "edit", "room": "general", "id": ids[0], "text": "a0 edited"}))
        .await;
    on_b.send(json!({"type": "delete", "room": "general", "id": ids[1]}))
        .await;
    // Every change answered; node A's edit heard live on node B. When B's deletion of
    // ids[1] commits before A's reaction to it, that reaction is refused as `not_found`
    // (a deleted message takes no reaction): once at most, and only on A.
    for (ws, wants_edit) in [(&mut on_a, false), (&mut on_b, true)] {
        let (mut answered, mut refused, mut heard_edit) = (0, 0, !wants_edit);
        while answered < ids.len() + 1 || !heard_edit {
            let frame = ws.next_frame().await;
            if frame["type"] == "error" {
                assert!(!wants_edit && frame["code"] == "not_found", "{frame}");
                refused += 1;
                assert_eq!(
                    refused, 1,
                    "only the reaction to the deleted message: {frame}"
                );
            }
            if frame["type"] == "ack" || frame["type"] == "error" {
                answered += 1;
            }
            if frame["type"] == "message_updated" && frame["change"] == "edited" {
                assert_eq!(frame["message"]["text"], "a0 edited");
                heard_edit = true;
            }
        }
    }
    // The watcher comes back through node B.
    let mut watcher = WsClient::connect(&node_b, &cy).await;
    watcher
        .send(json!({"type": "join", "room": "general", "since": since}))
        .await;
    let joined = watcher.next_of("joined").await;
    let updated: Vec<Value> = joined["updated"].as_array().unwrap().clone();
    let page: Value = node_b
        .get("/api/rooms/general/messages", &cy)
        .await
        .json()
        .await
        .unwrap();
    let scratch: Vec<&Value> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| ids.contains(&m["id"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        updated.len(),
        ids.len(),
        "every message changed once: {joined}"
    );
    let mut resumed: Vec<&Value> = updated.iter().collect();
    resumed.sort_by_key(|m| m["id"].as_i64());
    assert_eq!(resumed, scratch, "the resume holds the room as it is");
    let reactions = &scratch[2]["reactions"];
    assert_eq!(
        reactions.as_array().unwrap().len(),
        2,
        "both nodes' reactions: {reactions}"
    );
    drop((node_a, node_b));
    database.drop_now().await;
}
