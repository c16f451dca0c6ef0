//! Messages: read by page here; sends and changes are written in batches, one transaction
//! and one fsync each, by the message writer's thread (writer.rs). Every write that changes
//! something takes the next position of the log from `sqlite_sequence`'s row for
//! `messages`, the counter message ids come from, so ids and change positions are one
//! sequence (the single writer orders them as they commit).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sala_store::rows::{MessageRow, ReactionRow, attach_reactions, millis};
use sala_store::{
    MessageQuery, MessageRecord, MessageStore, MessageWrite, MessageWritten, StoreError,
};
use sqlx::SqliteConnection;

use crate::SqliteStore;
use crate::error::map_err;

#[async_trait]
impl MessageStore for SqliteStore {
    async fn write_messages(
        &self,
        batch: &[MessageWrite],
    ) -> Result<Vec<MessageWritten>, StoreError> {
        self.messages.write(batch.to_vec()).await
    }

    async fn get_message(
        &self,
        room_id: i64,
        message_id: i64,
    ) -> Result<Option<MessageRecord>, StoreError> {
        let mut connection = self.readers.acquire().await.map_err(map_err)?;
        read_message(&mut connection, room_id, message_id).await
    }

    async fn thread(
        &self,
        room_id: i64,
        root: i64,
        after: Option<i64>,
        limit: u32,
    ) -> Result<(Vec<MessageRecord>, bool), StoreError> {
        const SQL: &str = concat!(
            message_select!(),
            "WHERE m.room_id = ? AND (m.id = ? OR m.reply_to = ?) AND m.id > ? \
             ORDER BY m.id ASC LIMIT ?"
        );
        let mut connection = self.readers.acquire().await.map_err(map_err)?;
        let mut rows: Vec<MessageRow> = sqlx::query_as(SQL)
            .bind(room_id)
            .bind(root)
            .bind(root)
            .bind(after.unwrap_or(0))
            .bind(i64::from(limit) + 1)
            .fetch_all(&mut *connection)
            .await
            .map_err(map_err)?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        Ok((records(&mut connection, rows).await?, more))
    }

    async fn changes_after(
        &self,
        room_id: i64,
        after: i64,
        limit: u32,
    ) -> Result<(Vec<MessageRecord>, bool), StoreError> {
        const SQL: &str = concat!(
            message_select!(),
            "WHERE m.room_id = ? AND m.seq > ? ORDER BY m.seq ASC LIMIT ?"
        );
        let mut connection = self.readers.acquire().await.map_err(map_err)?;
        let mut rows: Vec<MessageRow> = sqlx::query_as(SQL)
            .bind(room_id)
            .bind(after)
            .bind(i64::from(limit) + 1)
            .fetch_all(&mut *connection)
            .await
            .map_err(map_err)?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        Ok((records(&mut connection, rows).await?, more))
    }

    async fn latest_position(&self, room_id: i64) -> Result<i64, StoreError> {
        let mut connection = self.readers.acquire().await.map_err(map_err)?;
        let (latest,): (i64,) =
            sqlx::query_as("SELECT COALESCE(MAX(seq), 0) FROM messages WHERE room_id = ?")
                .bind(room_id)
                .fetch_one(&mut *connection)
                .await
                .map_err(map_err)?;
        Ok(latest)
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
             AND m.created_at >= ? AND m.deleted_at IS NULL ORDER BY m.id ASC LIMIT ?"
        );
        let mut connection = self.readers.acquire().await.map_err(map_err)?;
        let rows: Vec<MessageRow> = sqlx::query_as(SQL)
            .bind(user_id)
            .bind(millis(since))
            .bind(i64::from(limit))
            .fetch_all(&mut *connection)
            .await
            .map_err(map_err)?;
        records(&mut connection, rows).await
    }

    async fn list_messages(
        &self,
        room_id: i64,
        query: MessageQuery,
    ) -> Result<(Vec<MessageRecord>, bool), StoreError> {
        let fetch = query.fetch();
        let before = query.before.unwrap_or(i64::MAX);
        let mut connection = self.readers.acquire().await.map_err(map_err)?;
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
                    .fetch_all(&mut *connection)
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
                    .fetch_all(&mut *connection)
                    .await
            }
        }
        .map_err(map_err)?;
        let (rows, more) = query.finish(rows);
        Ok((records(&mut connection, rows).await?, more))
    }
}

/// The records of the rows read, with their reactions (read only for those that have any).
async fn records(
    connection: &mut SqliteConnection,
    rows: Vec<MessageRow>,
) -> Result<Vec<MessageRecord>, StoreError> {
    let with_reactions: Vec<i64> = rows
        .iter()
        .filter(|row| row.reaction_rows() > 0)
        .map(MessageRow::id)
        .collect();
    let mut messages = rows
        .into_iter()
        .map(MessageRecord::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    if !with_reactions.is_empty() {
        let ids = serde_json::to_string(&with_reactions)
            .map_err(|err| StoreError::Backend(Box::new(err)))?;
        let reactions: Vec<ReactionRow> = sqlx::query_as(
            "SELECT r.message_id, r.emoji, u.username FROM message_reactions r \
             JOIN users u ON u.id = r.user_id \
             WHERE r.message_id IN (SELECT value FROM json_each(?)) \
             ORDER BY r.message_id, r.position",
        )
        .bind(ids)
        .fetch_all(&mut *connection)
        .await
        .map_err(map_err)?;
        attach_reactions(&mut messages, reactions);
    }
    Ok(messages)
}

async fn read_message(
    connection: &mut SqliteConnection,
    room_id: i64,
    message_id: i64,
) -> Result<Option<MessageRecord>, StoreError> {
    const SQL: &str = concat!(message_select!(), "WHERE m.id = ? AND m.room_id = ?");
    let row: Option<MessageRow> = sqlx::query_as(SQL)
        .bind(message_id)
        .bind(room_id)
        .fetch_optional(&mut *connection)
        .await
        .map_err(map_err)?;
    Ok(records(connection, row.into_iter().collect()).await?.pop())
}
