//! Data outlives the process: accounts, sessions, rooms and the JWT secret survive a restart.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{PASSWORD, TestApp};

#[tokio::test]
async fn data_survives_a_restart_on_the_same_data_dir() {
    // No configured secret: the generated one in the data dir must be reused.
    let app = TestApp::spawn_with(|config| config.jwt_secret = None).await;
    let token = app.user_token("rupert").await;
    app.create_room(&token, "keepers", Some("still here")).await;
    assert!(app.data_dir().join("sala.db").exists());

    let app = app.restart().await;

    assert_eq!(
        app.get("/api/me", &token).await.status(),
        StatusCode::OK,
        "old token still valid"
    );
    assert_eq!(app.login("rupert", PASSWORD).await.status(), StatusCode::OK);
    let room: Value = app
        .get("/api/rooms/keepers", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(room["topic"], "still here");
    let general = app.get("/api/rooms/general", &token).await;
    assert_eq!(general.status(), StatusCode::OK);
    assert_eq!(
        app.register("rupert", PASSWORD).await.status(),
        StatusCode::CONFLICT
    );
}
