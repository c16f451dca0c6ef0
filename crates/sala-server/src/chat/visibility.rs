//! What a user may see of rooms, the one rule every surface asks (HTTP, `/ws`, Socket.io):
//! a public room is there for everyone; a private room only for its members and those
//! invited; a DM only for its people. To anyone else it does not exist, so they get the answer a name nobody uses gets.

use sala_proto::api::Room;
use sala_store::{RoomKind, RoomRecord, StoreError};

use super::Chat;
use crate::domain::RoomName;
use crate::wire;

/// Most people a DM holds: the opener and 8 others.
pub const MAX_DM_PEOPLE: u32 = 9;

impl Chat {
    /// The room of that name, if `user_id` may see it.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn visible_room(
        &self,
        user_id: i64,
        name: &RoomName,
    ) -> Result<Option<RoomRecord>, StoreError> {
        let Some(room) = self.store().get_room(name.as_ref()).await? else {
            return Ok(None);
        };
        Ok(self.may_see(user_id, &room).await?.then_some(room))
    }

    /// Whether `user_id` may see the room.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn may_see(&self, user_id: i64, room: &RoomRecord) -> Result<bool, StoreError> {
        if room.kind == RoomKind::Public || self.store().role_in(user_id, room.id).await?.is_some()
        {
            return Ok(true);
        }
        // An invitee sees the private room they may join.
        Ok(room.kind == RoomKind::Private && self.store().has_invite(room.id, user_id).await?)
    }

    /// A DM's people, by username, as clients show it; `None` for other rooms.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn dm_people(&self, record: &RoomRecord) -> Result<Option<Vec<String>>, StoreError> {
        if record.kind != RoomKind::Dm {
            return Ok(None);
        }
        let members = self
            .store()
            .room_members(record.id, None, MAX_DM_PEOPLE)
            .await?;
        Ok(Some(
            members.into_iter().map(|member| member.username).collect(),
        ))
    }

    /// The room as the API shows it: its online count and, for a DM, its people.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn room_object(&self, record: RoomRecord) -> Result<Room, StoreError> {
        let people = self.dm_people(&record).await?;
        let online = self.online_count(&record.name);
        let mut room = wire::room(record, online);
        room.people = people;
        Ok(room)
    }
}
