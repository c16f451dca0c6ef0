//! Who may moderate whom, and what a moderation does live (issue 18).
//!
//! The rules, checked here for every surface:
//! - Only a room's admins and owner moderate, and only people below them: an admin acts on
//!   members, the owner on admins and members; nobody acts on the owner or on themselves.
//! - Inviting is for admins and the owner, of people who are neither members nor banned.
//! - Roles are the owner's to give (`admin` or `member`), to members only.
//! - A DM has a fixed set of people and no moderation.
//!
//! A kick or ban takes the room away from every connection of the user on every node at
//! once (`left`), after a `member` frame that tells the room, the user included, what
//! happened and why. A mute is checked at each send and `typing`.

use chrono::{DateTime, SecondsFormat, Utc};
use sala_proto::api::Room;
use sala_proto::frames::{MemberChange, ServerFrame};
use sala_store::{
    Moderation, ModerationAction, Role, RoomKind, RoomRecord, StoreError, UserRecord,
};

use super::Chat;
use crate::cluster::hub::{Event, Skip};
use crate::domain::RoomName;
use crate::wire;

/// Why a moderation was refused.
#[derive(Debug, thiserror::Error)]
pub enum ModerationError {
    /// The room, or the user named, does not exist (or the room is hidden from the actor).
    #[error("{0}")]
    NotFound(String),
    /// The actor's role does not allow it.
    #[error("{0}")]
    Forbidden(String),
    /// The request makes no sense (yourself, a non-member's role, a DM, ...).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A moderation as asked: what, of whom, why, until when.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub room: &'a RoomName,
    pub target: &'a str,
    pub action: ModerationAction,
    pub reason: Option<&'a str>,
    pub until: Option<DateTime<Utc>>,
}

impl Chat {
    /// Carries out `request` by `actor`, if the rules allow it, and tells whom it concerns.
    /// Returns whether anything changed (a repeated kick or unban changes nothing).
    ///
    /// # Errors
    /// See [`ModerationError`].
    pub async fn moderate(
        &self,
        actor: &UserRecord,
        request: Request<'_>,
    ) -> Result<bool, ModerationError> {
        let room = self
            .visible_room(actor.id, request.room)
            .await?
            .ok_or_else(|| {
                ModerationError::NotFound(format!("no room named '{}'", request.room.as_ref()))
            })?;
        if room.kind == RoomKind::Dm {
            return Err(ModerationError::Invalid(
                "a DM has a fixed set of people and no moderators".into(),
            ));
        }
        let target = self
            .store()
            .find_user_by_username(request.target)
            .await?
            .ok_or_else(|| {
                ModerationError::NotFound(format!("no user named '{}'", request.target))
            })?;
        if target.id == actor.id {
            return Err(ModerationError::Invalid(
                "you cannot do that to yourself".into(),
            ));
        }
        let actor_role = self.store().role_in(actor.id, room.id).await?;
        let target_role = self.store().role_in(target.id, room.id).await?;
        let members_invite = room.kind == RoomKind::Private && room.members_invite;
        allowed(request.action, actor_role, target_role, members_invite)?;
        if request.action == ModerationAction::Invite
            && self
                .store()
                .restriction(room.id, target.id, sala_store::Restriction::Ban, Utc::now())
                .await?
                .is_some()
        {
            return Err(ModerationError::Invalid(format!(
                "{} is banned from this room; lift the ban first",
                target.username
            )));
        }
        let changed = self
            .store()
            .moderate(Moderation {
                room_id: room.id,
                actor: actor.id,
                target: target.id,
                action: request.action,
                reason: request.reason,
                expires_at: request.until,
                at: Utc::now(),
            })
            .await?;
        if changed {
            // A mute (or a ban, a kick) is in force from the target's next write here.
            self.write_permits().forget(room.id, target.id);
            self.tell(&room, actor, &target, &request).await?;
            tracing::info!(room = %room.name, actor = actor.id, target = target.id,
                action = request.action.audit_name(), "moderation");
        }
        Ok(changed)
    }

