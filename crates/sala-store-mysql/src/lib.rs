//! The MySQL and MariaDB backend: one database shared by several server nodes.
//!
//! It exists for teams that already run MySQL (8.0 or later) or MariaDB (10.5 or later):
//! every node opens its own pool to the same database, and this crate keeps the store
//! contract (`sala_store::contract`) true across them, as `sala-store-postgres` does.
//! Behaviour matches the other backends operation for operation; what differs is how:
//!
//! - `write_messages` serialises writers per room by locking the rooms' rows
//!   (`SELECT … FOR UPDATE`) until it commits, so a room's positions are assigned in commit
//!   order (the comment on `write_messages` says why a catch-up cursor needs that).
//!   Positions come from one AUTO_INCREMENT counter, the `message_positions` table, as
//!   PostgreSQL draws them from one sequence.
//! - MySQL has no `RETURNING` (MySQL 8 lacks it, MariaDB only has it for INSERT) and no
//!   `ON CONFLICT DO NOTHING` that leaves other errors alone (`INSERT IGNORE` turns
//!   foreign-key failures into warnings): a row that may already exist is a plain INSERT
//!   whose duplicate-key error (which rolls back only that statement) means "it was
//!   there", and what an INSERT made is read back.
//! - Every connection runs READ COMMITTED (each statement sees what committed before it
//!   began, as on PostgreSQL, and InnoDB takes no gap locks) in strict SQL mode (a value
//!   too long for its column is an error, never truncated).
//! - Migrations run at connect under a `GET_LOCK` of this crate's (sqlx's own does not
//!   lock on MariaDB), so nodes starting together apply each migration once; they are recorded in `sala_migrations`, and a database
//!   that already holds tables with Sala's names that Sala did not make is refused before
//!   anything is created (another application may share the database otherwise).
//! - Search reads newest first and matches with `LIKE`: MariaDB has no `ngram` full-text
//!   parser (see `messages.rs`).
//!
//! Connections are plain TCP or a Unix socket: the crate is built without TLS, like the
//! PostgreSQL one. Put the database on a private network or on loopback.
//!
//! Modules: `error` maps driver errors into [`StoreError`]; the row shapes are
//! `sala_store::rows`, shared with the other backends; [`test_support`] (feature
//! `test-support`) makes a throwaway database per test.

mod error;
mod literal;
#[cfg(feature = "test-support")]
pub mod test_support;

use std::borrow::Cow;
use std::time::Duration;

use async_trait::async_trait;
use sala_store::{Store, StoreError, UserRecord};
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::{Connection as _, Executor as _, MySqlConnection, MySqlPool};

use error::map_err;
use sala_store::rows::UserRow;

static MIGRATIONS: Migrator = sqlx::migrate!("./migrations");

/// Where this backend records its migrations: not sqlx's default `_sqlx_migrations`, which
/// another application using sqlx may keep in the same database.
const MIGRATIONS_TABLE: &str = "sala_migrations";

/// How long a node starting waits for another one to finish migrating.
const MIGRATION_LOCK_WAIT: Duration = Duration::from_secs(120);

