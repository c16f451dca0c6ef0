//! Messages: sends and changes written in batches under per-room row locks, and read by
//! page. Every write that changes something takes the next position of the log from one
//! counter (`message_positions`), so ids and change positions are one sequence; the room
//! locks order a room's positions as they commit (see `write_messages`).
//!
//! Search matches with `LIKE` on the lower-cased text, newest first, and stops when the
//! page is full. The full-text index the other backends have (trigrams) has no portable
//! counterpart here: MySQL's `ngram` parser does not exist in MariaDB ("Function 'ngram'
//! is not defined", MariaDB 10.11), and InnoDB's own parser splits at spaces, so it finds
//! neither substrings nor Chinese, Japanese or Korean words. A rare text therefore reads
//! every message of the reader's rooms (docs/benchmarks.md has the figures).

use std::collections::{BTreeSet, HashMap, HashSet};

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
use sqlx::{MySql, MySqlConnection, Transaction};

use crate::MysqlStore;
use crate::error::{is_duplicate_on, map_err};
use crate::literal::Sql;

/// The unique key on `(user_id, client_id)` that makes a send idempotent.
const CLIENT_ID_KEY: &str = "messages_by_client_id";

/// The names a batch's records show, read once per batch: MySQL has no `RETURNING`.
struct Names {
    rooms: HashMap<i64, String>,
    users: HashMap<i64, String>,
}

impl Names {
    /// The room's and the sender's names, for a record built rather than read back.
    fn of(&self, message: &NewMessage) -> Result<(String, String), StoreError> {
        match (
            self.rooms.get(&message.room_id),
            self.users.get(&message.user_id),
        ) {
            (Some(room), Some(user)) => Ok((room.clone(), user.clone())),
            // The insert's foreign keys would have refused it first.
            _ => Err(StoreError::NotFound),
        }
    }
}

