//! Messages: appended in batches under a per-room advisory lock, and read by page.

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sala_store::rows::{MessageRow, millis};
use sala_store::{Appended, MessageQuery, MessageRecord, MessageStore, NewMessage, StoreError};
use sqlx::{Postgres, Transaction};

use crate::PostgresStore;
use crate::error::map_err;

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
            "WHERE m.room_id IN (SELECT mm.room_id FROM memberships mm JOIN rooms rr \
               ON rr.id = mm.room_id WHERE mm.user_id = $1 AND rr.archived_at IS NULL) \
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
