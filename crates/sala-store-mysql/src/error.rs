//! Mapping MySQL's and MariaDB's errors into [`StoreError`], by error number and key name.
//!
//! A duplicate key is told apart by the key's name, which `migrations/0001_initial.sql` sets
//! explicitly; MySQL gives no constraint field, so the name is read from the message
//! ("Duplicate entry 'x' for key 'users_username_key_unique'", or `'users.users_…'` on
//! MySQL 8). Any other duplicate is a `Backend` error, as on PostgreSQL.

use sala_store::{ConflictOn, StoreError};
use sqlx::error::ErrorKind;
use sqlx::mysql::MySqlDatabaseError;

/// Key name → the value that collided.
const CONFLICTS: [(&str, ConflictOn); 3] = [
    ("users_username_key_unique", ConflictOn::Username),
    ("users_email_key_unique", ConflictOn::Email),
    ("rooms_name_unique", ConflictOn::RoomName),
];

/// Error numbers that mean "the database cannot serve us right now" rather than "this
/// request is wrong": too many connections (1040), shutting down (1053), interrupted by a
/// shutdown (1317), a connection killed (1927, MariaDB), network errors (1158–1161), out
/// of memory or resources (1037, 1041), a full disk or table (1021, 1114, and 1030 "Got
/// error 28 from storage engine"), and a server that is read-only (1290 with
/// `--read-only`, 1792, 1836).
const UNAVAILABLE_NUMBERS: [u16; 15] = [
    1021, 1030, 1037, 1040, 1041, 1053, 1114, 1158, 1159, 1160, 1161, 1290, 1317, 1792, 1836,
];

/// ER_DUP_ENTRY: the error a plain INSERT meets on a unique key.
const DUPLICATE_ENTRY: u16 = 1062;

pub(crate) fn map_err(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::Database(db) => {
            let number = db
                .try_downcast_ref::<MySqlDatabaseError>()
                .map_or(0, MySqlDatabaseError::number);
            match db.kind() {
                ErrorKind::UniqueViolation => {
                    match duplicate_key(db.message()).and_then(conflict_on) {
                        Some(on) => StoreError::Conflict(on),
                        None => StoreError::Backend(Box::new(err)),
                    }
                }
                ErrorKind::ForeignKeyViolation => StoreError::NotFound,
                _ if is_unavailable(number, db.code().as_deref()) => {
                    StoreError::Unavailable(Box::new(err))
                }
                _ => StoreError::Backend(Box::new(err)),
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed => StoreError::Unavailable(Box::new(err)),
        _ => StoreError::Backend(Box::new(err)),
    }
}

/// Whether `err` is a duplicate entry in the key named `key` (`PRIMARY` for a primary
/// key): a plain INSERT that found its row already there.
pub(crate) fn is_duplicate_on(err: &sqlx::Error, key: &str) -> bool {
    let sqlx::Error::Database(db) = err else {
        return false;
    };
    db.try_downcast_ref::<MySqlDatabaseError>()
        .is_some_and(|db| db.number() == DUPLICATE_ENTRY)
        && duplicate_key(db.message()) == Some(key)
}

fn conflict_on(key: &str) -> Option<ConflictOn> {
    CONFLICTS
        .iter()
        .find(|(name, _)| *name == key)
        .map(|(_, on)| *on)
}

/// The key named by a duplicate-entry message, without MySQL 8's `table.` prefix.
fn duplicate_key(message: &str) -> Option<&str> {
    let (_, rest) = message.rsplit_once(" for key '")?;
    let key = rest.strip_suffix('\'')?;
    Some(key.rsplit_once('.').map_or(key, |(_, key)| key))
}

/// Whether an error number or SQLSTATE says the server is unreachable or cannot write.
/// SQLSTATE class 08 is "connection exception" on both servers.
fn is_unavailable(number: u16, sqlstate: Option<&str>) -> bool {
    UNAVAILABLE_NUMBERS.contains(&number) || sqlstate.is_some_and(|code| code.starts_with("08"))
}

#[cfg(test)]
mod tests {
    use super::{duplicate_key, is_unavailable};

    #[test]
    fn the_key_is_read_from_both_servers_messages() {
        assert_eq!(
            duplicate_key("Duplicate entry 'bob' for key 'users_username_key_unique'"),
            Some("users_username_key_unique")
        );
        assert_eq!(
            duplicate_key("Duplicate entry 'bob' for key 'users.users_username_key_unique'"),
            Some("users_username_key_unique")
        );
        // A value that itself holds the words: the last occurrence is the key.
        assert_eq!(
            duplicate_key("Duplicate entry 'x for key 'y'' for key 'rooms_name_unique'"),
            Some("rooms_name_unique")
        );
        assert_eq!(duplicate_key("Something else"), None);
    }

    #[test]
    fn connection_and_resource_errors_are_unavailable() {
        for number in [1040, 1053, 1021, 1114, 1290, 1836] {
            assert!(is_unavailable(number, Some("HY000")), "{number}");
        }
        assert!(is_unavailable(0, Some("08S01")));
    }

    #[test]
    fn request_errors_are_not_unavailable() {
        for number in [1062, 1452, 1213, 1205, 1406, 1064, 1146] {
            assert!(!is_unavailable(number, Some("23000")), "{number}");
        }
    }
}
