//! Messaging over `/ws`: delivery, acks, presence, resume, idempotency (SPEC §3).

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::ws_client::WsClient;

#[tokio::test]
async fn two_users_exchange_messages_and_a_third_room_hears_nothing() {
    let app = TestApp::spawn().await;
    let mut alice = WsClient::connect(&app, &app.user_token("alice").await).await;
    let mut bob = WsClient::connect(&app, &app.user_token("bob").await).await;
    let carol_token = app.user_token("carol").await;
    app.create_room(&carol_token, "elsewhere", None).await;
    let mut carol = WsClient::connect(&app, &carol_token).await;
    carol.join("elsewhere").await;

    let joined = alice.join("general").await;
    assert_eq!(joined["members"], json!(["alice"]));
    assert_eq!(joined["history"], json!([]));
    let joined = bob.join("general").await;
    assert_eq!(joined["members"], json!(["alice", "bob"]));
    let presence = alice.next_of("presence").await;
    assert_eq!(
        (presence["user"].as_str(), presence["event"].as_str()),
        (Some("bob"), Some("joined"))
    );

    let first = alice.say("general", "hello bob").await;
    let heard = bob.next_of("message").await;
    assert_eq!(
        (heard["id"].as_i64(), heard["user"].as_str()),
        (Some(first), Some("alice"))
    );
    assert_eq!(heard["room"], "general");
    assert_eq!(heard["assistant"], false);
    assert!(heard["ts"].as_str().unwrap().ends_with('Z'));

    let second = bob.say("general", "hi alice").await;
    assert!(second > first, "ids increase within a room");
    let heard = alice.next_of("message").await;
    assert_eq!(
        (heard["id"].as_i64(), heard["text"].as_str()),
        (Some(second), Some("hi alice"))
    );

    carol.assert_nothing_pending().await;
    alice.assert_nothing_pending().await;
    bob.assert_nothing_pending().await;

    // The history endpoint and the room's live count agree.
    let page: Value = app
        .get("/api/rooms/general/messages", &carol_token)
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<i64> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [first, second]);
    let room: Value = app
        .get("/api/rooms/general", &carol_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(room["online"], 2);
}

#[tokio::test]
async fn the_browser_path_authenticates_with_a_first_frame() {
    let app = TestApp::spawn().await;
    let token = app.user_token("dora").await;
    let mut client = WsClient::connect_raw(&app, None).await.unwrap();
    client.send(json!({"type": "auth", "token": token})).await;
    let ready = client.next_frame().await;
    assert_eq!(ready["type"], "ready");
    assert_eq!(ready["user"]["username"], "dora");
    assert_eq!(ready["user"]["status"], "available");
    client.join("general").await;
    client.say("general", "authenticated by frame").await;
}

