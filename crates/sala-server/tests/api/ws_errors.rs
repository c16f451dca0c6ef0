//! Bad input over `/ws` gets its error and the connection stays usable; abuse of the
//! transport closes it with the right code (SPEC §3).

use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{TestApp, error_of};
use crate::ws_client::{Ended, WsClient};

async fn expect_error(client: &mut WsClient, frame: Message, code: &str) {
    let shown = format!("{frame:?}");
    client.send_raw(frame).await;
    let error = client.next_frame().await;
    assert_eq!(error["type"], "error", "{shown}: {error}");
    assert_eq!(error["code"], code, "{shown}: {error}");
    assert!(error["message"].is_string());
    client.assert_nothing_pending().await;
}

fn text(value: &str) -> Message {
    Message::text(value.to_owned())
}

#[tokio::test]
async fn every_bad_frame_gets_its_error_and_the_connection_still_sends() {
    let app = TestApp::spawn_with(|config| {
        config.send_rate = 0.001;
        config.send_burst = 3;
    })
    .await;
    let token = app.user_token("max").await;
    app.create_room(&app.user_token("ned").await, "joined-not", None)
        .await;
    let mut client = WsClient::connect(&app, &token).await;
    client.join("general").await;

    let cases = [
        ("{", "bad_request"),
        ("[1,2]", "bad_request"),
        (r#"{"room":"general"}"#, "bad_request"),
        (r#"{"type":"shout","room":"general"}"#, "bad_request"),
        (r#"{"type":"send","room":"general"}"#, "bad_request"),
        (
            r#"{"type":"send","room":"general","text":42}"#,
            "bad_request",
        ),
        (r#"{"type":"join"}"#, "bad_request"),
        (r#"{"type":"auth","token":"x"}"#, "bad_request"),
        (
            r#"{"type":"send","room":"joined-not","text":"hi"}"#,
            "not_member",
        ),
        (
            r#"{"type":"send","room":"no-such-room","text":"hi"}"#,
            "not_found",
        ),
        (r#"{"type":"join","room":"no-such-room"}"#, "not_found"),
        (r#"{"type":"join","room":"Not A Name"}"#, "not_found"),
        (r#"{"type":"typing","room":"joined-not"}"#, "not_member"),
        (
            r#"{"type":"history","room":"nowhere","before":5}"#,
            "not_found",
        ),
        (
            r#"{"type":"history","room":"general","limit":0}"#,
            "invalid",
        ),
        (
            r#"{"type":"send","room":"general","text":"   "}"#,
            "invalid",
        ),
        (
            r#"{"type":"send","room":"general","text":"hi","client_id":""}"#,
            "invalid",
        ),
        (r#"{"type":"status","status":"asleep"}"#, "invalid"),
        (
            r#"{"type":"read","room":"joined-not","id":1}"#,
            "not_member",
        ),
    ];
    for (frame, code) in cases {
        expect_error(&mut client, text(frame), code).await;
    }
    let too_long = json!({"type": "send", "room": "general", "text": "x".repeat(4001)});
    expect_error(&mut client, text(&too_long.to_string()), "invalid").await;

    // Nothing above was stored; the burst of 3 still allows three messages, then no more.
    for i in 0..3 {
        client.say("general", &format!("ok {i}")).await;
    }
    let too_many = r#"{"type":"send","room":"General","text":"one too many","client_id":"late-1"}"#;
    client.send_raw(text(too_many)).await;
    let error = client.next_frame().await;
    assert_eq!(error["code"], "rate_limited");
    assert_eq!(
        (error["room"].as_str(), error["client_id"].as_str()),
        (Some("general"), Some("late-1")),
        "{error}"
    );
    let page: Value = app
        .get("/api/rooms/general/messages", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["messages"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn a_frame_over_64_kib_closes_with_1009() {
    let app = TestApp::spawn().await;
    let mut client = WsClient::connect(&app, &app.user_token("otto").await).await;
    let huge = json!({"type": "send", "room": "general", "text": "x".repeat(70 * 1024)});
    client.send(huge).await;
    assert_eq!(client.ended().await, Ended::Closed(Some(1009)));
}

#[tokio::test]
async fn a_binary_frame_closes_with_1003() {
    let app = TestApp::spawn().await;
    let mut client = WsClient::connect(&app, &app.user_token("pia").await).await;
    client.send_raw(Message::binary(vec![1, 2, 3])).await;
    assert_eq!(client.ended().await, Ended::Closed(Some(1003)));
}

#[tokio::test]
async fn a_bad_token_at_the_upgrade_is_401_without_upgrade() {
    let app = TestApp::spawn().await;
    let error = WsClient::connect_raw(&app, Some("not-a-token"))
        .await
        .err()
        .expect("refused");
    match error {
        tokio_tungstenite::tungstenite::Error::Http(response) => {
            assert_eq!(response.status(), 401);
        }
        other => panic!("expected an HTTP 401, got {other:?}"),
    }
    // A plain GET without the upgrade headers is a JSON 400, not a hang.
    let (status, code) = error_of(app.client.get(app.url("/ws")).send().await.unwrap()).await;
    assert_eq!((status.as_u16(), code.as_str()), (400, "bad_request"));
}

#[tokio::test]
async fn a_bad_or_missing_auth_frame_gets_an_error_then_1008() {
    let app = TestApp::spawn_with(|config| config.auth_timeout_secs = 1).await;
    for first in [
        Some(json!({"type": "auth", "token": "forged"})),
        Some(json!({"type": "ping"})),
        None,
    ] {
        let mut client = WsClient::connect_raw(&app, None).await.unwrap();
        if let Some(frame) = &first {
            client.send(frame.clone()).await;
        }
        // With no frame at all, the server's auth timeout (1 s here) is the event awaited.
        let error = client.next_frame().await;
        assert_eq!(
            (error["type"].as_str(), error["code"].as_str()),
            (Some("error"), Some("bad_request")),
            "{first:?}"
        );
        assert_eq!(client.ended().await, Ended::Closed(Some(1008)), "{first:?}");
    }
    // Transport pings before the auth frame are fine.
    let token = app.user_token("vic").await;
    let mut client = WsClient::connect_raw(&app, None).await.unwrap();
    client.send_raw(Message::Ping(vec![1].into())).await;
    client.send(json!({"type": "auth", "token": token})).await;
    assert_eq!(client.next_frame().await["type"], "ready");
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_and_the_room_keeps_flowing() {
    let app = TestApp::spawn_with(|config| {
        config.outbound_queue = 256;
        config.send_rate = 1e9;
        config.send_burst = u32::MAX;
    })
    .await;
    let mut sloth = WsClient::connect(&app, &app.user_token("sloth").await).await;
    sloth.join("general").await;
    let mut reader = WsClient::connect(&app, &app.user_token("reader").await).await;
    reader.join("general").await;
    let mut talker = WsClient::connect(&app, &app.user_token("talker").await).await;
    talker.join("general").await;
    // From here on sloth reads nothing. Big messages fill the kernel's socket buffers
    // (a few MiB); then sloth's queue fills, and the hub must let go of it.
    const TOTAL: usize = 3000;
    const BATCH: usize = 8;
    let text = "y".repeat(3900);
    let publishing = tokio::spawn(async move {
        for _ in 0..TOTAL / BATCH {
            for _ in 0..BATCH {
                talker
                    .send(json!({"type": "send", "room": "general", "text": text}))
                    .await;
            }
            // The talker reads its own acks and echoes, as any live client does.
            let mut acks = 0;
            while acks < BATCH {
                if talker.next_frame().await["type"] == "ack" {
                    acks += 1;
                }
            }
        }
        talker
    });
    let mut messages = 0;
    let mut sloth_dropped = false;
    while messages < TOTAL {
        let frame = reader.next_frame().await;
        match frame["type"].as_str() {
            Some("message") => messages += 1,
            Some("presence") if frame["user"] == "sloth" && frame["event"] == "disconnected" => {
                sloth_dropped = true;
            }
            _ => {}
        }
    }
    publishing.await.unwrap();
    assert!(
        sloth_dropped,
        "the slow client was disconnected while the reader got all {TOTAL}"
    );
    assert_ne!(sloth.ended().await, Ended::Closed(Some(1000)));
}

#[tokio::test]
async fn a_text_frame_that_is_not_utf8_closes_with_1007() {
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    let app = TestApp::spawn().await;
    let token = app.user_token("garbled").await;
    let mut client = WsClient::connect(&app, &token).await;
    let not_utf8 = Frame::message(vec![0xff, 0xfe, b'{'], OpCode::Data(Data::Text), true);
    client.send_raw(Message::Frame(not_utf8)).await;
    assert_eq!(client.ended().await, Ended::Closed(Some(1007)));
}
