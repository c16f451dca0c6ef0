//! The message writer: a thread of its own holding one `rusqlite` connection, which carries
//! out each batch of sends and changes as one transaction from start to commit.
//!
//! Why a thread and not sqlx (issue 20): sqlx runs every statement on its SQLite worker
//! thread and hands the result back to the async task that asked, so a batch of 500
//! messages made some 1,500 round trips between two threads, each waiting for a turn on a
//! busy runtime. Profiled under the rooms benchmark, the worker spent its time switching
//! threads, not in SQLite; the writer took ~120 µs a message. Here the whole batch runs
//! without leaving the thread, with statements prepared once and reused, and only the
//! outcome goes back.
//!
//! Everything else (accounts, rooms, moderation, sessions) still writes through sqlx's one
//! writer connection. Both take SQLite's write lock when their transaction begins
//! (`BEGIN IMMEDIATE`) and wait for each other through the busy timeout, so neither ever
//! meets a lock it cannot wait for.

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc;

use rusqlite::{Connection, Transaction, TransactionBehavior};
use sala_store::rows::{attachments_column, millis};
use sala_store::{
    Appended, AttachmentRecord, ChangeKind, MAX_REACTION_KINDS, Mentions, MessageChange,
    MessageRecord, MessageWrite, MessageWritten, NewMessage, StoreError, WriteRefusal,
};
use tokio::sync::oneshot;

use crate::error::map_rusqlite;
use crate::rows;

/// Prepared statements kept: every statement of this module fits.
const STATEMENT_CACHE: usize = 32;

/// The handle the store keeps: batches go to the thread, outcomes come back.
#[derive(Clone)]
pub(crate) struct MessageWriter {
    commands: mpsc::Sender<Command>,
}

enum Command {
    Write {
        batch: Vec<MessageWrite>,
        done: oneshot::Sender<Result<Vec<MessageWritten>, StoreError>>,
    },
    /// Ends the thread once what was queued before it is written; answered when the
    /// connection is closed.
    Close(oneshot::Sender<()>),
}

impl MessageWriter {
    /// Opens the writer's connection (the schema must be in place) and starts its thread.
    pub(crate) fn start(path: &Path) -> Result<Self, StoreError> {
        let connection = open(path)?;
        let (commands, queued) = mpsc::channel();
        let path = path.to_path_buf();
        std::thread::Builder::new()
            .name("sala-sqlite-writer".into())
            .spawn(move || run(&path, Some(connection), &queued))
            .map_err(|err| StoreError::Unavailable(Box::new(err)))?;
        Ok(Self { commands })
    }

    /// Writes `batch` in one transaction and answers once it is committed.
    pub(crate) async fn write(
        &self,
        batch: Vec<MessageWrite>,
    ) -> Result<Vec<MessageWritten>, StoreError> {
        let (done, outcome) = oneshot::channel();
        self.commands
            .send(Command::Write { batch, done })
            .map_err(|_| closed())?;
        outcome.await.map_err(|_| closed())?
    }

    /// Stops the thread after what is queued, and waits until its connection is closed.
    pub(crate) async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.commands.send(Command::Close(done)).is_ok() {
            // An error here means the thread has already gone.
            let _ = closed.await;
        }
    }
}

fn closed() -> StoreError {
    StoreError::Unavailable("the message writer is closed".into())
}

fn open(path: &Path) -> Result<Connection, StoreError> {
    // The same settings as sqlx's connections (lib.rs): durable commits, a deleted text
    // overwritten in the file. WAL is a property of the file, set when it was created.
    rows::open(
        path,
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;",
        STATEMENT_CACHE,
    )
}

