//! Changes to messages over `/ws` (issue 19): edits, deletions, reactions and replies, each
//! refused by its rule with the connection still usable, told to the room as
//! `message_updated`, and covered by a resume with `since`.

use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::ws_client::WsClient;

/// A change's ack: its message id and its new position.
async fn acked(ws: &mut WsClient, frame: Value) -> (i64, i64) {
    let client_id = frame["client_id"].clone();
    ws.send(frame).await;
    // (The room's frames of earlier changes may come first.)
    let ack = ws.until("ack").await;
    // A change's ack names the change's own client_id (or none), never its message's.
    assert_eq!(ack["client_id"], client_id, "{ack}");
    (ack["id"].as_i64().unwrap(), ack["seq"].as_i64().unwrap())
}

/// The error a change is refused with: (code, room it names).
async fn refused(ws: &mut WsClient, frame: Value) -> (String, String) {
    ws.send(frame.clone()).await;
    let error = ws.until("error").await;
    (
        error["code"].as_str().unwrap_or_default().to_owned(),
        error["room"].as_str().unwrap_or_default().to_owned(),
    )
}

/// Two people in `room`, both joined: (ann's connection, bob's connection).
async fn pair(app: &TestApp, room: &str) -> (WsClient, WsClient, String, String) {
    let ann_token = app.user_token("ann").await;
    let bob_token = app.user_token("bob").await;
    assert_eq!(app.create_room(&ann_token, room, None).await.status(), 201);
    let mut ann = WsClient::connect(app, &ann_token).await;
    let mut bob = WsClient::connect(app, &bob_token).await;
    ann.join(room).await;
    bob.join(room).await;
    (ann, bob, ann_token, bob_token)
}

#[tokio::test]
async fn an_edit_by_its_author_reaches_the_room_and_every_other_edit_is_refused() {
    let app = TestApp::spawn().await;
    let (mut ann, mut bob, ..) = pair(&app, "desk").await;
    let id = ann.say("desk", "teh plan").await;
    bob.next_of("message").await;

    let (acked_id, seq) = acked(
        &mut ann,
        json!({"type": "edit", "room": "desk", "id": id, "text": "the plan", "client_id": "e-1"}),
    )
    .await;
    assert_eq!(acked_id, id);
    assert!(seq > id);
    for ws in [&mut ann, &mut bob] {
        let updated = ws.next_of("message_updated").await;
        assert_eq!(
            (updated["change"].as_str(), updated["by"].as_str()),
            (Some("edited"), Some("ann"))
        );
        let message = &updated["message"];
        assert_eq!(
            (message["id"].as_i64(), message["seq"].as_i64()),
            (Some(id), Some(seq))
        );
        assert_eq!(message["text"], "the plan");
        assert!(message["edited_at"].is_string(), "{updated}");
    }
    // The same edit again is answered, and changes nothing.
    let (_, again) = acked(
        &mut ann,
        json!({"type": "edit", "room": "desk", "id": id, "text": "the plan", "client_id": "e-1"}),
    )
    .await;
    assert_eq!(again, seq);
    ann.assert_nothing_pending().await;

    let long = "x".repeat(4001);
    let cases = [
        (
            false,
            json!({"type": "edit", "room": "desk", "id": id, "text": "mine"}),
            "forbidden",
        ),
        (
            true,
            json!({"type": "edit", "room": "desk", "id": id, "text": "   "}),
            "invalid",
        ),
        (
            true,
            json!({"type": "edit", "room": "desk", "id": id, "text": long}),
            "invalid",
        ),
        (
            true,
            json!({"type": "edit", "room": "desk", "id": 999_999, "text": "x"}),
            "not_found",
        ),
        (
            true,
            json!({"type": "edit", "room": "desk", "id": "seven", "text": "x"}),
            "bad_request",
        ),
    ];
    for (by_author, frame, code) in cases {
        let ws = if by_author { &mut ann } else { &mut bob };
        let (got, room) = refused(ws, frame.clone()).await;
        assert_eq!(got, code, "{frame}");
        if code != "bad_request" {
            assert_eq!(room, "desk", "the error names the room: {frame}");
        }
        ws.assert_nothing_pending().await;
    }
    // Nothing of the refused edits was stored.
    let history = ann.join("desk").await;
    let last = history["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (last["text"].as_str(), last["seq"].as_i64()),
        (Some("the plan"), Some(seq))
    );
}

