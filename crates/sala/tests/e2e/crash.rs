//! Durability against crashes (SPEC §3: "a crash after the ack loses nothing"): the real
//! `sala` binary is killed with SIGKILL at random moments while 20 clients send, 22 times
//! in a row, each time restarted on the same data dir. Clients behave as a real one must:
//! after each restart they reconnect and resend every message they have no ack for, with
//! the same `client_id`.
//!
//! At the end every acked message is in the history exactly once with the id its ack gave,
//! every message ever sent is stored exactly once, ids are unique and increasing per room,
//! and each connection saw its room's messages in increasing id order.
//!
//! The moments are random: the seed is printed, and `SALA_CRASH_SEED=N` replays a run.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::common::{Server, Socket, WAIT, history, next_of, open, token};

const CLIENTS: usize = 20;
const KILLS: usize = 22;
const ROOMS: [&str; 2] = ["general", "second"];
/// Sends a client pipelines before it waits for acks.
const WINDOW: usize = 8;
/// Most messages one client sends over the whole run; the run ends well before.
const MAX_PER_CLIENT: usize = 5000;

/// A small xorshift generator: enough to pick kill moments, and reproducible by seed.
struct Moments(u64);

impl Moments {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

/// What one client knows, carried from one server life to the next.
#[derive(Debug, Default)]
struct Client {
    user: usize,
    room: &'static str,
    /// The next new message number.
    next: usize,
    /// Sent, no ack seen: resent after every restart.
    unacked: BTreeSet<usize>,
    /// Message number → the id its ack gave.
    acked: BTreeMap<usize, i64>,
}

impl Client {
    fn client_id(&self, n: usize) -> String {
        format!("c{}-{n}", self.user)
    }

