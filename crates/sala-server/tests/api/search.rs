//! Search over HTTP (issue 21): only what the caller can read, edits and deletions seen at
//! once, a hit opened in context, and every awkward query answered with results or a
//! clear 4xx, never a 500.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_of};
use crate::ws_client::WsClient;

/// `text` as a query-string value: everything but letters and digits percent-encoded.
fn encoded(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn search(app: &TestApp, token: &str, query: &str) -> Value {
    let response = app
        .get(&format!("/api/search?q={}", encoded(query)), token)
        .await;
    assert_eq!(response.status(), StatusCode::OK, "search {query:?}");
    response.json().await.expect("JSON")
}

fn texts(page: &Value) -> Vec<String> {
    page["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|hit| hit["message"]["text"].as_str().unwrap().to_owned())
        .collect()
}

async fn sent(ws: &mut WsClient, room: &str, text: &str) -> i64 {
    ws.send(json!({"type": "send", "room": room, "text": text}))
        .await;
    ws.until("ack").await["id"].as_i64().unwrap()
}

#[tokio::test]
async fn search_finds_only_what_the_caller_can_read() {
    let app = TestApp::spawn().await;
    let ann = app.user_token("ann").await;
    let bob = app.user_token("bob").await;
    let eve = app.user_token("eve").await;
    let created = app
        .post_authed(
            "/api/rooms",
            &bob,
            &json!({"name": "plans", "private": true}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let mut ann_ws = WsClient::connect(&app, &ann).await;
    let mut bob_ws = WsClient::connect(&app, &bob).await;
    let mut eve_ws = WsClient::connect(&app, &eve).await;
    for ws in [&mut ann_ws, &mut bob_ws, &mut eve_ws] {
        ws.join("general").await;
    }
    bob_ws.join("plans").await;
    let public = sent(&mut ann_ws, "general", "Kickoff meeting notes").await;
    let private = sent(&mut bob_ws, "plans", "secret kickoff").await;

    let found = search(&app, &eve, "KICKOFF").await;
    assert_eq!(texts(&found), ["Kickoff meeting notes"]);
    assert_eq!(found["hits"][0]["message"]["room"], "general");
    assert_eq!(found["hits"][0]["message"]["id"], public);
    assert_eq!(found["hits"][0]["highlights"], json!([[0, 7]]));
    assert_eq!(
        texts(&search(&app, &bob, "kickoff").await),
        ["secret kickoff", "Kickoff meeting notes"],
        "newest first, the private room's too for its member"
    );
    // in: a private room the caller is not in finds nothing, as for a room that does not exist.
    assert!(texts(&search(&app, &eve, "kickoff in:#plans").await).is_empty());
    assert!(texts(&search(&app, &eve, "kickoff in:#nowhere").await).is_empty());
    assert_eq!(
        texts(&search(&app, &eve, "from:ANN").await),
        ["Kickoff meeting notes"]
    );

    // An edit and a deletion in the private room: seen at once, still by its member only.
    let edited = app
        .client
        .patch(app.url(&format!("/api/rooms/plans/messages/{private}")))
        .bearer_auth(&bob)
        .json(&json!({"text": "secret launch"}))
        .send()
        .await
        .unwrap();
    assert_eq!(edited.status(), StatusCode::OK);
    assert!(texts(&search(&app, &eve, "launch").await).is_empty());
    assert!(texts(&search(&app, &bob, "kickoff in:plans").await).is_empty());
    assert_eq!(
        texts(&search(&app, &bob, "launch").await),
        ["secret launch"]
    );
    let deleted = app
        .client
        .delete(app.url(&format!("/api/rooms/plans/messages/{private}")))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);
    assert!(texts(&search(&app, &bob, "launch").await).is_empty());

    // A hit opened in context: the page around it.
    let mut later = Vec::new();
    for n in 0..5 {
        later.push(sent(&mut ann_ws, "general", &format!("after {n}")).await);
    }
    let around: Value = app
        .get(
            &format!("/api/rooms/general/messages?around={public}&limit=4"),
            &eve,
        )
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<i64> = around["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    // Nothing is older than it in the room; the newer half is cut.
    assert_eq!(ids, [public, later[0], later[1]], "{around}");
    assert_eq!(around["more"], true);
    let (status, _) = error_of(app.get("/api/rooms/plans/messages?around=1", &eve).await).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a private room is unknown to others"
    );
    let (status, _) = error_of(
        app.get(
            &format!("/api/rooms/general/messages?around={private}"),
            &eve,
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a message of another room");
}

#[tokio::test]
async fn awkward_queries_get_results_or_a_clear_refusal() {
    let app = TestApp::spawn().await;
    let ann = app.user_token("ann").await;
    let mut ws = WsClient::connect(&app, &ann).await;
    ws.join("general").await;
    let odd = r#"50% off_sale "quoted" NEAR AND -x ^y * \"#;
    sent(&mut ws, "general", odd).await;
    sent(&mut ws, "general", "plain words here").await;

    for text in [
        "%",
        "_",
        "\"quoted",
        "*",
        "NEAR",
        "AND",
        "-x",
        "^y",
        "\\",
        "off_sale \"quoted",
    ] {
        assert_eq!(texts(&search(&app, &ann, text).await), [odd], "{text:?}");
    }
    // An unbalanced quote runs to the end; FTS5 syntax finds nothing but itself.
    assert!(texts(&search(&app, &ann, "\"plain words").await).len() == 1);
    for nothing in [
        "plain NEAR/2 words",
        "pla*",
        "^plain",
        "words -plain",
        "a OR b",
    ] {
        assert!(
            texts(&search(&app, &ann, nothing).await).is_empty(),
            "{nothing:?}"
        );
    }
    assert!(texts(&search(&app, &ann, &"x".repeat(1000)).await).is_empty());

    let refusals = [
        (
            format!("q={}", "x".repeat(1001)),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("q=".to_owned(), StatusCode::BAD_REQUEST),
        ("q=%20%20".to_owned(), StatusCode::BAD_REQUEST),
        (String::new(), StatusCode::BAD_REQUEST),
        ("q=%22".to_owned(), StatusCode::UNPROCESSABLE_ENTITY),
        ("q=from%3Aa".to_owned(), StatusCode::UNPROCESSABLE_ENTITY),
        ("q=has%3Aimage".to_owned(), StatusCode::UNPROCESSABLE_ENTITY),
        ("q=x&limit=0".to_owned(), StatusCode::UNPROCESSABLE_ENTITY),
        ("q=x&before=yesterday".to_owned(), StatusCode::BAD_REQUEST),
        ("q=x&cursor=abc".to_owned(), StatusCode::BAD_REQUEST),
        (
            "q=in%3Ageneral&room=other".to_owned(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (query, expected) in refusals {
        let (status, _) = error_of(app.get(&format!("/api/search?{query}"), &ann).await).await;
        assert_eq!(status, expected, "{query}");
    }
    let anonymous = app
        .client
        .get(app.url("/api/search?q=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}
