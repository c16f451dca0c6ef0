//! Direct messages: a conversation of a fixed set of people (the opener and 1–8 others),
//! the same set always the same conversation. Opening one that is new tells every
//! connection of every person in it, on every node (`room_added`).

use chrono::Utc;
use sala_proto::api::Room;
use sala_proto::frames::ServerFrame;
use sala_store::{NewDm, StoreError};

use super::Chat;
use super::visibility::MAX_DM_PEOPLE;
use crate::cluster::hub::Event;
use crate::domain::ValidationError;

/// Why a DM was not opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenDmError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// A username nobody has (or had: a deleted user).
    #[error("no user named '{0}'")]
    UnknownUser(String),
    /// Someone in it blocks the opener.
    #[error("not delivered: someone you are writing to has blocked you")]
    Blocked,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Chat {
    /// Blocks (`true`) or unblocks `blocked` for `blocker`; returns whether that changed.
    /// A block is in force from the blocked person's next write into a DM with the
    /// blocker made through this node.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn set_block(
        &self,
        blocker: i64,
        blocked: i64,
        block: bool,
    ) -> Result<bool, StoreError> {
        let changed = self
            .store()
            .set_block(blocker, blocked, block, Utc::now())
            .await?;
        if changed {
            self.write_permits().forget_all();
        }
        Ok(changed)
    }

    /// Opens (or finds) the DM of `opener` and the people named `usernames`.
    ///
    /// # Errors
    /// No other person, more than 8, the opener named, an unknown username, a block, or the
    /// store failing.
    pub async fn open_dm(
        &self,
        opener: i64,
        usernames: &[String],
    ) -> Result<(Room, bool), OpenDmError> {
        if usernames.is_empty() {
            return Err(ValidationError::new("users", "name at least one other person").into());
        }
        if usernames.len() >= MAX_DM_PEOPLE as usize {
            return Err(ValidationError::new("users", "a DM holds at most 8 other people").into());
        }
        let users = self.store().find_users_by_username(usernames).await?;
        if let Some(unknown) = usernames.iter().find(|name| {
            !users
                .iter()
                .any(|user| user.username.eq_ignore_ascii_case(name))
        }) {
            return Err(OpenDmError::UnknownUser(unknown.clone()));
        }
        if users.iter().any(|user| user.id == opener) {
            return Err(ValidationError::new("users", "name the others, not yourself").into());
        }
        let others: Vec<i64> = users.iter().map(|user| user.id).collect();
        if !self.store().blockers_of(opener, &others).await?.is_empty() {
            return Err(OpenDmError::Blocked);
        }
        let mut members = others;
        members.push(opener);
        let name = dm_handle();
        let (record, made) = self
            .store()
            .open_dm(NewDm {
                name: &name,
                members: &members,
                created_by: opener,
                created_at: Utc::now(),
            })
            .await?;
        let room = self.room_object(record).await?;
        if made {
            let event = Event::new(ServerFrame::RoomAdded { room: room.clone() });
            for member in &members {
                self.cluster().send_to_user(*member, &event, None);
            }
            tracing::info!(room = %room.name, people = members.len(), "direct messages opened");
        }
        Ok((room, made))
    }
}

/// A new DM's handle: 128 random bits in hex, in the room-name alphabet, never guessed.
fn dm_handle() -> String {
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes);
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("{}{hex}", crate::domain::RoomName::DM_PREFIX)
}
