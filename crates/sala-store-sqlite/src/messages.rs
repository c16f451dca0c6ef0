//! Messages: sends and changes written in batches, one transaction and one fsync each, and
//! read by page. Every write that changes something takes the next position of the log from
//! `sqlite_sequence`'s row for `messages`, the counter message ids come from, so ids and
//! change positions are one sequence (the single writer orders them as they commit).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sala_store::rows::{MessageRow, ReactionRow, attach_reactions, millis};
use sala_store::{
    Appended, ChangeKind, MAX_REACTION_KINDS, Mentions, MessageChange, MessageQuery, MessageRecord,
    MessageStore, MessageWrite, MessageWritten, NewMessage, StoreError, WriteRefusal,
};
use sqlx::{Connection as _, Sqlite, SqliteConnection, Transaction};

use crate::SqliteStore;
use crate::error::map_err;

#[async_trait]
impl MessageStore for SqliteStore {
    async fn write_messages(
        &self,
        batch: &[MessageWrite],
    ) -> Result<Vec<MessageWritten>, StoreError> {
        let mut connection = self.writer.acquire().await.map_err(map_err)?;
        let written = Self::write_in_transaction(&mut connection, batch).await;
        if let Err(err) = &written {
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
        written
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

/// The message as it is inside the transaction, which has just written it.
async fn reread(
    tx: &mut Transaction<'_, Sqlite>,
    room_id: i64,
    message_id: i64,
) -> Result<MessageRecord, StoreError> {
    read_message(tx, room_id, message_id)
        .await?
        .ok_or(StoreError::NotFound)
}

/// The names a message shows as mentioned, as stored: a JSON array.
fn mention_names(mentions: &Mentions) -> Result<String, StoreError> {
    let names: Vec<&str> = mentions
        .users
        .iter()
        .map(|(_, name)| name.as_str())
        .collect();
    serde_json::to_string(&names).map_err(|err| StoreError::Backend(Box::new(err)))
}

/// The next position of the log (ids and changes alike).
async fn next_position(tx: &mut Transaction<'_, Sqlite>) -> Result<i64, StoreError> {
    let (position,): (i64,) = sqlx::query_as(
        "UPDATE sqlite_sequence SET seq = seq + 1 WHERE name = 'messages' RETURNING seq",
    )
    .fetch_one(&mut **tx)
    .await
    .map_err(map_err)?;
    Ok(position)
}

/// What a change needs to know of the message it changes.
#[derive(sqlx::FromRow)]
struct Target {
    user_id: i64,
    text: String,
    deleted_at: Option<i64>,
    edit_client_id: Option<String>,
    reply_to: Option<i64>,
    created_at: i64,
}

impl SqliteStore {
    async fn write_in_transaction(
        connection: &mut SqliteConnection,
        batch: &[MessageWrite],
    ) -> Result<Vec<MessageWritten>, StoreError> {
        let mut tx = connection.begin().await.map_err(map_err)?;
        let mut written = Vec::with_capacity(batch.len());
        for write in batch {
            written.push(match write {
                MessageWrite::Append(message) => Self::append_one(&mut tx, message).await?,
                MessageWrite::Change(change) => Self::change_one(&mut tx, change).await?,
            });
        }
        tx.commit().await.map_err(map_err)?;
        Ok(written)
    }

    /// The message the sender already stored with this `client_id`, if any, as a repeat.
    async fn stored_before(
        tx: &mut Transaction<'_, Sqlite>,
        message: &NewMessage,
    ) -> Result<Option<MessageWritten>, StoreError> {
        let Some(client_id) = &message.client_id else {
            return Ok(None);
        };
        let existing: Option<(i64, i64)> =
            sqlx::query_as("SELECT id, room_id FROM messages WHERE user_id = ? AND client_id = ?")
                .bind(message.user_id)
                .bind(client_id)
                .fetch_optional(&mut **tx)
                .await
                .map_err(map_err)?;
        let Some((id, room_id)) = existing else {
            return Ok(None);
        };
        Ok(Some(MessageWritten::Appended {
            appended: Appended {
                record: reread(tx, room_id, id).await?,
                is_new: false,
            },
            thread_root: None,
            follows: None,
        }))
    }

    /// Stores one message inside `tx`, or finds the one its `client_id` already stored.
    ///
    /// One statement takes the next position and inserts the row, and the unique index on
    /// `(user_id, client_id)` tells a repeat (no row inserted), so a plain send costs two
    /// statements (this and the read back) instead of four (issue 20). A reply looks for a
    /// repeat first: its root may have been deleted since the first time, and a repeat is
    /// answered as the first time was.
    async fn append_one(
        tx: &mut Transaction<'_, Sqlite>,
        message: &NewMessage,
    ) -> Result<MessageWritten, StoreError> {
        if let Some(root) = message.reply_to {
            if let Some(repeat) = Self::stored_before(tx, message).await? {
                return Ok(repeat);
            }
            let live: Option<(i64,)> = sqlx::query_as(
                "SELECT id FROM messages WHERE id = ? AND room_id = ? AND deleted_at IS NULL",
            )
            .bind(root)
            .bind(message.room_id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(map_err)?;
            if live.is_none() {
                return Ok(MessageWritten::Refused(WriteRefusal::NoSuchMessage));
            }
        }
        // An explicit id above sqlite_sequence's moves it there (AUTOINCREMENT), so this is
        // next_position and the insert at once. (`WHERE` after the SELECT is what SQLite's
        // parser needs to read the ON CONFLICT as the upsert's.)
        let inserted: Option<(i64,)> = sqlx::query_as(
            "INSERT INTO messages (id, seq, room_id, user_id, text, client_id, assistant, \
             created_at, reply_to, mentions, mentions_room) \
             SELECT s.seq + 1, s.seq + 1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 \
             FROM sqlite_sequence s WHERE s.name = 'messages' \
             ON CONFLICT (user_id, client_id) WHERE client_id IS NOT NULL DO NOTHING \
             RETURNING id",
        )
        .bind(message.room_id)
        .bind(message.user_id)
        .bind(&message.text)
        .bind(message.client_id.as_deref())
        .bind(message.assistant)
        .bind(millis(message.created_at))
        .bind(message.reply_to)
        .bind(mention_names(&message.mentions)?)
        .bind(message.mentions.room)
        .fetch_optional(&mut **tx)
        .await
        .map_err(map_err)?;
        let Some((id,)) = inserted else {
            // The index refused it: the sender stored this client_id before.
            return Self::stored_before(tx, message)
                .await?
                .ok_or(StoreError::NotFound);
        };
        for (user_id, _) in &message.mentions.users {
            sqlx::query(
                "INSERT INTO message_mentions (user_id, message_id) VALUES (?, ?) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(user_id)
            .bind(id)
            .execute(&mut **tx)
            .await
            .map_err(map_err)?;
        }
        let thread_root = match message.reply_to {
            Some(root) => {
                let position = next_position(tx).await?;
                sqlx::query(
                    "UPDATE messages SET replies = replies + 1, last_reply_at = ?, seq = ? \
                     WHERE id = ?",
                )
                .bind(millis(message.created_at))
                .bind(position)
                .bind(root)
                .execute(&mut **tx)
                .await
                .map_err(map_err)?;
                Some(reread(tx, message.room_id, root).await?)
            }
            None => None,
        };
        Ok(MessageWritten::Appended {
            appended: Appended {
                record: reread(tx, message.room_id, id).await?,
                is_new: true,
            },
            thread_root,
            follows: None,
        })
    }

    /// Carries out one change inside `tx`, if its rule allows it.
    async fn change_one(
        tx: &mut Transaction<'_, Sqlite>,
        change: &MessageChange,
    ) -> Result<MessageWritten, StoreError> {
        let target: Option<Target> = sqlx::query_as(
            "SELECT user_id, text, deleted_at, edit_client_id, reply_to, created_at FROM messages \
             WHERE id = ? AND room_id = ?",
        )
        .bind(change.message_id)
        .bind(change.room_id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(map_err)?;
        let Some(target) = target else {
            return Ok(MessageWritten::Refused(WriteRefusal::NoSuchMessage));
        };
        let deleted = target.deleted_at.is_some();
        let mut thread_root = None;
        let changed = match &change.kind {
            ChangeKind::Edit { .. } | ChangeKind::React { add: true, .. } if deleted => {
                return Ok(MessageWritten::Refused(WriteRefusal::NoSuchMessage));
            }
            ChangeKind::Edit { .. } if target.user_id != change.user_id => {
                return Ok(MessageWritten::Refused(WriteRefusal::NotAuthor));
            }
            ChangeKind::Edit {
                sent_after: Some(after),
                ..
            } if target.created_at < millis(*after) => {
                return Ok(MessageWritten::Refused(WriteRefusal::EditWindowClosed));
            }
            ChangeKind::Edit {
                text, client_id, ..
            } => {
                let repeated = client_id.is_some() && *client_id == target.edit_client_id;
                if repeated || *text == target.text {
                    false
                } else {
                    let position = next_position(tx).await?;
                    sqlx::query(
                        "UPDATE messages SET text = ?, edited_at = ?, edit_client_id = ?, \
                         seq = ? WHERE id = ?",
                    )
                    .bind(text)
                    .bind(millis(change.at))
                    .bind(client_id.as_deref())
                    .bind(position)
                    .bind(change.message_id)
                    .execute(&mut **tx)
                    .await
                    .map_err(map_err)?;
                    true
                }
            }
            ChangeKind::Delete { .. } if deleted => false,
            ChangeKind::Delete { any_author } => {
                if !any_author && target.user_id != change.user_id {
                    return Ok(MessageWritten::Refused(WriteRefusal::NotAuthor));
                }
                let position = next_position(tx).await?;
                sqlx::query(
                    "UPDATE messages SET text = '', deleted_at = ?, edit_client_id = NULL, \
                     reaction_rows = 0, seq = ? WHERE id = ?",
                )
                .bind(millis(change.at))
                .bind(position)
                .bind(change.message_id)
                .execute(&mut **tx)
                .await
                .map_err(map_err)?;
                sqlx::query("DELETE FROM message_reactions WHERE message_id = ?")
                    .bind(change.message_id)
                    .execute(&mut **tx)
                    .await
                    .map_err(map_err)?;
                if let Some(root) = target.reply_to {
                    thread_root = Self::recount_thread(tx, change.room_id, root).await?;
                }
                true
            }
            ChangeKind::React { emoji, add: true } => {
                let kinds: Vec<(String,)> = sqlx::query_as(
                    "SELECT DISTINCT emoji FROM message_reactions WHERE message_id = ?",
                )
                .bind(change.message_id)
                .fetch_all(&mut **tx)
                .await
                .map_err(map_err)?;
                if kinds.len() >= MAX_REACTION_KINDS && !kinds.iter().any(|(e,)| e == emoji) {
                    return Ok(MessageWritten::Refused(WriteRefusal::TooManyReactions));
                }
                // The position orders the reactions (emoji by first use); one that was
                // already there leaves it unused, a gap no reader minds.
                let position = next_position(tx).await?;
                let added = sqlx::query(
                    "INSERT INTO message_reactions \
                     (message_id, emoji, user_id, created_at, position) \
                     VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                )
                .bind(change.message_id)
                .bind(emoji)
                .bind(change.user_id)
                .bind(millis(change.at))
                .bind(position)
                .execute(&mut **tx)
                .await
                .map_err(map_err)?
                .rows_affected()
                    > 0;
                if added {
                    Self::count_reactions(tx, change.message_id, 1, Some(position)).await?;
                }
                added
            }
            ChangeKind::React { emoji, add: false } => {
                let removed = sqlx::query(
                    "DELETE FROM message_reactions \
                     WHERE message_id = ? AND emoji = ? AND user_id = ?",
                )
                .bind(change.message_id)
                .bind(emoji)
                .bind(change.user_id)
                .execute(&mut **tx)
                .await
                .map_err(map_err)?
                .rows_affected()
                    > 0;
                if removed {
                    Self::count_reactions(tx, change.message_id, -1, None).await?;
                }
                removed
            }
        };
        Ok(MessageWritten::Changed {
            record: reread(tx, change.room_id, change.message_id).await?,
            changed,
            thread_root,
            follows: None,
        })
    }

    /// A reaction added (+1) or removed (-1): the message's count and its new position
    /// (`position`, if one was drawn for it already).
    async fn count_reactions(
        tx: &mut Transaction<'_, Sqlite>,
        message_id: i64,
        by: i64,
        position: Option<i64>,
    ) -> Result<(), StoreError> {
        let position = match position {
            Some(position) => position,
            None => next_position(tx).await?,
        };
        sqlx::query("UPDATE messages SET reaction_rows = reaction_rows + ?, seq = ? WHERE id = ?")
            .bind(by)
            .bind(position)
            .bind(message_id)
            .execute(&mut **tx)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    /// A reply was deleted: its root's counts, read again, and its new position (none if the
    /// root is itself deleted, as a tombstone shows no thread).
    async fn recount_thread(
        tx: &mut Transaction<'_, Sqlite>,
        room_id: i64,
        root: i64,
    ) -> Result<Option<MessageRecord>, StoreError> {
        let position = next_position(tx).await?;
        let updated = sqlx::query(
            "UPDATE messages SET seq = ?, \
             replies = (SELECT COUNT(*) FROM messages r \
                        WHERE r.reply_to = ?2 AND r.deleted_at IS NULL), \
             last_reply_at = (SELECT MAX(r.created_at) FROM messages r \
                              WHERE r.reply_to = ?2 AND r.deleted_at IS NULL) \
             WHERE id = ?2 AND deleted_at IS NULL",
        )
        .bind(position)
        .bind(root)
        .execute(&mut **tx)
        .await
        .map_err(map_err)?;
        if updated.rows_affected() == 0 {
            return Ok(None);
        }
        Ok(Some(reread(tx, room_id, root).await?))
    }
}
