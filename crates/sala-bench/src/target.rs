//! The server under test: how to get a token, where the WebSocket is, and the frames each
//! protocol uses to join and send. How received frames are told apart is in `frames`.

use std::net::{Ipv4Addr, SocketAddr};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// Sala: `POST /api/register` + `POST /api/login`, then `/ws` with a Bearer header.
    Sala,
    /// A reference server of ../shared/peers: `POST /login {"username"}`, then `/ws` or
    /// Socket.io; rooms are created on join, and nothing answers `join` or acks a send.
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

    /// A `join` whose answer can be waited for (Sala only): on `/ws` the `joined` frame,
    /// optionally resuming after `since`; on Socket.io the ack (id 0) of the `join` event,
    /// which carries the `joined` payload. Socket.io's `join` has no `since`.
    pub fn join_answered(self, room: &str, since: Option<i64>) -> String {
        match self {
            Self::Ws => match since {
                Some(since) => json!({"type": "join", "room": room, "since": since}),
                None => json!({"type": "join", "room": room}),
            }
            .to_string(),
            Self::Socketio => format!("420{}", json!(["join", room])),
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

    /// A send that Sala acknowledges once the message is stored: on `/ws` with an `ack`
    /// frame carrying `client_id`, on Socket.io through the ack callback `ack_id`, whose
    /// payload carries `client_id` too.
    pub fn send_acked(self, room: &str, text: &str, client_id: &str, ack_id: u64) -> String {
        match self {
            Self::Ws => json!({"type": "send", "room": room, "text": text, "client_id": client_id})
                .to_string(),
            Self::Socketio => format!(
                "42{ack_id}{}",
                json!(["chat-message", {"room": room, "text": text, "client_id": client_id}])
            ),
        }
    }

    /// The answer a frame calls for at the transport level (Engine.IO's ping), if any.
    pub fn answer(self, frame: &str) -> Option<&'static str> {
        (self == Self::Socketio && frame == "2").then_some("3")
    }
}

#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// The protocol of the chat connection.
    #[arg(long, visible_alias = "transport", value_enum, default_value_t = Protocol::Ws)]
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
    /// Prefix of the benchmark usernames (`<prefix><n>`; Sala wants 3 to 32 characters);
    /// each run can use its own.
    #[arg(long, default_value = "bench")]
    pub user_prefix: String,
}

/// How one connection is opened, besides where to and as whom.
#[derive(Debug, Clone, Copy, Default)]
pub struct Dial {
    /// The local address to connect from (127.0.0.K); `None` lets the kernel choose.
    /// One source address has about 28,000 ephemeral ports, so runs of more connections
    /// spread them over several.
    pub source: Option<Ipv4Addr>,
    /// A 4 KiB read buffer instead of tungstenite's 128 KiB, allocated per connection: for
    /// scenarios that hold many quiet connections, so the load generator's own memory
    /// stays small.
    pub small_buffers: bool,
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

    /// The server's base URL, without a trailing slash.
    pub fn base(&self) -> &str {
        self.args.server.trim_end_matches('/')
    }

    /// The HTTP client the logins use, for scenarios that measure HTTP routes.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
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

    /// Creates `room` on Sala (a 409, the room exists already, is fine). Peers create
    /// rooms on join: nothing to do.
    ///
    /// # Errors
    /// When the server refuses otherwise.
    pub async fn create_room(&self, token: &str, room: &str) -> anyhow::Result<()> {
        if self.args.target != Kind::Sala {
            return Ok(());
        }
        let base = self.args.server.trim_end_matches('/');
        let response = self
            .http
            .post(format!("{base}/api/rooms"))
            .bearer_auth(token)
            .json(&json!({"name": room, "topic": "sala-bench"}))
            .send()
            .await?;
        if !(response.status().is_success() || response.status() == 409) {
            bail!("creating room {room}: {}", response.status());
        }
        Ok(())
    }

