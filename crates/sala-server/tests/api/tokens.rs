//! Forged, tampered, expired and foreign tokens are all 401 (SPEC §2).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{SECRET, TestApp, error_of};

/// The claims of a real token, decoded without checking (the test knows they are ours).
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn sign(algorithm: Algorithm, secret: &str, claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

async fn assert_refused(app: &TestApp, token: &str, what: &str) {
    let (status, code) = error_of(app.get("/api/me", token).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "unauthorized"),
        "{what}"
    );
    let by_body = app
        .post_json("/api/validate_token", &json!({"token": token}))
        .await;
    assert_eq!(
        by_body.status(),
        StatusCode::UNAUTHORIZED,
        "{what} (POST validate_token)"
    );
}

#[tokio::test]
async fn defective_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let token = app.user_token("mallory").await;
    let claims = claims_of(&token);
    // The genuine token works, and so does our re-signing of its claims: the forgeries
    // below fail for their defect alone.
    assert_eq!(app.get("/api/me", &token).await.status(), StatusCode::OK);
    assert_eq!(
        app.get("/api/me", &sign(Algorithm::HS256, SECRET, &claims))
            .await
            .status(),
        StatusCode::OK
    );

    let header_none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    assert_refused(&app, &format!("{header_none}.{payload}."), "alg none").await;

    let wrong_secret = sign(
        Algorithm::HS256,
        "another-secret-that-is-long-enough-too",
        &claims,
    );
    assert_refused(&app, &wrong_secret, "wrong signature").await;

    assert_refused(&app, &sign(Algorithm::HS512, SECRET, &claims), "HS512").await;
    assert_refused(&app, &sign(Algorithm::HS384, SECRET, &claims), "HS384").await;

    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
    assert_refused(&app, &tampered, "tampered signature").await;

    let mut expired = claims.clone();
    expired["exp"] = json!(chrono::Utc::now().timestamp() - 1);
    assert_refused(&app, &sign(Algorithm::HS256, SECRET, &expired), "expired").await;

    let mut other_user = claims.clone();
    other_user["sub"] = json!("999");
    assert_refused(
        &app,
        &sign(Algorithm::HS256, SECRET, &other_user),
        "forged sub",
    )
    .await;

    let mut unknown_session = claims.clone();
    unknown_session["jti"] = json!("no-such-session");
    assert_refused(
        &app,
        &sign(Algorithm::HS256, SECRET, &unknown_session),
        "unknown jti",
    )
    .await;

    let mut no_jti = claims.clone();
    no_jti.as_object_mut().unwrap().remove("jti");
    assert_refused(
        &app,
        &sign(Algorithm::HS256, SECRET, &no_jti),
        "missing jti",
    )
    .await;

    assert_refused(&app, "not.a.jwt", "garbage").await;
}

#[tokio::test]
async fn a_missing_or_malformed_authorization_header_is_401() {
    let app = TestApp::spawn().await;
    let token = app.user_token("trent").await;
    let cases = [
        None,
        Some(format!("Basic {token}")),
        Some("Bearer".to_owned()),
        Some("Bearer ".to_owned()),
    ];
    for header in cases {
        let mut request = app.client.get(app.url("/api/me"));
        if let Some(value) = &header {
            request = request.header("authorization", value);
        }
        let (status, code) = error_of(request.send().await.unwrap()).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "unauthorized"),
            "{header:?}"
        );
    }
    let lower_case_scheme = app
        .client
        .get(app.url("/api/me"))
        .header("authorization", format!("bearer {token}"));
    assert_eq!(
        lower_case_scheme.send().await.unwrap().status(),
        StatusCode::OK
    );
}

/// A token whose header names another algorithm, signed over that header with our secret:
/// the signature bytes are "right", only the algorithm is not the one the server uses.
fn with_algorithm(algorithm: &str, claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": algorithm, "typ": "JWT"}).to_string());
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let message = format!("{header}.{payload}");
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(SECRET.as_bytes()),
        Algorithm::HS256,
    )
    .unwrap();
    format!("{message}.{signature}")
}

#[tokio::test]
async fn algorithm_confusion_and_a_revoked_jti_re_signed_are_refused() {
    let app = TestApp::spawn().await;
    let token = app.user_token("oscar").await;
    let claims = claims_of(&token);
    // The control: our own encoding of the genuine header passes.
    assert_eq!(
        app.get("/api/me", &with_algorithm("HS256", &claims))
            .await
            .status(),
        StatusCode::OK
    );
    // HS/RS confusion: a verifier that trusted the header would check these with the
    // secret as an "RSA/EC key" or skip the check; ours takes HS256 only.
    for algorithm in ["RS256", "PS256", "ES256", "EdDSA", "hs256", "None", "NONE"] {
        assert_refused(&app, &with_algorithm(algorithm, &claims), algorithm).await;
    }

    // A reused jti: after logout, even a freshly signed token naming that session (with
    // the real secret, a later expiry) stays refused, because the session row is revoked.
    let logout = app.post_authed("/api/logout", &token, &json!({})).await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let mut reused = claims.clone();
    reused["iat"] = json!(chrono::Utc::now().timestamp());
    reused["exp"] = json!(chrono::Utc::now().timestamp() + 3600);
    assert_refused(&app, &sign(Algorithm::HS256, SECRET, &reused), "reused jti").await;
}

#[tokio::test]
async fn a_token_of_a_deleted_user_is_refused_everywhere() {
    let app = TestApp::spawn().await;
    let token = app.user_token("ghost").await;
    assert_eq!(app.get("/api/me", &token).await.status(), StatusCode::OK);

    // No route deletes accounts; an operator removing the row (the sessions go with it,
    // ON DELETE CASCADE) is what a deleted user is here.
    let database = app.data_dir().join("sala.db");
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&database)
        .foreign_keys(true);
    let mut connection = sqlx::ConnectOptions::connect(&options).await.unwrap();
    let deleted = sqlx::query("DELETE FROM users WHERE username = 'ghost'")
        .execute(&mut connection)
        .await
        .unwrap();
    assert_eq!(deleted.rows_affected(), 1);
    drop(connection);

    assert_refused(&app, &token, "deleted user").await;
    let upgrade = crate::ws_client::WsClient::connect_raw(&app, Some(&token)).await;
    assert!(
        matches!(&upgrade, Err(tokio_tungstenite::tungstenite::Error::Http(response)) if response.status() == 401),
        "the upgrade is refused with 401"
    );
}
