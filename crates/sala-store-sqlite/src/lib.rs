//! The embedded SQLite backend: one file in the data dir, WAL mode, no setup.
//!
//! Writes go through a pool of exactly one connection, so SQLite's single writer never sees
//! two of ours contend (no `SQLITE_BUSY` on lock upgrades), and a batch of messages shares
//! one transaction and one fsync. Reads use a separate pool and run beside the writer, which
//! WAL allows. `synchronous = FULL`: a committed transaction survives a power cut, which is
//! what an ack promises (SPEC §3).
//!
//! Queries are checked at run time (`query_as`), not with `query!`: that would need a
//! `DATABASE_URL` or committed `.sqlx/` data at build time for every backend crate, and the
//! store contract tests exercise every query against a real database anyway.

mod error;
mod rows;

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sala_store::{
    AccountStore, Appended, BusyMember, MemberRoomRecord, MessageQuery, MessageRecord,
    MessageStore, NewMessage, NewRoom, NewSession, NewUser, RoomQuery, RoomRecord, RoomStore,
    SessionRecord, SessionStore, StatusRecord, Store, StoreError, UserRecord, fold_key,
};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection as _, Sqlite, SqliteConnection, SqlitePool, Transaction};

use error::map_err;
use rows::{MemberRoomRow, MessageRow, RoomRow, SessionRow, UserRow, millis};

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
        "SELECT r.id, r.name, r.topic, u.username AS created_by, r.created_at \
         FROM rooms r LEFT JOIN users u ON u.id = r.created_by "
    };
}
macro_rules! message_select {
    () => {
        "SELECT m.id, r.name AS room, m.user_id, u.username, m.text, m.client_id, m.assistant, \
         m.created_at FROM messages m JOIN rooms r ON r.id = m.room_id \
         JOIN users u ON u.id = m.user_id "
    };
}

/// A Sala store in one SQLite file.
#[derive(Clone)]
pub struct SqliteStore {
    /// Exactly one connection: every write, in order.
    writer: SqlitePool,
    /// Reads, concurrent with the writer thanks to WAL.
    readers: SqlitePool,
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
        Ok(Self { writer, readers })
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

#[async_trait]
impl AccountStore for SqliteStore {
    async fn create_user(&self, user: NewUser<'_>) -> Result<UserRecord, StoreError> {
        const SQL: &str = concat!(
            "INSERT INTO users (username, username_key, email, email_key, password_hash, \
             created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING ",
            user_columns!()
        );
        let rows: Vec<UserRow> = sqlx::query_as(SQL)
            .bind(user.username)
            .bind(fold_key(user.username))
            .bind(user.email)
            .bind(user.email.map(fold_key))
            .bind(user.password_hash)
            .bind(millis(user.created_at))
            .fetch_all(&self.writer)
            .await
            .map_err(map_err)?;
        only_row(rows)?.try_into()
    }