fn run(path: &Path, mut connection: Option<Connection>, commands: &mpsc::Receiver<Command>) {
    let mut names = Names::default();
    while let Ok(command) = commands.recv() {
        match command {
            Command::Write { batch, done } => {
                let outcome = match connection.as_mut() {
                    Some(connection) => write_batch(connection, &mut names, batch),
                    None => open(path).and_then(|opened| {
                        write_batch(connection.insert(opened), &mut names, batch)
                    }),
                };
                if let Err(err) = &outcome {
                    // A failed write (a full disk, an I/O error) leaves the connection in a
                    // state not worth reasoning about: closing it rolls back whatever is
                    // open, and the next batch opens a fresh one.
                    tracing::warn!(error = %err, "a message batch failed; reopening the writer connection");
                    if let Some(failed) = connection.take()
                        && let Err((_, close)) = failed.close()
                    {
                        tracing::warn!(error = %close, "closing the failed writer connection");
                    }
                }
                // A caller that stopped waiting has its writes stored all the same; the
                // sender learns of them when it resends its client_id.
                let _ = done.send(outcome);
            }
            Command::Close(done) => {
                if let Some(connection) = connection.take()
                    && let Err((_, err)) = connection.close()
                {
                    tracing::warn!(error = %err, "closing the message writer's connection");
                }
                let _ = done.send(());
                return;
            }
        }
    }
}

fn write_batch(
    connection: &mut Connection,
    names: &mut Names,
    batch: Vec<MessageWrite>,
) -> Result<Vec<MessageWritten>, StoreError> {
    let tx = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(map_rusqlite)?;
    let mut written = Vec::with_capacity(batch.len());
    for write in batch {
        written.push(match write {
            MessageWrite::Append(message) => append_one(&tx, names, message)?,
            MessageWrite::Change(change) => change_one(&tx, &change)?,
        });
    }
    tx.commit().map_err(map_rusqlite)?;
    Ok(written)
}

/// Stores one message, or finds the one its `client_id` already stored.
///
/// One statement takes the next position and inserts the row, and the unique index on
/// `(user_id, client_id)` tells a repeat (no row inserted). A reply looks for a repeat
/// first: its root may have been deleted since the first time, and a repeat is answered as
/// the first time was.
fn append_one(
    tx: &Transaction<'_>,
    names: &mut Names,
    message: NewMessage,
) -> Result<MessageWritten, StoreError> {
    if (message.reply_to.is_some() || !message.attachments.is_empty())
        && let Some(repeat) = stored_before(tx, &message)?
    {
        return Ok(repeat);
    }
    if let Some(root) = message.reply_to {
        let live = rows::first(
            tx,
            "SELECT 1 FROM messages WHERE id = ? AND room_id = ? AND deleted_at IS NULL",
            (root, message.room_id),
            |_| Ok(()),
        )?;
        if live.is_none() {
            return Ok(MessageWritten::Refused(WriteRefusal::NoSuchMessage));
        }
    }
    let Some(attachments) = attachable(tx, &message)? else {
        return Ok(MessageWritten::Refused(WriteRefusal::NoSuchFile));
    };
    // An explicit id above sqlite_sequence's moves it there (AUTOINCREMENT), so this is
    // next_position and the insert at once. (`WHERE` after the SELECT is what SQLite's
    // parser needs to read the ON CONFLICT as the upsert's.)
    let mentions = mention_names(&message.mentions)?;
    let inserted: Option<i64> = rows::first(
        tx,
        "INSERT INTO messages (id, seq, room_id, user_id, text, client_id, assistant, \
         created_at, reply_to, mentions, mentions_room, attachments) \
         SELECT s.seq + 1, s.seq + 1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10 \
         FROM sqlite_sequence s WHERE s.name = 'messages' \
         ON CONFLICT (user_id, client_id) WHERE client_id IS NOT NULL DO NOTHING \
         RETURNING id",
        rusqlite::params![
            message.room_id,
            message.user_id,
            message.text,
            message.client_id,
            message.assistant,
            millis(message.created_at),
            message.reply_to,
            mentions,
            message.mentions.room,
            attachments_column(&attachments)?,
        ],
        |row| row.get(0),
    )?;
    let Some(id) = inserted else {
        // The index refused it: the sender stored this client_id before.
        return stored_before(tx, &message)?.ok_or(StoreError::NotFound);
    };
    for (user_id, _) in &message.mentions.users {
        rows::execute(
            tx,
            "INSERT INTO message_mentions (user_id, message_id) VALUES (?, ?) \
             ON CONFLICT DO NOTHING",
            (user_id, id),
        )?;
    }
    for file in &message.attachments {
        rows::execute(
            tx,
            "UPDATE files SET message_id = ? WHERE id = ?",
            (id, file),
        )?;
    }
    let thread_root = match message.reply_to {
        Some(root) => {
            let position = next_position(tx)?;
            rows::execute(
                tx,
                "UPDATE messages SET replies = replies + 1, last_reply_at = ?, seq = ? \
                 WHERE id = ?",
                (millis(message.created_at), position, root),
            )?;
            Some(reread(tx, message.room_id, root)?)
        }
        None => None,
    };
    // Built from what was written, not read back (the room's and author's names never
    // change).
    let room = names.room(tx, message.room_id)?;
    let username = names.user(tx, message.user_id)?;
    let record = MessageRecord::just_stored(message, id, room, username, attachments);
    Ok(MessageWritten::Appended {
        appended: Appended {
            record,
            is_new: true,
        },
        thread_root,
        follows: None,
    })
}

