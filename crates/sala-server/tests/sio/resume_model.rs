//! Resume across two nodes, checked against a model (issue 19): two writers, one on each
//! node of a cluster, make 1,000 random writes to one room at once — messages, replies,
//! edits, deletions, reactions and their removal — while a watcher on one node and another
//! on the other keep dropping their connection and coming back with `join` + `since`. Each
//! watcher holds the room as the frames it got make it (`joined`'s history and updated,
//! `history` pages after `through`, live `message` and `message_updated`), and asserts as it
//! goes that nothing comes twice: a message id it holds never arrives again as new, and a
//! change never carries a position it has already seen. At the end each must hold exactly
//! the room as read from scratch over HTTP: every message, as it is now.
//!
//! The seed is printed; `SALA_TEST_SEED=N` replays one run.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::ONE_AT_A_TIME;
use crate::helpers::TestApp;
use crate::ws_client::WsClient;

/// Writes in all, split between the two writers.
const WRITES: usize = 1000;
/// Rounds, each in a room of its own with seeds of its own.
const ROUNDS: u64 = 3;

/// A small deterministic generator (xorshift64*), so that a seed replays a run.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n.max(1)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        (!items.is_empty()).then(|| items[self.below(items.len())])
    }
}

/// One writer: `writes` random writes through its own connection, each answered (an ack,
/// or an error for a target the other writer deleted meanwhile) before the next.
async fn write_randomly(
    mut ws: WsClient,
    room: String,
    me: &'static str,
    seed: u64,
    writes: usize,
) -> usize {
    let mut dice = Dice(seed);
    let mut mine: Vec<i64> = Vec::new();
    let mut seen: Vec<i64> = Vec::new();
    let mut refused = 0;
    for n in 0..writes {
        let roll = dice.below(100);
        let target = if roll < 60 {
            dice.pick(&seen)
        } else {
            dice.pick(&mine)
        };
        let frame = match (roll, target) {
            (0..35, _) | (_, None) => {
                json!({"type": "send", "room": room, "text": format!("{me} {n}")})
            }
            (35..45, Some(id)) => {
                json!({"type": "send", "room": room, "text": format!("{me} re {n}"), "reply_to": id})
            }
            (45..52, Some(id)) => json!({"type": "react", "room": room, "id": id, "emoji": "👍"}),
            (52..60, Some(id)) => {
                json!({"type": "unreact", "room": room, "id": id, "emoji": "👍"})
            }
            (60..85, Some(id)) => {
                json!({"type": "edit", "room": room, "id": id, "text": format!("{me} edit {n}")})
            }
            (_, Some(id)) => json!({"type": "delete", "room": room, "id": id}),
        };
        let sending = frame["type"] == "send";
        ws.send(frame.clone()).await;
        loop {
            let answer = ws.next_frame().await;
            match answer["type"].as_str() {
                Some("ack") => {
                    let id = answer["id"].as_i64().unwrap();
                    if sending {
                        mine.push(id);
                        seen.push(id);
                    }
                    if frame["type"] == "delete" {
                        mine.retain(|m| *m != id);
                    }
                    break;
                }
                Some("error") => {
                    // Only a target gone (the other writer deleted it) may be refused.
                    assert_eq!(answer["code"], "not_found", "{frame} got {answer}");
                    refused += 1;
                    break;
                }
                Some("message") => seen.extend(answer["id"].as_i64()),
                _ => {}
            }
        }
    }
    refused
}

/// A client's copy of the room, from the frames it got.
struct Watcher {
    room: String,
    held: BTreeMap<i64, Value>,
    /// The highest position seen: the next `since`.
    since: i64,
    resumes: usize,
}

/// The message object of a frame that carries one at its top (`message`), or as it is.
fn as_message(frame: &Value) -> Value {
    let mut message = frame.clone();
    if let Some(fields) = message.as_object_mut() {
        fields.remove("type");
    }
    message
}

fn position(message: &Value) -> i64 {
    let id = message["id"].as_i64().unwrap();
    message["seq"].as_i64().unwrap_or(id).max(id)
}

