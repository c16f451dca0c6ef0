//! Building and running a node: open the store, make sure `general` exists, bind, serve
//! until told to stop, then close the store after in-flight requests finish.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::{Duration, Utc};
use sala_store::{NewRoom, RoomKind, Store};
use sala_store_mysql::MysqlStore;
use sala_store_postgres::PostgresStore;
use sala_store_sqlite::SqliteStore;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::Transports;
use crate::auth::password::PasswordHasher;
use crate::auth::secret;
use crate::auth::throttle::{LoginThrottle, ThrottleLimits};
use crate::auth::token::TokenKeys;
use crate::chat::assistant::ModelEndpoint;
use crate::chat::{Chat, ChatLimits};
use crate::cluster::Cluster;
use crate::cluster::hub::{Hub, OutboundLimits};
use crate::cluster::link::{Link, LinkSettings};
use crate::config::{Config, Role};
use crate::domain::RoomName;
use crate::files::storage::BlobStorage;
use crate::files::{FileLimits, Files, LocalStorage, S3Storage};
use crate::http::quota::Quota;
use crate::http::{self, AppState};
use crate::metrics::Metrics;
use crate::sio::SocketIoSettings;
use crate::ws::WsSettings;

/// File descriptors kept aside from client connections: the listener, database and Redis
/// connections, the log, the data files.
const RESERVED_FILES: u64 = 64;

/// The embedded database's file name inside the data dir.
const SQLITE_FILE: &str = "sala.db";

/// A node, bound and ready to serve.
pub struct App {
    listener: TcpListener,
    local_addr: SocketAddr,
    router: axum::Router,
    store: Arc<dyn Store>,
    chat: Chat,
    files: Files,
    /// The Redis link to the other nodes, when there are any.
    link: Option<Link>,
    role: Role,
    /// How often sessions that expired are deleted.
    session_purge_interval: std::time::Duration,
    /// Timeouts, caps and the shutdown grace of the HTTP server loop.
    listening: http::listener::ListenerSettings,
    connections: TaskTracker,
    metrics: Arc<Metrics>,
    /// Cancelled to stop the node; `run` then drains and returns.
    shutdown: CancellationToken,
}

impl App {
    /// Opens storage, binds the listener and assembles the HTTP application.
    ///
    /// # Errors
    /// When the data dir, the database or the port cannot be used, or the configuration is
    /// inconsistent (a short JWT secret, an unsupported database URL).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        prepare_data_dir(&config.data_dir)?;
        raise_open_files_limit();
        let store = open_store(&config).await?;
        store
            .ensure_room(NewRoom {
                name: RoomName::GENERAL,
                kind: RoomKind::Public,
                topic: Some("Everyone's room"),
                created_by: None,
                created_at: Utc::now(),
            })
            .await
            .context("creating the room 'general'")?;

        let secret = secret::load_or_create(config.jwt_secret.as_ref(), &config.data_dir)?;
        let ttl =
            Duration::seconds(i64::try_from(config.token_ttl_secs).unwrap_or(i64::MAX / 1000));
        let tokens = Arc::new(TokenKeys::new(&secret, ttl));
        let throttle = Arc::new(LoginThrottle::new(ThrottleLimits {
            per_username: config.login_failures_per_user,
            per_address: config.login_failures_per_address,
            window: std::time::Duration::from_secs(config.login_window_secs),
        }));

