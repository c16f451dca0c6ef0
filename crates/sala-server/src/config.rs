//! The node's configuration: one struct, parsed once in `main` and passed down.
//!
//! Every field is a flag and a `SALA_*` environment variable; its doc comment is the
//! `--help` text. Tests build a `Config` in code with [`Config::for_tests`].

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use secrecy::SecretString;

use crate::http::client_address::ProxyRange;

/// How `sala serve` runs.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "SALA_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,

    /// Port to listen on (0 picks a free one). Default: 3000, or 4000 for `--role auth`.
    #[arg(long, short, env = "SALA_PORT")]
    pub port: Option<u16>,

    /// What this node serves: `all` (everything, the default), `auth` (register, login,
    /// logout, validate_token) or `chat` (rooms, /ws, /socket.io/, the web page). Split
    /// roles share the database and the JWT secret.
    #[arg(long, env = "SALA_ROLE", value_enum, default_value_t = Role::All)]
    pub role: Role,

    /// Folder for the embedded database and the generated JWT secret.
    #[arg(long, env = "SALA_DATA_DIR", default_value = "./sala-data")]
    pub data_dir: PathBuf,

    /// Database to use instead of the embedded one: `postgres://USER:PASSWORD@HOST/DB` or
    /// `mysql://USER:PASSWORD@HOST/DB` (MySQL or MariaDB; several nodes share either), or
    /// `sqlite://PATH`. Default: SQLite in the data dir.
    #[arg(long, env = "SALA_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<SecretString>,

    /// Redis that links this node to the others (`redis://HOST:PORT`): messages, presence,
    /// typing, status and logouts reach every node's members. Default: a node on its own.
    #[arg(long, env = "SALA_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<SecretString>,

    /// Nodes with the same prefix on one Redis form one cluster.
    #[arg(long, env = "SALA_REDIS_PREFIX", default_value = "sala")]
    pub redis_prefix: String,

    /// Secret that signs tokens (at least 32 bytes). Default: generated once and kept in
    /// `DATA_DIR/jwt-secret` (mode 0600). Nodes that share users must share it.
    #[arg(long, env = "SALA_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<SecretString>,

    /// How long a login token stays valid, in seconds (at most ten years).
    #[arg(long, env = "SALA_TOKEN_TTL_SECS", default_value_t = 24 * 60 * 60, value_parser = clap::value_parser!(u64).range(1..=MAX_TOKEN_TTL_SECS))]
    pub token_ttl_secs: u64,

    /// Failed logins allowed for one username within the throttle window; then 429.
    #[arg(long, env = "SALA_LOGIN_FAILURES_PER_USER", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub login_failures_per_user: u32,

    /// Failed logins allowed from one client address within the throttle window; then 429.
    #[arg(long, env = "SALA_LOGIN_FAILURES_PER_ADDRESS", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub login_failures_per_address: u32,

    /// Accounts one client address may register per hour on this node (then 429
    /// `rate_limited`). Behind a proxy, see `--trusted-proxies`.
    #[arg(long, env = "SALA_REGISTRATIONS_PER_HOUR", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    pub registrations_per_hour: u32,

    /// New Socket.io (Engine.IO) sessions one client address may open per minute (then 429).
    /// A session that has not authenticated within `--auth-timeout-secs` is closed.
    #[arg(long, env = "SALA_SOCKETIO_SESSIONS_PER_MINUTE", default_value_t = 120, value_parser = clap::value_parser!(u32).range(1..))]
    pub socketio_sessions_per_minute: u32,

    /// Seconds between two purges of expired sessions (by nodes that serve accounts).
    #[arg(long, env = "SALA_SESSION_PURGE_INTERVAL_SECS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=7 * 24 * 60 * 60))]
    pub session_purge_interval_secs: u64,

    /// Seconds between two Engine.IO pings to a Socket.io client.
    #[arg(long, env = "SALA_SOCKETIO_PING_INTERVAL_SECS", default_value_t = 25, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub socketio_ping_interval_secs: u64,

    /// Seconds a Socket.io client has to answer a ping before it counts as gone (its
    /// users are then shown disconnected).
    #[arg(long, env = "SALA_SOCKETIO_PING_TIMEOUT_SECS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub socketio_ping_timeout_secs: u64,

    /// Subscribe each new Socket.io connection to `general`, as the replaced servers
    /// broadcast to everyone connected (`true` or `false`). A client can opt out with
    /// `auth: {token, join_general: false}`.
    #[arg(long, env = "SALA_SOCKETIO_JOIN_GENERAL", default_value_t = true, action = clap::ArgAction::Set)]
    pub socketio_join_general: bool,

    /// Length of the login throttle window, in seconds (at most a week).
    #[arg(long, env = "SALA_LOGIN_WINDOW_SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=7 * 24 * 60 * 60))]
    pub login_window_secs: u64,

    /// Reverse proxies (addresses or ADDRESS/PREFIX networks, comma-separated) whose
    /// `X-Forwarded-For` header names the client, for the per-address login throttle.
    /// Without it the TCP peer is the client: behind nginx, list nginx here, or every client
    /// shares nginx's counter.
    #[arg(long, env = "SALA_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<ProxyRange>,

    /// The URL clients reach this node at (e.g. `https://chat.example.org`), used for the
    /// `chat_url` that login returns. Default: taken from the request's Host header.
    #[arg(long, env = "SALA_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Frames that may wait for one slow client before it is disconnected (close 1013).
    #[arg(long, env = "SALA_OUTBOUND_QUEUE", default_value_t = 1024, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..1_000_000))]
    pub outbound_queue: usize,

    /// Bytes that may wait for one slow client, queued and unwritten, before it is
    /// disconnected (close 1013). A single reply larger than this still goes to a client
    /// whose queue is empty.
    #[arg(long, env = "SALA_OUTBOUND_BYTES", default_value_t = 4 << 20, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(64 * 1024..=1 << 34))]
    pub outbound_bytes: usize,

    /// Bytes that may wait for all the clients of this node together; an event that would
    /// pass it disconnects the client it was for (close 1013).
    #[arg(long, env = "SALA_OUTBOUND_BYTES_TOTAL", default_value_t = 512 << 20, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1 << 20..=1 << 40))]
    pub outbound_bytes_total: usize,

    /// Seconds a client may leave its replies unread, or a write to it make no progress,
    /// before it is disconnected as too slow (close 1013).
    #[arg(long, env = "SALA_WRITE_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub write_timeout_secs: u64,

    /// Messages per second one user may send, sustained, over all their connections to
    /// this node (then `rate_limited`).
    #[arg(long, env = "SALA_SEND_RATE", default_value_t = 20.0, value_parser = positive_rate)]
    pub send_rate: f64,

    /// Messages one user may send in a burst.
    #[arg(long, env = "SALA_SEND_BURST", default_value_t = 40, value_parser = clap::value_parser!(u32).range(1..))]
    pub send_burst: u32,

    /// Commands other than `send` (join, leave, history, typing, status, read, ping) per
    /// second one user may give, sustained, over all their connections to this node (then
    /// `rate_limited`; extra typing hints are dropped).
    #[arg(long, env = "SALA_COMMAND_RATE", default_value_t = 20.0, value_parser = positive_rate)]
    pub command_rate: f64,

    /// Commands other than `send` one user may give in a burst (a reconnecting client
    /// joins each of its rooms at once).
    #[arg(long, env = "SALA_COMMAND_BURST", default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub command_burst: u32,

    /// Connections (WebSocket and Socket.io) one user may hold open on this node at once;
    /// one more is refused with `limit_reached`.
    #[arg(long, env = "SALA_MAX_CONNECTIONS_PER_USER", default_value_t = 20, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_connections_per_user: usize,

    /// Rooms one connection may have joined at once; one more `join` is refused with
    /// `limit_reached`.
    #[arg(long, env = "SALA_MAX_ROOMS_PER_CONNECTION", default_value_t = 100, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_rooms_per_connection: usize,

    /// Rooms one user may create per hour on this node (then 429 `rate_limited`).
    #[arg(long, env = "SALA_ROOMS_PER_HOUR", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub rooms_per_hour: u32,

    /// Seconds a client has to send a whole HTTP request head; a kept-alive connection
    /// that starts no new request within it is closed too (slow or idle clients).
    #[arg(long, env = "SALA_HEADER_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout_secs: u64,

    /// Connections (HTTP and WebSocket, authenticated or not) one client address may hold
    /// open at once; more are closed at accept. Trusted proxies are exempt.
    #[arg(long, env = "SALA_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 256, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_connections_per_address: usize,

    /// Seconds shutdown waits for open connections to finish before closing them; the
    /// process then exits 0.
    #[arg(long, env = "SALA_SHUTDOWN_GRACE_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub shutdown_grace_secs: u64,

    /// Seconds a WebSocket client without an Authorization header has to send `auth`.
    #[arg(long, env = "SALA_AUTH_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub auth_timeout_secs: u64,

    /// Seconds of silence (not even a pong) after which a connection is dropped.
    #[arg(long, env = "SALA_IDLE_TIMEOUT_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(3..=86_400))]
    pub idle_timeout_secs: u64,

    /// Other origins (scheme://host[:port]) whose pages may open WebSockets here,
    /// comma-separated. Pages served by this node (Origin matching the Host header) always
    /// may; clients that send no Origin (not browsers) are not affected.
    #[arg(long, env = "SALA_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// OpenAI-compatible Chat Completions endpoint for the busy-status assistant, e.g.
    /// `https://api.openai.com/v1`, `http://127.0.0.1:11434/v1` (Ollama) or
    /// `http://127.0.0.1:8080/v1` (llama.cpp's server). Without it, the assistant posts a
    /// plain "<user> is busy: <note>".
    #[arg(long, env = "SALA_AI_BASE_URL")]
    pub ai_base_url: Option<String>,

    /// API key for the endpoint, sent only to it, never logged.
    #[arg(long, env = "SALA_AI_API_KEY", hide_env_values = true)]
    pub ai_api_key: Option<SecretString>,

    /// Model name to ask for.
    #[arg(long, env = "SALA_AI_MODEL", default_value = "gpt-4o-mini")]
    pub ai_model: String,

    /// Seconds to wait for the model before posting the plain reply.
    #[arg(long, env = "SALA_AI_TIMEOUT_SECS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub ai_timeout_secs: u64,

    /// Seconds between two assistant replies for one busy user in one room.
    #[arg(long, env = "SALA_ASSISTANT_INTERVAL_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub assistant_interval_secs: u64,

    /// Seconds after sending during which a message may be edited; 0 (the default) means
    /// for as long as it exists. Deleting is not limited.
    #[arg(long, env = "SALA_EDIT_WINDOW_SECS", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=10 * 366 * 86_400))]
    pub edit_window_secs: u64,

    /// Largest file one upload may bring, in bytes (26,214,400: 25 MiB).
    #[arg(long, env = "SALA_MAX_UPLOAD_BYTES", default_value_t = 25 << 20, value_parser = clap::value_parser!(u64).range(1..=1 << 34))]
    pub max_upload_bytes: u64,

    /// Bytes one user may upload in 24 hours (1 GiB by default).
    #[arg(long, env = "SALA_UPLOAD_QUOTA_BYTES", default_value_t = 1 << 30, value_parser = clap::value_parser!(u64).range(1..=1 << 44))]
    pub upload_quota_bytes: u64,

    /// An upload must bring at least 16 KiB in every window of this many seconds, or it is
    /// cut off with 408 (a client trickling bytes holds a connection and a spool file).
    #[arg(long, env = "SALA_UPLOAD_WINDOW_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub upload_window_secs: u64,

    /// Keep files in this S3 bucket instead of the data dir (for several nodes). The
    /// credentials and region come from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
    /// `AWS_REGION`.
    #[arg(long, env = "SALA_FILES_S3_BUCKET")]
    pub files_s3_bucket: Option<String>,

    /// The S3 endpoint, for S3-compatible storage other than AWS (MinIO, Garage, Ceph):
    /// `http://host:port`. Path-style requests are used with it.
    #[arg(long, env = "SALA_FILES_S3_ENDPOINT", requires = "files_s3_bucket")]
    pub files_s3_endpoint: Option<String>,

    /// Log format.
    #[arg(long, env = "SALA_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
}

