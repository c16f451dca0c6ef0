//! Mentions: `@name` in a message's text, as the server reads them (issue 19: parsed once,
//! stored with the message, counted per member as unread mentions; the assistant answers
//! the busy ones). `@room` by a room's admins and owner mentions every member.

use sala_store::{Mentions, Role, RoomKind};

use super::{Chat, ChatError};

/// The word that mentions everyone in a room, when its admins or owner write it.
pub const ROOM: &str = "room";

impl Chat {
    /// Whom `text`, written by `user_id` in a room of `kind`, mentions: the users named
    /// (the writer left out; a name nobody has is plain text), and `@room` when the writer
    /// is one of the room's admins or its owner (from anyone else, and in a DM, it is plain
    /// text). One store read for the names, one for the role, only when there are any.
    ///
    /// # Errors
    /// Store failures.
    pub(super) async fn mentions_in(
        &self,
        text: &str,
        user_id: i64,
        room_id: i64,
        kind: RoomKind,
    ) -> Result<Mentions, ChatError> {
        let mut names = mentions(text);
        if names.is_empty() {
            return Ok(Mentions::default());
        }
        let store = self.store();
        let asks_room = names.iter().any(|name| name == ROOM);
        names.retain(|name| name != ROOM);
        let room = asks_room
            && kind != RoomKind::Dm
            && matches!(
                store.role_in(user_id, room_id).await?,
                Some(Role::Owner | Role::Admin)
            );
        let mut users: Vec<(i64, String)> = if names.is_empty() {
            Vec::new()
        } else {
            store
                .find_users_by_username(&names)
                .await?
                .into_iter()
                .filter(|user| user.id != user_id)
                .map(|user| (user.id, user.username))
                .collect()
        };
        // In the order the text names them.
        users.sort_by_key(|(_, name)| {
            names
                .iter()
                .position(|n| n.eq_ignore_ascii_case(name))
                .unwrap_or(usize::MAX)
        });
        Ok(Mentions { users, room })
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// Mentions in one message that count: the first this many distinct names. (A message of
/// 4,000 characters can name about 500 users.)
pub const MAX_MENTIONS: usize = 20;

/// The usernames `text` mentions, lower-cased and without repeats, at most [`MAX_MENTIONS`]:
/// `@name` where `@` starts the text or follows a character that cannot be in a name (so
/// `mail@host` is not one), and the name runs to the next such character. A trailing `.` or
/// `-` is punctuation.
pub fn mentions(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut previous: Option<char> = None;
    for (at, c) in text.char_indices() {
        let starts = c == '@' && previous.is_none_or(|p| !is_name_char(p) && p != '@');
        previous = Some(c);
        if !starts {
            continue;
        }
        let rest = &text[at + 1..];
        let end = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
        let name = rest[..end].trim_end_matches(['.', '-']).to_lowercase();
        if (3..=32).contains(&name.len()) && !found.contains(&name) {
            found.push(name);
            if found.len() == MAX_MENTIONS {
                break;
            }
        }
    }
    found
}

/// Whether `text` mentions `username` (case-insensitively).
pub fn mentions_user(text: &str, username: &str) -> bool {
    let username = username.to_lowercase();
    mentions(text).contains(&username)
}

#[cfg(test)]
mod tests {
    use super::mentions;

    #[test]
    fn finds_word_bounded_mentions_case_insensitively() {
        assert_eq!(mentions("hi @Alice, and @bob."), ["alice", "bob"]);
        assert_eq!(mentions("@alice @ALICE"), ["alice"]);
        assert_eq!(mentions("(@carol) @dave-"), ["carol", "dave"]);
        assert_eq!(mentions("@o.neil says hi"), ["o.neil"]);
    }

    #[test]
    fn counts_at_most_the_first_mentions() {
        let text: String = (0..499).map(|n| format!("@user{n:03} ")).collect();
        let found = mentions(&text);
        assert_eq!(found.len(), super::MAX_MENTIONS);
        assert_eq!(found.last().map(String::as_str), Some("user019"));
    }

    #[test]
    fn ignores_what_is_not_a_mention() {
        assert!(mentions("mail alice@example.org").is_empty());
        assert!(mentions("@@alice @ab no mention").is_empty());
        assert!(mentions("plain text").is_empty());
    }
}