        let address = SocketAddr::new(config.host, config.port());
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("binding {address}"))?;
        let local_addr = listener.local_addr().context("reading the bound address")?;

        let metrics = Arc::new(Metrics::new());
        let hub = Hub::new(OutboundLimits {
            frames: config.outbound_queue.max(1),
            bytes_per_connection: config.outbound_bytes,
            bytes_per_node: config.outbound_bytes_total,
        });
        let write_timeout = std::time::Duration::from_secs(config.write_timeout_secs);
        let link = match &config.redis_url {
            Some(url) => Some(Link::start(
                &LinkSettings {
                    url: url.expose_secret().to_owned(),
                    prefix: config.redis_prefix.clone(),
                    listen: config.role.serves_chat(),
                },
                hub.clone(),
                store.clone(),
                metrics.clone(),
            )?),
            None => None,
        };
        let cluster = match &link {
            Some(link) => Cluster::linked(hub, link.publisher().clone()),
            None => Cluster::single(hub),
        };
        let chat = Chat::start(
            store.clone(),
            cluster,
            ChatLimits {
                outbound_queue: config.outbound_queue.max(1),
                write_timeout,
                sends_per_sec: config.send_rate,
                send_burst: config.send_burst,
                commands_per_sec: config.command_rate,
                command_burst: config.command_burst,
                max_connections_per_user: config.max_connections_per_user,
                max_rooms_per_connection: config.max_rooms_per_connection,
                typing_interval: std::time::Duration::from_secs(1),
                assistant_interval: std::time::Duration::from_secs(config.assistant_interval_secs),
                edit_window: (config.edit_window_secs > 0)
                    .then(|| std::time::Duration::from_secs(config.edit_window_secs)),
            },
            metrics.clone(),
            config.ai_base_url.as_ref().map(|base_url| ModelEndpoint {
                base_url: base_url.clone(),
                api_key: config.ai_api_key.clone(),
                model: config.ai_model.clone(),
                timeout: std::time::Duration::from_secs(config.ai_timeout_secs),
            }),
        );
        let files = open_files(&config, store.clone()).await?;
        let connections = TaskTracker::new();
        let transports = Transports {
            ws: WsSettings {
                auth_timeout: std::time::Duration::from_secs(config.auth_timeout_secs),
                idle_timeout: std::time::Duration::from_secs(config.idle_timeout_secs),
                ping_interval: std::time::Duration::from_secs(
                    (config.idle_timeout_secs / 3).max(1),
                ),
                write_timeout,
            },
            socketio: SocketIoSettings {
                auth_timeout: std::time::Duration::from_secs(config.auth_timeout_secs),
                ping_interval: std::time::Duration::from_secs(config.socketio_ping_interval_secs),
                ping_timeout: std::time::Duration::from_secs(config.socketio_ping_timeout_secs),
                join_general: config.socketio_join_general,
            },
        };
        let state = AppState {
            store: store.clone(),
            tokens,
            passwords: PasswordHasher::new()?,
            throttle,
            room_quota: Arc::new(Quota::new(
                config.rooms_per_hour,
                std::time::Duration::from_secs(60 * 60),
            )),
            register_quota: Arc::new(Quota::new(
                config.registrations_per_hour,
                std::time::Duration::from_secs(60 * 60),
            )),
            socketio_sessions: Arc::new(Quota::new(
                config.socketio_sessions_per_minute,
                std::time::Duration::from_secs(60),
            )),
            public_url: config.public_url.as_deref().map(Arc::from),
            local_addr,
            chat: chat.clone(),
            trusted_proxies: config.trusted_proxies.clone().into(),
            allowed_origins: config
                .allowed_origins
                .iter()
                .map(|origin| origin.trim().trim_end_matches('/').to_ascii_lowercase())
                .filter(|origin| !origin.is_empty())
                .collect(),
            files: files.clone(),
            metrics: metrics.clone(),
            connections: connections.clone(),
        };
        Ok(Self {
            files,
            listener,
            local_addr,
            router: crate::app::router(state, transports, config.role),
            metrics,
            store,
            chat,
            link,
            role: config.role,
            session_purge_interval: std::time::Duration::from_secs(
                config.session_purge_interval_secs,
            ),
            listening: http::listener::ListenerSettings {
                header_timeout: std::time::Duration::from_secs(config.header_timeout_secs),
                max_connections_per_address: config.max_connections_per_address,
                shutdown_grace: std::time::Duration::from_secs(config.shutdown_grace_secs),
                trusted_proxies: config.trusted_proxies.clone().into(),
            },
            connections,
            shutdown: CancellationToken::new(),
        })
    }

    /// The address the node listens on (the real port when configured with 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Cancel this token to stop the node gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until the shutdown token is cancelled. Then: in-flight HTTP requests finish,
    /// WebSocket readers stop, queued messages are committed and acked, every socket is
    /// closed with 1001 after its queue drains, and the store is closed.
    ///
    /// # Errors
    /// When accepting connections fails for good.
    pub async fn run(self) -> anyhow::Result<()> {
        tracing::info!(address = %self.local_addr, role = ?self.role, "sala is listening");
        let purging = self.role.serves_accounts().then(|| {
            tokio::spawn(purge_sessions(
                self.store.clone(),
                self.session_purge_interval,
                self.shutdown.clone(),
            ))
        });
        let upkeep = tokio::spawn(metrics_upkeep(self.metrics.clone(), self.shutdown.clone()));
        let collecting = self.role.serves_chat().then(|| {
            tokio::spawn(
                self.files
                    .clone()
                    .run_collector(self.chat.files_released(), self.shutdown.clone()),
            )
        });
        let shutdown = self.shutdown.clone();
        let chat = self.chat.clone();
        // The real-time layer shuts down as soon as the signal comes, not after in-flight
        // HTTP requests: Socket.io long-polling requests end only when their sockets close.
        http::listener::serve(
            self.listener,
            self.router,
            self.listening.clone(),
            async move {
                shutdown.cancelled().await;
                chat.shutdown().await;
            },
        )
        .await
        .context("serving HTTP")?;
        if let Some(purging) = purging
            && let Err(err) = purging.await
        {
            tracing::error!(error = %err, "the session purge task failed");
        }
        if let Err(err) = upkeep.await {
            tracing::error!(error = %err, "the metrics upkeep task failed");
        }
        if let Some(collecting) = collecting
            && let Err(err) = collecting.await
        {
            tracing::error!(error = %err, "the file collector failed");
        }
        if let Some(link) = &self.link {
            link.stop().await;
        }
        self.connections.close();
        if tokio::time::timeout(self.listening.shutdown_grace, self.connections.wait())
            .await
            .is_err()
        {
            tracing::warn!("some connections did not close in time");
        }
        self.store.close().await;
        tracing::info!("sala stopped");
        Ok(())
    }
}

