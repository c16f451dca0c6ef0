//! The server under test: how to get a token and where the WebSocket is.

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// Sala: `POST /api/register` + `POST /api/login`, then `/ws` with a Bearer header.
    Sala,
    /// A reference server of ../shared/peers: `POST /login {"username"}`, then `/ws`.
    Peer,
}

/// The wire protocol of the chat connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    /// Plain WebSocket with JSON frames (`/ws`).
    Ws,
    /// Socket.io v5 over Engine.IO v4's WebSocket transport (`/socket.io/`).
    Socketio,
}

impl Protocol {
    pub fn join(self, room: &str) -> String {
        match self {
            Self::Ws => json!({"type": "join", "room": room}).to_string(),
            Self::Socketio => format!("42{}", json!(["join", room])),
        }
    }

    pub fn send(self, room: &str, text: &str) -> String {
        match self {
            Self::Ws => json!({"type": "send", "room": room, "text": text}).to_string(),
            Self::Socketio => format!(
                "42{}",
                json!(["chat-message", {"room": room, "text": text}])
            ),
        }
    }

    /// The answer a frame calls for at the transport level (Engine.IO's ping), if any.
    pub fn answer(self, frame: &str) -> Option<&'static str> {
        (self == Self::Socketio && frame == "2").then_some("3")
    }

    pub fn is_error(self, frame: &str) -> bool {
        match self {
            Self::Ws => frame.contains(r#""type":"error""#),
            Self::Socketio => frame.starts_with(r#"42["error""#) || frame.starts_with("44"),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// The protocol of the chat connection.
    #[arg(long, value_enum, default_value_t = Protocol::Ws)]
    pub protocol: Protocol,
    /// Base URL of the server (loopback only: this tool sends load).
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    pub server: String,
    /// Which protocol the server speaks.
    #[arg(long, value_enum, default_value_t = Kind::Sala)]
    pub target: Kind,
    /// Password for the benchmark accounts (Sala only).
    #[arg(long, default_value = "bench-password-1")]
    pub password: String,
    /// Prefix of the benchmark usernames; each run can use its own.
    #[arg(long, default_value = "bench")]
    pub user_prefix: String,
}

/// Logs users in and opens their sockets.
#[derive(Clone)]
pub struct Target {
    args: TargetArgs,
    http: reqwest::Client,
}

impl Target {
    /// # Errors
    /// When `--server` is not a loopback URL.
    pub fn new(args: TargetArgs) -> anyhow::Result<Self> {
        check_loopback("--server", &args.server)?;
        Ok(Self {
            args,
            http: reqwest::Client::new(),
        })
    }

    pub fn username(&self, index: usize) -> String {
        format!("{}{index}", self.args.user_prefix)
    }

    /// A token for `username`, creating the account if the server needs one.
    ///
    /// # Errors
    /// When the server refuses.
    pub async fn token(&self, username: &str) -> anyhow::Result<String> {
        let base = self.args.server.trim_end_matches('/');
        let response = match self.args.target {
            Kind::Sala => {
                let body = json!({"username": username, "password": self.args.password});
                let registered = self
                    .http
                    .post(format!("{base}/api/register"))
                    .json(&body)
                    .send()
                    .await?;
                if !(registered.status().is_success() || registered.status() == 409) {
                    bail!("register {username}: {}", registered.status());
                }
                self.http
                    .post(format!("{base}/api/login"))
                    .json(&body)
                    .send()
                    .await?
            }
            Kind::Peer => {
                let body = json!({"username": username});
                self.http
                    .post(format!("{base}/login"))
                    .json(&body)
                    .send()
                    .await?
            }
        };
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .with_context(|| format!("login {username}: {status}"))?;
        body["token"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("login {username}: {status} {body}"))
    }

    /// Opens an authenticated connection to `server` (for Socket.io: through its
    /// handshake): `--server`, or another node of the same cluster, which must have passed
    /// [`check_loopback`].
    ///
    /// # Errors
    /// When the upgrade or the handshake fails.
    pub async fn connect_at(&self, server: &str, token: &str) -> anyhow::Result<Socket> {
        let base = server.trim_end_matches('/').replacen("http", "ws", 1);
        match self.args.protocol {
            Protocol::Ws => {
                let mut request = format!("{base}/ws").into_client_request()?;
                request
                    .headers_mut()
                    .insert("authorization", format!("Bearer {token}").parse()?);
                let (socket, _) = tokio_tungstenite::connect_async(request).await?;
                Ok(socket)
            }
            Protocol::Socketio => {
                let url = format!("{base}/socket.io/?EIO=4&transport=websocket");
                let (mut socket, _) = tokio_tungstenite::connect_async(url).await?;
                // Engine.IO open ("0{...}"), then the Socket.io connect with auth: {token}.
                expect_prefix(&mut socket, "0").await?;
                socket
                    .send(Message::text(format!("40{}", json!({"token": token}))))
                    .await?;
                let connected = expect_prefix(&mut socket, "4").await?;
                if !connected.starts_with("40") {
                    bail!("Socket.io connect refused: {connected}");
                }
                Ok(socket)
            }
        }
    }

    pub fn protocol(&self) -> Protocol {
        self.args.protocol
    }

    pub fn kind_name(&self) -> String {
        let kind = format!("{:?}", self.args.target).to_lowercase();
        match self.args.protocol {
            Protocol::Ws => kind,
            Protocol::Socketio => format!("{kind} (socket.io)"),
        }
    }

    pub fn kind(&self) -> Kind {
        self.args.target
    }
}

/// Refuses any URL whose host is not loopback: this tool sends load.
///
/// # Errors
/// When `url`'s host is not 127.0.0.0/8, ::1 or localhost.
pub fn check_loopback(flag: &str, url: &str) -> anyhow::Result<()> {
    let authority = url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback());
    if !loopback {
        bail!("{flag} must be a loopback address (127.0.0.0/8, ::1 or localhost), not '{host}'");
    }
    Ok(())
}

/// The next text frame, which must start with `prefix`.
async fn expect_prefix(socket: &mut Socket, prefix: &str) -> anyhow::Result<String> {
    loop {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
            .await
            .context("no Socket.io handshake in time")?
            .context("the connection closed during the handshake")??;
        if let Message::Text(text) = frame {
            let text = text.as_str().to_owned();
            if text == "2" {
                socket.send(Message::text("3")).await?;
                continue;
            }
            if text.starts_with(prefix) {
                return Ok(text);
            }
            bail!("unexpected Socket.io frame during the handshake: {text}");
        }
    }
}
