//! Property tests of the protocol (issue #10): any sequence of valid and invalid frames,
//! sent one at a time over a real `/ws` connection to a fresh node, keeps the server's
//! invariants:
//!
//! - every frame gets exactly the answer a model of the protocol predicts (`joined`,
//!   `left`, `ack`, `pong`, or the `error` with its code), and the connection stays usable;
//! - membership is what the joins and leaves say, and it lasts (`GET /api/me/rooms`);
//! - one ack per stored message: a new `client_id` is stored once, with a new id, and
//!   echoed once; a repeated one (in any room) acks the first id and stores and echoes
//!   nothing;
//! - ids increase within a room, and the room's history is exactly the acked messages.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::TestApp;
use crate::ws_client::WsClient;

/// Rooms a frame may name: two that exist and one that does not.
const ROOMS: [&str; 3] = ["general", "second", "missing"];

#[derive(Debug, Clone)]
enum Text {
    Fine,
    Blank,
    TooLong,
}

#[derive(Debug, Clone)]
enum Op {
    Join(usize),
    Leave(usize),
    /// Room, text, and a `client_id` drawn from a small set (so some repeat).
    Send(usize, Text, Option<u8>),
    Ping,
    /// Not JSON, an unknown type, a missing field.
    Garbage(u8),
}

fn op() -> impl Strategy<Value = Op> {
    let room = 0..ROOMS.len();
    let text = prop_oneof![
        6 => Just(Text::Fine),
        1 => Just(Text::Blank),
        1 => Just(Text::TooLong)
    ];
    prop_oneof![
        3 => room.clone().prop_map(Op::Join),
        1 => room.clone().prop_map(Op::Leave),
        6 => (room, text, proptest::option::of(0u8..6)).prop_map(|(r, t, c)| Op::Send(r, t, c)),
        1 => Just(Op::Ping),
        1 => (0u8..3).prop_map(Op::Garbage),
    ]
}

