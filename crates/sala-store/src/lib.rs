//! The storage seam of Sala: what the server asks of a database, and nothing of how.
//!
//! One async trait per aggregate ([`AccountStore`], [`SessionStore`], [`RoomStore`],
//! [`MessageStore`]), composed into [`Store`]. Each backend lives in its own crate
//! (`sala-store-sqlite`, `sala-store-postgres`) and maps its driver's errors into
//! [`StoreError`], so HTTP handlers and the hub never see SQL or a driver type.
//!
//! Why a crate of its own rather than `sala-server/src/store/`: backends implement these
//! traits and the server opens backends, so the traits must sit below both or the crates
//! would depend on each other.
//!
//! Records here are storage rows, not wire types: the server converts them at its edge.
//! Callers pass already-validated values; case-folding of unique keys is done here, once.

#[cfg(feature = "contract")]
pub mod contract;
mod error;
mod records;
#[cfg(feature = "rows")]
pub mod rows;
mod traits;

pub use error::{ConflictOn, StoreError};
pub use records::{
    Appended, AttachmentRecord, AuditRecord, BusyMember, ChangeKind, FileRecord, InviteRecord,
    MAX_REACTION_KINDS, MemberRoomRecord, Mentions, MessageChange, MessageQuery, MessageRecord,
    MessageSearch, MessageWrite, MessageWritten, Moderation, ModerationAction, NewDm, NewFile,
    NewMessage, NewRoom, NewSession, NewUser, ReactionRecord, Restriction, RestrictionRecord, Role,
    RoomKind, RoomMember, RoomQuery, RoomRecord, SessionRecord, StatusRecord, UserRecord,
    UserSummary, WriteRefusal,
};
pub use traits::{
    AccountStore, FileStore, MessageStore, ModerationStore, RoomStore, SessionStore, Store,
};

/// The key a username or email is unique by: case-folded, so `Alice` and `alice` collide.
pub fn fold_key(value: &str) -> String {
    value.to_lowercase()
}