#[async_trait]
impl MessageStore for MysqlStore {
    /// Writes the batch in one transaction, holding each of its rooms' rows locked.
    ///
    /// Why the locks: positions are handed out when they are drawn, not when they commit.
    /// Without a lock, node A could take position 10 and node B 11 in the same room, B commit
    /// first, and a reader catching up "after 9" see 11, move its cursor there, and never
    /// see 10 once A commits. `SELECT … FOR UPDATE` on the room's row makes writers of one
    /// room take turns from before they draw a position until after they commit (InnoDB
    /// makes a commit visible before it releases the transaction's locks), so within a room
    /// positions are in commit order: a reader that saw N never later finds a new one
    /// below N.
    ///
    /// The rows are locked in ascending room id, so two batches spanning the same rooms
    /// cannot deadlock. The latest positions are read by the next statement, not by the
    /// locking one: under READ COMMITTED each statement sees what committed before it
    /// began, and the locking statement began before the writer it waited for committed.
    ///
    /// The lock also settles a `(user, client_id)` sent twice to the same room from two
    /// nodes: the second batch finds it after the first committed and returns it, not new.
    /// Sent to two different rooms at once, the second insert meets the unique key, waits
    /// for the other transaction, and once that commits returns the message it stored.
    async fn write_messages(
        &self,
        batch: &[MessageWrite],
    ) -> Result<Vec<MessageWritten>, StoreError> {
        let rooms: Vec<i64> = batch
            .iter()
            .map(MessageWrite::room_id)
            .collect::<BTreeSet<i64>>()
            .into_iter()
            .collect();
        let senders: Vec<i64> = batch
            .iter()
            .filter_map(|write| match write {
                MessageWrite::Append(message) => Some(message.user_id),
                MessageWrite::Change(_) => None,
            })
            .collect::<BTreeSet<i64>>()
            .into_iter()
            .collect();
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let mut lock = Sql::new("SELECT id, name FROM rooms WHERE id IN (");
        lock.ints(&rooms).push(") ORDER BY id FOR UPDATE");
        let room_names: Vec<(i64, String)> = lock.fetch_all(&mut *tx).await?;
        // One subquery per room, each reading one entry at the end of the (room_id, seq)
        // index. As `MAX(seq) … GROUP BY room_id`, MariaDB read every room's entries whole
        // (75 ms a batch at 200,000 messages, growing with them).
        let mut latest_sql = Sql::new(
            "SELECT r.id, COALESCE((SELECT m.seq FROM messages m WHERE m.room_id = r.id \
             ORDER BY m.seq DESC LIMIT 1), 0) FROM rooms r WHERE r.id IN (",
        );
        latest_sql.ints(&rooms).push(")");
        let mut latest: HashMap<i64, i64> = latest_sql
            .fetch_all::<(i64, i64), _>(&mut *tx)
            .await?
            .into_iter()
            .collect();
        let users = if senders.is_empty() {
            Vec::new()
        } else {
            let mut sql = Sql::new("SELECT id, username FROM users WHERE id IN (");
            sql.ints(&senders).push(")");
            sql.fetch_all::<(i64, String), _>(&mut *tx).await?
        };
        let names = Names {
            rooms: room_names.into_iter().collect(),
            users: users.into_iter().collect(),
        };
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
                    MessageWrite::Append(message) => {
                        Self::append_one(&mut tx, message, &names).await?
                    }
                    MessageWrite::Change(change) => Self::change_one(&mut tx, change).await?,
                };
                (vec![done], 1)
            } else {
                let taken = sends.len();
                (Self::append_plain(&mut tx, &sends, &names).await?, taken)
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
            "WHERE m.room_id = ? AND (m.id = ? OR m.reply_to = ?) AND m.id > ? \
             ORDER BY m.id ASC LIMIT ?"
        );
        let mut connection = self.pool.acquire().await.map_err(map_err)?;
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
        let (latest,): (i64,) =
            sqlx::query_as("SELECT COALESCE(MAX(seq), 0) FROM messages WHERE room_id = ?")
                .bind(room_id)
                .fetch_one(&self.pool)
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

    async fn search_messages(
        &self,
        search: MessageSearch<'_>,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let mut connection = self.pool.acquire().await.map_err(map_err)?;
        // The reader's rooms first, as a list of values, as on PostgreSQL.
        let rooms: Vec<(i64,)> = sqlx::query_as(
            "SELECT mm.room_id FROM memberships mm JOIN rooms rr ON rr.id = mm.room_id \
             WHERE mm.user_id = ? AND rr.archived_at IS NULL",
        )
        .bind(search.reader_id)
        .fetch_all(&mut *connection)
        .await
        .map_err(map_err)?;
        if rooms.is_empty() {
            return Ok(Vec::new());
        }
        let rooms: Vec<i64> = rooms.into_iter().map(|(id,)| id).collect();
        let mut sql = Sql::new(concat!(message_select!(), "WHERE m.room_id IN ("));
        sql.ints(&rooms)
            .push(") AND m.deleted_at IS NULL AND m.id < ")
            .int(search.older_than.unwrap_or(i64::MAX));
        for text in search.texts {
            // The folded text as a LIKE pattern that matches itself only, anywhere. `!` is
            // the escape character: a backslash would mean something to the SQL parser too.
            let pattern = fold_key(text)
                .replace('!', "!!")
                .replace('%', "!%")
                .replace('_', "!_");
            sql.push(" AND LOWER(m.text) LIKE ")
                .text(&format!("%{pattern}%"))
                .push(" ESCAPE '!'");
        }
        if let Some(author) = search.author {
            sql.push(" AND m.user_id = (SELECT id FROM users WHERE username_key = ")
                .text(&fold_key(author))
                .push(")");
        }
        if let Some(room) = search.room {
            sql.push(" AND m.room_id = (SELECT id FROM rooms WHERE name = ")
                .text(room)
                .push(")");
        }
        if let Some(after) = search.after {
            sql.push(" AND m.created_at > ").int(millis(after));
        }
        if let Some(before) = search.before {
            sql.push(" AND m.created_at < ").int(millis(before));
        }
        if search.with_files {
            sql.push(" AND m.attachments IS NOT NULL");
        }
        sql.push(" ORDER BY m.id DESC LIMIT ")
            .int(i64::from(search.limit));
        let rows: Vec<MessageRow> = sql.fetch_all(&mut *connection).await?;
        records(&mut connection, rows).await
    }
}

