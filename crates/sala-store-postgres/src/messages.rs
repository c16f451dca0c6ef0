//! Messages: sends and changes written in batches under a per-room advisory lock, and read
//! by page. Every write that changes something takes the next position of the log from the
//! sequence of message ids, so ids and change positions are one sequence; the lock orders
//! a room's positions as they commit (see `write_messages`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sala_store::rows::{
    FileRow, MessageRow, ReactionRow, attach_reactions, attachments_column, millis,
};
use sala_store::{
    Appended, AttachmentRecord, ChangeKind, FileRecord, MAX_REACTION_KINDS, Mentions,
    MessageChange, MessageQuery, MessageRecord, MessageSearch, MessageStore, MessageWrite,
    MessageWritten, NewMessage, StoreError, WriteRefusal, fold_key,
};
use std::collections::{BTreeSet, HashMap};

use sqlx::{PgConnection, Postgres, Transaction};

use crate::PostgresStore;
use crate::error::map_err;

#[async_trait]
impl MessageStore for PostgresStore {
    /// Writes the batch in one transaction, holding each of its rooms' write locks.
    ///
    /// Why the locks: an identity column hands out ids when rows are inserted, not when they
    /// commit. Without a lock, node A could take id 10 and node B id 11 in the same room, B
    /// commit first, and a reader catching up "after 9" see 11, move its cursor there, and
    /// never see 10 once A commits. `pg_advisory_xact_lock(room_id)` makes writers of one room
    /// take turns from before they draw a position until after they commit (PostgreSQL makes a
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
    /// nodes: the second batch finds it after the first committed and returns it, not new.
    /// Sent to two different rooms at once, the second insert meets the unique index, waits
    /// for the other transaction, and once that commits returns the message it stored.
    async fn write_messages(
        &self,
        batch: &[MessageWrite],
    ) -> Result<Vec<MessageWritten>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let rooms: Vec<i64> = batch
            .iter()
            .map(MessageWrite::room_id)
            .collect::<BTreeSet<i64>>()
            .into_iter()
            .collect();
        // Every room's lock in one statement, in ascending order (the array's), then each
        // room's latest position, read under its lock: what each write follows. One round
        // trip each, however many rooms the batch holds.
        sqlx::query("SELECT pg_advisory_xact_lock(r) FROM unnest($1::bigint[]) AS r")
            .bind(&rooms)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        let mut latest: HashMap<i64, i64> = sqlx::query_as(
            "SELECT r, (SELECT COALESCE(MAX(seq), 0) FROM messages WHERE room_id = r) \
             FROM unnest($1::bigint[]) AS r",
        )
        .bind(&rooms)
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?
        .into_iter()
        .collect();
        let mut written = Vec::with_capacity(batch.len());
        let mut rest = batch;
        while let Some(first) = rest.first() {
            // Plain sends (no reply, no files) in a row are stored together; the rest one by one.
            let sends: Vec<&NewMessage> = rest
                .iter()
                .map_while(|write| match write {
                    MessageWrite::Append(message)
                        if message.reply_to.is_none() && message.attachments.is_empty() =>
                    {
                        Some(message)
                    }
                    _ => None,
                })
                .collect();
            let (done, taken) = if sends.is_empty() {
                let done = match first {
                    MessageWrite::Append(message) => Self::append_one(&mut tx, message).await?,
                    MessageWrite::Change(change) => Self::change_one(&mut tx, change).await?,
                };
                (vec![done], 1)
            } else {
                let taken = sends.len();
                (Self::append_plain(&mut tx, &sends).await?, taken)
            };
            for (write, mut done) in rest[..taken].iter().zip(done) {
                let room_latest = latest.entry(write.room_id()).or_default();
                done.set_follows(*room_latest);
                if let Some(last) = done.positions().last() {
                    *room_latest = last;
                }
                written.push(done);
            }
            rest = &rest[taken..];
        }
        tx.commit().await.map_err(map_err)?;
        Ok(written)
    }

    async fn get_message(
        &self,
        room_id: i64,
        message_id: i64,
    ) -> Result<Option<MessageRecord>, StoreError> {
        let mut connection = self.pool.acquire().await.map_err(map_err)?;
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
            "WHERE m.room_id = $1 AND (m.id = $2 OR m.reply_to = $2) AND m.id > $3 \
             ORDER BY m.id ASC LIMIT $4"
        );
        let mut connection = self.pool.acquire().await.map_err(map_err)?;
        let mut rows: Vec<MessageRow> = sqlx::query_as(SQL)
            .bind(room_id)
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
            "WHERE m.room_id = $1 AND m.seq > $2 ORDER BY m.seq ASC LIMIT $3"
        );
        let mut connection = self.pool.acquire().await.map_err(map_err)?;
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
        let mut connection = self.pool.acquire().await.map_err(map_err)?;
        latest_position(&mut connection, room_id).await
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
             AND m.created_at >= $2 AND m.deleted_at IS NULL ORDER BY m.id ASC LIMIT $3"
        );
        let mut connection = self.pool.acquire().await.map_err(map_err)?;
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
        let mut connection = self.pool.acquire().await.map_err(map_err)?;
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
                    .fetch_all(&mut *connection)
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
                    .fetch_all(&mut *connection)
                    .await
            }
        }
        .map_err(map_err)?;
        let (rows, more) = query.finish(rows);
        Ok((records(&mut connection, rows).await?, more))
    }

    async fn search_messages(
        &self,
        search: MessageSearch<'_>,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let mut connection = self.pool.acquire().await.map_err(map_err)?;
        // The reader's rooms first, as a list the planner can count: planned as a
        // subquery, their number was guessed (as one), and a common word was then matched
        // in every message of those rooms and sorted, instead of read newest first until
        // the page filled (1 s instead of 2 ms over a million messages).
        let (rooms,): (Vec<i64>,) = sqlx::query_as(
            "SELECT coalesce(array_agg(mm.room_id), '{}') FROM memberships mm \
             JOIN rooms rr ON rr.id = mm.room_id \
             WHERE mm.user_id = $1 AND rr.archived_at IS NULL",
        )
        .bind(search.reader_id)
        .fetch_one(&mut *connection)
        .await
        .map_err(map_err)?;
        if rooms.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = sqlx::QueryBuilder::<Postgres>::new(concat!(
            message_select!(),
            "WHERE m.room_id = ANY("
        ));
        sql.push_bind(rooms)
            .push(") AND m.deleted_at IS NULL AND m.id < ")
            .push_bind(search.older_than.unwrap_or(i64::MAX));
        for text in search.texts {
            // The text as a LIKE pattern that matches itself only, anywhere.
            let pattern = text
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            sql.push(" AND m.text ILIKE ")
                .push_bind(format!("%{pattern}%"))
                .push(" ESCAPE '\\'");
        }
        if let Some(author) = search.author {
            sql.push(" AND u.username_key = ")
                .push_bind(fold_key(author));
        }
        if let Some(room) = search.room {
            sql.push(" AND r.name = ").push_bind(room.to_owned());
        }
        if let Some(after) = search.after {
            sql.push(" AND m.created_at > ").push_bind(millis(after));
        }
        if let Some(before) = search.before {
            sql.push(" AND m.created_at < ").push_bind(millis(before));
        }
        if search.with_files {
            sql.push(" AND m.attachments IS NOT NULL");
        }
        sql.push(" ORDER BY m.id DESC LIMIT ")
            .push_bind(i64::from(search.limit));
        // Planned afresh for its values each time (not a prepared statement's generic
        // plan): whether reading newest first or the trigram index is quicker depends on
        // how common the text is, which only the text itself tells the planner.
        let rows: Vec<MessageRow> = sql
            .build_query_as()
            .persistent(false)
            .fetch_all(&mut *connection)
            .await
            .map_err(map_err)?;
        records(&mut connection, rows).await
    }
}

