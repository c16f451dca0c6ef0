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
//! Modules: `error` maps driver errors into [`StoreError`]; `rows` holds row shapes and their
//! conversion into records; [`test_support`] (feature `test-support`) makes a throwaway
//! database per test.

mod error;
mod rows;
#[cfg(feature = "test-support")]
pub mod test_support;

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sala_store::{
    AccountStore, Appended, BusyMember, MemberRoomRecord, MessageQuery, MessageRecord,
    MessageStore, NewMessage, NewRoom, NewSession, NewUser, RoomQuery, RoomRecord, RoomStore,
    SessionRecord, SessionStore, StatusRecord, Store, StoreError, UserRecord, fold_key,
};
use sqlx::migrate::MigrateError;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};

use error::map_err;
use rows::{MemberRoomRow, MessageRow, RoomRow, SessionRow, UserRow, millis};

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
impl AccountStore for PostgresStore {
    async fn create_user(&self, user: NewUser<'_>) -> Result<UserRecord, StoreError> {
        const SQL: &str = concat!(
            "INSERT INTO users (username, username_key, email, email_key, password_hash, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
            user_columns!()
        );
        let row: UserRow = sqlx::query_as(SQL)
            .bind(user.username)
            .bind(fold_key(user.username))
            .bind(user.email)
            .bind(user.email.map(fold_key))
            .bind(user.password_hash)
            .bind(millis(user.created_at))
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        row.try_into()
    }

    async fn find_user_by_username(
        &self,
        username: &str,
    ) -> Result<Option<UserRecord>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE username_key = $1"
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
            " FROM users WHERE username_key = ANY($1)"
        );
        if usernames.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = usernames.iter().map(|name| fold_key(name)).collect();
        let rows: Vec<UserRow> = sqlx::query_as(SQL)
            .bind(&keys)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.into_iter().map(UserRecord::try_from).collect()
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE email_key = $1"
        );
        self.user_where(SQL, &fold_key(email)).await
    }

    async fn get_user(&self, id: i64) -> Result<Option<UserRecord>, StoreError> {
        const SQL: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");
        let row: Option<UserRow> = sqlx::query_as(SQL)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.map(UserRecord::try_from).transpose()
    }

    async fn set_status(
        &self,
        user_id: i64,
        status: &StatusRecord,
    ) -> Result<UserRecord, StoreError> {
        // A busy status keeps the start of the busy period it continues.
        const SQL: &str = concat!(
            "UPDATE users SET busy = $1, status_note = $2, \
             busy_since = CASE WHEN $1 THEN COALESCE(busy_since, $4) ELSE NULL END \
             WHERE id = $3 RETURNING ",
            user_columns!()
        );
        let row: Option<UserRow> = sqlx::query_as(SQL)
            .bind(status.busy)
            .bind(status.note.as_deref())
            .bind(user_id)
            .bind(status.busy_since.map(millis))
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.ok_or(StoreError::NotFound)?.try_into()
    }
}