/// The file storage: the S3 bucket if one is configured, else `files/` in the data dir;
/// uploads are spooled in `files/spool` either way (emptied now).
///
/// # Errors
/// When the S3 settings make no client or the spool folder cannot be made.
async fn open_files(config: &Config, store: Arc<dyn Store>) -> anyhow::Result<Files> {
    let folder = config.data_dir.join("files");
    let (storage, shared): (Arc<dyn BlobStorage>, bool) = match &config.files_s3_bucket {
        Some(bucket) => (
            Arc::new(
                S3Storage::new(bucket, config.files_s3_endpoint.as_deref())
                    .with_context(|| format!("opening the S3 bucket {bucket}"))?,
            ),
            true,
        ),
        None => (Arc::new(LocalStorage::new(folder.join("blobs"))), false),
    };
    let limits = FileLimits {
        max_bytes: config.max_upload_bytes,
        daily_quota_bytes: config.upload_quota_bytes,
        upload_window: std::time::Duration::from_secs(config.upload_window_secs),
    };
    let files = Files::open(storage, store, folder.join("spool"), limits, shared)
        .await
        .with_context(|| format!("preparing {}", folder.join("spool").display()))?;
    tracing::info!(
        storage = files.describe(),
        "files are kept in {}",
        files.describe()
    );
    Ok(files)
}