/// The records of the rows read, with their reactions (read only for those that have any).
async fn records(
    connection: &mut PgConnection,
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
        let reactions: Vec<ReactionRow> = sqlx::query_as(
            "SELECT r.message_id, r.emoji, u.username FROM message_reactions r \
             JOIN users u ON u.id = r.user_id WHERE r.message_id = ANY($1) \
             ORDER BY r.message_id, r.position",
        )
        .bind(&with_reactions)
        .fetch_all(&mut *connection)
        .await
        .map_err(map_err)?;
        attach_reactions(&mut messages, reactions);
    }
    Ok(messages)
}

async fn read_message(
    connection: &mut PgConnection,
    room_id: i64,
    message_id: i64,
) -> Result<Option<MessageRecord>, StoreError> {
    const SQL: &str = concat!(message_select!(), "WHERE m.id = $1 AND m.room_id = $2");
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
    tx: &mut Transaction<'_, Postgres>,
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

/// A deleted message's files: deleted with it, their blobs put in the garbage (the node
/// deletes the bytes once no live file names them).
async fn release_files(
    tx: &mut Transaction<'_, Postgres>,
    message_id: i64,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO blob_garbage (blob, since) \
         SELECT blob, $2 FROM files WHERE message_id = $1 AND deleted_at IS NULL \
         UNION SELECT thumbnail_blob, $2 FROM files \
         WHERE message_id = $1 AND deleted_at IS NULL AND thumbnail_blob IS NOT NULL \
         ON CONFLICT DO NOTHING",
    )
    .bind(message_id)
    .bind(millis(at))
    .execute(&mut **tx)
    .await
    .map_err(map_err)?;
    sqlx::query("UPDATE files SET deleted_at = $1 WHERE message_id = $2 AND deleted_at IS NULL")
        .bind(millis(at))
        .bind(message_id)
        .execute(&mut **tx)
        .await
        .map_err(map_err)?;
    sqlx::query("UPDATE messages SET attachments = NULL WHERE id = $1")
        .bind(message_id)
        .execute(&mut **tx)
        .await
        .map_err(map_err)?;
    Ok(())
}

