//! Validated values. Each newtype has a private field and a `parse` that is the only way
//! in, so a `Username` in hand is a valid username (SPEC §2 rules).

mod attachments;
mod availability;
mod client_id;
mod email;
mod emoji;
mod file_name;
mod lone_surrogates;
mod message_text;
mod page_size;
mod password;
mod room_name;
mod search_query;
mod text;
mod username;

pub use attachments::{Attachments, is_file_id};
pub use availability::Availability;
pub use client_id::ClientId;
pub use email::Email;
pub use emoji::Emoji;
pub use file_name::FileName;
pub use lone_surrogates::{lone_surrogate_error, mark_lone_surrogates};
pub use message_text::MessageText;
pub use page_size::PageSize;
pub use password::Password;
pub use room_name::RoomName;
pub use search_query::{MAX_QUERY_CHARS, MAX_TERMS, SearchQuery, SearchTerm};
pub use text::{RoomTopic, StatusNote};
pub use username::Username;

/// A value that breaks its rule; the message is safe to show to the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {problem}")]
pub struct ValidationError {
    pub field: &'static str,
    pub problem: &'static str,
}

impl ValidationError {
    pub fn new(field: &'static str, problem: &'static str) -> Self {
        Self { field, problem }
    }
}