impl Watcher {
    fn of(room: &str) -> Self {
        Self {
            room: room.to_owned(),
            held: BTreeMap::new(),
            since: 0,
            resumes: 0,
        }
    }

    /// A message new to the client: never one it holds.
    fn new_message(&mut self, message: &Value, context: &str) {
        let id = message["id"].as_i64().unwrap();
        assert!(
            !self.held.contains_key(&id),
            "message {id} delivered twice ({context}): {message}"
        );
        self.since = self.since.max(position(message));
        self.held.insert(id, as_message(message));
    }

    /// A message as it is after a change: a later position than the copy held.
    fn changed(&mut self, message: &Value, context: &str) {
        let id = message["id"].as_i64().unwrap();
        let seq = position(message);
        if let Some(old) = self.held.get(&id) {
            assert!(
                seq > position(old),
                "change at {seq} of message {id} delivered twice, or out of order ({context}): \
                 held {old}, got {message}"
            );
        }
        self.since = self.since.max(seq);
        self.held.insert(id, as_message(message));
    }

    /// Applies a `joined` or a `history` page after `through`; answers `through` when more
    /// follow.
    fn page(&mut self, frame: &Value) -> Option<i64> {
        let kind = frame["type"].as_str().unwrap_or_default().to_owned();
        let key = if kind == "joined" {
            "history"
        } else {
            "messages"
        };
        for message in frame[key].as_array().into_iter().flatten() {
            self.new_message(message, &kind);
        }
        for message in frame["updated"].as_array().into_iter().flatten() {
            self.changed(message, &kind);
        }
        if let Some(through) = frame["through"].as_i64() {
            self.since = self.since.max(through);
        }
        frame["more"]
            .as_bool()
            .unwrap_or(false)
            .then(|| frame["through"].as_i64())
            .flatten()
    }

    fn live(&mut self, frame: &Value) {
        match frame["type"].as_str() {
            Some("message") => self.new_message(frame, "live"),
            Some("message_updated") => self.changed(&frame["message"], "live"),
            _ => {}
        }
    }

    /// Comes back (or in, the first time) and reads for a while: at most `frames` frames,
    /// or until none comes for 30 ms; then the connection is dropped.
    async fn visit(&mut self, app: &TestApp, token: &str, frames: usize) {
        let mut ws = WsClient::connect(app, token).await;
        // From 0 the first time: every message the room has, paged.
        ws.send(json!({"type": "join", "room": self.room, "since": self.since}))
            .await;
        self.resumes += 1;
        let mut more = self.page(&ws.until("joined").await);
        while let Some(after) = more {
            ws.send(json!({"type": "history", "room": self.room, "after": after}))
                .await;
            let page = loop {
                let frame = ws.next_frame().await;
                if frame["type"] == "history" {
                    break frame;
                }
                self.live(&frame);
            };
            more = self.page(&page);
        }
        for _ in 0..frames {
            match tokio::time::timeout(Duration::from_millis(30), ws.next_frame()).await {
                Ok(frame) => self.live(&frame),
                Err(_) => break,
            }
        }
    }
}

