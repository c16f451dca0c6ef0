//! The server under test: how to get a token and where the WebSocket is.

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use serde_json::{Value, json};
use tokio::net::TcpStream;
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

#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
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
        let authority = args
            .server
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
            bail!(
                "--server must be a loopback address (127.0.0.0/8, ::1 or localhost), not '{host}'"
            );
        }
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

    /// Opens an authenticated WebSocket.
    ///
    /// # Errors
    /// When the upgrade fails.
    pub async fn connect(&self, token: &str) -> anyhow::Result<Socket> {
        let url = format!(
            "{}/ws",
            self.args
                .server
                .trim_end_matches('/')
                .replacen("http", "ws", 1)
        );
        let mut request = url.into_client_request()?;
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
        let (socket, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(socket)
    }

    pub fn kind(&self) -> Kind {
        self.args.target
    }
}