#[tokio::test]
async fn a_deletion_empties_the_message_for_everyone_and_twice_is_once() {
    let app = TestApp::spawn().await;
    let (mut ann, mut bob, ann_token, _) = pair(&app, "hall").await;
    let mine = bob.say("hall", "oops, my password is hunter2").await;
    ann.next_of("message").await;
    let theirs = ann.say("hall", "keep this").await;
    bob.next_of("message").await;

    assert_eq!(
        refused(
            &mut bob,
            json!({"type": "delete", "room": "hall", "id": theirs})
        )
        .await
        .0,
        "forbidden",
        "a member deletes their own messages only"
    );
    let (_, seq) = acked(
        &mut bob,
        json!({"type": "delete", "room": "hall", "id": mine}),
    )
    .await;
    for ws in [&mut ann, &mut bob] {
        let updated = ws.next_of("message_updated").await;
        assert_eq!(updated["change"], "deleted");
        assert_eq!(updated["message"]["deleted"], true);
        assert_eq!(updated["message"]["text"], "");
    }
    let (_, twice) = acked(
        &mut bob,
        json!({"type": "delete", "room": "hall", "id": mine}),
    )
    .await;
    assert_eq!(twice, seq, "deleting twice is answered as the first time");
    bob.assert_nothing_pending().await;
    for frame in [
        json!({"type": "edit", "room": "hall", "id": mine, "text": "back"}),
        json!({"type": "react", "room": "hall", "id": mine, "emoji": "👍"}),
        json!({"type": "send", "room": "hall", "text": "re", "reply_to": mine}),
    ] {
        assert_eq!(
            refused(&mut bob, frame.clone()).await.0,
            "not_found",
            "{frame}"
        );
    }

    // The owner (ann created the room) deletes anyone's.
    let another = bob.say("hall", "off topic").await;
    acked(
        &mut ann,
        json!({"type": "delete", "room": "hall", "id": another}),
    )
    .await;

    // Read over HTTP, the text is gone.
    let page: Value = app
        .get("/api/rooms/hall/messages", &ann_token)
        .await
        .json()
        .await
        .unwrap();
    let body = page.to_string();
    assert!(
        !body.contains("hunter2") && !body.contains("off topic"),
        "{body}"
    );
    let texts: Vec<(&str, bool)> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["text"].as_str().unwrap(), m["deleted"] == true))
        .collect();
    assert_eq!(texts, [("", true), ("keep this", false), ("", true)]);
}