/// The room read from scratch over HTTP, page by page.
async fn from_scratch(app: &TestApp, token: &str, room_name: &str) -> BTreeMap<i64, Value> {
    let mut room = BTreeMap::new();
    let mut after = 0;
    loop {
        let page: Value = app
            .get(
                &format!("/api/rooms/{room_name}/messages?after={after}&limit=200"),
                token,
            )
            .await
            .json()
            .await
            .unwrap();
        for message in page["messages"].as_array().unwrap() {
            let id = message["id"].as_i64().unwrap();
            after = after.max(id);
            room.insert(id, message.clone());
        }
        if page["more"] != true {
            return room;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs PostgreSQL and Redis (scripts/test.sh starts them)"]
async fn resuming_through_either_node_over_random_writes_from_both_equals_the_room_from_scratch() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let seed = std::env::var("SALA_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    let database = sala_store_postgres::test_support::TempDatabase::create().await;
    let redis = std::env::var("SALA_TEST_REDIS_URL")
        .expect("SALA_TEST_REDIS_URL is not set: run scripts/test.sh, which starts Redis");
    let prefix = format!("test-resume-model-{}", std::process::id());
    let cluster_node = |config: &mut sala_server::config::Config| {
        config.database_url = Some(database.url.clone().into());
        config.redis_url = Some(redis.clone().into());
        config.redis_prefix = prefix.clone();
        // The writers go as fast as the store takes them: no rate in the way.
        config.send_rate = 100_000.0;
        config.send_burst = 100_000;
        config.command_rate = 100_000.0;
        config.command_burst = 100_000;
    };
    let node_a = TestApp::spawn_with(cluster_node).await;
    let node_b = TestApp::spawn_with(cluster_node).await;
    let tokens = [
        node_a.user_token("model-ann").await,
        node_a.user_token("model-bob").await,
        node_a.user_token("model-cy").await,
    ];
    for round in 0..ROUNDS {
        let room = format!("model-{round}");
        let created = node_a.create_room(&tokens[0], &room, None).await;
        assert_eq!(created.status(), 201);
        one_round(&node_a, &node_b, &tokens, &room, seed.wrapping_add(round)).await;
    }
    drop((node_a, node_b));
    database.drop_now().await;
}

/// Two writers (one per node) and two watchers (one per node) in `room`; see the module.
async fn one_round(
    node_a: &TestApp,
    node_b: &TestApp,
    [writer_a, writer_b, watch_token]: &[String; 3],
    room: &str,
    seed: u64,
) {
    eprintln!("resume model: {room}, SALA_TEST_SEED={seed}");
    let mut on_a = WsClient::connect(node_a, writer_a).await;
    let mut on_b = WsClient::connect(node_b, writer_b).await;
    on_a.join(room).await;
    on_b.join(room).await;
    let writers = [
        tokio::spawn(write_randomly(
            on_a,
            room.to_owned(),
            "ann",
            seed,
            WRITES / 2,
        )),
        tokio::spawn(write_randomly(
            on_b,
            room.to_owned(),
            "bob",
            seed.rotate_left(17) | 1,
            WRITES / 2,
        )),
    ];
    // One watcher comes back through node B, the other through node A, while both write.
    let mut dice = Dice(seed.rotate_left(31) | 1);
    let mut through_b = Watcher::of(room);
    let mut through_a = Watcher::of(room);
    while !writers.iter().all(tokio::task::JoinHandle::is_finished) {
        let frames = 1 + dice.below(80);
        through_b.visit(node_b, watch_token, frames).await;
        let frames = 1 + dice.below(80);
        through_a.visit(node_a, watch_token, frames).await;
    }
    let mut refused = 0;
    for writer in writers {
        refused += writer.await.expect("writer");
    }
    // A last visit each, once everything is written.
    through_b.visit(node_b, watch_token, 0).await;
    through_a.visit(node_a, watch_token, 0).await;
    let scratch = from_scratch(node_a, watch_token, room).await;
    eprintln!(
        "resume model: {} messages, {refused} writes refused (target deleted), {} + {} resumes",
        scratch.len(),
        through_b.resumes,
        through_a.resumes
    );
    assert!(
        scratch.len() > WRITES / 4,
        "the writers wrote: {}",
        scratch.len()
    );
    assert!(
        through_b.resumes > 3 && through_a.resumes > 3,
        "the watchers came back often"
    );
    for (name, watcher) in [
        ("through node B", &through_b),
        ("through node A", &through_a),
    ] {
        let missing: Vec<&i64> = scratch
            .keys()
            .filter(|id| !watcher.held.contains_key(id))
            .collect();
        assert!(
            missing.is_empty(),
            "{name}: never got messages {missing:?} (seed {seed})"
        );
        for (id, message) in &scratch {
            assert_eq!(
                &watcher.held[id], message,
                "{name}: message {id} differs from the room read from scratch (seed {seed})"
            );
        }
        assert_eq!(watcher.held.len(), scratch.len(), "{name}: extra messages");
    }
}