    /// Opens the DM of the user of `token` and `others` (by username) on Sala; returns its
    /// handle, the name the connections join.
    ///
    /// # Errors
    /// When the server refuses or cannot be reached, or the target is not Sala.
    pub async fn open_dm(&self, token: &str, others: &[String]) -> anyhow::Result<String> {
        if self.args.target != Kind::Sala {
            bail!("only Sala has direct messages");
        }
        let base = self.args.server.trim_end_matches('/');
        let response = self
            .http
            .post(format!("{base}/api/dms"))
            .bearer_auth(token)
            .json(&json!({"users": others}))
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("opening a DM with {others:?}: {}", response.status());
        }
        let room: serde_json::Value = response.json().await?;
        room["name"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("the server sent no DM handle"))
    }

    /// Opens an authenticated connection to `--server`; see [`Target::connect_with`].
    ///
    /// # Errors
    /// When the connection, the upgrade or the handshake fails.
    pub async fn connect(&self, token: &str, dial: Dial) -> anyhow::Result<Socket> {
        self.connect_with(&self.args.server, token, dial).await
    }

    /// Opens an authenticated connection to `server` with the kernel's choice of source
    /// address and tungstenite's default buffers; see [`Target::connect_with`].
    ///
    /// # Errors
    /// When the connection, the upgrade or the handshake fails.
    pub async fn connect_at(&self, server: &str, token: &str) -> anyhow::Result<Socket> {
        self.connect_with(server, token, Dial::default()).await
    }

    /// Opens an authenticated connection to `server` (for Socket.io: through its
    /// handshake): `--server`, or another node of the same cluster, which must have passed
    /// [`check_loopback`]. The TCP connection is made here (bound to `dial.source` if
    /// given) and the WebSocket handshake runs over it. Nagle's algorithm stays on, as
    /// before source binding existed, so figures stay comparable (measured: TCP_NODELAY
    /// changes nothing open loop, and costs closed-loop fan-out about a quarter of its
    /// deliveries/s, the bench's frames no longer being coalesced).
    ///
    /// # Errors
    /// When the connection, the upgrade or the handshake fails.
    pub async fn connect_with(
        &self,
        server: &str,
        token: &str,
        dial: Dial,
    ) -> anyhow::Result<Socket> {
        let address = socket_address(server)?;
        let stream = match dial.source {
            Some(source) => {
                if !address.is_ipv4() {
                    bail!("source addresses need an IPv4 server address, not {address}");
                }
                let socket = TcpSocket::new_v4()?;
                socket
                    .bind(SocketAddr::from((source, 0)))
                    .with_context(|| format!("binding to {source}"))?;
                socket.connect(address).await?
            }
            None => TcpStream::connect(address).await?,
        };
        let stream = MaybeTlsStream::Plain(stream);
        let config = dial
            .small_buffers
            .then(|| WebSocketConfig::default().read_buffer_size(4096));
        let base = server.trim_end_matches('/').replacen("http", "ws", 1);
        match self.args.protocol {
            Protocol::Ws => {
                let mut request = format!("{base}/ws").into_client_request()?;
                request
                    .headers_mut()
                    .insert("authorization", format!("Bearer {token}").parse()?);
                let (socket, _) =
                    tokio_tungstenite::client_async_with_config(request, stream, config).await?;
                Ok(socket)
            }
            Protocol::Socketio => {
                let url = format!("{base}/socket.io/?EIO=4&transport=websocket");
                let (mut socket, _) =
                    tokio_tungstenite::client_async_with_config(url, stream, config).await?;
                // Engine.IO open ("0{...}"), then the Socket.io connect with auth: {token}.
                // Sala would subscribe each connection to `general` (the replaced servers'
                // broadcast to everyone): the bench joins its own rooms, so it opts out
                // (other servers ignore the field).
                expect_prefix(&mut socket, "0").await?;
                let auth = json!({"token": token, "join_general": false});
                socket.send(Message::text(format!("40{auth}"))).await?;
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

    /// Whether the server answers `join` (Sala: `joined`); the peers answer nothing.
    pub fn answers_join(&self) -> bool {
        self.args.target == Kind::Sala
    }
}

/// The address to connect to for `url`, which has passed [`check_loopback`] (`localhost`
/// is 127.0.0.1; no name lookups).
///
/// # Errors
/// When the URL has no host or its port is not a number.
fn socket_address(url: &str) -> anyhow::Result<SocketAddr> {
    let authority = url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .with_context(|| format!("no host in '{url}'"))?;
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (host, rest) = v6.split_once(']').context("unclosed '[' in the URL")?;
            (host, rest.strip_prefix(':'))
        }
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let port = match port {
        Some(port) => port
            .parse()
            .with_context(|| format!("bad port in '{url}'"))?,
        None => 80,
    };
    let ip = if host == "localhost" {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        host.parse()
            .with_context(|| format!("'{host}' is not an IP address"))?
    };
    Ok(SocketAddr::new(ip, port))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_addresses_are_read_from_loopback_urls() {
        let address = |url| socket_address(url).unwrap().to_string();
        assert_eq!(address("http://127.0.0.1:3000"), "127.0.0.1:3000");
        assert_eq!(address("http://localhost:8080/"), "127.0.0.1:8080");
        assert_eq!(address("http://[::1]:3001"), "[::1]:3001");
        assert_eq!(address("http://127.0.0.2"), "127.0.0.2:80");
        assert!(socket_address("http://127.0.0.1:x").is_err());
    }
}