#[async_trait]
impl SessionStore for PostgresStore {
    async fn create_session(&self, session: NewSession<'_>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(session.id)
        .bind(session.user_id)
        .bind(millis(session.created_at))
        .bind(millis(session.expires_at))
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn get_session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let row: Option<SessionRow> = sqlx::query_as(
            "SELECT id, user_id, created_at, expires_at, revoked_at FROM sessions WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        row.map(SessionRecord::try_from).transpose()
    }

    async fn revoke_session(&self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(millis(at))
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(map_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn revoked_since(&self, since: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT id FROM sessions WHERE revoked_at >= $1 ORDER BY revoked_at")
                .bind(millis(since))
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    async fn purge_sessions(&self, expired_before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
            .bind(millis(expired_before))
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected())
    }
}

/// The case-folded text that room search matches against.
fn room_search_text(name: &str, topic: Option<&str>) -> String {
    fold_key(&format!("{name}\n{}", topic.unwrap_or_default()))
}

#[async_trait]
impl RoomStore for PostgresStore {
    async fn create_room(&self, room: NewRoom<'_>) -> Result<RoomRecord, StoreError> {
        // One statement: the insert and the creator's name come back together.
        const SQL: &str = "WITH r AS ( \
               INSERT INTO rooms (name, topic, search_text, created_by, created_at) \
               VALUES ($1, $2, $3, $4, $5) RETURNING * \
             ) \
             SELECT r.id, r.name, r.topic, u.username AS created_by, r.created_at \
             FROM r LEFT JOIN users u ON u.id = r.created_by";
        let row: RoomRow = sqlx::query_as(SQL)
            .bind(room.name)
            .bind(room.topic)
            .bind(room_search_text(room.name, room.topic))
            .bind(room.created_by)
            .bind(millis(room.created_at))
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        row.try_into()
    }

    async fn ensure_room(&self, room: NewRoom<'_>) -> Result<RoomRecord, StoreError> {
        // When another node inserts the same name at the same moment, the insert waits for
        // its commit and then does nothing; the select that follows sees that room.
        sqlx::query(
            "INSERT INTO rooms (name, topic, search_text, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING",
        )
        .bind(room.name)
        .bind(room.topic)
        .bind(room_search_text(room.name, room.topic))
        .bind(room.created_by)
        .bind(millis(room.created_at))
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        self.get_room(room.name).await?.ok_or(StoreError::NotFound)
    }

    async fn get_room(&self, name: &str) -> Result<Option<RoomRecord>, StoreError> {
        const SQL: &str = concat!(room_select!(), "WHERE r.name = $1");
        let row: Option<RoomRow> = sqlx::query_as(SQL)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.map(RoomRecord::try_from).transpose()
    }

    async fn list_rooms(&self, query: RoomQuery<'_>) -> Result<Vec<RoomRecord>, StoreError> {
        // strpos() rather than LIKE: the search string is matched literally, so `%` and `_`
        // typed by a user are just characters. Names compare and sort in byte order
        // (COLLATE "C", as SQLite does), so the `after_name` cursor pages exactly like the
        // SQLite backend whatever the database's default collation.
        const SQL: &str = concat!(
            room_select!(),
            "WHERE ($1::text IS NULL OR strpos(r.search_text, $1) > 0) \
             AND ($2::text IS NULL OR r.name > $2 COLLATE \"C\") \
             ORDER BY r.name COLLATE \"C\" LIMIT $3"
        );
        let rows: Vec<RoomRow> = sqlx::query_as(SQL)
            .bind(query.search.map(fold_key))
            .bind(query.after_name)
            .bind(i64::from(query.limit))
            .fetch_all(&self.pool)
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
            "INSERT INTO memberships (user_id, room_id, joined_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, room_id) DO NOTHING",
        )
        .bind(user_id)
        .bind(room_id)
        .bind(millis(at))
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn remove_member(&self, user_id: i64, room_id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM memberships WHERE user_id = $1 AND room_id = $2")
            .bind(user_id)
            .bind(room_id)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn member_rooms(&self, user_id: i64) -> Result<Vec<MemberRoomRecord>, StoreError> {
        let rows: Vec<MemberRoomRow> = sqlx::query_as(
            "SELECT r.id, r.name, r.topic, u.username AS created_by, r.created_at, m.last_read, \
             (SELECT COUNT(*) FROM messages x WHERE x.room_id = r.id AND x.id > m.last_read \
                AND (x.user_id <> m.user_id OR x.assistant)) AS unread \
             FROM memberships m JOIN rooms r ON r.id = m.room_id \
             LEFT JOIN users u ON u.id = r.created_by \
             WHERE m.user_id = $1 ORDER BY r.name COLLATE \"C\"",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.into_iter().map(MemberRoomRecord::try_from).collect()
    }

    async fn busy_members(&self, room_id: i64, limit: u32) -> Result<Vec<BusyMember>, StoreError> {
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT u.username, u.status_note FROM users u \
             WHERE u.busy AND EXISTS \
               (SELECT 1 FROM memberships m WHERE m.user_id = u.id AND m.room_id = $1) \
             ORDER BY u.username_key COLLATE \"C\" LIMIT $2",
        )
        .bind(room_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(rows
            .into_iter()
            .map(|(username, note)| BusyMember { username, note })
            .collect())
    }

    async fn mark_read(&self, user_id: i64, room_id: i64, id: i64) -> Result<i64, StoreError> {
        // Never back, never past the room's newest message. One UPDATE, so two nodes marking
        // at once serialise on the row and the larger marker wins.
        let marker: Option<(i64,)> = sqlx::query_as(
            "UPDATE memberships SET last_read = GREATEST(last_read, \
               LEAST($1, (SELECT COALESCE(MAX(id), 0) FROM messages WHERE room_id = $3))) \
             WHERE user_id = $2 AND room_id = $3 RETURNING last_read",
        )
        .bind(id)
        .bind(user_id)
        .bind(room_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        marker
            .map(|(last_read,)| last_read)
            .ok_or(StoreError::NotFound)
    }
}

impl PostgresStore {
    /// Stores one message inside `tx`, or finds the one its `client_id` already stored.
    async fn append_one(
        tx: &mut Transaction<'_, Postgres>,
        message: &NewMessage,
    ) -> Result<Appended, StoreError> {
        if let Some(client_id) = &message.client_id {
            const SQL: &str = concat!(
                message_select!(),
                "WHERE m.user_id = $1 AND m.client_id = $2"
            );
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
        // One statement: the insert, with the room and sender names joined in.
        const SQL: &str = "WITH m AS ( \
               INSERT INTO messages (room_id, user_id, text, client_id, assistant, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6) RETURNING * \
             ) \
             SELECT m.id, r.name AS room, m.user_id, u.username, m.text, m.client_id, \
             m.assistant, m.created_at FROM m JOIN rooms r ON r.id = m.room_id \
             JOIN users u ON u.id = m.user_id";
        let row: MessageRow = sqlx::query_as(SQL)
            .bind(message.room_id)
            .bind(message.user_id)
            .bind(&message.text)
            .bind(message.client_id.as_deref())
            .bind(message.assistant)
            .bind(millis(message.created_at))
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
impl MessageStore for PostgresStore {
    /// Stores the batch in one transaction, holding each of its rooms' write locks.
    ///
    /// Why the locks: an identity column hands out ids when rows are inserted, not when they
    /// commit. Without a lock, node A could take id 10 and node B id 11 in the same room, B
    /// commit first, and a reader catching up "after 9" see 11, move its cursor there, and
    /// never see 10 once A commits. `pg_advisory_xact_lock(room_id)` makes writers of one room
    /// take turns from before they draw an id until after they commit (PostgreSQL makes a
    /// commit visible before it releases the transaction's locks), so within a room ids are
    /// in commit order: a reader that saw id N never later finds a new id below N.
    ///
    /// The locks are taken in ascending room id, so two batches spanning the same rooms
    /// cannot deadlock. They live in the one-`bigint` advisory key space, shared in this
    /// database only with sqlx's migration lock (a key derived from the database name, far
    /// above any room id in practice; a collision would only make a batch wait out a
    /// migration).
    ///
    /// The lock also settles a `(user, client_id)` sent twice to the same room from two
    /// nodes: the second batch looks it up after the first committed and returns it, not
    /// new. Sent to two different rooms at once, the second insert hits the unique index
    /// and the batch fails as `Backend`; the caller retries its messages one at a time, and
    /// the retry finds the stored one.
    async fn append_messages(&self, batch: &[NewMessage]) -> Result<Vec<Appended>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let rooms: BTreeSet<i64> = batch.iter().map(|message| message.room_id).collect();
        for room_id in rooms {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(room_id)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        let mut stored = Vec::with_capacity(batch.len());
        for message in batch {
            stored.push(Self::append_one(&mut tx, message).await?);
        }
        tx.commit().await.map_err(map_err)?;
        Ok(stored)
    }

    async fn messages_since(
        &self,
        user_id: i64,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        const SQL: &str = concat!(
            message_select!(),
            "WHERE m.room_id IN (SELECT room_id FROM memberships WHERE user_id = $1) \
             AND m.created_at >= $2 ORDER BY m.id ASC LIMIT $3"
        );
        let rows: Vec<MessageRow> = sqlx::query_as(SQL)
            .bind(user_id)
            .bind(millis(since))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
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
                    "WHERE m.room_id = $1 AND m.id > $2 AND m.id < $3 ORDER BY m.id ASC LIMIT $4"
                );
                sqlx::query_as(SQL)
                    .bind(room_id)
                    .bind(after)
                    .bind(before)
                    .bind(fetch)
                    .fetch_all(&self.pool)
                    .await
            }
            None => {
                const SQL: &str = concat!(
                    message_select!(),
                    "WHERE m.room_id = $1 AND m.id < $2 ORDER BY m.id DESC LIMIT $3"
                );
                sqlx::query_as(SQL)
                    .bind(room_id)
                    .bind(before)
                    .bind(fetch)
                    .fetch_all(&self.pool)
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