/// The longest token lifetime `--token-ttl-secs` takes: ten years. (Larger ones overflowed
/// the expiry's date: one panicked at start, others made every login a 500.)
pub const MAX_TOKEN_TTL_SECS: u64 = 10 * 365 * 24 * 60 * 60;

/// A rate: a positive, finite number per second, at most a billion.
fn positive_rate(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 && rate <= 1e9 => Ok(rate),
        _ => Err("must be a positive number per second, at most 1000000000".into()),
    }
}

/// What a node serves (SPEC §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// Accounts and chat: one node does everything.
    All,
    /// Register, login, logout and token validation only.
    Auth,
    /// Everything else: rooms, status, `/ws`, `/socket.io/`, the web page.
    Chat,
}

impl Role {
    pub fn serves_accounts(self) -> bool {
        matches!(self, Self::All | Self::Auth)
    }

    pub fn serves_chat(self) -> bool {
        matches!(self, Self::All | Self::Chat)
    }

    /// The port a node of this role listens on unless told otherwise: the systems Sala
    /// replaces ran authentication on 4000 and chat on 3000.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Auth => 4000,
            Self::All | Self::Chat => 3000,
        }
    }
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

impl Config {
    /// The port to listen on, after the role's default.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or_else(|| self.role.default_port())
    }

    /// A configuration for tests: loopback, port 0, the given data dir, fast defaults.
    pub fn for_tests(data_dir: PathBuf) -> Self {
        Self {
            host: IpAddr::from([127, 0, 0, 1]),
            port: Some(0),
            role: Role::All,
            data_dir,
            database_url: None,
            redis_url: None,
            redis_prefix: "sala".into(),
            jwt_secret: None,
            token_ttl_secs: 3600,
            login_failures_per_user: 5,
            login_failures_per_address: 50,
            login_window_secs: 300,
            registrations_per_hour: 1_000_000,
            socketio_sessions_per_minute: 1_000_000,
            session_purge_interval_secs: 3600,
            socketio_ping_interval_secs: 25,
            socketio_ping_timeout_secs: 20,
            socketio_join_general: true,
            public_url: None,
            trusted_proxies: Vec::new(),
            outbound_queue: 1024,
            outbound_bytes: 4 << 20,
            outbound_bytes_total: 512 << 20,
            write_timeout_secs: 10,
            send_rate: 1000.0,
            send_burst: 1000,
            command_rate: 1000.0,
            command_burst: 1000,
            max_connections_per_user: 20,
            max_rooms_per_connection: 100,
            rooms_per_hour: 1000,
            auth_timeout_secs: 10,
            header_timeout_secs: 10,
            max_connections_per_address: 1_000_000,
            shutdown_grace_secs: 5,
            idle_timeout_secs: 60,
            allowed_origins: Vec::new(),
            ai_base_url: None,
            ai_api_key: None,
            ai_model: "test-model".into(),
            ai_timeout_secs: 5,
            assistant_interval_secs: 60,
            edit_window_secs: 0,
            max_upload_bytes: 25 << 20,
            upload_quota_bytes: 1 << 30,
            upload_window_secs: 10,
            files_s3_bucket: None,
            files_s3_endpoint: None,
            log_format: LogFormat::Pretty,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        config: Config,
    }

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        Cli::try_parse_from(std::iter::once("sala").chain(args.iter().copied()))
            .map(|cli| cli.config)
    }

    #[test]
    fn numeric_flags_out_of_range_are_refused_at_parse_time() {
        for args in [
            ["--token-ttl-secs", "9223372036854775807"],
            ["--token-ttl-secs", "9000000000000000"],
            ["--token-ttl-secs", "0"],
            ["--login-window-secs", "18446744073709551615"],
            ["--send-rate", "1e300"],
            ["--send-rate", "NaN"],
            ["--command-rate=-1", "--port=0"],
            ["--idle-timeout-secs", "99999999999"],
            ["--ai-timeout-secs", "99999999999"],
            ["--auth-timeout-secs", "0"],
            ["--login-failures-per-user", "0"],
            ["--outbound-bytes", "10"],
            ["--write-timeout-secs", "0"],
            ["--header-timeout-secs", "99999999"],
            ["--max-connections-per-address", "0"],
            ["--assistant-interval-secs", "99999999999"],
        ] {
            let refused = parse(&args).expect_err(&format!("{args:?} is refused"));
            assert_eq!(
                refused.kind(),
                clap::error::ErrorKind::ValueValidation,
                "{args:?}"
            );
        }
        let longest = MAX_TOKEN_TTL_SECS.to_string();
        let config = parse(&["--token-ttl-secs", &longest]).expect("ten years is allowed");
        assert_eq!(config.token_ttl_secs, MAX_TOKEN_TTL_SECS);
    }
}
