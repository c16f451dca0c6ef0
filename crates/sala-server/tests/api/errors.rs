//! Malformed requests get the one JSON error shape with the right status (SPEC §2).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_of};
use crate::ws_client::WsClient;

#[tokio::test]
async fn malformed_json_and_missing_fields_are_400() {
    let app = TestApp::spawn().await;
    for body in [
        "{",
        "not json",
        "[]",
        r#"{"username": "x"}"#,
        r#"{"username": 5, "password": "p"}"#,
        "",
    ] {
        let response = app
            .client
            .post(app.url("/api/register"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let (status, code) = error_of(response).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::BAD_REQUEST, "bad_request"),
            "{body:?}"
        );
    }
}

#[tokio::test]
async fn a_body_without_json_content_type_is_415() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url("/api/login"))
        .header("content-type", "text/plain")
        .body(r#"{"username":"a","password":"b"}"#)
        .send()
        .await
        .unwrap();
    let (status, code) = error_of(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );
}

#[tokio::test]
async fn a_body_over_16_kib_is_413_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let body = serde_json::json!({"username": "bigbody", "password": "p".repeat(17 * 1024)});
    let (status, code) = error_of(app.post_json("/api/register", &body).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
    assert_eq!(
        app.register("bigbody", crate::helpers::PASSWORD)
            .await
            .status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let app = TestApp::spawn().await;
    let (status, code) = error_of(app.client.get(app.url("/api/nope")).send().await.unwrap()).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let (status, code) = error_of(
        app.client
            .delete(app.url("/api/login"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
}

#[tokio::test]
async fn metrics_are_prometheus_text_and_count_what_happened() {
    let app = TestApp::spawn().await;
    let token = app.user_token("mia").await;
    app.login("mia", "wrong password").await;
    let mut ws = WsClient::connect(&app, &token).await;
    ws.join("general").await;
    ws.say("general", "counted").await;
    ws.send(json!({"type": "send", "room": "nowhere-joined", "text": "x"}))
        .await;
    assert_eq!(ws.next_of("error").await["code"], "not_found");

    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    for sample in [
        "sala_logins_total{outcome=\"ok\"} 1\n",
        "sala_logins_total{outcome=\"failed\"} 1\n",
        "sala_http_responses_total{class=\"4xx\"} 1\n",
        "sala_errors_total{code=\"invalid_credentials\"} 1\n",
        "sala_errors_total{code=\"not_found\"} 1\n",
        "sala_connections{transport=\"ws\"} 1\n",
        "sala_connections{transport=\"socketio\"} 0\n",
        "sala_connections_opened_total{transport=\"ws\"} 1\n",
        "sala_messages_received_total 1\n",
        "sala_messages_stored_total 1\n",
        "sala_live_rooms 1\n",
        // The message to its one member.
        "sala_deliveries_total 1\n",
        "sala_commit_batch_size_count 1\n",
        "sala_commit_batch_size_sum 1\n",
        "sala_commit_seconds_count 1\n",
        "# TYPE sala_commit_seconds histogram\n",
    ] {
        assert!(text.contains(sample), "no {sample:?} in\n{text}");
    }
}

#[tokio::test]
async fn healthz_and_the_openapi_document_are_served() {
    let app = TestApp::spawn().await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.json::<Value>().await.unwrap()["status"], "ok");

    let doc: Value = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/register",
        "/api/login",
        "/api/logout",
        "/api/validate_token",
        "/api/me",
        "/api/me/status",
        "/api/me/rooms",
        "/api/rooms",
        "/api/rooms/{name}",
        "/api/rooms/{name}/messages",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["paths"]["/api/validate_token"]["post"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}