/// The next position of the log (ids and changes alike).
/// The room's latest position: the highest `seq` of its messages (0 when it has none).
async fn latest_position(connection: &mut PgConnection, room_id: i64) -> Result<i64, StoreError> {
    let (latest,): (i64,) =
        sqlx::query_as("SELECT COALESCE(MAX(seq), 0) FROM messages WHERE room_id = $1")
            .bind(room_id)
            .fetch_one(connection)
            .await
            .map_err(map_err)?;
    Ok(latest)
}

async fn next_position(tx: &mut Transaction<'_, Postgres>) -> Result<i64, StoreError> {
    let (position,): (i64,) =
        sqlx::query_as("SELECT nextval(pg_get_serial_sequence('messages', 'id'))")
            .fetch_one(&mut **tx)
            .await
            .map_err(map_err)?;
    Ok(position)
}

/// The people `message_id` mentions, for their unread counts.
async fn insert_mentions(
    tx: &mut Transaction<'_, Postgres>,
    message_id: i64,
    mentions: &Mentions,
) -> Result<(), StoreError> {
    for (user_id, _) in &mentions.users {
        sqlx::query(
            "INSERT INTO message_mentions (user_id, message_id) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING",
        )
        .bind(user_id)
        .bind(message_id)
        .execute(&mut **tx)
        .await
        .map_err(map_err)?;
    }
    Ok(())
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

impl PostgresStore {
    /// Stores plain sends (no reply) in batch order, or finds those whose `client_id` was
    /// stored before: two statements for the lot (issue 20), where one statement per
    /// message made a round trip to PostgreSQL each. The positions are drawn first, in
    /// order, then the rows go in with them; the unique index on `(user_id, client_id)`
    /// leaves out repeats (which keep a drawn position unused, a gap no reader minds), and
    /// those alone are looked up.
    async fn append_plain(
        tx: &mut Transaction<'_, Postgres>,
        sends: &[&NewMessage],
    ) -> Result<Vec<MessageWritten>, StoreError> {
        let count = i64::try_from(sends.len()).unwrap_or(i64::MAX);
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT nextval(pg_get_serial_sequence('messages', 'id')) \
             FROM generate_series(1, $1)",
        )
        .bind(count)
        .fetch_all(&mut **tx)
        .await
        .map_err(map_err)?;
        if ids.len() != sends.len() || ids.windows(2).any(|pair| pair[0] >= pair[1]) {
            return Err(StoreError::Backend(
                format!(
                    "drew {} positions out of order for {} sends",
                    ids.len(),
                    sends.len()
                )
                .into(),
            ));
        }
        let mut mentions = Vec::with_capacity(sends.len());
        for send in sends {
            mentions.push(mention_names(&send.mentions)?);
        }
        let inserted: Vec<(i64, String, String)> = sqlx::query_as(
            "INSERT INTO messages (id, seq, room_id, user_id, text, client_id, assistant, \
             created_at, mentions, mentions_room) OVERRIDING SYSTEM VALUE \
             SELECT id, id, room_id, user_id, text, client_id, assistant, created_at, \
             mentions, mentions_room FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], \
             $4::text[], $5::text[], $6::bool[], $7::bigint[], $8::text[], $9::bool[]) \
             AS t(id, room_id, user_id, text, client_id, assistant, created_at, mentions, \
             mentions_room) \
             ON CONFLICT (user_id, client_id) WHERE client_id IS NOT NULL DO NOTHING \
             RETURNING id, (SELECT name FROM rooms r WHERE r.id = room_id), \
             (SELECT username FROM users u WHERE u.id = user_id)",
        )
        .bind(&ids)
        .bind(sends.iter().map(|send| send.room_id).collect::<Vec<_>>())
        .bind(sends.iter().map(|send| send.user_id).collect::<Vec<_>>())
        .bind(
            sends
                .iter()
                .map(|send| send.text.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            sends
                .iter()
                .map(|send| send.client_id.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(sends.iter().map(|send| send.assistant).collect::<Vec<_>>())
        .bind(
            sends
                .iter()
                .map(|send| millis(send.created_at))
                .collect::<Vec<_>>(),
        )
        .bind(mentions)
        .bind(
            sends
                .iter()
                .map(|send| send.mentions.room)
                .collect::<Vec<_>>(),
        )
        .fetch_all(&mut **tx)
        .await
        .map_err(map_err)?;
        let mut names: HashMap<i64, (String, String)> = inserted
            .into_iter()
            .map(|(id, room, username)| (id, (room, username)))
            .collect();
        let mut written = Vec::with_capacity(sends.len());
        for (send, id) in sends.iter().zip(ids) {
            let Some((room, username)) = names.remove(&id) else {
                // The index refused it: stored before (maybe earlier in this very batch).
                written.push(
                    Self::stored_before(tx, send)
                        .await?
                        .ok_or(StoreError::NotFound)?,
                );
                continue;
            };
            insert_mentions(tx, id, &send.mentions).await?;
            written.push(MessageWritten::Appended {
                appended: Appended {
                    record: MessageRecord::just_stored(
                        (*send).clone(),
                        id,
                        room,
                        username,
                        Vec::new(),
                    ),
                    is_new: true,
                },
                thread_root: None,
                follows: None,
            });
        }
        Ok(written)
    }

    /// The descriptions of the files `message` attaches, in its order, if each is one the
    /// sender uploaded to this room and has not sent yet; `None` if one is not. The rows
    /// stay locked to the transaction, so no other node attaches them meanwhile.
    async fn attachable(
        tx: &mut Transaction<'_, Postgres>,
        message: &NewMessage,
    ) -> Result<Option<Vec<AttachmentRecord>>, StoreError> {
        if message.attachments.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let found: Vec<FileRow> = sqlx::query_as(
            "SELECT id, room_id, uploader_id, name, size, content_type, width, height, blob, \
             thumbnail_blob, created_at, message_id FROM files \
             WHERE id = ANY($1) AND room_id = $2 AND uploader_id = $3 \
             AND message_id IS NULL AND deleted_at IS NULL FOR UPDATE",
        )
        .bind(&message.attachments)
        .bind(message.room_id)
        .bind(message.user_id)
        .fetch_all(&mut **tx)
        .await
        .map_err(map_err)?;
        let mut found: HashMap<String, FileRecord> = found
            .into_iter()
            .map(|row| FileRecord::try_from(row).map(|file| (file.id.clone(), file)))
            .collect::<Result<_, _>>()?;
        // Each in the message's order; the same file twice finds nothing the second time.
        let mut attachments = Vec::with_capacity(message.attachments.len());
        for id in &message.attachments {
            match found.remove(id) {
                Some(file) => attachments.push(file.attachment()),
                None => return Ok(None),
            }
        }
        Ok(Some(attachments))
    }

    /// The message the sender already stored with this `client_id`, if any, as a repeat.
    async fn stored_before(
        tx: &mut Transaction<'_, Postgres>,
        message: &NewMessage,
    ) -> Result<Option<MessageWritten>, StoreError> {
        let Some(client_id) = &message.client_id else {
            return Ok(None);
        };
        let existing: Option<(i64, i64)> = sqlx::query_as(
            "SELECT id, room_id FROM messages WHERE user_id = $1 AND client_id = $2",
        )
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
    /// `write_messages` sends replies this way (plain sends go in together through
    /// [`Self::append_plain`]). It looks for a repeat first: the root may have been deleted
    /// since the first time, and a repeat is answered as the first time was. Then one
    /// statement draws the position, inserts, and returns the room's and the author's
    /// names, so the record is built, not read back.
    async fn append_one(
        tx: &mut Transaction<'_, Postgres>,
        message: &NewMessage,
    ) -> Result<MessageWritten, StoreError> {
        if (message.reply_to.is_some() || !message.attachments.is_empty())
            && let Some(repeat) = Self::stored_before(tx, message).await?
        {
            return Ok(repeat);
        }
        if let Some(root) = message.reply_to {
            let live: Option<(i64,)> = sqlx::query_as(
                "SELECT id FROM messages WHERE id = $1 AND room_id = $2 AND deleted_at IS NULL",
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
        let Some(attachments) = Self::attachable(tx, message).await? else {
            return Ok(MessageWritten::Refused(WriteRefusal::NoSuchFile));
        };
        let mentions = mention_names(&message.mentions)?;
        let inserted: Option<(i64, String, String)> = sqlx::query_as(
            "WITH next AS (SELECT nextval(pg_get_serial_sequence('messages', 'id')) AS id) \
             INSERT INTO messages (id, seq, room_id, user_id, text, client_id, assistant, \
             created_at, reply_to, mentions, mentions_room, attachments) OVERRIDING SYSTEM VALUE \
             SELECT next.id, next.id, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 FROM next \
             ON CONFLICT (user_id, client_id) WHERE client_id IS NOT NULL DO NOTHING \
             RETURNING id, (SELECT name FROM rooms WHERE id = $1), \
             (SELECT username FROM users WHERE id = $2)",
        )
        .bind(message.room_id)
        .bind(message.user_id)
        .bind(&message.text)
        .bind(message.client_id.as_deref())
        .bind(message.assistant)
        .bind(millis(message.created_at))
        .bind(message.reply_to)
        .bind(mentions)
        .bind(message.mentions.room)
        .bind(attachments_column(&attachments)?)
        .fetch_optional(&mut **tx)
        .await
        .map_err(map_err)?;
        let Some((id, room, username)) = inserted else {
            // The index refused it: the sender stored this client_id before (a send of it
            // in flight elsewhere was waited for, and has committed).
            return Self::stored_before(tx, message)
                .await?
                .ok_or(StoreError::NotFound);
        };
        insert_mentions(tx, id, &message.mentions).await?;
        if !message.attachments.is_empty() {
            sqlx::query("UPDATE files SET message_id = $1 WHERE id = ANY($2)")
                .bind(id)
                .bind(&message.attachments)
                .execute(&mut **tx)
                .await
                .map_err(map_err)?;
        }
        let thread_root = match message.reply_to {
            Some(root) => {
                let position = next_position(tx).await?;
                sqlx::query(
                    "UPDATE messages SET replies = replies + 1, last_reply_at = $1, seq = $2 \
                     WHERE id = $3",
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
        let record = MessageRecord::just_stored(message.clone(), id, room, username, attachments);
        Ok(MessageWritten::Appended {
            appended: Appended {
                record,
                is_new: true,
            },
            thread_root,
            follows: None,
        })
    }

    /// Carries out one change inside `tx`, if its rule allows it.
    async fn change_one(
        tx: &mut Transaction<'_, Postgres>,
        change: &MessageChange,
    ) -> Result<MessageWritten, StoreError> {
        let target: Option<Target> = sqlx::query_as(
            "SELECT user_id, text, deleted_at, edit_client_id, reply_to, created_at FROM messages \
             WHERE id = $1 AND room_id = $2",
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
                        "UPDATE messages SET text = $1, edited_at = $2, edit_client_id = $3, \
                         seq = $4 WHERE id = $5",
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
                    "UPDATE messages SET text = '', deleted_at = $1, edit_client_id = NULL, \
                     reaction_rows = 0, seq = $2 WHERE id = $3",
                )
                .bind(millis(change.at))
                .bind(position)
                .bind(change.message_id)
                .execute(&mut **tx)
                .await
                .map_err(map_err)?;
                sqlx::query("DELETE FROM message_reactions WHERE message_id = $1")
                    .bind(change.message_id)
                    .execute(&mut **tx)
                    .await
                    .map_err(map_err)?;
                release_files(tx, change.message_id, change.at).await?;
                if let Some(root) = target.reply_to {
                    thread_root = Self::recount_thread(tx, change.room_id, root).await?;
                }
                true
            }
            ChangeKind::React { emoji, add: true } => {
                let kinds: Vec<(String,)> = sqlx::query_as(
                    "SELECT DISTINCT emoji FROM message_reactions WHERE message_id = $1",
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
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
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
                     WHERE message_id = $1 AND emoji = $2 AND user_id = $3",
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
        tx: &mut Transaction<'_, Postgres>,
        message_id: i64,
        by: i64,
        position: Option<i64>,
    ) -> Result<(), StoreError> {
        let position = match position {
            Some(position) => position,
            None => next_position(tx).await?,
        };
        sqlx::query(
            "UPDATE messages SET reaction_rows = reaction_rows + $1, seq = $2 WHERE id = $3",
        )
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
        tx: &mut Transaction<'_, Postgres>,
        room_id: i64,
        root: i64,
    ) -> Result<Option<MessageRecord>, StoreError> {
        let position = next_position(tx).await?;
        let updated = sqlx::query(
            "UPDATE messages SET seq = $1, \
             replies = (SELECT COUNT(*) FROM messages r \
                        WHERE r.reply_to = $2 AND r.deleted_at IS NULL), \
             last_reply_at = (SELECT MAX(r.created_at) FROM messages r \
                              WHERE r.reply_to = $2 AND r.deleted_at IS NULL) \
             WHERE id = $2 AND deleted_at IS NULL",
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