    /// Replaces the topic of a room `actor` is an admin or the owner of, and tells the room.
    ///
    /// # Errors
    /// The room hidden or unknown, a DM, the actor not an admin, or the store failing.
    pub async fn set_topic(
        &self,
        actor: i64,
        room: &RoomName,
        topic: Option<&str>,
    ) -> Result<Room, ModerationError> {
        let record = self.visible_room(actor, room).await?.ok_or_else(|| {
            ModerationError::NotFound(format!("no room named '{}'", room.as_ref()))
        })?;
        if record.kind == RoomKind::Dm {
            return Err(ModerationError::Invalid("a DM has no topic".into()));
        }
        let role = self.store().role_in(actor, record.id).await?;
        if role.is_none_or(|role| role < Role::Admin) {
            return Err(ModerationError::Forbidden(
                "only the room's admins and owner may change its topic".into(),
            ));
        }
        let updated = self.store().set_topic(record.id, topic).await?;
        let room = self.room_object(updated).await?;
        let event = Event::new(ServerFrame::RoomUpdated { room: room.clone() });
        self.cluster().broadcast(&room.name, &event, Skip::Nobody);
        tracing::info!(room = %room.name, actor, "topic changed");
        Ok(room)
    }

    /// Lets every member of a private room invite, or only its admins and owner: the
    /// admins' and owner's to set.
    ///
    /// # Errors
    /// The room hidden or unknown, not private, the actor not an admin, or the store failing.
    pub async fn set_members_invite(
        &self,
        actor: i64,
        room: &RoomName,
        allowed_to: bool,
    ) -> Result<Room, ModerationError> {
        let record = self.visible_room(actor, room).await?.ok_or_else(|| {
            ModerationError::NotFound(format!("no room named '{}'", room.as_ref()))
        })?;
        if record.kind != RoomKind::Private {
            return Err(ModerationError::Invalid(
                "only a private room has this setting".into(),
            ));
        }
        let role = self.store().role_in(actor, record.id).await?;
        if role.is_none_or(|role| role < Role::Admin) {
            return Err(ModerationError::Forbidden(
                "only the room's admins and owner may change who invites".into(),
            ));
        }
        self.store()
            .set_members_invite(record.id, allowed_to)
            .await?;
        let updated = self
            .store()
            .get_room(&record.name)
            .await?
            .ok_or(StoreError::NotFound)?;
        let room = self.room_object(updated).await?;
        let event = Event::new(ServerFrame::RoomUpdated { room: room.clone() });
        self.cluster().broadcast(&room.name, &event, Skip::Nobody);
        Ok(room)
    }

    /// Archives a room of which `actor` is the owner: it is gone for everyone at once, on
    /// every node (`room_removed` to each member's connections, which leave it).
    ///
    /// # Errors
    /// The room hidden or unknown, a DM, the actor not its owner, or the store failing.
    pub async fn archive_room(
        &self,
        actor: &UserRecord,
        room: &RoomName,
    ) -> Result<(), ModerationError> {
        let record = self.visible_room(actor.id, room).await?.ok_or_else(|| {
            ModerationError::NotFound(format!("no room named '{}'", room.as_ref()))
        })?;
        if record.kind == RoomKind::Dm {
            return Err(ModerationError::Invalid("a DM cannot be archived".into()));
        }
        if self.store().role_in(actor.id, record.id).await? != Some(Role::Owner) {
            return Err(ModerationError::Forbidden(
                "only the room's owner may archive it".into(),
            ));
        }
        let members = self.store().room_members(record.id, None, u32::MAX).await?;
        if !self.store().archive_room(record.id, Utc::now()).await? {
            return Ok(());
        }
        let event = Event::new(ServerFrame::RoomRemoved {
            room: record.name.clone(),
            by: actor.username.clone(),
        });
        for member in &members {
            self.cluster().send_to_user(member.user_id, &event, None);
            self.cluster().leave(member.user_id, &record.name, None);
        }
        tracing::info!(room = %record.name, actor = actor.id, "room archived");
        Ok(())
    }

