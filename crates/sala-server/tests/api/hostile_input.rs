//! Input no backend stores the same way (issue #15): a NUL character in a login name, a
//! room search, a cursor, a message or a client_id is refused as `invalid` (or
//! `bad_request` for a cursor), never a 500, on SQLite, PostgreSQL and MySQL alike; and so is
//! a lone surrogate escape (issue #22), which no string can hold at all.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, error_of};
use crate::ws_client::WsClient;

async fn nul_characters_are_refused(app: &TestApp) {
    let token = app.user_token("nully").await;
    for login in [
        json!({"username": "nu\u{0}lly", "password": PASSWORD}),
        json!({"email": "nu\u{0}lly@example.org", "password": PASSWORD}),
    ] {
        let (status, code) = error_of(app.post_json("/api/login", &login).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            "{login}"
        );
    }
    let search = app.get("/api/rooms?q=gen%00eral", &token).await;
    let (status, code) = error_of(search).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid")
    );
    // base64url of "a\0b"
    let cursor = app.get("/api/rooms?cursor=YQBi", &token).await;
    let (status, code) = error_of(cursor).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "bad_request")
    );

    let mut ws = WsClient::connect(app, &token).await;
    ws.join("general").await;
    ws.send(json!({"type": "send", "room": "general", "text": "a\u{0}b", "client_id": "c1"}))
        .await;
    let refused = ws.next_of("error").await;
    assert_eq!(
        (refused["code"].as_str(), refused["client_id"].as_str()),
        (Some("invalid"), Some("c1"))
    );
    ws.send(json!({"type": "send", "room": "general", "text": "fine", "client_id": "c\u{0}2"}))
        .await;
    assert_eq!(ws.next_of("error").await["code"], "invalid");
    // A lone surrogate escape: valid JSON that no string can hold. Refused as invalid text
    // naming its send, not as a malformed frame; a pair (an emoji) is fine.
    for text in [r"a\ud800b", r"\udc00", r"x\ud83d"] {
        let frame =
            format!(r#"{{"type":"send","room":"general","text":"{text}","client_id":"c3"}}"#);
        ws.send_raw(tokio_tungstenite::tungstenite::Message::text(frame))
            .await;
        let refused = ws.next_of("error").await;
        assert_eq!(
            (refused["code"].as_str(), refused["client_id"].as_str()),
            (Some("invalid"), Some("c3")),
            "{text}: {refused}"
        );
    }
    let register = app
        .post_raw_json(
            "/api/register",
            r#"{"username":"sur\ud800","password":"a-long-password"}"#,
        )
        .await;
    let (status, code) = error_of(register).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid")
    );
    // The connection is still usable, and nothing was stored.
    let id = ws.say("general", "after the refusals").await;
    let page: serde_json::Value = app
        .get("/api/rooms/general/messages", &token)
        .await
        .json()
        .await
        .unwrap();
    let texts: Vec<_> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(texts, vec![json!("after the refusals")], "message {id}");
}

#[tokio::test]
async fn nul_characters_are_refused_on_sqlite() {
    nul_characters_are_refused(&TestApp::spawn().await).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL (scripts/test.sh starts one)"]
async fn nul_characters_are_refused_on_postgres() {
    let database = sala_store_postgres::test_support::TempDatabase::create().await;
    let app =
        TestApp::spawn_with(|config| config.database_url = Some(database.url.clone().into())).await;
    nul_characters_are_refused(&app).await;
}

#[tokio::test]
#[ignore = "needs MariaDB (scripts/test.sh starts one)"]
async fn nul_characters_are_refused_on_mysql() {
    let database = sala_store_mysql::test_support::TempDatabase::create().await;
    let app =
        TestApp::spawn_with(|config| config.database_url = Some(database.url.clone().into())).await;
    nul_characters_are_refused(&app).await;
}

/// The longest token lifetime the flag takes still logs in and validates (one beyond the
/// range made every login a 500; the flag now refuses it).
#[tokio::test]
async fn the_longest_token_lifetime_works() {
    let app = TestApp::spawn_with(|config| {
        config.token_ttl_secs = sala_server::config::MAX_TOKEN_TTL_SECS;
    })
    .await;
    let token = app.user_token("lasting").await;
    let validity = app.get("/api/validate_token", &token).await;
    assert_eq!(validity.status(), StatusCode::OK);
}

/// Expired sessions are deleted on a schedule (no code deleted them; the table grew by one
/// row per login): with a one-second token and purge interval, the row goes.
#[tokio::test]
async fn expired_sessions_are_purged_on_a_schedule() {
    let app = TestApp::spawn_with(|config| {
        config.token_ttl_secs = 1;
        config.session_purge_interval_secs = 1;
    })
    .await;
    app.user_token("fleeting").await;
    let options =
        sqlx::sqlite::SqliteConnectOptions::new().filename(app.data_dir().join("sala.db"));
    let mut connection = sqlx::ConnectOptions::connect(&options).await.unwrap();
    assert_eq!(
        session_count(&mut connection).await,
        1,
        "the login's session"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while session_count(&mut connection).await > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the expired session was never purged"
        );
        // The schedule is the thing under test; its next run is the event waited for.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

async fn session_count(connection: &mut sqlx::SqliteConnection) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(connection)
        .await
        .unwrap()
}
