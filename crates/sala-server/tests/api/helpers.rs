//! `TestApp`: one server per test, and the requests tests make of it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Response, StatusCode};
use sala_server::config::Config;
use sala_server::startup::App;
use secrecy::SecretString;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The signing secret of test servers, so tests can forge tokens on purpose.
pub const SECRET: &str = "test-secret-that-is-at-least-32-bytes-long";
pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    config: Config,
    /// Kept alive so the data dir outlives restarts; removed when the last holder drops.
    _data_dir: Arc<TempDir>,
    shutdown: CancellationToken,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Starts a server whose configuration `adjust` may change.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        sala_server::telemetry::init_for_tests();
        let data_dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        let mut config = Config::for_tests(data_dir.path().to_path_buf());
        config.jwt_secret = Some(SecretString::from(SECRET.to_owned()));
        adjust(&mut config);
        Self::start(config, data_dir).await
    }

    async fn start(config: Config, data_dir: Arc<TempDir>) -> Self {
        let app = App::build(config.clone()).await.expect("server builds");
        let base = format!("http://{}", app.local_addr());
        let shutdown = app.shutdown_token();
        let server = tokio::spawn(app.run());
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("http client");
        Self {
            base,
            client,
            config,
            _data_dir: data_dir,
            shutdown,
            server: Some(server),
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.config.data_dir.clone()
    }

    /// Stops the server gracefully and waits until it has closed its store.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(20), server)
                .await
                .expect("server stops within 20 s")
                .expect("server task")
                .expect("server ran cleanly");
        }
    }

    /// Stops this server and starts a new one on the same data dir (a new port).
    pub async fn restart(mut self) -> Self {
        self.stop().await;
        let mut config = self.config.clone();
        config.port = Some(0);
        Self::start(config, self._data_dir.clone()).await
    }

    /// Starts the server again on the same data dir and the same port, as after a restart
    /// that clients should not notice. Call [`stop`](Self::stop) first. (Used by the
    /// browser tests, which share this file.)
    #[allow(dead_code)]
    pub async fn start_again_on_same_port(&mut self) {
        let mut config = self.config.clone();
        config.port = Some(
            self.base
                .rsplit(':')
                .next()
                .and_then(|port| port.parse().ok())
                .expect("port"),
        );
        let again = Self::start(config, self._data_dir.clone()).await;
        let mut old = std::mem::replace(self, again);
        old.server = None;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// An unauthenticated `POST` of `body` as it is, declared JSON: for JSON that no
    /// `serde_json::Value` can hold (a lone surrogate escape).
    pub async fn post_raw_json(&self, path: &str, body: &'static str) -> Response {
        self.client
            .post(self.url(path))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .expect("request sent")
    }

    /// The body of an unauthenticated `GET`, as text.
    pub async fn get_text(&self, path: &str) -> String {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
            .text()
            .await
            .expect("a text body")
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post_authed(&self, path: &str, token: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn register(&self, username: &str, password: &str) -> Response {
        self.post_json(
            "/api/register",
            &json!({"username": username, "password": password}),
        )
        .await
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.post_json(
            "/api/login",
            &json!({"username": username, "password": password}),
        )
        .await
    }

    /// Registers `username` with [`PASSWORD`] and logs in; returns the token.
    pub async fn user_token(&self, username: &str) -> String {
        let registered = self.register(username, PASSWORD).await;
        assert_eq!(
            registered.status(),
            StatusCode::CREATED,
            "register {username}"
        );
        self.token_for(username).await
    }

    /// Logs `username` in with [`PASSWORD`]; returns the token.
    pub async fn token_for(&self, username: &str) -> String {
        let login = self.login(username, PASSWORD).await;
        assert_eq!(login.status(), StatusCode::OK, "login {username}");
        let body: Value = login.json().await.expect("login json");
        body["token"].as_str().expect("token").to_owned()
    }

    pub async fn create_room(&self, token: &str, name: &str, topic: Option<&str>) -> Response {
        self.post_authed("/api/rooms", token, &json!({"name": name, "topic": topic}))
            .await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Reads an error response and checks it has SPEC §2's shape; returns `(status, code)`.
pub async fn error_of(response: Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.expect("error bodies are JSON");
    let code = body["error"]["code"]
        .as_str()
        .expect("error.code")
        .to_owned();
    assert!(
        body["error"]["message"].is_string(),
        "error.message in {body}"
    );
    (status, code)
}