/// The descriptions of the files `message` attaches, in its order, if each is one the
/// sender uploaded to this room and has not sent yet; `None` if one is not.
fn attachable(
    tx: &Transaction<'_>,
    message: &NewMessage,
) -> Result<Option<Vec<AttachmentRecord>>, StoreError> {
    let mut attachments = Vec::with_capacity(message.attachments.len());
    for id in &message.attachments {
        let file = rows::first(
            tx,
            "SELECT id, name, size, content_type, width, height, thumbnail_blob IS NOT NULL \
             FROM files WHERE id = ? AND room_id = ? AND uploader_id = ? \
             AND message_id IS NULL AND deleted_at IS NULL",
            (id, message.room_id, message.user_id),
            |row| {
                Ok(AttachmentRecord {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    size: u64::try_from(row.get::<_, i64>(2)?).unwrap_or(0),
                    content_type: row.get(3)?,
                    width: row.get(4)?,
                    height: row.get(5)?,
                    thumbnail: row.get(6)?,
                })
            },
        )?;
        match file {
            // The same file twice is refused too: a message carries a file once.
            Some(file)
                if !attachments
                    .iter()
                    .any(|seen: &AttachmentRecord| seen.id == file.id) =>
            {
                attachments.push(file);
            }
            _ => return Ok(None),
        }
    }
    Ok(Some(attachments))
}