/// The records of the rows read, with their reactions (read only for those that have any).
async fn records(
    connection: &mut MySqlConnection,
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
        let mut sql = Sql::new(
            "SELECT r.message_id, r.emoji, u.username FROM message_reactions r \
             JOIN users u ON u.id = r.user_id WHERE r.message_id IN (",
        );
        sql.ints(&with_reactions)
            .push(") ORDER BY r.message_id, r.position");
        let reactions: Vec<ReactionRow> = sql.fetch_all(&mut *connection).await?;
        attach_reactions(&mut messages, reactions);
    }
    Ok(messages)
}

async fn read_message(
    connection: &mut MySqlConnection,
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
    tx: &mut Transaction<'_, MySql>,
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
    tx: &mut Transaction<'_, MySql>,
    message_id: i64,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO blob_garbage (`blob`, since) \
         SELECT g.b, ? FROM ( \
           SELECT `blob` AS b FROM files WHERE message_id = ? AND deleted_at IS NULL \
           UNION SELECT thumbnail_blob FROM files \
           WHERE message_id = ? AND deleted_at IS NULL AND thumbnail_blob IS NOT NULL) AS g \
         ON DUPLICATE KEY UPDATE since = blob_garbage.since",
    )
    .bind(millis(at))
    .bind(message_id)
    .bind(message_id)
    .execute(&mut **tx)
    .await
    .map_err(map_err)?;
    sqlx::query("UPDATE files SET deleted_at = ? WHERE message_id = ? AND deleted_at IS NULL")
        .bind(millis(at))
        .bind(message_id)
        .execute(&mut **tx)
        .await
        .map_err(map_err)?;
    sqlx::query("UPDATE messages SET attachments = NULL WHERE id = ?")
        .bind(message_id)
        .execute(&mut **tx)
        .await
        .map_err(map_err)?;
    Ok(())
}

/// The most a multi-row statement may carry of its rows' own bytes. The server refuses a
/// statement over `max_allowed_packet` (16 MiB by default on MariaDB 10.11 and MySQL 8; it
/// drops the connection), and a batch may hold 2,048 texts of 4,000 four-byte characters,
/// written twice as long in hexadecimal: such a batch goes in as several statements.
const MAX_STATEMENT_BYTES: usize = 1 << 20;

/// `rows` in runs whose `bytes` (written in hexadecimal, so twice) stay under
/// [`MAX_STATEMENT_BYTES`]; a row bigger than that alone goes in a run of its own.
fn statement_chunks<T>(rows: &[T], bytes: impl Fn(&T) -> usize) -> Vec<&[T]> {
    let mut chunks = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (at, row) in rows.iter().enumerate() {
        // Each row also carries its ids, flags and punctuation.
        let row_bytes = bytes(row) * 2 + 128;
        if at > start && size + row_bytes > MAX_STATEMENT_BYTES {
            chunks.push(&rows[start..at]);
            (start, size) = (at, 0);
        }
        size += row_bytes;
    }
    if start < rows.len() {
        chunks.push(&rows[start..]);
    }
    chunks
}

/// The next `count` positions of the log (ids and changes alike), in order.
///
/// One multi-row INSERT draws them from the counter's AUTO_INCREMENT: InnoDB gives the rows
/// of an INSERT whose row count it knows consecutive values, and the increment is set to 1
/// for every connection (lib.rs). Deleting the rows again counts them: a range holding
/// another transaction's value would delete fewer than were drawn, which is refused rather
/// than trusted.
async fn next_positions(
    tx: &mut Transaction<'_, MySql>,
    count: usize,
) -> Result<Vec<i64>, StoreError> {
    let mut sql = Sql::new("INSERT INTO message_positions (id) VALUES (NULL)");
    for _ in 1..count {
        sql.push(", (NULL)");
    }
    let drawn = sql.execute(&mut **tx).await?;
    let first =
        i64::try_from(drawn.last_insert_id()).map_err(|err| StoreError::Backend(Box::new(err)))?;
    let count = i64::try_from(count).map_err(|err| StoreError::Backend(Box::new(err)))?;
    let last = first + count - 1;
    let deleted = sqlx::query("DELETE FROM message_positions WHERE id BETWEEN ? AND ?")
        .bind(first)
        .bind(last)
        .execute(&mut **tx)
        .await
        .map_err(map_err)?
        .rows_affected();
    if first <= 0 || drawn.rows_affected() != count as u64 || deleted != count as u64 {
        return Err(StoreError::Backend(
            format!(
                "drew {} positions from {first} for {count}, {deleted} of them consecutive",
                drawn.rows_affected()
            )
            .into(),
        ));
    }
    Ok((first..=last).collect())
}

