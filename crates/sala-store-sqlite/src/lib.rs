//! The embedded SQLite backend: one file in the data dir, WAL mode, no setup.
//!
//! Messages and their changes are written by a thread of their own with one `rusqlite`
//! connection (writer.rs): a batch is one transaction and one fsync, and never leaves that
//! thread until it is committed. The rest of the writes go through sqlx's pool of exactly
//! one connection. The two writers begin every transaction with `BEGIN IMMEDIATE`, taking
//! SQLite's write lock at once, so one waits for the other (the busy timeout) and neither
//! meets `SQLITE_BUSY` on a lock upgrade. The chat path's reads run on reader threads with
//! `rusqlite` connections of their own (reader.rs), the rest on sqlx's read pool; WAL lets
//! all of them run beside the writers. `synchronous = FULL`: a committed transaction
//! survives a power cut, which is what an ack promises (SPEC §3).
//!
//! Queries are checked at run time (`query_as`, `prepare_cached`), not with `query!`: that
//! would need a `DATABASE_URL` or committed `.sqlx/` data at build time for every backend
//! crate, and the store contract tests exercise every query against a real database anyway.

mod error;

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use sala_store::{Store, StoreError, UserRecord};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use error::map_err;
use sala_store::rows::UserRow;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How many connections serve reads beside the one writer.
const READ_CONNECTIONS: u32 = 8;

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
/// The columns of a message row (`rows::messages`), read from `m`, `r` and `u`.
macro_rules! message_columns {
    () => {
        "SELECT m.id, m.seq, r.name AS room, m.user_id, u.username, m.text, m.client_id, \
         m.assistant, m.created_at, m.edited_at, m.deleted_at, m.reply_to, m.replies, \
         m.last_reply_at, m.reaction_rows, m.mentions, m.mentions_room, m.attachments "
    };
}
macro_rules! message_select {
    () => {
        concat!(
            message_columns!(),
            "FROM messages m \
             JOIN rooms r ON r.id = m.room_id \
             JOIN users u ON u.id = m.user_id "
        )
    };
}

// After the query macros, which the modules use.
mod accounts;
mod files;
mod messages;
mod moderation;
mod reader;
mod rooms;
mod rows;
mod sessions;
mod writer;

/// A Sala store in one SQLite file.
#[derive(Clone)]
pub struct SqliteStore {
    /// Exactly one connection: every write but messages', in order.
    writer: SqlitePool,
    /// Messages and their changes, on a thread of their own.
    messages: writer::MessageWriter,
    /// Reads, concurrent with the writer thanks to WAL.
    readers: SqlitePool,
    /// The reads the chat path makes most, on threads of their own.
    hot_readers: reader::Readers,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    ///
    /// # Errors
    /// `Unavailable` when the file cannot be opened or created; `Backend` when a migration fails.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // A deleted message's text is overwritten in the file, not left in a free page.
            .pragma("secure_delete", "ON")
            .busy_timeout(Duration::from_secs(5));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(map_err)?;
        MIGRATOR
            .run(&writer)
            .await
            .map_err(|err| StoreError::Backend(Box::new(err)))?;
        let readers = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(map_err)?;
        let messages = writer::MessageWriter::start(path)?;
        let hot_readers = reader::Readers::start(path)?;
        Ok(Self {
            writer,
            messages,
            readers,
            hot_readers,
        })
    }

    /// Runs `read` on one of the readers' `rusqlite` connections.
    async fn read<T, F>(&self, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.hot_readers.read(read).await
    }

    async fn user_where(
        &self,
        sql: &'static str,
        value: &str,
    ) -> Result<Option<UserRecord>, StoreError> {
        let row: Option<UserRow> = sqlx::query_as(sql)
            .bind(value)
            .fetch_optional(&self.readers)
            .await
            .map_err(map_err)?;
        row.map(UserRecord::try_from).transpose()
    }
}

/// The one row a write's `RETURNING` gave; none: `NotFound`.
///
/// Writes with `RETURNING` outside a transaction are read with `fetch_all`, never
/// `fetch_one` / `fetch_optional`: SQLite commits such a statement when it runs to its end.
/// Stopping after the first row leaves the commit to the statement's reset, whose error
/// sqlx does not report, so on a full disk a user was "registered" (201) and never stored.
fn only_row<T>(rows: Vec<T>) -> Result<T, StoreError> {
    rows.into_iter().next().ok_or(StoreError::NotFound)
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.readers)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn close(&self) {
        self.readers.close().await;
        self.hot_readers.close().await;
        self.messages.close().await;
        self.writer.close().await;
    }
}