    async fn find_user_by_username(
        &self,
        username: &str,
    ) -> Result<Option<UserRecord>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE username_key = ?"
        );
        self.user_where(SQL, &fold_key(username)).await
    }

    async fn find_users_by_username(
        &self,
        usernames: &[String],
    ) -> Result<Vec<UserRecord>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE username_key IN (SELECT value FROM json_each(?))"
        );
        if usernames.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = usernames.iter().map(|name| fold_key(name)).collect();
        let rows: Vec<UserRow> = sqlx::query_as(SQL)
            .bind(serde_json::to_string(&keys).map_err(|err| StoreError::Backend(Box::new(err)))?)
            .fetch_all(&self.readers)
            .await
            .map_err(map_err)?;
        rows.into_iter().map(UserRecord::try_from).collect()
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE email_key = ?"
        );
        self.user_where(SQL, &fold_key(email)).await
    }

    async fn get_user(&self, id: i64) -> Result<Option<UserRecord>, StoreError> {
        const SQL: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE id = ?");
        let row: Option<UserRow> = sqlx::query_as(SQL)
            .bind(id)
            .fetch_optional(&self.readers)
            .await
            .map_err(map_err)?;
        row.map(UserRecord::try_from).transpose()
    }

    async fn set_status(
        &self,
        user_id: i64,
        status: &StatusRecord,
    ) -> Result<UserRecord, StoreError> {
        const SQL: &str = concat!(
            "UPDATE users SET busy = ?1, status_note = ?2, \
             busy_since = CASE WHEN ?1 THEN COALESCE(busy_since, ?4) ELSE NULL END \
             WHERE id = ?3 RETURNING ",
            user_columns!()
        );
        let rows: Vec<UserRow> = sqlx::query_as(SQL)
            .bind(status.busy)
            .bind(status.note.as_deref())
            .bind(user_id)
            .bind(status.busy_since.map(millis))
            .fetch_all(&self.writer)
            .await
            .map_err(map_err)?;
        only_row(rows)?.try_into()
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn create_session(&self, session: NewSession<'_>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (id, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
        )
        .bind(session.id)
        .bind(session.user_id)
        .bind(millis(session.created_at))
        .bind(millis(session.expires_at))
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn get_session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let row: Option<SessionRow> = sqlx::query_as(
            "SELECT id, user_id, created_at, expires_at, revoked_at FROM sessions WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.readers)
        .await
        .map_err(map_err)?;
        row.map(SessionRecord::try_from).transpose()
    }

    async fn revoke_session(&self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
                .bind(millis(at))
                .bind(id)
                .execute(&self.writer)
                .await
                .map_err(map_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn revoked_since(&self, since: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT id FROM sessions WHERE revoked_at >= ? ORDER BY revoked_at")
                .bind(millis(since))
                .fetch_all(&self.readers)
                .await
                .map_err(map_err)?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    async fn purge_sessions(&self, expired_before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at < ?")
            .bind(millis(expired_before))
            .execute(&self.writer)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected())
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

/// The case-folded text that room search matches against.
fn room_search_text(name: &str, topic: Option<&str>) -> String {
    fold_key(&format!("{name}\n{}", topic.unwrap_or_default()))
}

#[async_trait]
impl RoomStore for SqliteStore {
    async fn create_room(&self, room: NewRoom<'_>) -> Result<RoomRecord, StoreError> {
        sqlx::query(
            "INSERT INTO rooms (name, topic, search_text, created_by, created_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(room.name)
        .bind(room.topic)
        .bind(room_search_text(room.name, room.topic))
        .bind(room.created_by)
        .bind(millis(room.created_at))
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        self.room_by_name(&self.writer, room.name).await
    }

    async fn ensure_room(&self, room: NewRoom<'_>) -> Result<RoomRecord, StoreError> {
        sqlx::query(
            "INSERT INTO rooms (name, topic, search_text, created_by, created_at) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
        )
        .bind(room.name)
        .bind(room.topic)
        .bind(room_search_text(room.name, room.topic))
        .bind(room.created_by)
        .bind(millis(room.created_at))
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        self.room_by_name(&self.writer, room.name).await
    }

    async fn get_room(&self, name: &str) -> Result<Option<RoomRecord>, StoreError> {
        const SQL: &str = concat!(room_select!(), "WHERE r.name = ?");
        let row: Option<RoomRow> = sqlx::query_as(SQL)
            .bind(name)
            .fetch_optional(&self.readers)
            .await
            .map_err(map_err)?;
        row.map(RoomRecord::try_from).transpose()
    }

    async fn list_rooms(&self, query: RoomQuery<'_>) -> Result<Vec<RoomRecord>, StoreError> {
        // instr() rather than LIKE: the search string is matched literally, so `%` and `_`
        // typed by a user are just characters.
        const SQL: &str = concat!(
            room_select!(),
            "WHERE (?1 IS NULL OR instr(r.search_text, ?1) > 0) \
             AND (?2 IS NULL OR r.name > ?2) ORDER BY r.name LIMIT ?3"
        );
        let rows: Vec<RoomRow> = sqlx::query_as(SQL)
            .bind(query.search.map(fold_key))
            .bind(query.after_name)
            .bind(i64::from(query.limit))
            .fetch_all(&self.readers)
            .await
            .map_err(map_err)?;
        rows.into_iter().map(RoomRecord::try_from).collect()
    }

    async fn add_member(
        &self,
        user_id: i64,
        room_id: i64,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO memberships (user_id, room_id, joined_at) VALUES (?, ?, ?) \
             ON CONFLICT (user_id, room_id) DO NOTHING",
        )
        .bind(user_id)
        .bind(room_id)
        .bind(millis(at))
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn remove_member(&self, user_id: i64, room_id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM memberships WHERE user_id = ? AND room_id = ?")
            .bind(user_id)
            .bind(room_id)
            .execute(&self.writer)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn member_rooms(&self, user_id: i64) -> Result<Vec<MemberRoomRecord>, StoreError> {
        let rows: Vec<MemberRoomRow> = sqlx::query_as(
            "SELECT r.id, r.name, r.topic, u.username AS created_by, r.created_at, m.last_read, \
             (SELECT COUNT(*) FROM messages x WHERE x.room_id = r.id AND x.id > m.last_read \
                AND (x.user_id <> m.user_id OR x.assistant <> 0)) AS unread \
             FROM memberships m JOIN rooms r ON r.id = m.room_id \
             LEFT JOIN users u ON u.id = r.created_by \
             WHERE m.user_id = ? ORDER BY r.name",
        )
        .bind(user_id)
        .fetch_all(&self.readers)
        .await
        .map_err(map_err)?;
        rows.into_iter().map(MemberRoomRecord::try_from).collect()
    }

    async fn busy_members(&self, room_id: i64, limit: u32) -> Result<Vec<BusyMember>, StoreError> {
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT u.username, u.status_note FROM users u \
             WHERE u.busy <> 0 AND EXISTS \
               (SELECT 1 FROM memberships m WHERE m.user_id = u.id AND m.room_id = ?) \
             ORDER BY u.username_key LIMIT ?",
        )
        .bind(room_id)
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await
        .map_err(map_err)?;
        Ok(rows
            .into_iter()
            .map(|(username, note)| BusyMember { username, note })
            .collect())
    }

    async fn mark_read(&self, user_id: i64, room_id: i64, id: i64) -> Result<i64, StoreError> {
        let marker: Vec<(i64,)> = sqlx::query_as(
            "UPDATE memberships SET last_read = MAX(last_read, \
               MIN(?1, (SELECT COALESCE(MAX(id), 0) FROM messages WHERE room_id = ?3))) \
             WHERE user_id = ?2 AND room_id = ?3 RETURNING last_read",
        )
        .bind(id)
        .bind(user_id)
        .bind(room_id)
        .fetch_all(&self.writer)
        .await
        .map_err(map_err)?;
        only_row(marker).map(|(last_read,)| last_read)
    }
}

impl SqliteStore {
    /// Reads a room through `pool`; the writer is used right after a write so the read sees it.
    async fn room_by_name(&self, pool: &SqlitePool, name: &str) -> Result<RoomRecord, StoreError> {
        const SQL: &str = concat!(room_select!(), "WHERE r.name = ?");
        let row: Option<RoomRow> = sqlx::query_as(SQL)
            .bind(name)
            .fetch_optional(pool)
            .await
            .map_err(map_err)?;
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// Stores one message inside `tx`, or finds the one its `client_id` already stored.
    /// Appends the batch in one transaction on `connection`.
    async fn append_in_transaction(
        connection: &mut SqliteConnection,
        batch: &[NewMessage],
    ) -> Result<Vec<Appended>, StoreError> {
        let mut tx = connection.begin().await.map_err(map_err)?;
        let mut stored = Vec::with_capacity(batch.len());
        for message in batch {
            stored.push(Self::append_one(&mut tx, message).await?);
        }
        tx.commit().await.map_err(map_err)?;
        Ok(stored)
    }

    async fn append_one(
        tx: &mut Transaction<'_, Sqlite>,
        message: &NewMessage,
    ) -> Result<Appended, StoreError> {
        if let Some(client_id) = &message.client_id {
            const SQL: &str = concat!(message_select!(), "WHERE m.user_id = ? AND m.client_id = ?");
            let existing: Option<MessageRow> = sqlx::query_as(SQL)
                .bind(message.user_id)
                .bind(client_id)
                .fetch_optional(&mut **tx)
                .await
                .map_err(map_err)?;
            if let Some(row) = existing {
                return Ok(Appended {
                    record: row.try_into()?,
                    is_new: false,
                });
            }
        }
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO messages (room_id, user_id, text, client_id, assistant, created_at) \
             VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(message.room_id)
        .bind(message.user_id)
        .bind(&message.text)
        .bind(message.client_id.as_deref())
        .bind(message.assistant)
        .bind(millis(message.created_at))
        .fetch_one(&mut **tx)
        .await
        .map_err(map_err)?;
        const SQL: &str = concat!(message_select!(), "WHERE m.id = ?");
        let row: MessageRow = sqlx::query_as(SQL)
            .bind(id)
            .fetch_one(&mut **tx)
            .await
            .map_err(map_err)?;
        Ok(Appended {
            record: row.try_into()?,
            is_new: true,
        })
    }
}

#[async_trait]
impl MessageStore for SqliteStore {
    async fn append_messages(&self, batch: &[NewMessage]) -> Result<Vec<Appended>, StoreError> {
        let mut connection = self.writer.acquire().await.map_err(map_err)?;
        let appended = Self::append_in_transaction(&mut connection, batch).await;
        if let Err(err) = &appended {
            // After a failed write (a full disk, an I/O error), SQLite may or may not have
            // rolled the transaction back, and sqlx's count of open transactions can part
            // from SQLite's: the next BEGIN then becomes a SAVEPOINT inside a transaction
            // that never commits, and every later "commit" succeeds without reaching the
            // disk. (The disk-full test found exactly that: acks for messages never
            // stored.) Closing the connection rolls back whatever is open; the pool opens
            // a fresh one for the next write.
            tracing::warn!(error = %err, "a message batch failed; reopening the writer connection");
            if let Err(close) = connection.close().await {
                tracing::warn!(error = %close, "closing the failed writer connection");
            }
        }
        appended
    }

    async fn messages_since(
        &self,
        user_id: i64,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        const SQL: &str = concat!(
            message_select!(),
            "WHERE m.room_id IN (SELECT room_id FROM memberships WHERE user_id = ?) \
             AND m.created_at >= ? ORDER BY m.id ASC LIMIT ?"
        );
        let rows: Vec<MessageRow> = sqlx::query_as(SQL)
            .bind(user_id)
            .bind(millis(since))
            .bind(i64::from(limit))
            .fetch_all(&self.readers)
            .await
            .map_err(map_err)?;
        rows.into_iter().map(MessageRecord::try_from).collect()
    }

    async fn list_messages(
        &self,
        room_id: i64,
        query: MessageQuery,
    ) -> Result<(Vec<MessageRecord>, bool), StoreError> {
        let fetch = query.fetch();
        let before = query.before.unwrap_or(i64::MAX);
        let rows: Vec<MessageRow> = match query.after {
            Some(after) => {
                const SQL: &str = concat!(
                    message_select!(),
                    "WHERE m.room_id = ? AND m.id > ? AND m.id < ? ORDER BY m.id ASC LIMIT ?"
                );
                sqlx::query_as(SQL)
                    .bind(room_id)
                    .bind(after)
                    .bind(before)
                    .bind(fetch)
                    .fetch_all(&self.readers)
                    .await
            }
            None => {
                const SQL: &str = concat!(
                    message_select!(),
                    "WHERE m.room_id = ? AND m.id < ? ORDER BY m.id DESC LIMIT ?"
                );
                sqlx::query_as(SQL)
                    .bind(room_id)
                    .bind(before)
                    .bind(fetch)
                    .fetch_all(&self.readers)
                    .await
            }
        }
        .map_err(map_err)?;
        let (rows, more) = query.finish(rows);
        let messages = rows
            .into_iter()
            .map(MessageRecord::try_from)
            .collect::<Result<_, _>>()?;
        Ok((messages, more))
    }
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
        self.writer.close().await;
    }
}
