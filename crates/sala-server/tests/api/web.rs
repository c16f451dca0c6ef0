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
        ("/state.js", "text/javascript"),
        ("/render.js", "text/javascript"),
        ("/forms.js", "text/javascript"),
        ("/chat.js", "text/javascript"),
        ("/people.js", "text/javascript"),
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

/// The page has an icon, and `/favicon.ico` (which browsers ask for unprompted) is it: it
/// was a 404 and a console error in every browser (issue #16 item 8).
#[tokio::test]
async fn the_page_has_an_icon_at_favicon_ico_too() {
    let app = TestApp::spawn().await;
    for path in ["/favicon.svg", "/favicon.ico"] {
        let icon = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(icon.status(), StatusCode::OK, "{path}");
        assert_eq!(icon.headers()["content-type"], "image/svg+xml", "{path}");
    }
    let page = app.get_text("/").await;
    assert!(
        page.contains(r#"<link rel="icon" href="/favicon.svg""#),
        "{page}"
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

    // Socket.io's handshake (its first, polling request) is checked the same way.
    let handshake = |origin: Option<&str>| {
        let mut request = app
            .client
            .get(app.url("/socket.io/?EIO=4&transport=polling"))
            .bearer_auth(&token);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send()
    };
    let (status, code) = error_of(handshake(Some("https://evil.example")).await.unwrap()).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    let opened = handshake(Some(&own)).await.unwrap();
    assert_eq!(opened.status(), StatusCode::OK);
    assert!(
        opened.text().await.unwrap().starts_with("0{"),
        "an Engine.IO open packet"
    );
}

/// Sends `GET <raw path>` over a plain socket, so no client library normalises the path
/// first; returns the status code and the body.
async fn get_raw_path(app: &TestApp, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let address = app.base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    socket.read_to_string(&mut response).await.unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("{path}: not an HTTP response: {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn path_traversal_on_static_files_is_404() {
    let app = TestApp::spawn().await;
    // Files that exist one and more levels up from the crate and on the machine.
    let attempts = [
        "/../Cargo.toml",
        "/../../Cargo.toml",
        "/%2e%2e/Cargo.toml",
        "/%2E%2E%2FCargo.toml",
        "/..%2fCargo.toml",
        "/..%2f..%2fCargo.toml",
        "/.%2e/.%2e/etc/passwd",
        "/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/..%5cCargo.toml",
        "/..\\Cargo.toml",
        "/%252e%252e%252fCargo.toml",
        "/app.js/../../Cargo.toml",
        "/app.js%2f..%2f..%2fCargo.toml",
        "//etc/passwd",
        "/%2fetc%2fpasswd",
        "/web/../Cargo.toml",
        "/src/lib.rs",
        "/%c0%ae%c0%ae/Cargo.toml",
    ];
    for path in attempts {
        let (status, body) = get_raw_path(&app, path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(
            !body.contains("[package]") && !body.contains("root:"),
            "{path} leaked a file: {body}"
        );
        let json: serde_json::Value = serde_json::from_str(&body).expect("a JSON 404");
        assert_eq!(json["error"]["code"], "not_found", "{path}");
    }
    // The control: the same client reads a real asset.
    assert_eq!(get_raw_path(&app, "/app.js").await.0, 200);
}
