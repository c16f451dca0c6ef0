//! Rooms: auth, create, duplicates, search, pagination, history (SPEC §2).

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, error_of};

#[tokio::test]
async fn room_routes_need_a_token() {
    let app = TestApp::spawn().await;
    for path in [
        "/api/rooms",
        "/api/rooms/general",
        "/api/rooms/general/messages",
        "/api/me/rooms",
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        let (status, code) = error_of(response).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "unauthorized"),
            "{path}"
        );
    }
    let create = app
        .client
        .post(app.url("/api/rooms"))
        .json(&serde_json::json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(create.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn general_exists_from_the_first_start() {
    let app = TestApp::spawn().await;
    let token = app.user_token("kim").await;
    let general = app.get("/api/rooms/general", &token).await;
    assert_eq!(general.status(), StatusCode::OK);
    let general: Value = general.json().await.unwrap();
    assert_eq!(general["name"], "general");
    assert_eq!(general["created_by"], Value::Null);
    assert_eq!(general["online"], 0);
}

#[tokio::test]
async fn a_room_is_created_once_and_its_creator_is_a_member() {
    let app = TestApp::spawn().await;
    let token = app.user_token("lena").await;

    let created = app
        .create_room(&token, "Rust-Lang", Some("All things Rust"))
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let room: Value = created.json().await.unwrap();
    assert_eq!(room["name"], "rust-lang");
    assert_eq!(room["topic"], "All things Rust");
    assert_eq!(room["created_by"], "lena");
    assert!(room["created_at"].as_str().unwrap().ends_with('Z'));

    let (status, code) = error_of(app.create_room(&token, "RUST-LANG", None).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::CONFLICT, "conflict"));

    let fetched: Value = app
        .get("/api/rooms/Rust-Lang", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched["name"], "rust-lang");

    let mine: Value = app.get("/api/me/rooms", &token).await.json().await.unwrap();
    let names: Vec<&str> = mine["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["rust-lang"]);
    assert_eq!(mine["rooms"][0]["unread"], 0);
    assert_eq!(mine["rooms"][0]["last_read"], 0);
}

#[tokio::test]
async fn invalid_room_names_and_topics_are_rejected() {
    let app = TestApp::spawn().await;
    let token = app.user_token("mona").await;
    let long_topic = "t".repeat(201);
    for (name, topic) in [
        ("", None),
        ("two words", None),
        ("semi;colon", None),
        (&*"r".repeat(65), None),
        ("fine", Some(long_topic.as_str())),
    ] {
        let (status, code) = error_of(app.create_room(&token, name, topic).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            "{name:?}"
        );
    }
}

#[tokio::test]
async fn unknown_rooms_are_404() {
    let app = TestApp::spawn().await;
    let token = app.user_token("nina").await;
    for path in [
        "/api/rooms/nope",
        "/api/rooms/nope/messages",
        "/api/rooms/not%20valid",
    ] {
        let (status, code) = error_of(app.get(path, &token).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::NOT_FOUND, "not_found"),
            "{path}"
        );
    }
}

async fn room_names(app: &TestApp, token: &str, query: &str) -> (Vec<String>, Value) {
    let response = app.get(&format!("/api/rooms?{query}"), token).await;
    assert_eq!(response.status(), StatusCode::OK, "{query}");
    let page: Value = response.json().await.unwrap();
    let names = page["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    (names, page["next_cursor"].clone())
}

#[tokio::test]
async fn rooms_are_searched_by_name_or_topic_case_insensitively() {
    let app = TestApp::spawn().await;
    let token = app.user_token("oscar").await;
    app.create_room(&token, "rustaceans", None).await;
    app.create_room(&token, "cooking", Some("Recipes, RUST-free pans"))
        .await;
    app.create_room(&token, "gardening", Some("Plants")).await;

    let (names, cursor) = room_names(&app, &token, "q=Rust").await;
    assert_eq!(names, ["cooking", "rustaceans"]);
    assert_eq!(cursor, Value::Null);
    let (names, _) = room_names(&app, &token, "q=zzz").await;
    assert!(names.is_empty());
}

#[tokio::test]
async fn room_lists_are_paginated_with_a_cursor() {
    let app = TestApp::spawn().await;
    let token = app.user_token("peggy").await;
    for i in 0..7 {
        assert_eq!(
            app.create_room(&token, &format!("page-{i}"), None)
                .await
                .status(),
            StatusCode::CREATED
        );
    }
    let mut seen = Vec::new();
    let mut query = "q=page-&limit=3".to_owned();
    let mut pages = 0;
    loop {
        let (names, cursor) = room_names(&app, &token, &query).await;
        pages += 1;
        assert!(names.len() <= 3);
        seen.extend(names);
        match cursor.as_str() {
            Some(cursor) => query = format!("q=page-&limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..7).map(|i| format!("page-{i}")).collect();
    assert_eq!(seen, expected);

    for bad in [
        "limit=0",
        "limit=101",
        "limit=-1",
        "limit=abc",
        "cursor=%%%",
    ] {
        let response = app.get(&format!("/api/rooms?{bad}"), &token).await;
        let (status, _) = error_of(response).await;
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {status}"
        );
    }
}

#[tokio::test]
async fn sql_metacharacters_are_stored_and_found_literally() {
    let app = TestApp::spawn().await;
    // Usernames: `_`, `.` and `-` are allowed, and `_` is a LIKE wildcard.
    let token = app.user_token("o_neil").await;
    assert_eq!(
        app.login("oXneil", crate::helpers::PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.register("o.neil", crate::helpers::PASSWORD)
            .await
            .status(),
        StatusCode::CREATED
    );

    let topics = [
        "100% sure",
        "it's; DROP TABLE rooms; --",
        "under_score",
        "back\\slash",
    ];
    for (i, topic) in topics.iter().enumerate() {
        let created = app
            .create_room(&token, &format!("meta_{i}"), Some(topic))
            .await;
        assert_eq!(created.status(), StatusCode::CREATED);
        let room: Value = created.json().await.unwrap();
        assert_eq!(room["topic"], *topic);
    }
    app.create_room(&token, "plain", Some("nothing special here"))
        .await;

    let cases = [
        ("q=%25", vec!["meta_0"]),
        // `general`'s topic is "Everyone's room".
        ("q=%27", vec!["general", "meta_1"]),
        ("q=DROP%20TABLE", vec!["meta_1"]),
        ("q=_", vec!["meta_0", "meta_1", "meta_2", "meta_3"]),
        ("q=r_s", vec!["meta_2"]),
        ("q=%5C", vec!["meta_3"]),
        ("q=a_1", vec!["meta_1"]),
    ];
    for (query, expected) in cases {
        let (names, _) = room_names(&app, &token, query).await;
        assert_eq!(names, expected, "{query}");
    }
    // The table survived the topic above.
    let (names, _) = room_names(&app, &token, "limit=100").await;
    assert_eq!(
        names.len(),
        1 + topics.len() + 1,
        "general, the meta rooms and plain: {names:?}"
    );
}

#[tokio::test]
async fn history_of_a_new_room_is_empty() {
    let app = TestApp::spawn().await;
    let token = app.user_token("quinn").await;
    let page = app
        .get("/api/rooms/general/messages?limit=10", &token)
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    let page: Value = page.json().await.unwrap();
    assert_eq!(page["messages"], serde_json::json!([]));
    assert_eq!(page["more"], false);
    for bad in ["limit=0", "limit=201", "before=x"] {
        let response = app
            .get(&format!("/api/rooms/general/messages?{bad}"), &token)
            .await;
        let (status, _) = error_of(response).await;
        assert!(status.is_client_error(), "{bad}: {status}");
    }
}