    fn frame(&self, n: usize) -> Message {
        Message::text(
            json!({"type": "send", "room": self.room, "text": format!("c{} n{n}", self.user),
                "client_id": self.client_id(n)})
            .to_string(),
        )
    }
}

/// Connects and joins the client's room; returns `None` if the server is gone.
async fn join(base: &str, token: &str, room: &str) -> Option<Socket> {
    let mut socket = open(base, token).await;
    let join = json!({"type": "join", "room": room}).to_string();
    socket.send(Message::text(join)).await.ok()?;
    loop {
        let Ok(Some(Ok(Message::Text(text)))) = tokio::time::timeout(WAIT, socket.next()).await
        else {
            return None;
        };
        if serde_json::from_str::<Value>(text.as_str()).ok()?["type"] == "joined" {
            return Some(socket);
        }
    }
}

/// One server life for one client: resend what is unacked, then keep `WINDOW` new sends in
/// flight until the connection dies. Reports each ack on `acks`.
async fn live(
    mut client: Client,
    base: String,
    token: String,
    acks: mpsc::UnboundedSender<()>,
) -> Client {
    let Some(socket) = join(&base, &token, client.room).await else {
        return client;
    };
    let (mut sink, mut stream) = socket.split();
    let mut in_flight: BTreeSet<usize> = client.unacked.clone();
    for n in client.unacked.clone() {
        if sink.send(client.frame(n)).await.is_err() {
            return client;
        }
    }
    let mut last_seen = 0;
    loop {
        while in_flight.len() < WINDOW && client.next < MAX_PER_CLIENT {
            let n = client.next;
            client.next += 1;
            client.unacked.insert(n);
            in_flight.insert(n);
            if sink.send(client.frame(n)).await.is_err() {
                return client;
            }
        }
        let Ok(Some(Ok(message))) = tokio::time::timeout(WAIT, stream.next()).await else {
            return client; // Killed: the connection drops.
        };
        let Message::Text(text) = message else {
            continue;
        };
        let frame: Value = serde_json::from_str(text.as_str()).unwrap();
        match frame["type"].as_str() {
            Some("ack") => {
                let client_id = frame["client_id"].as_str().unwrap();
                let n: usize = client_id.rsplit('-').next().unwrap().parse().unwrap();
                let id = frame["id"].as_i64().unwrap();
                if let Some(earlier) = client.acked.insert(n, id) {
                    assert_eq!(earlier, id, "{client_id} acked twice with different ids");
                }
                client.unacked.remove(&n);
                in_flight.remove(&n);
                let _ = acks.send(());
            }
            Some("message") => {
                let id = frame["id"].as_i64().unwrap();
                assert!(id > last_seen, "{}: id {id} after {last_seen}", client.room);
                last_seen = id;
            }
            Some("error") => panic!("client {}: {frame}", client.user),
            _ => {}
        }
    }
}

#[tokio::test]
async fn acked_messages_survive_repeated_sigkills_and_resends_do_not_duplicate() {
    let seed = std::env::var("SALA_CRASH_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("crash moments: SALA_CRASH_SEED={seed}");
    let mut moments = Moments(seed);

    let data_dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::builder().timeout(WAIT).build().unwrap();
    let mut server = Server::start(data_dir.path(), &[]);
    let first = token(&http, &server.base, "crash0", true).await;
    let made = http
        .post(format!("{}/api/rooms", server.base))
        .bearer_auth(&first)
        .json(&json!({"name": ROOMS[1]}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    let mut tokens = vec![first];
    for user in 1..CLIENTS {
        tokens.push(token(&http, &server.base, &format!("crash{user}"), true).await);
    }
    let mut clients: Vec<Client> = (0..CLIENTS)
        .map(|user| Client {
            user,
            room: ROOMS[user % ROOMS.len()],
            ..Client::default()
        })
        .collect();

    for kill in 0..KILLS {
        let (acks_tx, mut acks) = mpsc::unbounded_channel();
        let running: Vec<_> = clients
            .drain(..)
            .map(|client| {
                let token = tokens[client.user].clone();
                tokio::spawn(live(client, server.base.clone(), token, acks_tx.clone()))
            })
            .collect();
        drop(acks_tx);
        // A random moment: after 1 to 120 acks of this life, then 0 to 20 ms later.
        let wanted = 1 + moments.next(120);
        for _ in 0..wanted {
            tokio::time::timeout(WAIT, acks.recv())
                .await
                .expect("acks keep coming")
                .expect("clients are alive");
        }
        tokio::time::sleep(std::time::Duration::from_millis(moments.next(21))).await;
        server.kill();
        for client in running {
            clients.push(client.await.unwrap());
        }
        server = Server::start(data_dir.path(), &[]);
        eprintln!(
            "kill {}: after {wanted} acks; {} acked, {} unacked so far",
            kill + 1,
            clients.iter().map(|c| c.acked.len()).sum::<usize>(),
            clients.iter().map(|c| c.unacked.len()).sum::<usize>(),
        );
    }

    // The last life: every client resends what it has no ack for, plus every tenth acked
    // message (as a client that lost those acks would), and waits for all of them.
    let base = server.base.clone();
    for client in &mut clients {
        let mut socket = join(&base, &tokens[client.user], client.room)
            .await
            .expect("the restarted server serves");
        let again: BTreeSet<usize> = client
            .unacked
            .iter()
            .copied()
            .chain(client.acked.keys().copied().filter(|n| n % 10 == 0))
            .collect();
        for n in &again {
            socket.send(client.frame(*n)).await.unwrap();
        }
        let mut waiting = again.clone();
        while !waiting.is_empty() {
            let message = tokio::time::timeout(WAIT, socket.next())
                .await
                .expect("ack in time")
                .unwrap()
                .unwrap();
            let Message::Text(text) = message else {
                continue;
            };
            let frame: Value = serde_json::from_str(text.as_str()).unwrap();
            if frame["type"] == "ack" {
                let n: usize = frame["client_id"]
                    .as_str()
                    .unwrap()
                    .rsplit('-')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
                let id = frame["id"].as_i64().unwrap();
                if let Some(earlier) = client.acked.get(&n) {
                    assert_eq!(
                        *earlier, id,
                        "a resend of an acked message acks its first id"
                    );
                }
                client.acked.insert(n, id);
                client.unacked.remove(&n);
                waiting.remove(&n);
            }
        }
    }

    let mut stored_by_client_id: HashMap<String, i64> = HashMap::new();
    for room in ROOMS {
        let stored = history(&http, &base, &tokens[0], room).await;
        let ids: Vec<i64> = stored.iter().map(|m| m["id"].as_i64().unwrap()).collect();
        assert!(
            ids.windows(2).all(|pair| pair[0] < pair[1]),
            "{room}: ids strictly increase"
        );
        for message in &stored {
            let client_id = message["client_id"].as_str().unwrap().to_owned();
            let id = message["id"].as_i64().unwrap();
            assert!(
                stored_by_client_id.insert(client_id.clone(), id).is_none(),
                "{client_id} stored twice"
            );
        }
    }
    let sent: usize = clients.iter().map(|client| client.next).sum();
    let acked: usize = clients.iter().map(|client| client.acked.len()).sum();
    assert_eq!(acked, sent, "every message sent was acked in the end");
    assert_eq!(
        stored_by_client_id.len(),
        sent,
        "every message sent is stored exactly once"
    );
    for client in &clients {
        for (n, id) in &client.acked {
            assert_eq!(
                stored_by_client_id.get(&client.client_id(*n)),
                Some(id),
                "acked {} is stored with the id its ack gave",
                client.client_id(*n)
            );
        }
    }
    eprintln!("{KILLS} kills, {sent} messages sent, all stored once");
}

/// What one client saw of a server life that ended with SIGTERM.
struct Drained {
    acked: BTreeMap<usize, i64>,
    unacked: BTreeSet<usize>,
    seen: Vec<i64>,
    close: Option<u16>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_traffic_closes_with_1001_and_clients_resume_without_a_gap() {
    const SENDERS: usize = 10;
    const PER_SENDER: usize = 300;
    let data_dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::builder().timeout(WAIT).build().unwrap();
    let mut server = Server::start(data_dir.path(), &[]);
    let mut tokens = Vec::new();
    for user in 0..SENDERS {
        tokens.push(token(&http, &server.base, &format!("term{user}"), true).await);
    }
    let (acks_tx, mut acks) = mpsc::unbounded_channel::<()>();
    let mut running = Vec::new();
    for (user, token) in tokens.iter().enumerate() {
        let client = Client {
            user,
            room: "general",
            ..Client::default()
        };
        let socket = join(&server.base, token, "general").await.unwrap();
        let acks_tx = acks_tx.clone();
        running.push(tokio::spawn(async move {
            let (mut sink, mut stream) = socket.split();
            let mut drained = Drained {
                acked: BTreeMap::new(),
                unacked: (0..PER_SENDER).collect(),
                seen: Vec::new(),
                close: None,
            };
            let sending = async {
                for n in 0..PER_SENDER {
                    if sink.send(client.frame(n)).await.is_err() {
                        return;
                    }
                    tokio::task::yield_now().await;
                }
            };
            let reading = async {
                while let Ok(Some(Ok(message))) = tokio::time::timeout(WAIT, stream.next()).await {
                    match message {
                        Message::Text(text) => {
                            let frame: Value = serde_json::from_str(text.as_str()).unwrap();
                            match frame["type"].as_str() {
                                Some("ack") => {
                                    let n: usize = frame["client_id"].as_str().unwrap()
                                        [format!("c{user}-").len()..]
                                        .parse()
                                        .unwrap();
                                    drained.acked.insert(n, frame["id"].as_i64().unwrap());
                                    drained.unacked.remove(&n);
                                    let _ = acks_tx.send(());
                                }
                                Some("message") => drained.seen.push(frame["id"].as_i64().unwrap()),
                                Some("error") => {
                                    // Sends read after shutdown began are refused, unstored.
                                    assert_eq!(frame["code"], "unavailable", "{frame}");
                                }
                                _ => {}
                            }
                        }
                        Message::Close(frame) => {
                            drained.close = frame.map(|frame| u16::from(frame.code));
                            break;
                        }
                        _ => {}
                    }
                }
            };
            tokio::join!(sending, reading);
            (client, drained)
        }));
    }
    drop(acks_tx);
    // SIGTERM mid-stream: once a third of the messages are acked.
    for _ in 0..SENDERS * PER_SENDER / 3 {
        acks.recv().await.expect("acks keep coming");
    }
    let server_stopped = tokio::task::spawn_blocking(move || {
        server.stop();
        server
    });
    let mut results = Vec::new();
    for client in running {
        results.push(client.await.unwrap());
    }
    drop(server_stopped.await.unwrap());

    let server = Server::start(data_dir.path(), &[]);
    let stored: BTreeMap<i64, String> = history(&http, &server.base, &tokens[0], "general")
        .await
        .iter()
        .map(|m| {
            (
                m["id"].as_i64().unwrap(),
                m["client_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut total_acked = 0;
    for (client, drained) in &results {
        assert_eq!(
            drained.close,
            Some(1001),
            "client {} got close 1001",
            client.user
        );
        total_acked += drained.acked.len();
        for (n, id) in &drained.acked {
            assert_eq!(
                stored.get(id),
                Some(&client.client_id(*n)),
                "acked message lost"
            );
        }
        // Resume: `join` with `since` = the last id this client saw brings exactly the rest.
        let last = drained.seen.last().copied().unwrap_or(0);
        let mut socket = open(&server.base, &tokens[client.user]).await;
        let join = json!({"type": "join", "room": "general", "since": last}).to_string();
        socket.send(Message::text(join)).await.unwrap();
        let joined = next_of(&mut socket, "joined").await;
        let ids_of = |page: &Value, field: &str| -> Vec<i64> {
            page[field]
                .as_array()
                .unwrap()
                .iter()
                .map(|message| message["id"].as_i64().unwrap())
                .collect()
        };
        let mut resumed = ids_of(&joined, "history");
        // A client that saw little live is behind by more than one answer holds: it pages
        // on from `through` (docs/protocol.md), as a real client does.
        let (mut more, mut through) = (joined["more"] == true, joined["through"].clone());
        while more {
            let page = json!({"type": "history", "room": "general", "after": through});
            socket.send(Message::text(page.to_string())).await.unwrap();
            let page = next_of(&mut socket, "history").await;
            resumed.extend(ids_of(&page, "messages"));
            (more, through) = (page["more"] == true, page["through"].clone());
        }
        let mut whole = drained.seen.clone();
        whole.extend(&resumed);
        // From the first message it saw live (earlier ones came in its own `joined`).
        let first = whole.first().copied().unwrap_or(0);
        let expected: Vec<i64> = stored.range(first..).map(|(id, _)| *id).collect();
        if let Some(at) =
            (0..whole.len().max(expected.len())).find(|&i| whole.get(i) != expected.get(i))
        {
            panic!(
                "client {}: live + resumed differ from the history at {at}: {:?} vs {:?} \
                 ({} live, {} resumed, {} stored from {first})",
                client.user,
                whole.get(at),
                expected.get(at),
                drained.seen.len(),
                resumed.len(),
                expected.len()
            );
        }
    }
    assert!(total_acked >= SENDERS * PER_SENDER / 3);
    eprintln!(
        "SIGTERM after {total_acked} acks; {} stored; every client closed with 1001 and resumed",
        stored.len()
    );
}

/// Messages each change-making client sends (and then changes).
const CHANGER_MESSAGES: usize = 150;

/// One change a client wants made to one of its messages, once that message's id is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Change {
    Edit,
    React,
    Delete,
}

/// What a change-making client carries from one server life to the next: its messages (by
/// number: the id their ack gave) and the changes it has made or still wants.
#[derive(Debug, Default)]
struct Changer {
    user: usize,
    next: usize,
    /// Sent messages with no ack yet.
    unsent: BTreeSet<usize>,
    ids: BTreeMap<usize, i64>,
    /// Changes wanted and not acked, by message number.
    wanted: BTreeSet<(usize, Change)>,
    /// Acked changes.
    done: BTreeSet<(usize, Change)>,
}

impl Changer {
    /// Message `n`'s changes: every third is deleted, the others edited and reacted to.
    fn changes_of(n: usize) -> Vec<Change> {
        if n.is_multiple_of(3) {
            vec![Change::Delete]
        } else {
            vec![Change::Edit, Change::React]
        }
    }

    fn send_frame(&self, n: usize) -> Message {
        let frame = json!({"type": "send", "room": "general", "text": format!("k{} n{n}", self.user),
            "client_id": format!("k{}-{n}", self.user)});
        Message::text(frame.to_string())
    }

    /// The frame of a change: an edit is keyed by its client_id, the others are the same
    /// when made twice.
    fn change_frame(&self, n: usize, change: Change) -> Message {
        let id = self.ids[&n];
        let frame = match change {
            Change::Edit => json!({"type": "edit", "room": "general", "id": id,
                "text": format!("k{} n{n} edited", self.user), "client_id": format!("k{}-e{n}", self.user)}),
            Change::React => json!({"type": "react", "room": "general", "id": id, "emoji": "👍"}),
            Change::Delete => json!({"type": "delete", "room": "general", "id": id}),
        };
        Message::text(frame.to_string())
    }
}

/// One server life of a changer: resend what has no ack (messages, then changes), then
/// send new messages and their changes, one at a time, until the connection dies.
async fn change_live(
    mut client: Changer,
    base: String,
    token: String,
    acks: mpsc::UnboundedSender<()>,
) -> Changer {
    let Some(socket) = join(&base, &token, "general").await else {
        return client;
    };
    let (mut sink, mut stream) = socket.split();
    // What is in flight: a message number, or a change; answered in the order sent.
    let mut in_flight: std::collections::VecDeque<(usize, Option<Change>)> = Default::default();
    for n in client.unsent.clone() {
        in_flight.push_back((n, None));
        if sink.send(client.send_frame(n)).await.is_err() {
            return client;
        }
    }
    for (n, change) in client.wanted.clone() {
        if client.ids.contains_key(&n) {
            in_flight.push_back((n, Some(change)));
            if sink.send(client.change_frame(n, change)).await.is_err() {
                return client;
            }
        }
    }
    loop {
        if in_flight.is_empty() && client.next < CHANGER_MESSAGES {
            let n = client.next;
            client.next += 1;
            client.unsent.insert(n);
            in_flight.push_back((n, None));
            if sink.send(client.send_frame(n)).await.is_err() {
                return client;
            }
        } else if in_flight.is_empty() {
            return client;
        }
        let Ok(Some(Ok(message))) = tokio::time::timeout(WAIT, stream.next()).await else {
            return client;
        };
        let Message::Text(text) = message else {
            continue;
        };
        let frame: Value = serde_json::from_str(text.as_str()).unwrap();
        match frame["type"].as_str() {
            Some("ack") => {
                let (n, change) = in_flight.pop_front().expect("an ack answers a request");
                let _ = acks.send(());
                match change {
                    None => {
                        client.ids.insert(n, frame["id"].as_i64().unwrap());
                        client.unsent.remove(&n);
                        for change in Changer::changes_of(n) {
                            client.wanted.insert((n, change));
                            in_flight.push_back((n, Some(change)));
                            if sink.send(client.change_frame(n, change)).await.is_err() {
                                return client;
                            }
                        }
                    }
                    Some(change) => {
                        client.wanted.remove(&(n, change));
                        client.done.insert((n, change));
                    }
                }
            }
            Some("error") => panic!("changer {}: {frame}", client.user),
            _ => {}
        }
    }
}

/// Acked edits, reactions and deletions survive SIGKILL as messages do: 4 clients send 150
/// messages each and change every one of them (an edit and a reaction, or a deletion) while
/// the server is killed at random moments 8 times; each client resends, after every
/// restart, what it has no ack for (an edit under its client_id, so never twice). In the
/// end the room read from scratch holds exactly the changes made.
#[tokio::test]
async fn acked_changes_survive_repeated_sigkills() {
    let seed = std::env::var("SALA_CRASH_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(0x5eed_cafe_u64);
    eprintln!("crash moments: SALA_CRASH_SEED={seed}");
    let mut moments = Moments(seed | 1);
    let data_dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::builder().timeout(WAIT).build().unwrap();
    let mut server = Server::start(data_dir.path(), &[]);
    let mut tokens = Vec::new();
    for user in 0..4 {
        tokens.push(token(&http, &server.base, &format!("changer{user}"), true).await);
    }
    let mut clients: Vec<Changer> = (0..4)
        .map(|user| Changer {
            user,
            ..Changer::default()
        })
        .collect();
    let mut kills_mid_work = 0;
    for kill in 0..=8 {
        let (acks_tx, mut acks) = mpsc::unbounded_channel();
        let running: Vec<_> = clients
            .drain(..)
            .map(|client| {
                let token = tokens[client.user].clone();
                tokio::spawn(change_live(
                    client,
                    server.base.clone(),
                    token,
                    acks_tx.clone(),
                ))
            })
            .collect();
        drop(acks_tx);
        if kill < 8 {
            // A random moment: after 1 to 60 acks of this life, then 0 to 10 ms later.
            for _ in 0..=moments.next(60) {
                if tokio::time::timeout(WAIT, acks.recv())
                    .await
                    .ok()
                    .flatten()
                    .is_none()
                {
                    break; // Everyone is done.
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(moments.next(11))).await;
            server.kill();
        }
        for client in running {
            clients.push(client.await.unwrap());
        }
        let left: usize = clients
            .iter()
            .map(|c| CHANGER_MESSAGES - c.next + c.unsent.len() + c.wanted.len())
            .sum();
        if kill < 8 {
            kills_mid_work += usize::from(left > 0);
            eprintln!("kill {}: {left} writes still to make", kill + 1);
            server = Server::start(data_dir.path(), &[]);
        }
    }
    assert!(
        kills_mid_work >= 4,
        "the kills fell while there was work: {kills_mid_work}"
    );
    let stored = history(&http, &server.base, &tokens[0], "general").await;
    assert_eq!(
        stored.len(),
        4 * CHANGER_MESSAGES,
        "every message stored once"
    );
    for client in &clients {
        assert!(
            client.unsent.is_empty() && client.wanted.is_empty(),
            "{client:?}"
        );
        for (n, id) in &client.ids {
            let message = stored
                .iter()
                .find(|m| m["id"].as_i64() == Some(*id))
                .unwrap_or_else(|| panic!("k{} n{n} is stored", client.user));
            if n.is_multiple_of(3) {
                assert!(client.done.contains(&(*n, Change::Delete)));
                assert_eq!(
                    (message["deleted"].as_bool(), message["text"].as_str()),
                    (Some(true), Some(""))
                );
            } else {
                assert_eq!(
                    message["text"],
                    format!("k{} n{n} edited", client.user),
                    "{message}"
                );
                assert_eq!(
                    message["reactions"],
                    json!([{"emoji": "👍", "count": 1, "users": [format!("changer{}", client.user)]}]),
                    "{message}"
                );
            }
        }
    }
}

/// Every file under `folder`, recursively.
fn files_under(folder: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(folder).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// SIGKILL in the middle of an upload (issue 21): no file, no message, and after the next
/// start no spool file or orphan bytes.
#[tokio::test]
async fn sigkill_mid_upload_leaves_no_file_behind_after_the_next_start() {
    use tokio::io::AsyncWriteExt as _;

    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &[]);
    let http = reqwest::Client::builder().timeout(WAIT).build().unwrap();
    let ann = token(&http, &server.base, "ann", true).await;
    let mut socket = open(&server.base, &ann).await;
    socket
        .send(Message::text(
            json!({"type": "join", "room": "general"}).to_string(),
        ))
        .await
        .unwrap();
    next_of(&mut socket, "joined").await;

    let address = server.base.trim_start_matches("http://").to_owned();
    let mut upload = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /api/rooms/general/files?name=half.bin HTTP/1.1\r\nHost: {address}\r\n\
         Authorization: Bearer {ann}\r\nContent-Length: {}\r\n\r\n",
        10 << 20
    );
    upload.write_all(head.as_bytes()).await.unwrap();
    upload.write_all(&vec![b'z'; 1 << 20]).await.unwrap();
    upload.flush().await.unwrap();
    // The spool file growing is what shows the upload under way (a file on disk has no
    // event to await: looked at until it is there, bounded).
    let spool = dir.path().join("files").join("spool");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let size: u64 = files_under(&spool)
            .iter()
            .filter_map(|path| std::fs::metadata(path).ok())
            .map(|metadata| metadata.len())
            .sum();
        if size > 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the upload never reached the spool"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    server.kill();
    drop((upload, socket));
    assert!(
        !files_under(&spool).is_empty(),
        "the crash left the spool file"
    );

    let server = Server::start(dir.path(), &[]);
    assert!(files_under(&spool).is_empty(), "{:?}", files_under(&spool));
    assert!(files_under(&dir.path().join("files").join("blobs")).is_empty());
    let ann = token(&http, &server.base, "ann", false).await;
    let messages = history(&http, &server.base, &ann, "general").await;
    assert!(messages.is_empty(), "{messages:?}");
    let found: Value = http
        .get(format!("{}/api/search?q=has%3Afile", server.base))
        .bearer_auth(&ann)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["hits"], json!([]));
}
