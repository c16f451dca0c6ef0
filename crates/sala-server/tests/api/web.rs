//! The web page's delivery (SPEC §6): embedded assets, security headers, and the Origin
//! check that keeps other sites from opening sockets with a user's session.

use reqwest::StatusCode;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use crate::helpers::{TestApp, error_of};
use crate::ws_client::ws_url;

#[tokio::test]
async fn the_page_is_served_with_strict_security_headers() {
    let app = TestApp::spawn().await;
    let page = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let headers = page.headers().clone();
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = headers["content-security-policy"].to_str().unwrap();
    for directive in [
        "script-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<script type="module" src="/app.js"></script>"#));
    assert_eq!(html.matches("<script").count(), 1, "no inline script");

    // API answers carry the headers too.
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn assets_have_types_and_etags_and_unknown_files_are_json_404() {
    let app = TestApp::spawn().await;
    for (path, kind) in [
        ("/app.js", "text/javascript"),
        ("/api.js", "text/javascript"),
        ("/connection.js", "text/javascript"),
        ("/style.css", "text/css"),
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind),
            "{path}"
        );
        let etag = response.headers()["etag"].clone();
        let again = app
            .client
            .get(app.url(path))
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
    }
    let (status, code) = error_of(app.client.get(app.url("/nope.js")).send().await.unwrap()).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
}

async fn upgrade_with_origin(app: &TestApp, token: &str, origin: &str) -> Result<u16, u16> {
    let mut request = ws_url(app).into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
        .headers_mut()
        .insert("origin", origin.parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => Ok(response.status().as_u16()),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(other) => panic!("unexpected failure: {other}"),
    }
}

#[tokio::test]
async fn a_websocket_upgrade_from_a_foreign_origin_is_refused() {
    let app = TestApp::spawn_with(|config| {
        config.allowed_origins = vec!["https://chat.example.org".into()]
    })
    .await;
    let token = app.user_token("oriana").await;
    let own = app.base.clone();
    assert_eq!(
        upgrade_with_origin(&app, &token, "https://evil.example").await,
        Err(403)
    );
    assert_eq!(
        upgrade_with_origin(&app, &token, "http://127.0.0.1:1").await,
        Err(403),
        "another port is another origin"
    );
    assert_eq!(
        upgrade_with_origin(&app, &token, &own).await,
        Ok(101),
        "the node's own pages"
    );
    assert_eq!(
        upgrade_with_origin(&app, &token, "https://chat.example.org").await,
        Ok(101),
        "a configured origin"
    );
}
