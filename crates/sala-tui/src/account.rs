//! Accounts over HTTP: register, log in, and the password's source.

use std::path::Path;

use anyhow::{Context, bail};
use sala_proto::api::{
    Attachment, LoginResponse, MemberRooms, Room, RoomPage, SearchPage, UploadedFile,
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// A logged-in session.
#[derive(Debug, Clone)]
pub struct Session {
    pub token: String,
    pub username: String,
    /// Where the WebSocket is (`chat_url` from the login answer).
    pub chat_url: String,
}

/// Talks to one server's HTTP API.
#[derive(Clone)]
pub struct Accounts {
    base: String,
    http: reqwest::Client,
}

impl Accounts {
    pub fn new(server: &str) -> Self {
        Self {
            base: server.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(15))
                .build()
                .unwrap_or_else(|_| reqwest::Client::new()),
        }
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<(u16, Value)> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .map_err(|_| anyhow::anyhow!("cannot reach the server at {}", self.base))?;
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    /// Creates the account.
    ///
    /// # Errors
    /// The server's own message (`that username is taken`, a validation rule, ...).
    pub async fn register(&self, username: &str, password: &str) -> anyhow::Result<()> {
        let (status, body) = self
            .post(
                "/api/register",
                json!({"username": username, "password": password}),
            )
            .await?;
        if status == 201 {
            Ok(())
        } else {
            bail!("{}", server_message(&body, status))
        }
    }

    /// Logs in.
    ///
    /// # Errors
    /// Bad credentials, throttling, an unreachable server: as one line.
    pub async fn login(&self, username: &str, password: &str) -> anyhow::Result<Session> {
        let (status, body) = self
            .post(
                "/api/login",
                json!({"username": username, "password": password}),
            )
            .await?;
        if status != 200 {
            bail!("{}", server_message(&body, status));
        }
        let login: LoginResponse =
            serde_json::from_value(body).context("the server's login answer is not Sala's")?;
        Ok(Session {
            token: login.token,
            username: login.user.username,
            chat_url: login.chat_url,
        })
    }

    /// Rooms whose name or topic contains `query`: `(name, topic, online)`.
    ///
    /// # Errors
    /// The server's message.
    pub async fn search_rooms(
        &self,
        token: &str,
        query: &str,
    ) -> anyhow::Result<Vec<(String, String, u64)>> {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/api/rooms", self.base),
            [("q", query), ("limit", "30")],
        )
        .context("the server URL is not a URL")?;
        let page: RoomPage = self.get_url(token, url).await?;
        Ok(page
            .rooms
            .into_iter()
            .map(|room| (room.name, room.topic.unwrap_or_default(), room.online))
            .collect())
    }

    /// Messages of the user's rooms that match `query` (words, "phrases", `from:`, `in:`),
    /// newest first, at most 20.
    ///
    /// # Errors
    /// The server's message (a query it refuses says why).
    pub async fn search_messages(&self, token: &str, query: &str) -> anyhow::Result<SearchPage> {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/api/search", self.base),
            [("q", query), ("limit", "20")],
        )
        .context("the server URL is not a URL")?;
        self.get_url(token, url).await
    }

    /// Uploads the file at `path` to `room` (`POST /api/rooms/{room}/files`), streamed from
    /// disk; `progress(sent, total)` is told as the bytes go out. Returns the attachment to
    /// send in a message.
    ///
    /// # Errors
    /// The file unreadable, the server unreachable, or its message (too large, quota, ...).
    pub async fn upload_file(
        &self,
        token: &str,
        room: &str,
        path: &Path,
        progress: impl Fn(u64, u64) + Send + Sync + 'static,
    ) -> anyhow::Result<Attachment> {
        use futures_util::StreamExt as _;

        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .ok_or_else(|| anyhow::anyhow!("{} names no file", path.display()))?;
        let file = tokio::fs::File::open(path)
            .await
            .with_context(|| format!("cannot read {}", path.display()))?;
        let total = file.metadata().await?.len();
        let mut sent = 0u64;
        let body = tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024).map(move |chunk| {
            if let Ok(chunk) = &chunk {
                sent += chunk.len() as u64;
                progress(sent, total);
            }
            chunk
        });
        let url = reqwest::Url::parse_with_params(
            &format!("{}/api/rooms/{room}/files", self.base),
            [("name", name.as_str())],
        )
        .context("the server URL is not a URL")?;
        let response = self
            .http
            .post(url)
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_LENGTH, total)
            .body(reqwest::Body::wrap_stream(body))
            .send()
            .await
            .map_err(|_| anyhow::anyhow!("cannot reach the server at {}", self.base))?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status != 201 {
            bail!("{}", server_message(&body, status));
        }
        let uploaded: UploadedFile =
            serde_json::from_value(body).context("the server's answer was not understood")?;
        Ok(uploaded.attachment)
    }

    /// Creates a room; returns its (lower-cased) name.
    ///
    /// # Errors
    /// The server's message (`a room with that name exists`, a naming rule, ...).
    pub async fn create_room(
        &self,
        token: &str,
        name: &str,
        topic: Option<&str>,
    ) -> anyhow::Result<String> {
        let response = self
            .http
            .post(format!("{}/api/rooms", self.base))
            .bearer_auth(token)
            .json(&json!({"name": name, "topic": topic}))
            .send()
            .await
            .map_err(|_| anyhow::anyhow!("cannot reach the server at {}", self.base))?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status != 201 {
            bail!("{}", server_message(&body, status));
        }
        Ok(body["name"].as_str().unwrap_or(name).to_owned())
    }

    /// The rooms the user is a member of, with their unread counts.
    ///
    /// # Errors
    /// The server unreachable, or its message.
    pub async fn my_rooms(&self, token: &str) -> anyhow::Result<MemberRooms> {
        self.get(token, "/api/me/rooms").await
    }

    /// One room, by name.
    ///
    /// # Errors
    /// The server unreachable, or its message (`no such room`).
    pub async fn room(&self, token: &str, name: &str) -> anyhow::Result<Room> {
        let mut url = reqwest::Url::parse(&format!("{}/api/rooms", self.base))
            .context("the server URL is not a URL")?;
        url.path_segments_mut()
            .map_err(|()| anyhow::anyhow!("the server URL is not a URL"))?
            .push(name);
        self.get_url(token, url).await
    }

    async fn get<T: DeserializeOwned>(&self, token: &str, path: &str) -> anyhow::Result<T> {
        let url = reqwest::Url::parse(&format!("{}{path}", self.base))
            .context("the server URL is not a URL")?;
        self.get_url(token, url).await
    }

    async fn get_url<T: DeserializeOwned>(
        &self,
        token: &str,
        url: reqwest::Url,
    ) -> anyhow::Result<T> {
        let response = self
            .http
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|_| anyhow::anyhow!("cannot reach the server at {}", self.base))?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status != 200 {
            bail!("{}", server_message(&body, status));
        }
        serde_json::from_value(body).context("the server's answer was not understood")
    }

    /// A request whose success is any 2xx; returns its JSON body (`null` when it has none).
    ///
    /// # Errors
    /// The server unreachable, or its message.
    pub async fn call(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> anyhow::Result<Value> {
        let response = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .map_err(|_| anyhow::anyhow!("cannot reach the server at {}", self.base))?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !(200..300).contains(&status) {
            bail!("{}", server_message(&body, status));
        }
        Ok(body)
    }

    /// Opens (or finds) the DM with `user`: its handle and its people.
    ///
    /// # Errors
    /// The server unreachable, or its message (no such user, blocked, ...).
    pub async fn open_dm(&self, token: &str, user: &str) -> anyhow::Result<(String, Vec<String>)> {
        let room = self
            .call(
                token,
                reqwest::Method::POST,
                "/api/dms",
                json!({"users": [user]}),
            )
            .await?;
        let name = room["name"]
            .as_str()
            .context("the server sent no DM")?
            .to_owned();
        let people = room["people"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|person| person.as_str().map(str::to_owned))
            .collect();
        Ok((name, people))
    }

    pub fn base(&self) -> &str {
        &self.base
    }
}

fn server_message(body: &Value, status: u16) -> String {
    body["error"]["message"]
        .as_str()
        .map_or_else(|| format!("the server answered {status}"), str::to_owned)
}

/// The password for non-interactive use: `--password-file`, else `SALA_PASSWORD`.
///
/// # Errors
/// When neither is given or the file cannot be read.
pub fn password_from(file: Option<&Path>) -> anyhow::Result<String> {
    if let Some(file) = file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read the password file {}", file.display()))?;
        return Ok(text.lines().next().unwrap_or_default().to_owned());
    }
    std::env::var("SALA_PASSWORD")
        .map_err(|_| anyhow::anyhow!("give the password in SALA_PASSWORD or with --password-file"))
}