/// The message the sender already stored with this `client_id`, if any, as a repeat.
fn stored_before(
    tx: &Transaction<'_>,
    message: &NewMessage,
) -> Result<Option<MessageWritten>, StoreError> {
    let Some(client_id) = &message.client_id else {
        return Ok(None);
    };
    let existing: Option<(i64, i64)> = rows::first(
        tx,
        "SELECT id, room_id FROM messages WHERE user_id = ? AND client_id = ?",
        (message.user_id, client_id),
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    let Some((id, room_id)) = existing else {
        return Ok(None);
    };
    Ok(Some(MessageWritten::Appended {
        appended: Appended {
            record: reread(tx, room_id, id)?,
            is_new: false,
        },
        thread_root: None,
        follows: None,
    }))
}

/// What a change needs to know of the message it changes.
struct Target {
    user_id: i64,
    text: String,
    deleted: bool,
    edit_client_id: Option<String>,
    reply_to: Option<i64>,
    created_at: i64,
}

/// Carries out one change, if its rule allows it.
fn change_one(tx: &Transaction<'_>, change: &MessageChange) -> Result<MessageWritten, StoreError> {
    let target = rows::first(
        tx,
        "SELECT user_id, text, deleted_at IS NOT NULL, edit_client_id, reply_to, created_at \
         FROM messages WHERE id = ? AND room_id = ?",
        (change.message_id, change.room_id),
        |row| {
            Ok(Target {
                user_id: row.get(0)?,
                text: row.get(1)?,
                deleted: row.get(2)?,
                edit_client_id: row.get(3)?,
                reply_to: row.get(4)?,
                created_at: row.get(5)?,
            })
        },
    )?;
    let Some(target) = target else {
        return Ok(MessageWritten::Refused(WriteRefusal::NoSuchMessage));
    };
    let mut thread_root = None;
    let changed = match &change.kind {
        ChangeKind::Edit { .. } | ChangeKind::React { add: true, .. } if target.deleted => {
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
                let position = next_position(tx)?;
                rows::execute(
                    tx,
                    "UPDATE messages SET text = ?, edited_at = ?, edit_client_id = ?, seq = ? \
                     WHERE id = ?",
                    (
                        text,
                        millis(change.at),
                        client_id,
                        position,
                        change.message_id,
                    ),
                )?;
                true
            }
        }
        ChangeKind::Delete { .. } if target.deleted => false,
        ChangeKind::Delete { any_author } => {
            if !any_author && target.user_id != change.user_id {
                return Ok(MessageWritten::Refused(WriteRefusal::NotAuthor));
            }
            let position = next_position(tx)?;
            rows::execute(
                tx,
                "UPDATE messages SET text = '', deleted_at = ?, edit_client_id = NULL, \
                 reaction_rows = 0, seq = ? WHERE id = ?",
                (millis(change.at), position, change.message_id),
            )?;
            rows::execute(
                tx,
                "DELETE FROM message_reactions WHERE message_id = ?",
                [change.message_id],
            )?;
            release_files(tx, change.message_id, change.at)?;
            if let Some(root) = target.reply_to {
                thread_root = recount_thread(tx, change.room_id, root)?;
            }
            true
        }
        ChangeKind::React { emoji, add: true } => {
            let kinds: Vec<String> = rows::all(
                tx,
                "SELECT DISTINCT emoji FROM message_reactions WHERE message_id = ?",
                [change.message_id],
                |row| row.get(0),
            )?;
            if kinds.len() >= MAX_REACTION_KINDS && !kinds.iter().any(|kind| kind == emoji) {
                return Ok(MessageWritten::Refused(WriteRefusal::TooManyReactions));
            }
            // The position orders the reactions (emoji by first use); one that was already
            // there leaves it unused, a gap no reader minds.
            let position = next_position(tx)?;
            let added = rows::execute(
                tx,
                "INSERT INTO message_reactions (message_id, emoji, user_id, created_at, position) \
                 VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (
                    change.message_id,
                    emoji,
                    change.user_id,
                    millis(change.at),
                    position,
                ),
            )? > 0;
            if added {
                count_reactions(tx, change.message_id, 1, Some(position))?;
            }
            added
        }
        ChangeKind::React { emoji, add: false } => {
            let removed = rows::execute(
                tx,
                "DELETE FROM message_reactions WHERE message_id = ? AND emoji = ? AND user_id = ?",
                (change.message_id, emoji, change.user_id),
            )? > 0;
            if removed {
                count_reactions(tx, change.message_id, -1, None)?;
            }
            removed
        }
    };
    Ok(MessageWritten::Changed {
        record: reread(tx, change.room_id, change.message_id)?,
        changed,
        thread_root,
        follows: None,
    })
}

