//! How connections end: logout, shutdown, restart, token expiry (SPEC §3, §1).

use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::ws_client::{Ended, WsClient};

#[tokio::test]
async fn logout_closes_the_sessions_sockets_and_only_those() {
    let app = TestApp::spawn().await;
    let token = app.user_token("quin").await;
    let other_session = app.token_for("quin").await;
    let mut first = WsClient::connect(&app, &token).await;
    let mut second = WsClient::connect(&app, &token).await;
    let mut survivor = WsClient::connect(&app, &other_session).await;

    let logout = app.post_authed("/api/logout", &token, &json!({})).await;
    assert_eq!(logout.status(), 204);
    assert_eq!(first.ended().await, Ended::Closed(Some(1008)));
    assert_eq!(second.ended().await, Ended::Closed(Some(1008)));
    survivor.assert_nothing_pending().await;
    assert!(
        WsClient::connect_raw(&app, Some(&token)).await.is_err(),
        "the token is dead"
    );
}

#[tokio::test]
async fn shutdown_commits_what_was_sent_and_closes_with_1001() {
    let mut app = TestApp::spawn().await;
    let token = app.user_token("rita").await;
    let mut client = WsClient::connect(&app, &token).await;
    client.join("general").await;
    for i in 0..20 {
        client
            .send(json!({"type": "send", "room": "general", "text": format!("last words {i}"), "client_id": format!("c{i}")}))
            .await;
    }
    // Whatever was acked before the close frame must be in the history after the restart,
    // and nothing else. Shutdown starts once the first ack is in, with sends still queued.
    let (first_ack, first_ack_seen) = tokio::sync::oneshot::channel();
    let stopping = tokio::spawn(async move {
        let mut first_ack = Some(first_ack);
        let mut acked = Vec::new();
        loop {
            match tokio::time::timeout(
                crate::ws_client::FRAME_TIMEOUT,
                futures_util::StreamExt::next(&mut client.socket),
            )
            .await
            {
                Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text)))) => {
                    let frame: Value = serde_json::from_str(text.as_str()).unwrap();
                    if frame["type"] == "ack" {
                        acked.push(frame["id"].as_i64().unwrap());
                        if let Some(signal) = first_ack.take() {
                            let _ = signal.send(());
                        }
                    }
                }
                Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Close(frame)))) => {
                    return (acked, frame.map(|f| u16::from(f.code)));
                }
                Ok(Some(Ok(_))) => {}
                other => panic!("connection ended without a close frame: {other:?}"),
            }
        }
    });
    first_ack_seen.await.expect("a first ack");
    app.stop().await;
    let (acked, code) = stopping.await.unwrap();
    assert_eq!(code, Some(1001));

    let app = app.restart().await;
    let page: Value = app
        .get("/api/rooms/general/messages", &token)
        .await
        .json()
        .await
        .unwrap();
    let stored: Vec<i64> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(stored, acked);
}

#[tokio::test]
async fn shutdown_also_closes_sockets_that_have_not_authenticated_yet() {
    let mut app = TestApp::spawn().await;
    let mut waiting = WsClient::connect_raw(&app, None).await.unwrap();
    app.stop().await;
    assert_eq!(waiting.ended().await, Ended::Closed(Some(1001)));
}

#[tokio::test]
async fn a_socket_is_closed_when_its_token_expires() {
    let app = TestApp::spawn_with(|config| config.token_ttl_secs = 2).await;
    let token = app.user_token("sam").await;
    let mut client = WsClient::connect(&app, &token).await;
    // The token's expiry (2 s from login) is the event awaited.
    assert_eq!(client.ended().await, Ended::Closed(Some(1008)));
}

#[tokio::test]
async fn a_silent_connection_is_dropped_after_the_idle_timeout() {
    let app = TestApp::spawn_with(|config| config.idle_timeout_secs = 3).await;
    let mut silent = WsClient::connect(&app, &app.user_token("tess").await).await;
    silent.join("general").await;
    // The watcher reads, so it answers the server's pings and stays.
    let mut watcher = WsClient::connect(&app, &app.user_token("uma").await).await;
    watcher.join("general").await;
    // From here `silent` neither sends nor reads, so it answers no ping: after 3 s the
    // server drops it, and the room hears that it disconnected.
    let presence = watcher.next_of("presence").await;
    assert_eq!(
        (presence["user"].as_str(), presence["event"].as_str()),
        (Some("tess"), Some("disconnected"))
    );
    watcher.assert_nothing_pending().await;
    // The close frame (1000) may be lost behind pings the silent client never answered.
    assert!(matches!(
        silent.ended().await,
        Ended::Closed(Some(1000)) | Ended::Dropped
    ));
}