#[tokio::test]
async fn presence_follows_the_users_last_connection() {
    let app = TestApp::spawn().await;
    let mut watcher = WsClient::connect(&app, &app.user_token("watcher").await).await;
    watcher.join("general").await;
    let eve_token = app.user_token("eve").await;
    let mut phone = WsClient::connect(&app, &eve_token).await;
    let mut laptop = WsClient::connect(&app, &eve_token).await;

    phone.join("general").await;
    let presence = watcher.next_of("presence").await;
    assert_eq!(
        (presence["user"].as_str(), presence["event"].as_str()),
        (Some("eve"), Some("joined"))
    );
    let joined = laptop.join("general").await;
    assert_eq!(joined["members"], json!(["eve", "watcher"]));
    watcher.assert_nothing_pending().await; // no second `joined` for eve's second device

    phone.socket.close(None).await.unwrap();
    watcher.assert_nothing_pending().await; // eve is still here on the laptop
    let room: Value = app
        .get("/api/rooms/general", &eve_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(room["online"], 2);

    drop(laptop);
    let presence = watcher.next_frame().await;
    assert_eq!(presence["type"], "presence");
    assert_eq!(
        (presence["user"].as_str(), presence["event"].as_str()),
        (Some("eve"), Some("disconnected"))
    );

    let mut tablet = WsClient::connect(&app, &eve_token).await;
    tablet.join("general").await;
    assert_eq!(watcher.next_of("presence").await["event"], "joined");
    tablet
        .send(json!({"type": "leave", "room": "general"}))
        .await;
    assert_eq!(
        tablet.next_frame().await,
        json!({"type": "left", "room": "general"})
    );
    let presence = watcher.next_frame().await;
    assert_eq!(
        (presence["user"].as_str(), presence["event"].as_str()),
        (Some("eve"), Some("left"))
    );
    let mine: Value = app
        .get("/api/me/rooms", &eve_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["rooms"], json!([]), "leave ends the membership");
}

#[tokio::test]
async fn membership_lasts_across_connections() {
    let app = TestApp::spawn().await;
    let token = app.user_token("fay").await;
    let mut first = WsClient::connect(&app, &token).await;
    first.join("general").await;
    drop(first);
    let mine: Value = app.get("/api/me/rooms", &token).await.json().await.unwrap();
    assert_eq!(mine["rooms"][0]["name"], "general");
}

#[tokio::test]
async fn resuming_with_since_returns_every_missed_message_once_and_in_order() {
    let app = TestApp::spawn().await;
    let talker_token = app.user_token("talker").await;
    let mut talker = WsClient::connect(&app, &talker_token).await;
    talker.join("general").await;
    let listener_token = app.user_token("listener").await;
    let mut listener = WsClient::connect(&app, &listener_token).await;
    listener.join("general").await;

    let mut sent = Vec::new();
    for i in 0..5 {
        sent.push(talker.say("general", &format!("before {i}")).await);
    }
    let mut last_seen = 0;
    for _ in 0..5 {
        last_seen = listener.next_of("message").await["id"].as_i64().unwrap();
    }
    assert_eq!(last_seen, *sent.last().unwrap());

    // The listener drops; the talker keeps talking while it is away and while it resumes.
    drop(listener);
    for i in 0..20 {
        sent.push(talker.say("general", &format!("away {i}")).await);
    }
    let mut listener = WsClient::connect(&app, &listener_token).await;
    listener
        .send(json!({"type": "join", "room": "general", "since": last_seen}))
        .await;
    let talking = tokio::spawn(async move {
        let mut ids = Vec::new();
        for i in 0..30 {
            ids.push(talker.say("general", &format!("during {i}")).await);
        }
        (ids, talker)
    });
    let joined = listener.next_of("joined").await;
    assert_eq!(joined["more"], false);
    let mut received: Vec<i64> = joined["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    let (during, _talker) = talking.await.unwrap();
    sent.extend(during);
    while received.last() != sent.last() {
        received.push(listener.next_of("message").await["id"].as_i64().unwrap());
    }
    let expected: Vec<i64> = sent.iter().copied().filter(|id| *id > last_seen).collect();
    assert_eq!(received, expected, "every missed message once, in order");
    listener.assert_nothing_pending().await;
}

#[tokio::test]
async fn a_repeated_client_id_stores_one_message() {
    let app = TestApp::spawn().await;
    let token = app.user_token("gus").await;
    let mut gus = WsClient::connect(&app, &token).await;
    let mut other = WsClient::connect(&app, &app.user_token("hal").await).await;
    gus.join("general").await;
    other.join("general").await;
    gus.next_of("presence").await;

    let send = json!({"type": "send", "room": "general", "text": "once", "client_id": "c-1"});
    gus.send(send.clone()).await;
    let ack = gus.next_of("ack").await;
    assert_eq!(ack["client_id"], "c-1");
    let message = gus.next_of("message").await;
    assert_eq!(message["client_id"], "c-1");
    // The retry (as after a lost ack) gets the same id and is not delivered again.
    gus.send(send).await;
    let again = gus.next_of("ack").await;
    assert_eq!(again["id"], ack["id"]);
    gus.assert_nothing_pending().await;
    assert_eq!(other.next_of("message").await["id"], ack["id"]);
    other.assert_nothing_pending().await;

    let page: Value = app
        .get("/api/rooms/general/messages", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["messages"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn join_returns_the_last_50_and_history_pages_back() {
    let app = TestApp::spawn().await;
    let token = app.user_token("ida").await;
    let mut ida = WsClient::connect(&app, &token).await;
    ida.join("general").await;
    let mut ids = Vec::new();
    for i in 0..60 {
        ids.push(ida.say("general", &format!("m{i}")).await);
    }
    let mut reader = WsClient::connect(&app, &app.user_token("jon").await).await;
    let joined = reader.join("general").await;
    let history: Vec<i64> = joined["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(history, ids[10..]);
    assert_eq!(joined["more"], true);

    reader
        .send(json!({"type": "history", "room": "general", "before": ids[10], "limit": 8}))
        .await;
    let page = reader.next_of("history").await;
    let older: Vec<i64> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(older, ids[2..10]);
    assert_eq!(page["more"], true);
}

#[tokio::test]
async fn typing_status_and_read_markers_reach_the_right_connections() {
    let app = TestApp::spawn().await;
    let kai_token = app.user_token("kai").await;
    let mut kai = WsClient::connect(&app, &kai_token).await;
    let mut kai_phone = WsClient::connect(&app, &kai_token).await;
    let mut lou = WsClient::connect(&app, &app.user_token("lou").await).await;
    kai.join("general").await;
    kai_phone.join("general").await;
    lou.join("general").await;
    kai.next_of("presence").await;
    kai_phone.next_of("presence").await;

    kai.send(json!({"type": "typing", "room": "general"})).await;
    assert_eq!(
        lou.next_frame().await,
        json!({"type": "typing", "room": "general", "user": "kai"})
    );
    kai.send(json!({"type": "typing", "room": "general"})).await; // throttled: dropped
    kai.assert_nothing_pending().await;
    kai_phone.assert_nothing_pending().await; // typing goes to the other users only
    lou.assert_nothing_pending().await;

    kai.send(json!({"type": "status", "status": "busy", "note": "in a meeting"}))
        .await;
    let expected =
        json!({"type": "status", "user": "kai", "status": "busy", "note": "in a meeting"});
    assert_eq!(lou.next_frame().await, expected);
    assert_eq!(kai.next_frame().await, expected);
    assert_eq!(kai_phone.next_frame().await, expected);
    let me: Value = app.get("/api/me", &kai_token).await.json().await.unwrap();
    assert_eq!(me["status"], "busy");

    let id = lou.say("general", "read me").await;
    kai.next_of("message").await;
    kai_phone.next_of("message").await;
    kai.send(json!({"type": "read", "room": "general", "id": id}))
        .await;
    assert_eq!(
        kai_phone.next_frame().await,
        json!({"type": "read", "room": "general", "id": id})
    );
    kai.assert_nothing_pending().await;
    let mine: Value = app
        .get("/api/me/rooms", &kai_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            mine["rooms"][0]["last_read"].as_i64(),
            mine["rooms"][0]["unread"].as_i64()
        ),
        (Some(id), Some(0))
    );
}

#[tokio::test]
async fn joined_tells_the_status_and_note_of_every_member_online() {
    let app = TestApp::spawn().await;
    let mut bob = WsClient::connect(&app, &app.user_token("bob").await).await;
    let mut cyd = WsClient::connect(&app, &app.user_token("cyd").await).await;
    let dee_token = app.user_token("dee").await;
    bob.join("general").await;
    cyd.join("general").await;
    bob.send(json!({"type": "status", "status": "busy", "note": "in a meeting"}))
        .await;
    bob.next_of("status").await;
    // dee was busy and went offline: not online, so not listed.
    let mut dee = WsClient::connect(&app, &dee_token).await;
    dee.join("general").await;
    dee.send(json!({"type": "status", "status": "busy"})).await;
    dee.next_of("status").await;
    drop(dee);
    while bob.until("presence").await
        != json!({"type": "presence", "room": "general", "user": "dee", "event": "disconnected"})
    {
    }

    // A client loaded after the change learns it from `joined`, not only from live frames.
    let mut ann = WsClient::connect(&app, &app.user_token("ann").await).await;
    ann.send(json!({"type": "join", "room": "general"})).await;
    let joined = ann.next_of("joined").await;
    assert_eq!(joined["members"], json!(["ann", "bob", "cyd"]));
    assert_eq!(
        joined["statuses"],
        json!({"bob": {"status": "busy", "note": "in a meeting"}}),
        "cyd is available, so left out; dee is offline"
    );
}

#[tokio::test]
async fn many_senders_share_batches_and_every_message_is_acked_once() {
    let app = TestApp::spawn().await;
    let mut listener = WsClient::connect(&app, &app.user_token("counter").await).await;
    listener.join("general").await;
    let mut senders = Vec::new();
    for i in 0..8 {
        let mut client =
            WsClient::connect(&app, &app.user_token(&format!("sender{i}")).await).await;
        client.join("general").await;
        senders.push(client);
    }
    let tasks: Vec<_> = senders
        .into_iter()
        .map(|mut client| {
            tokio::spawn(async move {
                for n in 0..25 {
                    client
                        .send(json!({"type": "send", "room": "general", "text": format!("n{n}")}))
                        .await;
                }
                let mut acks = Vec::new();
                while acks.len() < 25 {
                    let frame = client.next_frame().await;
                    if frame["type"] == "ack" {
                        acks.push(frame["id"].as_i64().unwrap());
                    }
                }
                acks
            })
        })
        .collect();
    let mut acked = HashSet::new();
    for task in tasks {
        for id in task.await.unwrap() {
            assert!(acked.insert(id), "id {id} acked twice");
        }
    }
    let mut delivered = Vec::new();
    while delivered.len() < acked.len() {
        delivered.push(listener.next_of("message").await["id"].as_i64().unwrap());
    }
    assert!(
        delivered.windows(2).all(|pair| pair[0] < pair[1]),
        "in id order"
    );
    assert_eq!(delivered.into_iter().collect::<HashSet<_>>(), acked);
}
