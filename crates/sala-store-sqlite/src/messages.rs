//! Messages: appended in batches, one transaction and one fsync each, and read by page.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sala_store::rows::{MessageRow, millis};
use sala_store::{Appended, MessageQuery, MessageRecord, MessageStore, NewMessage, StoreError};
use sqlx::{Connection as _, Sqlite, SqliteConnection, Transaction};

use crate::SqliteStore;
use crate::error::map_err;

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
            "WHERE m.room_id IN (SELECT mm.room_id FROM memberships mm JOIN rooms rr \
               ON rr.id = mm.room_id WHERE mm.user_id = ? AND rr.archived_at IS NULL) \
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

impl SqliteStore {
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

    /// Stores one message inside `tx`, or finds the one its `client_id` already stored.
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
