//! Changes to messages (issue 19): the rule every write into a room passes, whichever way
//! it comes, and the changes asked over HTTP, which wait for the writer's outcome.

use std::time::Instant;

use chrono::Utc;
use sala_store::{
    ChangeKind, MessageChange, MessageRecord, MessageWrite, MessageWritten, Restriction, Role,
    RoomKind, RoomRecord,
};
use tokio::sync::oneshot;

use super::commit::CommitRequest;
use super::visibility::MAX_DM_PEOPLE;
use super::{Chat, ChatError};
use crate::domain::RoomName;

/// A change asked for over HTTP.
#[derive(Debug)]
pub enum ChangeRequest {
    Edit {
        text: String,
        client_id: Option<String>,
    },
    Delete,
    React {
        emoji: String,
        add: bool,
    },
}

impl Chat {
    /// A DM's people other than `user_id` (whose blocks a write into it asks about); `None`
    /// for a room that is not a DM.
    ///
    /// # Errors
    /// Store failures.
    pub(super) async fn dm_others(
        &self,
        room: &RoomRecord,
        user_id: i64,
    ) -> Result<Option<Vec<i64>>, ChatError> {
        if room.kind != RoomKind::Dm {
            return Ok(None);
        }
        let others = self
            .store()
            .room_members(room.id, None, MAX_DM_PEOPLE)
            .await?
            .into_iter()
            .map(|member| member.user_id)
            .filter(|id| *id != user_id)
            .collect();
        Ok(Some(others))
    }

    /// The oldest a message may be and still be edited, when an edit window is set.
    pub(super) fn edit_window_start(&self) -> Option<chrono::DateTime<Utc>> {
        let window = chrono::Duration::from_std(self.limits().edit_window?).ok()?;
        Some(Utc::now() - window)
    }

    /// What every write into a room asks of its writer (a delete excepted: a muted user
    /// may still take back their words): not muted there, and, in a DM, blocked by none
    /// of `dm_others`. Asked at each write; on a node of its own, the store's "yes" is kept
    /// for a second ([`super::permits`]), and a mute or a block forgets it, so it takes
    /// effect on the next write.
    ///
    /// # Errors
    /// `forbidden`, saying why; store failures.
    pub(super) async fn unless_silenced(
        &self,
        user_id: i64,
        room: &str,
        room_id: i64,
        dm_others: Option<&[i64]>,
    ) -> Result<(), ChatError> {
        // Linked to other nodes, a mute or block may be made through any of them, and this
        // node would learn of it too late to refuse the next write: ask the store each time.
        let pending = if self.cluster().is_linked() {
            None
        } else {
            let permits = self.write_permits();
            match permits.check(room_id, user_id, Instant::now()) {
                Ok(()) => return Ok(()),
                Err(started) => Some((permits, started)),
            }
        };
        let store = self.store();
        if let Some(mute) = store
            .restriction(room_id, user_id, Restriction::Mute, Utc::now())
            .await?
        {
            return Err(ChatError::Forbidden(super::client::restricted(
                "muted in", room, &mute,
            )));
        }
        if let Some(others) = dm_others
            && !store.blockers_of(user_id, others).await?.is_empty()
        {
            return Err(ChatError::Forbidden(
                "not delivered: someone in this conversation has blocked you".into(),
            ));
        }
        if let Some((permits, started)) = pending {
            permits.grant(room_id, user_id, started, Instant::now());
        }
        Ok(())
    }

    /// Changes a message of a room the user is a member of, through the writer, and
    /// answers the message as it is after (unchanged when it already was so).
    ///
    /// # Errors
    /// `not_found` for a room the user may not see or a message it does not hold,
    /// `not_member`, `forbidden` (not the author, muted, blocked), `invalid`, store
    /// failures.
    pub async fn change_message(
        &self,
        user_id: i64,
        name: &RoomName,
        message_id: i64,
        request: ChangeRequest,
    ) -> Result<MessageRecord, ChatError> {
        let room = self
            .visible_room(user_id, name)
            .await?
            .ok_or_else(|| ChatError::NotFound(format!("no room named '{}'", name.as_ref())))?;
        let store = self.store();
        let Some(role) = store.role_in(user_id, room.id).await? else {
            return Err(ChatError::NotMember(room.name));
        };
        let kind = match request {
            ChangeRequest::Delete => ChangeKind::Delete {
                any_author: matches!(role, Role::Owner | Role::Admin),
            },
            ChangeRequest::Edit { text, client_id } => ChangeKind::Edit {
                text,
                client_id,
                sent_after: self.edit_window_start(),
            },
            ChangeRequest::React { emoji, add } => ChangeKind::React { emoji, add },
        };
        if !matches!(kind, ChangeKind::Delete { .. }) {
            let others = self.dm_others(&room, user_id).await?;
            self.unless_silenced(user_id, &room.name, room.id, others.as_deref())
                .await?;
        }
        let change = MessageChange {
            room_id: room.id,
            message_id,
            user_id,
            at: Utc::now(),
            kind,
        };
        // Who changed it, as the room's `message_updated` says.
        let username = store
            .get_user(user_id)
            .await?
            .ok_or_else(|| ChatError::NotFound("no such user".into()))?
            .username;
        let (answer, outcome) = oneshot::channel();
        let request = CommitRequest {
            write: MessageWrite::Change(change),
            room: room.name,
            by: username,
            sender: None,
            reply_to: None,
            answer: Some(answer),
        };
        self.commits()
            .send(request)
            .await
            .map_err(|_| ChatError::Unavailable)?;
        match outcome.await.map_err(|_| ChatError::Unavailable)?? {
            MessageWritten::Changed { record, .. } => Ok(record),
            MessageWritten::Refused(refusal) => Err(refusal.into()),
            MessageWritten::Appended { .. } => Err(ChatError::Internal),
        }
    }
}
