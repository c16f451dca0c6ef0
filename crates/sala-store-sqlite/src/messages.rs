//! Messages: read by page here, on the readers' threads (reader.rs); sends and changes are
//! written in batches, one transaction and one fsync each, by the message writer's thread
//! (writer.rs). Every write that changes something takes the next position of the log from
//! `sqlite_sequence`'s row for `messages`, the counter message ids come from, so ids and
//! change positions are one sequence (the single writer orders them as they commit).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use sala_store::rows::millis;
use sala_store::{
    MessageQuery, MessageRecord, MessageSearch, MessageStore, MessageWrite, MessageWritten,
    StoreError, fold_key,
};

use crate::error::map_rusqlite;
use crate::{SqliteStore, rows};

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
        const SQL: &str = concat!(message_select!(), "WHERE m.id = ? AND m.room_id = ?");
        self.read(move |connection| {
            Ok(rows::messages(connection, SQL, (message_id, room_id))?.pop())
        })
        .await
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
            "WHERE m.room_id = ?1 AND (m.id = ?2 OR m.reply_to = ?2) AND m.id > ?3 \
             ORDER BY m.id ASC LIMIT ?4"
        );
        self.read(move |connection| {
            let fetch = i64::from(limit) + 1;
            let messages =
                rows::messages(connection, SQL, (room_id, root, after.unwrap_or(0), fetch))?;
            Ok(page(messages, limit))
        })
        .await
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
        self.read(move |connection| {
            let fetch = i64::from(limit) + 1;
            let messages = rows::messages(connection, SQL, (room_id, after, fetch))?;
            Ok(page(messages, limit))
        })
        .await
    }

    async fn latest_position(&self, room_id: i64) -> Result<i64, StoreError> {
        self.read(move |connection| {
            connection
                .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM messages WHERE room_id = ?")
                .and_then(|mut statement| statement.query_row([room_id], |row| row.get(0)))
                .map_err(map_rusqlite)
        })
        .await
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
        self.read(move |connection| {
            rows::messages(connection, SQL, (user_id, millis(since), i64::from(limit)))
        })
        .await
    }

    async fn list_messages(
        &self,
        room_id: i64,
        query: MessageQuery,
    ) -> Result<(Vec<MessageRecord>, bool), StoreError> {
        const AFTER: &str = concat!(
            message_select!(),
            "WHERE m.room_id = ? AND m.id > ? AND m.id < ? ORDER BY m.id ASC LIMIT ?"
        );
        const BEFORE: &str = concat!(
            message_select!(),
            "WHERE m.room_id = ? AND m.id < ? ORDER BY m.id DESC LIMIT ?"
        );
        self.read(move |connection| {
            let fetch = query.fetch();
            let before = query.before.unwrap_or(i64::MAX);
            let messages = match query.after {
                Some(after) => rows::messages(connection, AFTER, (room_id, after, before, fetch))?,
                None => rows::messages(connection, BEFORE, (room_id, before, fetch))?,
            };
            Ok(query.finish(messages))
        })
        .await
    }

    async fn search_messages(
        &self,
        search: MessageSearch<'_>,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let (sql, params) = search_statement(&search);
        self.read(move |connection| {
            rows::messages(connection, &sql, rusqlite::params_from_iter(params))
        })
        .await
    }
}

/// The statement and parameters of a search. Texts of three characters or more go to the
/// trigram index as one `AND` of FTS5 strings (quoted, their quotes doubled, so nothing in
/// them is an operator); shorter ones, which have no trigram, are looked for with `instr`
/// in the rows the rest leaves (`lower` folds ASCII only: short texts in other scripts
/// match their case exactly).
///
/// Either way the rows are read newest first and the reading stops when the page is full,
/// so a common word costs what a rare one does. With texts to look up, the index drives:
/// FTS5 gives its rows in descending rowid order itself, and `CROSS JOIN` keeps it the
/// outer loop (SQLite 3.51 otherwise reads the reader's rooms by the room index and asks
/// the index once per message: minutes over a million). Asked as `m.id IN (SELECT rowid
/// …)`, it built the set of every match first: 300 ms instead of 6 ms for a word in half of
/// a million messages. Without texts to look up, the messages are read backwards by id,
/// not by room (`+m.room_id` keeps SQLite from the room index, which reads every message
/// of the reader's rooms and sorts them: 0.6–1 s instead of 0.3 ms for two common
/// letters), except when one room is asked for, where the room index reads newest first.
fn search_statement(search: &MessageSearch<'_>) -> (String, Vec<Value>) {
    let (indexed, short): (Vec<&str>, Vec<&str>) = search
        .texts
        .iter()
        .partition(|text| text.chars().count() >= 3);
    let mut params = Vec::new();
    let mut sql = String::new();
    let order = if indexed.is_empty() {
        sql.push_str(message_select!());
        sql.push_str(if search.room.is_some() {
            "WHERE m.room_id IN "
        } else {
            "WHERE +m.room_id IN "
        });
        " ORDER BY m.id DESC LIMIT ?"
    } else {
        let expression = indexed
            .iter()
            .map(|text| format!("\"{}\"", text.replace('"', "\"\"")))
            .collect::<Vec<_>>()
            .join(" AND ");
        sql.push_str(concat!(
            message_columns!(),
            "FROM message_trigrams t \
             CROSS JOIN messages m ON m.id = t.rowid \
             JOIN rooms r ON r.id = m.room_id \
             JOIN users u ON u.id = m.user_id \
             WHERE t.message_trigrams MATCH ? AND t.rowid < ? AND m.room_id IN "
        ));
        params.push(Value::Text(expression));
        params.push(Value::Integer(search.older_than.unwrap_or(i64::MAX)));
        " ORDER BY t.rowid DESC LIMIT ?"
    };
    sql.push_str(
        "(SELECT mm.room_id FROM memberships mm JOIN rooms rr \
           ON rr.id = mm.room_id WHERE mm.user_id = ? AND rr.archived_at IS NULL) \
         AND m.deleted_at IS NULL AND m.id < ?",
    );
    params.push(Value::Integer(search.reader_id));
    params.push(Value::Integer(search.older_than.unwrap_or(i64::MAX)));
    for text in short {
        sql.push_str(" AND instr(lower(m.text), lower(?)) > 0");
        params.push(Value::Text(text.to_owned()));
    }
    if let Some(author) = search.author {
        sql.push_str(" AND u.username_key = ?");
        params.push(Value::Text(fold_key(author)));
    }
    if let Some(room) = search.room {
        sql.push_str(" AND r.name = ?");
        params.push(Value::Text(room.to_owned()));
    }
    if let Some(after) = search.after {
        sql.push_str(" AND m.created_at > ?");
        params.push(Value::Integer(millis(after)));
    }
    if let Some(before) = search.before {
        sql.push_str(" AND m.created_at < ?");
        params.push(Value::Integer(millis(before)));
    }
    if search.with_files {
        sql.push_str(" AND m.attachments IS NOT NULL");
    }
    sql.push_str(order);
    params.push(Value::Integer(i64::from(search.limit)));
    (sql, params)
}

/// The first `limit` of `messages` (read with one more than `limit`), and whether there
/// were more.
fn page(mut messages: Vec<MessageRecord>, limit: u32) -> (Vec<MessageRecord>, bool) {
    let more = messages.len() > limit as usize;
    messages.truncate(limit as usize);
    (messages, more)
}
