//! Mapping SQLite's errors into [`StoreError`], by constraint and result code.

use sala_store::{ConflictOn, StoreError};

/// SQLite primary result codes that mean "the database cannot be used right now" rather than
/// "this request is wrong": BUSY, LOCKED, NOMEM, READONLY, IOERR, CORRUPT-free FULL, CANTOPEN.
const UNAVAILABLE_CODES: [i64; 7] = [5, 6, 7, 8, 10, 13, 14];

pub(crate) fn map_err(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            let message = db.message();
            if message.contains("users.username_key") {
                StoreError::Conflict(ConflictOn::Username)
            } else if message.contains("users.email_key") {
                StoreError::Conflict(ConflictOn::Email)
            } else if message.contains("rooms.name") {
                StoreError::Conflict(ConflictOn::RoomName)
            } else {
                StoreError::Backend(Box::new(err))
            }
        }
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound,
        sqlx::Error::Database(db) => {
            // Extended result codes carry the primary code in their low byte.
            let primary = db
                .code()
                .and_then(|code| code.parse::<i64>().ok())
                .map(|code| code & 0xff);
            if primary.is_some_and(|code| UNAVAILABLE_CODES.contains(&code)) {
                StoreError::Unavailable(Box::new(err))
            } else {
                StoreError::Backend(Box::new(err))
            }
        }
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
            StoreError::Unavailable(Box::new(err))
        }
        _ => StoreError::Backend(Box::new(err)),
    }
}

/// The same mapping for the `rusqlite` connections (the message writer's and the readers').
pub(crate) fn map_rusqlite(err: rusqlite::Error) -> StoreError {
    match &err {
        rusqlite::Error::SqliteFailure(failure, _) => {
            if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY {
                StoreError::NotFound
            } else if UNAVAILABLE_CODES.contains(&i64::from(failure.extended_code & 0xff)) {
                StoreError::Unavailable(Box::new(err))
            } else {
                StoreError::Backend(Box::new(err))
            }
        }
        _ => StoreError::Backend(Box::new(err)),
    }
}