/// Creates the data dir readable by this user only (0700): it holds password hashes,
/// emails, every message and the session ids. An existing dir is left as it is, with a
/// warning when other users may read it.
///
/// # Errors
/// When the dir cannot be created or read.
fn prepare_data_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating data dir {}", dir.display()))?;
    }
    let mode = std::fs::metadata(dir)
        .with_context(|| format!("reading data dir {}", dir.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        tracing::warn!(
            dir = %dir.display(),
            mode = format!("{:o}", mode & 0o777),
            "the data dir can be read by other users; `chmod 700` it"
        );
    }
    Ok(())
}

/// Makes the SQLite database file (and its journal files, if there) readable by this user
/// only (0600) before SQLite opens it; SQLite gives new journal files the database's mode.
///
/// # Errors
/// When the file cannot be created or its mode set.
fn restrict_database_file(path: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    if !path.exists() {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("creating {}", path.display()))?;
    }
    for suffix in ["", "-wal", "-shm"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        let Ok(metadata) = std::fs::metadata(&file) else {
            continue;
        };
        if metadata.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("making {} private (0600)", file.display()))?;
            tracing::info!(file = %file.display(), "database file made readable by its owner only (0600)");
        }
    }
    Ok(())
}

/// Deletes expired sessions every `interval` until `stop`: nothing else ever deleted them,
/// so the table grew by one row per login for ever.
async fn purge_sessions(
    store: Arc<dyn Store>,
    interval: std::time::Duration,
    stop: CancellationToken,
) {
    let mut ticks = tokio::time::interval(interval);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        match store.purge_sessions(Utc::now()).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "expired sessions deleted"),
            Err(err) => tracing::warn!(error = %err, "could not delete expired sessions"),
        }
    }
}

/// Drains histogram samples every few seconds, until shutdown.
async fn metrics_upkeep(metrics: Arc<Metrics>, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => metrics.upkeep(),
        }
    }
}

/// Each connection holds a socket, a file descriptor: the soft open-file limit (often 1,024)
/// would cap a node at about a thousand clients. The soft limit may be raised up to the hard
/// one without privileges, so it is, and the resulting ceiling is logged.
fn raise_open_files_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::info!(
            open_files = limit,
            max_connections = limit.saturating_sub(RESERVED_FILES),
            "open-file limit raised to the hard limit; it caps the connections this node can hold"
        ),
        Err(err) => tracing::warn!(
            error = %err,
            "could not raise the open-file limit; connections are capped by the current one"
        ),
    }
}

/// The store the configuration asks for; SQLite in the data dir by default.
///
/// # Errors
/// An unsupported URL, or a database that cannot be opened.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let path = match &config.database_url {
        None => config.data_dir.join(SQLITE_FILE),
        Some(url) if is_postgres(url.expose_secret()) => {
            let store = PostgresStore::connect(url.expose_secret())
                .await
                .context("opening the PostgreSQL database")?;
            tracing::info!("using PostgreSQL");
            return Ok(Arc::new(store));
        }
        Some(url) if sala_store_mysql::is_mysql_url(url.expose_secret()) => {
            let store = MysqlStore::connect(url.expose_secret())
                .await
                .context("opening the MySQL database")?;
            tracing::info!("using MySQL");
            return Ok(Arc::new(store));
        }
        Some(url) => sqlite_path(url.expose_secret())?,
    };
    restrict_database_file(&path)?;
    let store = SqliteStore::open(&path)
        .await
        .with_context(|| format!("opening SQLite database {}", path.display()))?;
    tracing::info!(path = %path.display(), "using SQLite");
    Ok(Arc::new(store))
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

fn sqlite_path(url: &str) -> anyhow::Result<PathBuf> {
    match url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        Some(path) if !path.is_empty() => Ok(PathBuf::from(path)),
        _ => {
            // Never echo the URL: it may hold a password.
            let scheme = url.split(':').next().unwrap_or_default();
            bail!(
                "unsupported --database-url scheme '{scheme}': use postgres://USER:PASSWORD@HOST/DB, mysql://USER:PASSWORD@HOST/DB or sqlite://PATH"
            )
        }
    }
}