/// The tables `migrations/` creates. Finding one of them in a database without
/// [`MIGRATIONS_TABLE`] means it belongs to someone else.
const TABLES: [&str; 14] = [
    "users",
    "sessions",
    "rooms",
    "memberships",
    "message_positions",
    "messages",
    "message_reactions",
    "message_mentions",
    "blocks",
    "room_invites",
    "room_restrictions",
    "room_audit",
    "files",
    "blob_garbage",
];

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
// The room's and the author's names as scalar subqueries by primary key, not joins: with
// fewer users than messages (any small deployment), MariaDB joined `users` through its
// join buffer, which gives up the order of the index, so a search that reads newest first
// and stops at 51 hits read all 200,000 messages and sorted them (250 ms instead of 1).
macro_rules! message_select {
    () => {
        "SELECT m.id, m.seq, (SELECT r.name FROM rooms r WHERE r.id = m.room_id) AS room, \
         m.user_id, (SELECT u.username FROM users u WHERE u.id = m.user_id) AS username, \
         m.text, m.client_id, m.assistant, m.created_at, m.edited_at, m.deleted_at, \
         m.reply_to, m.replies, m.last_reply_at, m.reaction_rows, m.mentions, \
         m.mentions_room, m.attachments \
         FROM messages m "
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
pub struct MysqlOptions {
    /// Connections this node may hold open. Several nodes share the server's
    /// `max_connections` (151 by default), so keep nodes × this below it.
    pub max_connections: u32,
    /// How long an operation waits for a free connection (or for the server to answer a new
    /// one) before it fails as `Unavailable`.
    pub acquire_timeout: Duration,
}

impl Default for MysqlOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// A Sala store in a MySQL or MariaDB database, shareable by several nodes.
#[derive(Clone)]
pub struct MysqlStore {
    pool: MySqlPool,
}

/// Whether `url` names a MySQL or MariaDB database.
pub fn is_mysql_url(url: &str) -> bool {
    url.starts_with("mysql://") || url.starts_with("mariadb://")
}

impl MysqlStore {
    /// Connects with [`MysqlOptions::default`] (16 connections) and brings the schema up to
    /// date.
    ///
    /// `url` is `mysql://USER:PASSWORD@HOST:PORT/DATABASE` (`mariadb://` is the same), or
    /// `mysql://USER@localhost/DATABASE?socket=/run/mysqld/mysqld.sock`.
    ///
    /// # Errors
    /// `Unavailable` when the server cannot be reached; `Backend` when the URL is malformed,
    /// the password is refused, the database holds another application's tables of the same
    /// names, or a migration fails.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, MysqlOptions::default()).await
    }

    /// Like [`connect`](Self::connect), with a pool sized by `options`.
    ///
    /// # Errors
    /// As for [`connect`](Self::connect).
    pub async fn connect_with(url: &str, options: MysqlOptions) -> Result<Self, StoreError> {
        let url = match url.strip_prefix("mariadb://") {
            Some(rest) => Cow::Owned(format!("mysql://{rest}")),
            None => Cow::Borrowed(url),
        };
        let connect_options: MySqlConnectOptions = url
            .parse::<MySqlConnectOptions>()
            .map_err(map_err)?
            .charset("utf8mb4")
            .timezone(Some("+00:00".to_owned()));
        let pool = MySqlPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .after_connect(|connection, _| {
                Box::pin(async move {
                    // READ COMMITTED: see the crate comment. Strict mode for every table,
                    // and one step per AUTO_INCREMENT value (a replication setup may set
                    // another increment globally; positions are drawn a batch at a time
                    // and must be consecutive).
                    connection
                        .execute(
                            "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED; \
                             SET SESSION sql_mode = CONCAT(@@sql_mode, ',STRICT_ALL_TABLES'), \
                             auto_increment_increment = 1, auto_increment_offset = 1",
                        )
                        .await?;
                    Ok(())
                })
            })
            .connect_with(connect_options)
            .await
            .map_err(map_err)?;
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    /// Brings the schema up to date, one node at a time.
    ///
    /// The lock is taken here, not by sqlx: sqlx asks for `GET_LOCK(name, -1)`, which MySQL
    /// reads as "wait for ever" and MariaDB answers at once with NULL, without the lock
    /// (MariaDB 10.11), so two nodes starting together both ran the first migration and one
    /// failed on its record. `GET_LOCK` belongs to the connection: everything below runs on
    /// one, and closing it on an error releases the lock too.
    async fn migrate(&self) -> Result<(), StoreError> {
        let mut connection = self.pool.acquire().await.map_err(map_err)?;
        // Lock names are server-wide and at most 64 characters: one per database.
        let (locked,): (Option<i64>,) =
            sqlx::query_as("SELECT GET_LOCK(SHA1(CONCAT('sala migrations ', DATABASE())), ?)")
                .bind(MIGRATION_LOCK_WAIT.as_secs())
                .fetch_one(&mut *connection)
                .await
                .map_err(map_err)?;
        if locked != Some(1) {
            return Err(StoreError::Unavailable(
                format!(
                    "another node has been migrating this database for over {} s",
                    MIGRATION_LOCK_WAIT.as_secs()
                )
                .into(),
            ));
        }
        let migrated = async {
            refuse_foreign_tables(&mut connection).await?;
            let migrator = Migrator {
                migrations: MIGRATIONS.migrations.clone(),
                ignore_missing: false,
                locking: false,
                no_tx: false,
                table_name: Cow::Borrowed(MIGRATIONS_TABLE),
                create_schemas: Cow::Borrowed(&[]),
            };
            // run_direct, not run: run's `Acquire` bound makes this future not `Send`.
            migrator
                .run_direct(None, &mut *connection, false)
                .await
                .map_err(|err| match err {
                    MigrateError::Execute(err) | MigrateError::ExecuteMigration(err, _) => {
                        map_err(err)
                    }
                    other => StoreError::Backend(Box::new(other)),
                })
        }
        .await;
        let released =
            sqlx::query("SELECT RELEASE_LOCK(SHA1(CONCAT('sala migrations ', DATABASE())))")
                .execute(&mut *connection)
                .await;
        if migrated.is_err() || released.is_err() {
            // The lock goes with the connection.
            let _ = connection.detach().close().await;
        }
        migrated?;
        released.map_err(map_err)?;
        Ok(())
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
impl Store for MysqlStore {
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

/// Refuses a database where tables with Sala's names exist but Sala's migrations table does
/// not: another application's, which migrating would fail on halfway (MySQL cannot roll DDL
/// back) or, worse, use. Runs under the migration lock, so a node never sees another one's
/// first migration half done.
async fn refuse_foreign_tables(connection: &mut MySqlConnection) -> Result<(), StoreError> {
    let present: Vec<(String,)> = sqlx::query_as(
        "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
         WHERE table_schema = DATABASE()",
    )
    .fetch_all(&mut *connection)
    .await
    .map_err(map_err)?;
    let present: Vec<String> = present.into_iter().map(|(name,)| name).collect();
    if present.iter().any(|name| name == MIGRATIONS_TABLE) {
        return Ok(());
    }
    let taken: Vec<&str> = TABLES
        .into_iter()
        .filter(|table| present.iter().any(|name| name == table))
        .collect();
    if taken.is_empty() {
        return Ok(());
    }
    Err(StoreError::Backend(
        format!(
            "the database already has tables named {} that Sala did not create (no {} table): \
             give Sala a database of its own",
            taken.join(", "),
            MIGRATIONS_TABLE
        )
        .into(),
    ))
}
