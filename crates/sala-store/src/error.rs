//! What can go wrong in a store, in terms the server can answer with.

/// Which unique value a write collided with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictOn {
    Username,
    Email,
    RoomName,
}

/// A store failure. Backends map driver errors and constraint names into these variants.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row the operation needs does not exist.
    #[error("not found")]
    NotFound,
    /// A unique value is taken.
    #[error("conflict on {0:?}")]
    Conflict(ConflictOn),
    /// The database cannot be reached or written (disk full, read-only, connection lost).
    #[error("storage unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Anything else the backend reported; a bug or corruption, never the user's fault.
    #[error("storage backend error")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}