/// What the model expects back for one frame.
#[derive(Debug, PartialEq)]
enum Answer {
    Joined,
    Left,
    /// A new message: its ack, then its echo.
    Stored,
    /// A repeated client_id: the ack of the message stored first, nothing else.
    Repeated(i64),
    Pong,
    Error(&'static str),
}

/// The protocol as the model sees it.
#[derive(Default)]
struct Model {
    joined: BTreeSet<&'static str>,
    /// client_id → the id stored for it. A client_id is the user's, whatever the room: a
    /// repeat in another room acks the message stored first (SPEC §3).
    client_ids: BTreeMap<String, i64>,
    /// Room → ids acked as new, in order.
    stored: BTreeMap<&'static str, Vec<i64>>,
}

impl Model {
    fn expect(&self, op: &Op) -> Answer {
        match op {
            Op::Join(r) | Op::Leave(r) if ROOMS[*r] == "missing" => Answer::Error("not_found"),
            Op::Join(_) => Answer::Joined,
            Op::Leave(_) => Answer::Left,
            Op::Send(r, text, client_id) => {
                let room = ROOMS[*r];
                // A command is parsed before anything is looked up: a bad text is refused
                // as `invalid` whatever the room.
                if !matches!(text, Text::Fine) {
                    Answer::Error("invalid")
                } else if room == "missing" {
                    Answer::Error("not_found")
                } else if !self.joined.contains(room) {
                    Answer::Error("not_member")
                } else if let Some(id) =
                    client_id.and_then(|c| self.client_ids.get(&format!("c{c}")))
                {
                    Answer::Repeated(*id)
                } else {
                    Answer::Stored
                }
            }
            Op::Ping => Answer::Pong,
            Op::Garbage(_) => Answer::Error("bad_request"),
        }
    }
}

fn frame_of(op: &Op, n: usize) -> Message {
    let text = |kind: &Text| match kind {
        Text::Fine => format!("message {n}"),
        Text::Blank => "   ".to_owned(),
        Text::TooLong => "x".repeat(4001),
    };
    let value = match op {
        Op::Join(r) => json!({"type": "join", "room": ROOMS[*r]}),
        Op::Leave(r) => json!({"type": "leave", "room": ROOMS[*r]}),
        Op::Send(r, kind, client_id) => {
            let mut send = json!({"type": "send", "room": ROOMS[*r], "text": text(kind)});
            if let Some(c) = client_id {
                send["client_id"] = json!(format!("c{c}"));
            }
            send
        }
        Op::Ping => json!({"type": "ping"}),
        Op::Garbage(0) => return Message::text("{not json"),
        Op::Garbage(1) => json!({"type": "shout", "room": "general"}),
        Op::Garbage(_) => json!({"type": "send", "text": "no room"}),
    };
    Message::text(value.to_string())
}

/// The next frame that answers a command (presence and typing are others' news).
async fn answer(client: &mut WsClient) -> Value {
    loop {
        let frame = client.next_frame().await;
        if frame["type"] != "presence" && frame["type"] != "typing" {
            return frame;
        }
    }
}

async fn run(ops: Vec<Op>) {
    let app = TestApp::spawn().await;
    let maker = app.user_token("maker").await;
    assert_eq!(app.create_room(&maker, "second", None).await.status(), 201);
    let token = app.user_token("prop").await;
    let mut client = WsClient::connect(&app, &token).await;
    let mut model = Model::default();

    for (n, op) in ops.iter().enumerate() {
        let expected = model.expect(op);
        client.send_raw(frame_of(op, n)).await;
        let got = answer(&mut client).await;
        let kind = got["type"].as_str().unwrap_or_default();
        match (&expected, op) {
            (Answer::Error(code), _) => {
                assert_eq!(
                    (kind, got["code"].as_str()),
                    ("error", Some(*code)),
                    "{op:?}: {got}"
                );
            }
            (Answer::Joined, Op::Join(r)) => {
                assert_eq!(
                    (kind, got["room"].as_str()),
                    ("joined", Some(ROOMS[*r])),
                    "{got}"
                );
                model.joined.insert(ROOMS[*r]);
            }
            (Answer::Left, Op::Leave(r)) => {
                assert_eq!(
                    (kind, got["room"].as_str()),
                    ("left", Some(ROOMS[*r])),
                    "{got}"
                );
                model.joined.remove(ROOMS[*r]);
            }
            (Answer::Pong, _) => assert_eq!(kind, "pong", "{got}"),
            (Answer::Repeated(id), _) => {
                assert_eq!(
                    (kind, got["id"].as_i64()),
                    ("ack", Some(*id)),
                    "{op:?}: {got}"
                );
            }
            (Answer::Stored, Op::Send(r, _, client_id)) => {
                let room = ROOMS[*r];
                assert_eq!(kind, "ack", "{op:?}: {got}");
                let id = got["id"].as_i64().unwrap();
                let earlier = model.stored.entry(room).or_default();
                assert!(
                    earlier.last().is_none_or(|last| *last < id),
                    "ids increase in {room}"
                );
                earlier.push(id);
                if let Some(c) = client_id {
                    model.client_ids.insert(format!("c{c}"), id);
                }
                let echo = answer(&mut client).await;
                assert_eq!(
                    (echo["type"].as_str(), echo["id"].as_i64()),
                    (Some("message"), Some(id))
                );
            }
            _ => unreachable!("{expected:?} for {op:?}"),
        }
    }
    // Nothing else is pending: no second ack, no stray echo.
    client.assert_nothing_pending().await;

    // Membership lasts, and is what the model says.
    let mine: Value = app.get("/api/me/rooms", &token).await.json().await.unwrap();
    let rooms: BTreeSet<&str> = mine["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|room| room["name"].as_str().unwrap())
        .collect();
    assert_eq!(rooms, model.joined.iter().copied().collect());
    // Each room's history is exactly the messages acked as new, in order.
    for room in ["general", "second"] {
        let page: Value = app
            .get(&format!("/api/rooms/{room}/messages?limit=200"), &token)
            .await
            .json()
            .await
            .unwrap();
        let ids: Vec<i64> = page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|message| message["id"].as_i64().unwrap())
            .collect();
        assert_eq!(
            &ids,
            model.stored.get(room).unwrap_or(&Vec::new()),
            "{room}"
        );
    }
}

proptest! {
    // Each case starts a node and logs two users in: a few dozen cases of up to 40 frames.
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_sequence_of_frames_keeps_the_protocols_invariants(ops in proptest::collection::vec(op(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(run(ops));
    }
}