#[tokio::test]
async fn reactions_are_one_emoji_each_twenty_kinds_at_most_and_live() {
    let app = TestApp::spawn().await;
    let (mut ann, mut bob, ..) = pair(&app, "fun").await;
    let id = ann.say("fun", "lunch?").await;
    bob.next_of("message").await;

    acked(
        &mut bob,
        json!({"type": "react", "room": "fun", "id": id, "emoji": "👍"}),
    )
    .await;
    for ws in [&mut ann, &mut bob] {
        let updated = ws.next_of("message_updated").await;
        assert_eq!(updated["change"], "reacted");
        assert_eq!(
            updated["message"]["reactions"],
            json!([{"emoji": "👍", "count": 1, "users": ["bob"]}])
        );
    }
    let long = "👍".repeat(50);
    for emoji in [
        "yes",
        "👍👍",
        "",
        long.as_str(),
        "<img src=x onerror=alert(1)>",
    ] {
        let frame = json!({"type": "react", "room": "fun", "id": id, "emoji": emoji});
        assert_eq!(refused(&mut bob, frame).await.0, "invalid", "{emoji:?}");
    }
    // 20 kinds, then the 21st is refused; an emoji already there is still welcome.
    for n in 0..19 {
        let emoji = char::from_u32(0x1F600 + n).unwrap().to_string();
        acked(
            &mut ann,
            json!({"type": "react", "room": "fun", "id": id, "emoji": emoji}),
        )
        .await;
    }
    let (code, _) = refused(
        &mut ann,
        json!({"type": "react", "room": "fun", "id": id, "emoji": "🦀"}),
    )
    .await;
    assert_eq!(code, "invalid");
    acked(
        &mut ann,
        json!({"type": "react", "room": "fun", "id": id, "emoji": "👍"}),
    )
    .await;
    let (_, seq) = acked(
        &mut bob,
        json!({"type": "unreact", "room": "fun", "id": id, "emoji": "👍"}),
    )
    .await;
    let updated = bob.until("message_updated").await;
    let mut updated = updated;
    while updated["message"]["seq"].as_i64() != Some(seq) {
        updated = bob.until("message_updated").await;
    }
    // Shown by first use among the reactions there now: ann's 👍 came after her 😀.
    let thumbs: Vec<&Value> = updated["message"]["reactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["emoji"] == "👍")
        .collect();
    assert_eq!(
        thumbs,
        [&json!({"emoji": "👍", "count": 1, "users": ["ann"]})]
    );
}

#[tokio::test]
async fn a_reply_names_a_message_of_its_room_and_moves_the_thread_counts() {
    let app = TestApp::spawn().await;
    let (mut ann, mut bob, ann_token, _) = pair(&app, "eng").await;
    assert_eq!(
        app.create_room(&ann_token, "elsewhere", None)
            .await
            .status(),
        201
    );
    ann.join("elsewhere").await;
    let other_room = ann.say("elsewhere", "not here").await;
    let root = ann.say("eng", "who reviews #42?").await;
    bob.next_of("message").await;

    bob.send(
        json!({"type": "send", "room": "eng", "text": "me", "reply_to": root, "client_id": "r-1"}),
    )
    .await;
    let ack = bob.next_of("ack").await;
    let reply = bob.next_of("message").await;
    assert_eq!(
        (reply["reply_to"].as_i64(), ack["client_id"].as_str()),
        (Some(root), Some("r-1"))
    );
    let thread = bob.next_of("message_updated").await;
    assert_eq!(thread["change"], "replied");
    assert_eq!(
        (
            thread["message"]["id"].as_i64(),
            thread["message"]["replies"].as_i64()
        ),
        (Some(root), Some(1))
    );
    assert!(thread["message"]["last_reply_at"].is_string());
    for to in [json!(other_room), json!(999_999)] {
        let frame = json!({"type": "send", "room": "eng", "text": "lost", "reply_to": to, "client_id": "r-2"});
        bob.send(frame).await;
        let error = bob.next_of("error").await;
        assert_eq!(
            (error["code"].as_str(), error["client_id"].as_str()),
            (Some("not_found"), Some("r-2")),
            "{error}"
        );
    }
    bob.assert_nothing_pending().await;
}

/// What a client holds of a room: messages by id, as the frames it got say.
fn apply(held: &mut std::collections::BTreeMap<i64, Value>, message: &Value) {
    let id = message["id"].as_i64().unwrap();
    let newer = held
        .get(&id)
        .is_none_or(|had| had["seq"].as_i64() <= message["seq"].as_i64());
    if newer {
        let mut message = message.clone();
        // A live `message` frame is the message with its frame type.
        message.as_object_mut().unwrap().remove("type");
        held.insert(id, message);
    }
}

#[tokio::test]
async fn a_client_that_comes_back_gets_every_change_it_missed_once() {
    let app = TestApp::spawn().await;
    let (mut ann, mut bob, ann_token, bob_token) = pair(&app, "sync").await;
    let mut held = std::collections::BTreeMap::new();
    for n in 0..5 {
        let id = ann.say("sync", &format!("m{n}")).await;
        let message = bob.next_of("message").await;
        assert_eq!(message["id"].as_i64(), Some(id));
        apply(&mut held, &message);
    }
    let since = held
        .values()
        .map(|m| m["seq"].as_i64().unwrap())
        .max()
        .unwrap();
    drop(bob);

    // While bob is away: edits, a deletion, reactions, replies and new messages.
    let ids: Vec<i64> = held.keys().copied().collect();
    acked(
        &mut ann,
        json!({"type": "edit", "room": "sync", "id": ids[0], "text": "m0 fixed"}),
    )
    .await;
    acked(
        &mut ann,
        json!({"type": "delete", "room": "sync", "id": ids[1]}),
    )
    .await;
    acked(
        &mut ann,
        json!({"type": "react", "room": "sync", "id": ids[2], "emoji": "🎉"}),
    )
    .await;
    let reply = json!({"type": "send", "room": "sync", "text": "on m3", "reply_to": ids[3]});
    ann.send(reply).await;
    ann.until("ack").await;
    ann.send(json!({"type": "send", "room": "sync", "text": "new while away"}))
        .await;
    let fresh = ann.until("ack").await["id"].as_i64().unwrap();
    acked(
        &mut ann,
        json!({"type": "edit", "room": "sync", "id": fresh, "text": "new, edited"}),
    )
    .await;

    let mut bob = WsClient::connect(&app, &bob_token).await;
    bob.send(json!({"type": "join", "room": "sync", "since": since}))
        .await;
    let joined = bob.next_of("joined").await;
    assert_eq!(joined["more"], false);
    let history = joined["history"].as_array().unwrap();
    let updated = joined["updated"].as_array().unwrap();
    assert!(
        history.iter().all(|m| m["id"].as_i64().unwrap() > since),
        "{joined}"
    );
    assert!(
        updated.iter().all(|m| m["id"].as_i64().unwrap() <= since),
        "{joined}"
    );
    assert_eq!(history.len(), 2, "the reply and the new message: {joined}");
    assert_eq!(
        updated.len(),
        4,
        "m0 edited, m1 deleted, m2 reacted, m3 replied: {joined}"
    );
    for message in history.iter().chain(updated) {
        apply(&mut held, message);
    }
    let through = joined["through"].as_i64().unwrap();
    assert!(held.values().all(|m| m["seq"].as_i64().unwrap() <= through));

    // Exactly the room read from scratch.
    let page: Value = app
        .get("/api/rooms/sync/messages", &ann_token)
        .await
        .json()
        .await
        .unwrap();
    let scratch: std::collections::BTreeMap<i64, Value> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["id"].as_i64().unwrap(), m.clone()))
        .collect();
    assert_eq!(held, scratch);
    // Nothing comes twice after the joined.
    bob.assert_nothing_pending().await;
}

