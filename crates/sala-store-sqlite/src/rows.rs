//! The `rusqlite` connections (the message writer's and the readers'): opening one, and
//! the rows they read, made into the backends' shared row types and from those into
//! records.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension as _, Params, Row};
use sala_store::rows::{
    MessageRow, ReactionRow, RestrictionRow, RoomRow, SessionRow, UserRow, attach_reactions,
};
use sala_store::{MessageRecord, StoreError};

use crate::error::map_rusqlite;

/// How long a statement waits for a lock held by another connection (the other writer's
/// transaction, a checkpoint) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens a connection to the store's file (its schema in place: sqlx's migrations ran
/// first), runs `pragmas`, and keeps `statements` prepared statements. Read-write even for
/// the readers, so that each takes part in WAL's shared memory like the others.
pub(crate) fn open(
    path: &Path,
    pragmas: &str,
    statements: usize,
) -> Result<Connection, StoreError> {
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(map_rusqlite)?;
    connection.execute_batch(pragmas).map_err(map_rusqlite)?;
    connection
        .busy_timeout(BUSY_TIMEOUT)
        .map_err(map_rusqlite)?;
    connection.set_prepared_statement_cache_capacity(statements);
    Ok(connection)
}

/// The messages a query of `message_select!` finds, in its order, with their reactions
/// (read only for those that have any, in one more query).
pub(crate) fn messages(
    connection: &Connection,
    sql: &str,
    params: impl Params,
) -> Result<Vec<MessageRecord>, StoreError> {
    let rows: Vec<MessageRow> = all(connection, sql, params, message_row)?;
    let with_reactions: Vec<i64> = rows
        .iter()
        .filter(|row| row.reaction_rows > 0)
        .map(|row| row.id)
        .collect();
    let mut messages = rows
        .into_iter()
        .map(MessageRecord::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    if !with_reactions.is_empty() {
        let ids = serde_json::to_string(&with_reactions)
            .map_err(|err| StoreError::Backend(Box::new(err)))?;
        let reactions: Vec<ReactionRow> = all(
            connection,
            "SELECT r.message_id, r.emoji, u.username FROM message_reactions r \
             JOIN users u ON u.id = r.user_id \
             WHERE r.message_id IN (SELECT value FROM json_each(?)) \
             ORDER BY r.message_id, r.position",
            [ids],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )?;
        attach_reactions(&mut messages, reactions);
    }
    Ok(messages)
}

/// Every row `sql` finds, each read by `read`.
pub(crate) fn all<T>(
    connection: &Connection,
    sql: &str,
    params: impl Params,
    read: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StoreError> {
    connection
        .prepare_cached(sql)
        .and_then(|mut statement| statement.query_map(params, read)?.collect())
        .map_err(map_rusqlite)
}

/// Runs a statement that returns no rows; how many rows it changed.
pub(crate) fn execute(
    connection: &Connection,
    sql: &str,
    params: impl Params,
) -> Result<usize, StoreError> {
    connection
        .prepare_cached(sql)
        .and_then(|mut statement| statement.execute(params))
        .map_err(map_rusqlite)
}

/// The first row `sql` finds, if any, read by `read`.
pub(crate) fn first<T>(
    connection: &Connection,
    sql: &str,
    params: impl Params,
    read: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Option<T>, StoreError> {
    connection
        .prepare_cached(sql)
        .and_then(|mut statement| statement.query_row(params, read).optional())
        .map_err(map_rusqlite)
}

/// The columns of `message_select!`, in its order.
fn message_row(row: &Row<'_>) -> rusqlite::Result<MessageRow> {
    Ok(MessageRow {
        id: row.get(0)?,
        seq: row.get(1)?,
        room: row.get(2)?,
        user_id: row.get(3)?,
        username: row.get(4)?,
        text: row.get(5)?,
        client_id: row.get(6)?,
        assistant: row.get(7)?,
        created_at: row.get(8)?,
        edited_at: row.get(9)?,
        deleted_at: row.get(10)?,
        reply_to: row.get(11)?,
        replies: row.get(12)?,
        last_reply_at: row.get(13)?,
        reaction_rows: row.get(14)?,
        mentions: row.get(15)?,
        mentions_room: row.get(16)?,
        attachments: row.get(17)?,
    })
}

/// The columns of `user_columns!`, in its order.
pub(crate) fn user_row(row: &Row<'_>) -> rusqlite::Result<UserRow> {
    Ok(UserRow {
        id: row.get(0)?,
        username: row.get(1)?,
        email: row.get(2)?,
        password_hash: row.get(3)?,
        busy: row.get(4)?,
        status_note: row.get(5)?,
        busy_since: row.get(6)?,
        created_at: row.get(7)?,
    })
}

/// The columns of `room_select!`, in its order.
pub(crate) fn room_row(row: &Row<'_>) -> rusqlite::Result<RoomRow> {
    Ok(RoomRow {
        id: row.get(0)?,
        name: row.get(1)?,
        kind: row.get(2)?,
        members_invite: row.get(3)?,
        topic: row.get(4)?,
        created_by: row.get(5)?,
        created_at: row.get(6)?,
    })
}

/// `id, user_id, created_at, expires_at, revoked_at` of a session.
pub(crate) fn session_row(row: &Row<'_>) -> rusqlite::Result<SessionRow> {
    Ok(SessionRow {
        id: row.get(0)?,
        user_id: row.get(1)?,
        created_at: row.get(2)?,
        expires_at: row.get(3)?,
        revoked_at: row.get(4)?,
    })
}

/// `reason, created_at, expires_at` of a restriction.
pub(crate) fn restriction_row(row: &Row<'_>) -> rusqlite::Result<RestrictionRow> {
    Ok(RestrictionRow {
        reason: row.get(0)?,
        created_at: row.get(1)?,
        expires_at: row.get(2)?,
    })
}
