//! Mapping PostgreSQL's errors into [`StoreError`], by constraint name and SQLSTATE.
//!
//! Unique violations are told apart by the constraint names that `migrations/0001_initial.sql`
//! sets explicitly; any other unique violation (a session id drawn twice, or two nodes racing
//! on the same `(user, client_id)` in different rooms) is a `Backend` error, which the server
//! answers by retrying or failing the request rather than blaming the user.

use sala_store::{ConflictOn, StoreError};
use sqlx::error::ErrorKind;

/// Constraint name → the value that collided.
const CONFLICTS: [(&str, ConflictOn); 3] = [
    ("users_username_key_unique", ConflictOn::Username),
    ("users_email_key_unique", ConflictOn::Email),
    ("rooms_name_unique", ConflictOn::RoomName),
];

/// SQLSTATE codes (beyond the classes below) that mean "the database cannot serve us right
/// now" rather than "this request is wrong": admin/crash shutdown, cannot connect now
/// (starting up or shutting down), and a read-only transaction (a standby, or
/// `default_transaction_read_only` during maintenance).
const UNAVAILABLE_CODES: [&str; 4] = ["57P01", "57P02", "57P03", "25006"];

/// SQLSTATE classes that mean the same: 08 connection exception, 53 insufficient resources
/// (disk full, out of memory, too many connections).
const UNAVAILABLE_CLASSES: [&str; 2] = ["08", "53"];

pub(crate) fn map_err(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::Database(db) => match db.kind() {
            ErrorKind::UniqueViolation => {
                let conflict = db.constraint().and_then(|name| {
                    CONFLICTS
                        .iter()
                        .find(|(constraint, _)| *constraint == name)
                        .map(|(_, on)| *on)
                });
                match conflict {
                    Some(on) => StoreError::Conflict(on),
                    None => StoreError::Backend(Box::new(err)),
                }
            }
            ErrorKind::ForeignKeyViolation => StoreError::NotFound,
            _ if db.code().is_some_and(|code| is_unavailable(&code)) => {
                StoreError::Unavailable(Box::new(err))
            }
            _ => StoreError::Backend(Box::new(err)),
        },
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed => StoreError::Unavailable(Box::new(err)),
        _ => StoreError::Backend(Box::new(err)),
    }
}

/// Whether a SQLSTATE says the database is unreachable or cannot take writes.
fn is_unavailable(code: &str) -> bool {
    UNAVAILABLE_CODES.contains(&code)
        || UNAVAILABLE_CLASSES
            .iter()
            .any(|class| code.starts_with(class))
}

#[cfg(test)]
mod tests {
    use super::is_unavailable;

    #[test]
    fn connection_and_resource_states_are_unavailable() {
        for code in [
            "08006", "08001", "53100", "53300", "57P01", "57P03", "25006",
        ] {
            assert!(is_unavailable(code), "{code}");
        }
    }

    #[test]
    fn request_errors_are_not_unavailable() {
        for code in [
            "23505", "22001", "40001", "40P01", "57014", "25P02", "42P01",
        ] {
            assert!(!is_unavailable(code), "{code}");
        }
    }
}