#[tokio::test]
async fn a_flood_of_reactions_is_rate_limited_and_the_connection_stays_usable() {
    // The tests' write rate is high; this one takes the default's order of magnitude.
    let app = TestApp::spawn_with(|config| {
        config.send_rate = 20.0;
        config.send_burst = 50;
    })
    .await;
    let (mut ann, _bob, ..) = pair(&app, "flood").await;
    let id = ann.say("flood", "react to me").await;
    for n in 0..1000_u32 {
        let kind = if n.is_multiple_of(2) {
            "react"
        } else {
            "unreact"
        };
        ann.send(json!({"type": kind, "room": "flood", "id": id, "emoji": "👍"}))
            .await;
    }
    let mut limited = 0;
    let mut answered = 0;
    while answered < 1000 {
        let frame = ann.next_frame().await;
        match frame["type"].as_str() {
            Some("ack") => answered += 1,
            Some("error") => {
                assert_eq!(frame["code"], "rate_limited", "{frame}");
                limited += 1;
                answered += 1;
            }
            _ => {}
        }
    }
    assert!(limited > 0, "1,000 toggles at once must hit the write rate");
    ann.send(json!({"type": "ping"})).await;
    ann.until("pong").await;
}

/// A request with a bearer token and a JSON body.
async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (reqwest::StatusCode, Value) {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn changes_over_http_follow_the_same_rules_and_reach_the_room() {
    use reqwest::Method;
    let app = TestApp::spawn().await;
    let (mut ann, mut bob, ann_token, bob_token) = pair(&app, "api").await;
    let id = ann.say("api", "draft").await;
    bob.next_of("message").await;
    let path = format!("/api/rooms/api/messages/{id}");

    let (status, edited) = call(
        &app,
        Method::PATCH,
        &path,
        &ann_token,
        Some(json!({"text": "final"})),
    )
    .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(
        (edited["text"].as_str(), edited["id"].as_i64()),
        (Some("final"), Some(id))
    );
    let heard = bob.next_of("message_updated").await;
    assert_eq!(
        (heard["change"].as_str(), heard["message"]["text"].as_str()),
        (Some("edited"), Some("final"))
    );

    let long = "x".repeat(4001);
    for (token, body, status, code) in [
        (&bob_token, json!({"text": "mine"}), 403, "forbidden"),
        (&ann_token, json!({"text": ""}), 422, "invalid"),
        (&ann_token, json!({"text": long}), 422, "invalid"),
        (&ann_token, json!({"words": "x"}), 400, "bad_request"),
    ] {
        let (got, error) = call(&app, Method::PATCH, &path, token, Some(body.clone())).await;
        assert_eq!(
            (got.as_u16(), error["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}"
        );
    }
    let (got, _) = call(
        &app,
        Method::PATCH,
        "/api/rooms/api/messages/999999",
        &ann_token,
        Some(json!({"text": "x"})),
    )
    .await;
    assert_eq!(got, 404);

    let reaction = format!("{path}/reactions/%F0%9F%8E%89");
    let (status, reacted) = call(&app, Method::PUT, &reaction, &bob_token, None).await;
    assert_eq!(status, 200, "{reacted}");
    assert_eq!(
        reacted["reactions"],
        json!([{"emoji": "🎉", "count": 1, "users": ["bob"]}])
    );
    for bad in ["x", "%F0%9F%8E%89%F0%9F%8E%89", &"a".repeat(200)] {
        let (got, error) = call(
            &app,
            Method::PUT,
            &format!("{path}/reactions/{bad}"),
            &bob_token,
            None,
        )
        .await;
        assert_eq!(
            (got.as_u16(), error["error"]["code"].as_str()),
            (422, Some("invalid")),
            "{bad}"
        );
    }
    let (status, unreacted) = call(&app, Method::DELETE, &reaction, &bob_token, None).await;
    assert_eq!((status.as_u16(), unreacted.get("reactions")), (200, None));

    let (status, _) = call(&app, Method::DELETE, &path, &bob_token, None).await;
    assert_eq!(status, 403, "not bob's");
    let (status, tombstone) = call(&app, Method::DELETE, &path, &ann_token, None).await;
    assert_eq!(
        (
            status.as_u16(),
            tombstone["deleted"].as_bool(),
            tombstone["text"].as_str()
        ),
        (200, Some(true), Some(""))
    );
    let (status, again) = call(&app, Method::DELETE, &path, &ann_token, None).await;
    assert_eq!(
        (status.as_u16(), again["seq"].clone()),
        (200, tombstone["seq"].clone()),
        "twice is once"
    );
    let (status, _) = call(&app, Method::PUT, &reaction, &bob_token, None).await;
    assert_eq!(status, 404, "no reaction to a tombstone");
    // An outsider of the room is told to join it first.
    let carol = app.user_token("carol").await;
    let (status, _) = call(
        &app,
        Method::PUT,
        &reaction.replace(&id.to_string(), "1"),
        &carol,
        None,
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_thread_is_read_as_its_root_and_its_replies() {
    let app = TestApp::spawn().await;
    let (mut ann, mut bob, ann_token, _) = pair(&app, "thr").await;
    let root = ann.say("thr", "root").await;
    ann.say("thr", "unrelated").await;
    for n in 0..3 {
        bob.send(
            json!({"type": "send", "room": "thr", "text": format!("reply {n}"), "reply_to": root}),
        )
        .await;
        bob.until("ack").await;
    }
    let page: Value = app
        .get(
            &format!("/api/rooms/thr/messages?thread={root}"),
            &ann_token,
        )
        .await
        .json()
        .await
        .unwrap();
    let texts: Vec<&str> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["root", "reply 0", "reply 1", "reply 2"]);
    assert_eq!(page["messages"][0]["replies"], 3);
    let response = app
        .get("/api/rooms/thr/messages?thread=999999", &ann_token)
        .await;
    assert_eq!(response.status(), 404);
    let response = app
        .get(
            &format!("/api/rooms/thr/messages?thread={root}&before=5"),
            &ann_token,
        )
        .await;
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn mentions_are_read_by_the_server_and_counted_unread_per_member() {
    let app = TestApp::spawn().await;
    // ann owns the room; bob is a member.
    let (mut ann, mut bob, _ann_token, bob_token) = pair(&app, "news").await;
    let cy_token = app.user_token("cyd").await;
    let mut cy = WsClient::connect(&app, &cy_token).await;
    cy.join("news").await;
    ann.say("news", "@bob and @nobody-here and @ann, look")
        .await;
    let heard = bob.next_of("message").await;
    assert_eq!(
        heard["mentions"],
        json!(["bob"]),
        "a known name, not the writer's: {heard}"
    );
    ann.say("news", "@room the release is out").await;
    let heard = bob.next_of("message").await;
    assert_eq!(heard["mentions_room"], true, "{heard}");
    // @room from a member is plain text.
    bob.say("news", "@room anyone?").await;
    let heard = loop {
        let message = cy.until("message").await;
        if message["user"] == "bob" {
            break message;
        }
    };
    assert_eq!(heard.get("mentions_room"), None, "{heard}");

    let mine = |token: String| {
        let app = &app;
        async move {
            let rooms: Value = app.get("/api/me/rooms", &token).await.json().await.unwrap();
            let room = rooms["rooms"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["name"] == "news")
                .unwrap()
                .clone();
            (room["unread"].as_u64(), room["unread_mentions"].as_u64())
        }
    };
    assert_eq!(mine(bob_token.clone()).await, (Some(2), Some(2)));
    assert_eq!(
        mine(cy_token.clone()).await,
        (Some(3), Some(1)),
        "@room only"
    );
}

#[tokio::test]
async fn an_edit_window_closes_editing_but_not_deleting() {
    let app = TestApp::spawn_with(|config| config.edit_window_secs = 1).await;
    let (mut ann, _bob, ..) = pair(&app, "window").await;
    let id = ann.say("window", "quick").await;
    acked(
        &mut ann,
        json!({"type": "edit", "room": "window", "id": id, "text": "quick fix"}),
    )
    .await;
    // The window is time itself: wait it out.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let (code, room) = refused(
        &mut ann,
        json!({"type": "edit", "room": "window", "id": id, "text": "too late"}),
    )
    .await;
    assert_eq!((code.as_str(), room.as_str()), ("forbidden", "window"));
    acked(
        &mut ann,
        json!({"type": "delete", "room": "window", "id": id}),
    )
    .await;
}

#[tokio::test]
async fn a_member_may_quiet_a_room_for_themselves() {
    use reqwest::Method;
    let app = TestApp::spawn().await;
    let (_ann, _bob, ann_token, bob_token) = pair(&app, "loud").await;
    let quiet_of = |token: String| {
        let app = &app;
        async move {
            let rooms: Value = app.get("/api/me/rooms", &token).await.json().await.unwrap();
            rooms["rooms"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["name"] == "loud")
                .map(|r| r["quiet"].clone())
        }
    };
    let (status, _) = call(
        &app,
        Method::PUT,
        "/api/me/rooms/loud",
        &bob_token,
        Some(json!({"quiet": true})),
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(quiet_of(bob_token.clone()).await, Some(json!(true)));
    assert_eq!(
        quiet_of(ann_token.clone()).await,
        Some(json!(false)),
        "bob's own setting"
    );
    let carol = app.user_token("carol").await;
    for (token, path, body, status) in [
        (&carol, "/api/me/rooms/loud", json!({"quiet": true}), 403),
        (
            &bob_token,
            "/api/me/rooms/nowhere",
            json!({"quiet": true}),
            404,
        ),
        (
            &bob_token,
            "/api/me/rooms/loud",
            json!({"quiet": "yes"}),
            400,
        ),
    ] {
        let (got, _) = call(&app, Method::PUT, path, token, Some(body.clone())).await;
        assert_eq!(got.as_u16(), status, "{path} {body}");
    }
}

#[tokio::test]
async fn a_changes_ack_never_names_the_client_id_of_the_message_it_changes() {
    let app = TestApp::spawn().await;
    let (mut ann, ..) = pair(&app, "acks").await;
    ann.send(json!({"type": "send", "room": "acks", "text": "original", "client_id": "send-1"}))
        .await;
    let id = ann.until("ack").await["id"].as_i64().unwrap();
    for frame in [
        json!({"type": "react", "room": "acks", "id": id, "emoji": "👍"}),
        json!({"type": "delete", "room": "acks", "id": id}),
    ] {
        ann.send(frame.clone()).await;
        let ack = ann.until("ack").await;
        assert_eq!(ack["client_id"], Value::Null, "{frame}: {ack}");
    }
}