async fn next_position(tx: &mut Transaction<'_, MySql>) -> Result<i64, StoreError> {
    Ok(next_positions(tx, 1).await?[0])
}

/// The people the messages mention, for their unread counts: one statement for them all.
async fn insert_mentions(
    tx: &mut Transaction<'_, MySql>,
    mentions: &[(i64, &Mentions)],
) -> Result<(), StoreError> {
    let rows: Vec<(i64, i64)> = mentions
        .iter()
        .flat_map(|(message_id, mentions)| {
            mentions
                .users
                .iter()
                .map(move |(user_id, _)| (*user_id, *message_id))
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    let mut sql = Sql::new("INSERT INTO message_mentions (user_id, message_id) VALUES ");
    for (at, (user_id, message_id)) in rows.iter().enumerate() {
        sql.push(if at == 0 { "(" } else { ", (" })
            .int(*user_id)
            .push(", ")
            .int(*message_id)
            .push(")");
    }
    sql.push(" ON DUPLICATE KEY UPDATE user_id = message_mentions.user_id");
    sql.execute(&mut **tx).await?;
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

/// Whether an insert of one message went in, or met the sender's `client_id`.
enum Inserted {
    Stored,
    Repeat,
}

impl MysqlStore {
    /// Stores plain sends (no reply) in batch order, or finds those whose `client_id` was
    /// stored before. The positions are drawn first, in order; the sends already stored
    /// (before, or earlier in this batch) are found with one query and left out; the rest
    /// go in with one INSERT. That INSERT can still meet a `client_id` that another node
    /// is storing in another room at this moment: it then waits for that node, fails as a
    /// duplicate (only the statement is undone), and the sends are stored one by one.
    async fn append_plain(
        tx: &mut Transaction<'_, MySql>,
        sends: &[&NewMessage],
        names: &Names,
    ) -> Result<Vec<MessageWritten>, StoreError> {
        let ids = next_positions(tx, sends.len()).await?;
        let stored = Self::stored_client_ids(tx, sends).await?;
        let mut seen: HashSet<(i64, &str)> = HashSet::new();
        // Which sends go in: a client_id not stored before, and its first time in the batch.
        let fresh: Vec<bool> = sends
            .iter()
            .map(|send| match &send.client_id {
                None => true,
                Some(client_id) => {
                    !stored.contains(&(send.user_id, client_id.clone()))
                        && seen.insert((send.user_id, client_id.as_str()))
                }
            })
            .collect();
        let mut mentions = Vec::with_capacity(sends.len());
        for send in sends {
            mentions.push(mention_names(&send.mentions)?);
        }
        let rows: Vec<usize> = (0..sends.len()).filter(|&i| fresh[i]).collect();
        let mut inserted = vec![false; sends.len()];
        let row_bytes = |&i: &usize| {
            let send = sends[i];
            send.text.len() + send.client_id.as_ref().map_or(0, String::len) + mentions[i].len()
        };
        for chunk in statement_chunks(&rows, row_bytes) {
            let mut sql = Sql::new(
                "INSERT INTO messages (id, seq, room_id, user_id, text, client_id, assistant, \
                 created_at, mentions, mentions_room) VALUES ",
            );
            for (at, &i) in chunk.iter().enumerate() {
                let send = sends[i];
                sql.push(if at == 0 { "(" } else { ", (" })
                    .int(ids[i])
                    .push(", ")
                    .int(ids[i])
                    .push(", ")
                    .int(send.room_id)
                    .push(", ")
                    .int(send.user_id)
                    .push(", ")
                    .text(&send.text)
                    .push(", ")
                    .opt_text(send.client_id.as_deref())
                    .push(", ")
                    .bool(send.assistant)
                    .push(", ")
                    .int(millis(send.created_at))
                    .push(", ")
                    .text(&mentions[i])
                    .push(", ")
                    .bool(send.mentions.room)
                    .push(")");
            }
            match sql.execute_raw(&mut **tx).await {
                Ok(_) => {
                    for &i in chunk {
                        inserted[i] = true;
                    }
                }
                Err(err) if is_duplicate_on(&err, CLIENT_ID_KEY) => {
                    for &i in chunk {
                        inserted[i] = matches!(
                            Self::insert_one(tx, sends[i], ids[i], &mentions[i], None).await?,
                            Inserted::Stored
                        );
                    }
                }
                Err(err) => return Err(map_err(err)),
            }
        }
        let mentioned: Vec<(i64, &Mentions)> = (0..sends.len())
            .filter(|&i| inserted[i])
            .map(|i| (ids[i], &sends[i].mentions))
            .collect();
        insert_mentions(tx, &mentioned).await?;
        let mut written = Vec::with_capacity(sends.len());
        for (i, send) in sends.iter().enumerate() {
            if !inserted[i] {
                // Stored before (maybe earlier in this very batch): a drawn position stays
                // unused, a gap no reader minds.
                written.push(
                    Self::stored_before(tx, send)
                        .await?
                        .ok_or(StoreError::NotFound)?,
                );
                continue;
            }
            let (room, username) = names.of(send)?;
            written.push(MessageWritten::Appended {
                appended: Appended {
                    record: MessageRecord::just_stored(
                        (*send).clone(),
                        ids[i],
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

    /// The `(user, client_id)` pairs of `sends` that are stored already.
    async fn stored_client_ids(
        tx: &mut Transaction<'_, MySql>,
        sends: &[&NewMessage],
    ) -> Result<HashSet<(i64, String)>, StoreError> {
        let keyed: Vec<(i64, &str)> = sends
            .iter()
            .filter_map(|send| Some((send.user_id, send.client_id.as_deref()?)))
            .collect();
        if keyed.is_empty() {
            return Ok(HashSet::new());
        }
        let mut sql =
            Sql::new("SELECT user_id, client_id FROM messages WHERE (user_id, client_id) IN (");
        for (at, (user_id, client_id)) in keyed.into_iter().enumerate() {
            sql.push(if at == 0 { "(" } else { ", (" })
                .int(user_id)
                .push(", ")
                .text(client_id)
                .push(")");
        }
        sql.push(")");
        let found: Vec<(i64, String)> = sql.fetch_all(&mut **tx).await?;
        Ok(found.into_iter().collect())
    }

    /// Inserts one message at `position`; `Repeat` when its `client_id` was stored already.
    async fn insert_one(
        tx: &mut Transaction<'_, MySql>,
        message: &NewMessage,
        position: i64,
        mentions: &str,
        attachments: Option<String>,
    ) -> Result<Inserted, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO messages (id, seq, room_id, user_id, text, client_id, assistant, \
             created_at, reply_to, mentions, mentions_room, attachments) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(position)
        .bind(position)
        .bind(message.room_id)
        .bind(message.user_id)
        .bind(&message.text)
        .bind(message.client_id.as_deref())
        .bind(message.assistant)
        .bind(millis(message.created_at))
        .bind(message.reply_to)
        .bind(mentions)
        .bind(message.mentions.room)
        .bind(attachments)
        .execute(&mut **tx)
        .await;
        match inserted {
            Ok(_) => Ok(Inserted::Stored),
            Err(err) if is_duplicate_on(&err, CLIENT_ID_KEY) => Ok(Inserted::Repeat),
            Err(err) => Err(map_err(err)),
        }
    }

    /// The descriptions of the files `message` attaches, in its order, if each is one the
    /// sender uploaded to this room and has not sent yet; `None` if one is not. The rows
    /// stay locked to the transaction, so no other node attaches them meanwhile.
    async fn attachable(
        tx: &mut Transaction<'_, MySql>,
        message: &NewMessage,
    ) -> Result<Option<Vec<AttachmentRecord>>, StoreError> {
        if message.attachments.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let mut sql = Sql::new(
            "SELECT id, room_id, uploader_id, name, size, content_type, width, height, `blob`, \
             thumbnail_blob, created_at, message_id FROM files WHERE id IN (",
        );
        sql.texts(message.attachments.iter().map(String::as_str))
            .push(") AND room_id = ")
            .int(message.room_id)
            .push(" AND uploader_id = ")
            .int(message.user_id)
            .push(" AND message_id IS NULL AND deleted_at IS NULL FOR UPDATE");
        let found: Vec<FileRow> = sql.fetch_all(&mut **tx).await?;
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
        tx: &mut Transaction<'_, MySql>,
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
    /// `write_messages` sends replies and messages with files this way (plain sends go in
    /// together through [`Self::append_plain`]). It looks for a repeat first: the root may
    /// have been deleted since the first time, and a repeat is answered as the first time
    /// was.
    async fn append_one(
        tx: &mut Transaction<'_, MySql>,
        message: &NewMessage,
        names: &Names,
    ) -> Result<MessageWritten, StoreError> {
        if let Some(repeat) = Self::stored_before(tx, message).await? {
            return Ok(repeat);
        }
        if let Some(root) = message.reply_to {
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
        let Some(attachments) = Self::attachable(tx, message).await? else {
            return Ok(MessageWritten::Refused(WriteRefusal::NoSuchFile));
        };
        let id = next_position(tx).await?;
        let mentions = mention_names(&message.mentions)?;
        let inserted = Self::insert_one(
            tx,
            message,
            id,
            &mentions,
            attachments_column(&attachments)?,
        )
        .await?;
        if let Inserted::Repeat = inserted {
            // The key refused it: the sender stored this client_id meanwhile (a send of it
            // in flight elsewhere was waited for, and has committed).
            return Self::stored_before(tx, message)
                .await?
                .ok_or(StoreError::NotFound);
        }
        insert_mentions(tx, &[(id, &message.mentions)]).await?;
        if !message.attachments.is_empty() {
            let mut sql = Sql::new("UPDATE files SET message_id = ");
            sql.int(id)
                .push(" WHERE id IN (")
                .texts(message.attachments.iter().map(String::as_str))
                .push(")");
            sql.execute(&mut **tx).await?;
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
        let (room, username) = names.of(message)?;
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
        tx: &mut Transaction<'_, MySql>,
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
                release_files(tx, change.message_id, change.at).await?;
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
                let added = match sqlx::query(
                    "INSERT INTO message_reactions \
                     (message_id, emoji, user_id, created_at, position) VALUES (?, ?, ?, ?, ?)",
                )
                .bind(change.message_id)
                .bind(emoji)
                .bind(change.user_id)
                .bind(millis(change.at))
                .bind(position)
                .execute(&mut **tx)
                .await
                {
                    Ok(_) => true,
                    Err(err) if is_duplicate_on(&err, "PRIMARY") => false,
                    Err(err) => return Err(map_err(err)),
                };
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
        tx: &mut Transaction<'_, MySql>,
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
    /// root is itself deleted, as a tombstone shows no thread). The counts are read first:
    /// MySQL does not let an UPDATE read the table it updates in a subquery.
    async fn recount_thread(
        tx: &mut Transaction<'_, MySql>,
        room_id: i64,
        root: i64,
    ) -> Result<Option<MessageRecord>, StoreError> {
        let (replies, last_reply_at): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MAX(created_at) FROM messages \
             WHERE reply_to = ? AND deleted_at IS NULL",
        )
        .bind(root)
        .fetch_one(&mut **tx)
        .await
        .map_err(map_err)?;
        let position = next_position(tx).await?;
        let updated = sqlx::query(
            "UPDATE messages SET seq = ?, replies = ?, last_reply_at = ? \
             WHERE id = ? AND deleted_at IS NULL",
        )
        .bind(position)
        .bind(replies)
        .bind(last_reply_at)
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

#[cfg(test)]
mod tests {
    use super::{MAX_STATEMENT_BYTES, statement_chunks};

    #[test]
    fn statements_are_cut_below_the_packet_limit_and_keep_every_row_in_order() {
        // Rows of a quarter of the limit, written twice as long: two to a statement.
        let rows: Vec<usize> = vec![MAX_STATEMENT_BYTES / 4 - 100; 5];
        let chunks = statement_chunks(&rows, |&bytes| bytes);
        assert_eq!(
            chunks.iter().map(|c| c.len()).collect::<Vec<_>>(),
            [2, 2, 1]
        );
        // A row over the limit goes alone; small rows together; none is lost.
        let rows = [10, MAX_STATEMENT_BYTES, 10, 10];
        let chunks = statement_chunks(&rows, |&bytes| bytes);
        assert_eq!(chunks, [&rows[..1], &rows[1..2], &rows[2..]]);
        assert!(statement_chunks(&[] as &[usize], |&b| b).is_empty());
    }
}
