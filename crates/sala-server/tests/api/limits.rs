//! Resource caps (issue #10): each refuses with a clear error, keeps what was within the
//! cap working, and frees its place when the use ends.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, error_of};
use crate::ws_client::{Ended, WsClient};

#[tokio::test]
async fn a_user_may_hold_only_so_many_connections() {
    let app = TestApp::spawn_with(|config| config.max_connections_per_user = 3).await;
    let token = app.user_token("many").await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(WsClient::connect(&app, &token).await);
    }

    let mut fourth = WsClient::connect_raw(&app, Some(&token)).await.unwrap();
    let refusal = fourth.next_frame().await;
    assert_eq!(refusal["type"], "error", "{refusal}");
    assert_eq!(refusal["code"], "limit_reached", "{refusal}");
    assert!(
        refusal["message"].as_str().unwrap().contains('3'),
        "the message names the cap: {refusal}"
    );
    assert_eq!(fourth.ended().await, Ended::Closed(Some(1008)));

    // The auth-frame path counts the same connections.
    let mut by_frame = WsClient::connect_raw(&app, None).await.unwrap();
    by_frame.send(json!({"type": "auth", "token": token})).await;
    assert_eq!(by_frame.next_frame().await["code"], "limit_reached");
    assert_eq!(by_frame.ended().await, Ended::Closed(Some(1008)));

    // Those within the cap still work, another user is not affected, and a closed
    // connection frees its place.
    open[0].assert_nothing_pending().await;
    WsClient::connect(&app, &app.user_token("other").await).await;
    open.pop().unwrap().socket.close(None).await.unwrap();
    let mut again = None;
    for _ in 0..50 {
        let mut client = WsClient::connect_raw(&app, Some(&token)).await.unwrap();
        if client.next_frame().await["type"] == "ready" {
            again = Some(client);
            break;
        }
        // The server may not have seen the close yet: its refusal is the answer to await.
        assert_eq!(client.ended().await, Ended::Closed(Some(1008)));
    }
    again.expect("a place is freed once a connection closes");
}

#[tokio::test]
async fn a_connection_may_join_only_so_many_rooms() {
    let app = TestApp::spawn_with(|config| config.max_rooms_per_connection = 2).await;
    let token = app.user_token("roomy").await;
    // Made by someone else: a creator becomes a member.
    let maker = app.user_token("maker").await;
    for room in ["r1", "r2"] {
        assert_eq!(
            app.create_room(&maker, room, None).await.status(),
            StatusCode::CREATED
        );
    }
    let mut client = WsClient::connect(&app, &token).await;
    client.join("general").await;
    client.join("r1").await;
    client.join("r1").await; // Joining again is not one more room.

    client.send(json!({"type": "join", "room": "r2"})).await;
    let refusal = client.next_of("error").await;
    assert_eq!(refusal["code"], "limit_reached", "{refusal}");
    client.assert_nothing_pending().await;
    // Refused means not a member either: membership lasts, so it must not be stored.
    let rooms: serde_json::Value = app.get("/api/me/rooms", &token).await.json().await.unwrap();
    let names: Vec<_> = rooms["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|room| room["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(!names.contains(&"r2".to_owned()), "{names:?}");

    client.say("r1", "still here").await;
    client.send(json!({"type": "leave", "room": "r1"})).await;
    client.next_of("left").await;
    client.join("r2").await;
}

#[tokio::test]
async fn a_user_may_create_only_so_many_rooms_an_hour() {
    let app = TestApp::spawn_with(|config| config.rooms_per_hour = 2).await;
    let token = app.user_token("builder").await;
    assert_eq!(
        app.create_room(&token, "first", None).await.status(),
        StatusCode::CREATED
    );
    // A taken name is refused for itself and costs nothing.
    assert_eq!(
        app.create_room(&token, "first", None).await.status(),
        StatusCode::CONFLICT
    );
    assert_eq!(
        app.create_room(&token, "second", None).await.status(),
        StatusCode::CREATED
    );

    let refused = app.create_room(&token, "third", None).await;
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&retry_after), "{retry_after}");
    assert_eq!(
        error_of(refused).await,
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited".into())
    );
    assert_eq!(
        app.get("/api/rooms/third", &token).await.status(),
        StatusCode::NOT_FOUND,
        "nothing was created"
    );
    let other = app.user_token("other-builder").await;
    assert_eq!(
        app.create_room(&other, "third", None).await.status(),
        StatusCode::CREATED,
        "the quota is per user"
    );
}

#[tokio::test]
async fn the_send_rate_is_per_user_across_connections() {
    let app = TestApp::spawn_with(|config| {
        config.send_rate = 0.001;
        config.send_burst = 3;
    })
    .await;
    let token = app.user_token("chatty").await;
    let mut phone = WsClient::connect(&app, &token).await;
    let mut laptop = WsClient::connect(&app, &token).await;
    phone.join("general").await;
    laptop.join("general").await;
    phone.say("general", "one").await;
    laptop.until("message").await;
    phone.say("general", "two").await;
    laptop.until("message").await;
    laptop.say("general", "three").await;
    phone.until("message").await;

    // The burst of 3 is the user's: a second connection does not buy more.
    laptop
        .send(json!({"type": "send", "room": "general", "text": "four"}))
        .await;
    assert_eq!(laptop.next_of("error").await["code"], "rate_limited");
    phone
        .send(json!({"type": "send", "room": "general", "text": "five"}))
        .await;
    assert_eq!(phone.next_of("error").await["code"], "rate_limited");

    let mut other = WsClient::connect(&app, &app.user_token("quiet").await).await;
    other.join("general").await;
    other.say("general", "another user has their own").await;
}

#[tokio::test]
async fn oversized_headers_are_refused_and_the_node_serves_on() {
    let app = TestApp::spawn().await;
    let token = app.user_token("heady").await;
    let big = "x".repeat(20 * 1024);
    let refused = app
        .client
        .get(app.url("/api/me"))
        .bearer_auth(&token)
        .header("x-padding", &big)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(refused).await,
        (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large".into()
        )
    );

    // Far past any buffer: hyper refuses the head before it is parsed whole.
    let huge = "x".repeat(1024 * 1024);
    match app
        .client
        .get(app.url("/healthz"))
        .header("x-padding", &huge)
        .send()
        .await
    {
        Ok(response) => assert_eq!(
            response.status(),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        ),
        Err(err) => assert!(!err.is_timeout(), "refused, not hung: {err}"),
    }

    let me = app.get("/api/me", &token).await;
    assert_eq!(me.status(), StatusCode::OK);
}
