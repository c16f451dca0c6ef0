//! The PostgreSQL backend: one database shared by several server nodes.
//!
//! It exists for scale-out: every node opens its own pool to the same database, and this crate
//! keeps the store contract (`sala_store::contract`) true across them. Behaviour matches
//! `sala-store-sqlite` operation for operation; what differs is how concurrent writers from
//! other processes are handled:
//!
//! - `append_messages` serialises writers per room with transaction-scoped advisory locks, so
//!   a room's message ids are assigned in commit order (the comment on `append_messages`
//!   says why a catch-up cursor needs that).
//! - `ensure_room` and `add_member` use `ON CONFLICT DO NOTHING`, so two nodes doing the same
//!   thing at once both succeed.
//! - Migrations run at connect under sqlx's own advisory lock, so nodes starting together
//!   apply each migration once.
//!
//! Connections are plain TCP or a Unix socket: the crate is built without TLS (one crypto
//! stack fewer in the build). Put PostgreSQL on a private network or on loopback, never
//! across the open internet.
//!
//! Queries are checked at run time (`query_as`), not with `query!`, for the same reason as in
//! the SQLite crate: no `DATABASE_URL` at build time, and the contract tests run every query
//! against a real server (`tests/contract.rs`, `#[ignore]`d unless `scripts/test.sh` provides
//! one).
//!
//! Modules: `error` maps driver errors into [`StoreError`]; the row shapes are
//! `sala_store::rows`, shared with SQLite; [`test_support`] (feature `test-support`) makes a throwaway
//! database per test.

mod error;
#[cfg(feature = "test-support")]
pub mod test_support;

use std::time::Duration;

use async_trait::async_trait;
use sala_store::{Store, StoreError, UserRecord};
use sqlx::PgPool;
use sqlx::migrate::MigrateError;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use error::map_err;
use sala_store::rows::UserRow;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

// Shared query fragments as macros, so that every query stays one `&'static str` (sqlx
// rejects run-time-built SQL unless it is asserted safe).
macro_rules! user_columns {
    () => {
        "id, username, email, password_hash, busy, status_note, busy_since, created_at"
    };
}
macro_rules! room_select {
    () => {
        "SELECT r.id, r.name, r.kind, r.members_invite, r.topic, u.username AS created_by, r.created_at \
         FROM rooms r LEFT JOIN users u ON u.id = r.created_by "
    };
}
macro_rules! message_select {
    () => {
        "SELECT m.id, m.seq, r.name AS room, m.user_id, u.username, m.text, m.client_id, \
         m.assistant, m.created_at, m.edited_at, m.deleted_at, m.reply_to, m.replies, \
         m.last_reply_at, m.reaction_rows, m.mentions, m.mentions_room, m.attachments \
         FROM messages m \
         JOIN rooms r ON r.id = m.room_id \
         JOIN users u ON u.id = m.user_id "
    };
}

// After the query macros, which the modules use.
mod accounts;
mod files;
mod messages;
mod moderation;
mod rooms;
mod sessions;

/// How a node's pool is sized.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// Connections this node may hold open. Several nodes share the server's
    /// `max_connections` (100 by default), so keep nodes × this below it.
    pub max_connections: u32,
    /// How long an operation waits for a free connection (or for the server to answer a new
    /// one) before it fails as `Unavailable`.
    pub acquire_timeout: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// A Sala store in a PostgreSQL database, shareable by several nodes.
#[derive(Clone)]
pub struct PostgresStore {
    /// Reads and writes alike: PostgreSQL runs them concurrently and each operation is one
    /// statement or one transaction, so there is no need for SQLite's single-writer pool.
    pool: PgPool,
}

impl PostgresStore {
    /// Connects with [`PostgresOptions::default`] (16 connections) and brings the schema up
    /// to date.
    ///
    /// `url` is a libpq-style URL, e.g. `postgres://sala:secret@10.0.0.5:5432/sala`, or
    /// `postgres://sala@/sala?host=/run/postgresql` for a Unix socket.
    ///
    /// # Errors
    /// `Unavailable` when the server cannot be reached; `Backend` when the URL is malformed or
    /// a migration fails.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, PostgresOptions::default()).await
    }

    /// Like [`connect`](Self::connect), with a pool sized by `options`.
    ///
    /// # Errors
    /// As for [`connect`](Self::connect).
    pub async fn connect_with(url: &str, options: PostgresOptions) -> Result<Self, StoreError> {
        let connect_options: PgConnectOptions = url
            .parse::<PgConnectOptions>()
            .map_err(map_err)?
            .application_name("sala");
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect_options)
            .await
            .map_err(map_err)?;
        // sqlx holds an advisory lock while it migrates, so nodes starting at once take turns
        // and each migration is applied once.
        MIGRATOR.run(&pool).await.map_err(|err| match err {
            MigrateError::Execute(err) | MigrateError::ExecuteMigration(err, _) => map_err(err),
            other => StoreError::Backend(Box::new(other)),
        })?;
        Ok(Self { pool })
    }

    async fn user_where(
        &self,
        sql: &'static str,
        value: &str,
    ) -> Result<Option<UserRecord>, StoreError> {
        let row: Option<UserRow> = sqlx::query_as(sql)
            .bind(value)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.map(UserRecord::try_from).transpose()
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