    /// What a moderation does live, on every node.
    async fn tell(
        &self,
        room: &RoomRecord,
        actor: &UserRecord,
        target: &UserRecord,
        request: &Request<'_>,
    ) -> Result<(), StoreError> {
        let change = match request.action {
            ModerationAction::Invite => {
                let event = Event::new(ServerFrame::Invited {
                    room: self.room_object(room.clone()).await?,
                    by: actor.username.clone(),
                });
                self.cluster().send_to_user(target.id, &event, None);
                return Ok(());
            }
            ModerationAction::Kick => MemberChange::Kicked,
            ModerationAction::Ban => MemberChange::Banned,
            ModerationAction::Unban => MemberChange::Unbanned,
            ModerationAction::Mute => MemberChange::Muted,
            ModerationAction::Unmute => MemberChange::Unmuted,
            ModerationAction::SetRole(_) => MemberChange::RoleChanged,
        };
        let event = Event::new(ServerFrame::Member {
            room: room.name.clone(),
            user: target.username.clone(),
            change,
            role: match request.action {
                ModerationAction::SetRole(role) => Some(wire::role(role)),
                _ => None,
            },
            by: actor.username.clone(),
            reason: request.reason.map(str::to_owned),
            until: request
                .until
                .map(|until| until.to_rfc3339_opts(SecondsFormat::Millis, true)),
        });
        if matches!(
            request.action,
            ModerationAction::Kick | ModerationAction::Ban
        ) {
            // The user hears it on every connection, in the room or not, once; then the
            // room is taken away from all of them, on every node.
            self.cluster()
                .broadcast(&room.name, &event, Skip::User(target.id));
            self.cluster().send_to_user(target.id, &event, None);
            self.cluster().leave(target.id, &room.name, None);
        } else {
            self.cluster().broadcast(&room.name, &event, Skip::Nobody);
        }
        Ok(())
    }
}

/// Whether an actor of `actor` role may do `action` to someone of `target` role (`None`:
/// not a member), in a room whose members may all invite or not.
fn allowed(
    action: ModerationAction,
    actor: Option<Role>,
    target: Option<Role>,
    members_invite: bool,
) -> Result<(), ModerationError> {
    let forbidden = |why: &str| Err(ModerationError::Forbidden(why.to_owned()));
    if action == ModerationAction::Invite && members_invite && actor.is_some() {
        return match target {
            Some(_) => Err(ModerationError::Invalid("already a member".into())),
            None => Ok(()),
        };
    }
    let Some(actor) = actor.filter(|role| *role >= Role::Admin) else {
        return forbidden("only the room's admins and owner may do that");
    };
    match action {
        ModerationAction::Invite => match target {
            Some(_) => Err(ModerationError::Invalid("already a member".into())),
            None => Ok(()),
        },
        ModerationAction::SetRole(role) => {
            if actor != Role::Owner {
                return forbidden("only the owner gives roles");
            }
            if role == Role::Owner {
                return Err(ModerationError::Invalid("a room has one owner".into()));
            }
            match target {
                None => Err(ModerationError::Invalid("not a member of this room".into())),
                Some(_) => Ok(()),
            }
        }
        _ => {
            if target.unwrap_or(Role::Member) >= actor {
                return forbidden("you may act only on members below your role");
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ModerationAction::{Ban, Invite, Kick, SetRole};

    #[test]
    fn members_invite_where_the_room_allows_it_and_only_there() {
        assert!(allowed(Invite, Some(Role::Member), None, true).is_ok());
        assert!(allowed(Invite, Some(Role::Member), None, false).is_err());
        assert!(allowed(Invite, None, None, true).is_err(), "not a member");
        assert!(allowed(Invite, Some(Role::Member), Some(Role::Member), true).is_err());
        assert!(allowed(Kick, Some(Role::Member), Some(Role::Member), true).is_err());
    }

    #[test]
    fn moderators_act_only_below_themselves() {
        let cases = [
            (Kick, None, Some(Role::Member), false),
            (Kick, Some(Role::Member), Some(Role::Owner), false),
            (Ban, Some(Role::Admin), Some(Role::Owner), false),
            (Ban, Some(Role::Admin), Some(Role::Admin), false),
            (Ban, Some(Role::Admin), Some(Role::Member), true),
            (Ban, Some(Role::Admin), None, true),
            (Ban, Some(Role::Owner), Some(Role::Admin), true),
            (
                SetRole(Role::Admin),
                Some(Role::Admin),
                Some(Role::Member),
                false,
            ),
            (SetRole(Role::Admin), Some(Role::Owner), None, false),
            (
                SetRole(Role::Owner),
                Some(Role::Owner),
                Some(Role::Member),
                false,
            ),
            (
                SetRole(Role::Admin),
                Some(Role::Owner),
                Some(Role::Member),
                true,
            ),
            (Invite, Some(Role::Member), None, false),
            (Invite, Some(Role::Admin), Some(Role::Member), false),
            (Invite, Some(Role::Admin), None, true),
        ];
        for (action, actor, target, ok) in cases {
            assert_eq!(
                allowed(action, actor, target, false).is_ok(),
                ok,
                "{action:?} by {actor:?} on {target:?}"
            );
        }
    }
}