/// A deleted message's files: deleted with it, their blobs put in the garbage (the node
/// deletes the bytes once no live file names them).
fn release_files(
    tx: &Transaction<'_>,
    message_id: i64,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<(), StoreError> {
    rows::execute(
        tx,
        "INSERT OR IGNORE INTO blob_garbage (blob, since) \
         SELECT blob, ?2 FROM files WHERE message_id = ?1 AND deleted_at IS NULL \
         UNION SELECT thumbnail_blob, ?2 FROM files \
         WHERE message_id = ?1 AND deleted_at IS NULL AND thumbnail_blob IS NOT NULL",
        (message_id, millis(at)),
    )?;
    rows::execute(
        tx,
        "UPDATE files SET deleted_at = ? WHERE message_id = ? AND deleted_at IS NULL",
        (millis(at), message_id),
    )?;
    rows::execute(
        tx,
        "UPDATE messages SET attachments = NULL WHERE id = ?",
        [message_id],
    )?;
    Ok(())
}

/// The next position of the log (ids and changes alike).
fn next_position(tx: &Transaction<'_>) -> Result<i64, StoreError> {
    tx.prepare_cached(
        "UPDATE sqlite_sequence SET seq = seq + 1 WHERE name = 'messages' RETURNING seq",
    )
    .and_then(|mut statement| statement.query_row([], |row| row.get(0)))
    .map_err(map_rusqlite)
}

/// A reaction added (+1) or removed (-1): the message's count and its new position
/// (`position`, if one was drawn for it already).
fn count_reactions(
    tx: &Transaction<'_>,
    message_id: i64,
    by: i64,
    position: Option<i64>,
) -> Result<(), StoreError> {
    let position = match position {
        Some(position) => position,
        None => next_position(tx)?,
    };
    rows::execute(
        tx,
        "UPDATE messages SET reaction_rows = reaction_rows + ?, seq = ? WHERE id = ?",
        (by, position, message_id),
    )?;
    Ok(())
}

/// A reply was deleted: its root's counts, read again, and its new position (none if the
/// root is itself deleted, as a tombstone shows no thread).
fn recount_thread(
    tx: &Transaction<'_>,
    room_id: i64,
    root: i64,
) -> Result<Option<MessageRecord>, StoreError> {
    let position = next_position(tx)?;
    let updated = rows::execute(
        tx,
        "UPDATE messages SET seq = ?1, \
         replies = (SELECT COUNT(*) FROM messages r \
                    WHERE r.reply_to = ?2 AND r.deleted_at IS NULL), \
         last_reply_at = (SELECT MAX(r.created_at) FROM messages r \
                          WHERE r.reply_to = ?2 AND r.deleted_at IS NULL) \
         WHERE id = ?2 AND deleted_at IS NULL",
        (position, root),
    )?;
    if updated == 0 {
        return Ok(None);
    }
    Ok(Some(reread(tx, room_id, root)?))
}

/// The message as it is inside the transaction, which has just written it.
fn reread(
    tx: &Transaction<'_>,
    room_id: i64,
    message_id: i64,
) -> Result<MessageRecord, StoreError> {
    const SQL: &str = concat!(message_select!(), "WHERE m.id = ? AND m.room_id = ?");
    rows::messages(tx, SQL, (message_id, room_id))?
        .pop()
        .ok_or(StoreError::NotFound)
}

/// Rooms' and users' names by id, as read once: a name never changes (nothing renames a
/// room or a user), so a new message's record needs no read. Bounded: when a map is full
/// it starts again empty.
#[derive(Default)]
struct Names {
    rooms: HashMap<i64, String>,
    users: HashMap<i64, String>,
}

/// Most names of each kind kept (some 100 bytes each: about 6 MiB for both at most).
const MAX_NAMES: usize = 32_768;

impl Names {
    fn room(&mut self, tx: &Transaction<'_>, room_id: i64) -> Result<String, StoreError> {
        Self::name(
            &mut self.rooms,
            tx,
            "SELECT name FROM rooms WHERE id = ?",
            room_id,
        )
    }

    fn user(&mut self, tx: &Transaction<'_>, user_id: i64) -> Result<String, StoreError> {
        Self::name(
            &mut self.users,
            tx,
            "SELECT username FROM users WHERE id = ?",
            user_id,
        )
    }

    fn name(
        known: &mut HashMap<i64, String>,
        tx: &Transaction<'_>,
        sql: &str,
        id: i64,
    ) -> Result<String, StoreError> {
        if let Some(name) = known.get(&id) {
            return Ok(name.clone());
        }
        let name: String =
            rows::first(tx, sql, [id], |row| row.get(0))?.ok_or(StoreError::NotFound)?;
        if known.len() >= MAX_NAMES {
            known.clear();
        }
        known.insert(id, name.clone());
        Ok(name)
    }
}

/// The names a message shows as mentioned, as stored: a JSON array of strings.
fn mention_names(mentions: &Mentions) -> Result<String, StoreError> {
    let names: Vec<&str> = mentions
        .users
        .iter()
        .map(|(_, name)| name.as_str())
        .collect();
    serde_json::to_string(&names).map_err(|err| StoreError::Backend(Box::new(err)))
}
