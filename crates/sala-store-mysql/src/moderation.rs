//! Invites, bans, mutes, role changes, and the record of them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sala_store::rows::{AuditRow, InviteRow, RestrictionRow, millis};
use sala_store::{
    AuditRecord, InviteRecord, Moderation, ModerationAction, ModerationStore, Restriction,
    RestrictionRecord, StoreError,
};
use sqlx::{MySql, Transaction};

use crate::MysqlStore;
use crate::error::{is_duplicate_on, map_err};

#[async_trait]
impl ModerationStore for MysqlStore {
    async fn moderate(&self, m: Moderation<'_>) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let changed = apply(&mut tx, &m).await.map_err(map_err)?;
        if changed {
            sqlx::query(
                "INSERT INTO room_audit \
                 (room_id, actor_id, action, target_id, reason, expires_at, created_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(m.room_id)
            .bind(m.actor)
            .bind(m.action.audit_name())
            .bind(m.target)
            .bind(m.reason)
            .bind(m.expires_at.map(millis))
            .bind(millis(m.at))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(changed)
    }

    async fn restriction(
        &self,
        room_id: i64,
        user_id: i64,
        kind: Restriction,
        now: DateTime<Utc>,
    ) -> Result<Option<RestrictionRecord>, StoreError> {
        let row: Option<RestrictionRow> = sqlx::query_as(
            "SELECT reason, created_at, expires_at FROM room_restrictions \
             WHERE room_id = ? AND user_id = ? AND kind = ? \
             AND (expires_at IS NULL OR expires_at > ?)",
        )
        .bind(room_id)
        .bind(user_id)
        .bind(kind.as_str())
        .bind(millis(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        row.map(RestrictionRecord::try_from).transpose()
    }

    async fn restricted_rooms(
        &self,
        user_id: i64,
        kind: Restriction,
        now: DateTime<Utc>,
    ) -> Result<Vec<i64>, StoreError> {
        let rows: Vec<(i64,)> = sqlx::query_as(
            "SELECT room_id FROM room_restrictions WHERE user_id = ? AND kind = ? \
             AND (expires_at IS NULL OR expires_at > ?) ORDER BY room_id",
        )
        .bind(user_id)
        .bind(kind.as_str())
        .bind(millis(now))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    async fn has_invite(&self, room_id: i64, user_id: i64) -> Result<bool, StoreError> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT 1 FROM room_invites WHERE room_id = ? AND user_id = ?")
                .bind(room_id)
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(map_err)?;
        Ok(row.is_some())
    }

    async fn decline_invite(&self, room_id: i64, user_id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM room_invites WHERE room_id = ? AND user_id = ?")
            .bind(room_id)
            .bind(user_id)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn invites_for(&self, user_id: i64) -> Result<Vec<InviteRecord>, StoreError> {
        let rows: Vec<InviteRow> = sqlx::query_as(
            "SELECT r.id, r.name, r.kind, r.members_invite, r.topic, c.username AS created_by, r.created_at, \
             b.username AS invited_by, i.created_at AS invited_at \
             FROM room_invites i JOIN rooms r ON r.id = i.room_id \
             LEFT JOIN users c ON c.id = r.created_by \
             LEFT JOIN users b ON b.id = i.invited_by \
             WHERE i.user_id = ? AND r.archived_at IS NULL ORDER BY i.created_at DESC, r.name",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.into_iter().map(InviteRecord::try_from).collect()
    }

    async fn audit(
        &self,
        room_id: i64,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT a.id, actor.username AS actor, a.action, target.username AS target, \
             a.reason, a.expires_at, a.created_at \
             FROM room_audit a LEFT JOIN users actor ON actor.id = a.actor_id \
             LEFT JOIN users target ON target.id = a.target_id \
             WHERE a.room_id = ? AND (? IS NULL OR a.id < ?) ORDER BY a.id DESC LIMIT ?",
        )
        .bind(room_id)
        .bind(before)
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.into_iter().map(AuditRecord::try_from).collect()
    }
}

/// The action's own effect; whether it changed anything.
async fn apply(tx: &mut Transaction<'_, MySql>, m: &Moderation<'_>) -> Result<bool, sqlx::Error> {
    let affected = match m.action {
        ModerationAction::Invite => match sqlx::query(
            "INSERT INTO room_invites (room_id, user_id, invited_by, created_at) \
             VALUES (?, ?, ?, ?)",
        )
        .bind(m.room_id)
        .bind(m.target)
        .bind(m.actor)
        .bind(millis(m.at))
        .execute(&mut **tx)
        .await
        {
            Ok(done) => done.rows_affected(),
            // Invited already: nothing changes.
            Err(err) if is_duplicate_on(&err, "PRIMARY") => 0,
            Err(err) => return Err(err),
        },
        ModerationAction::Kick => remove_member(tx, m).await?,
        ModerationAction::Ban | ModerationAction::Mute => {
            let kind = if m.action == ModerationAction::Ban {
                Restriction::Ban
            } else {
                Restriction::Mute
            };
            sqlx::query(
                "INSERT INTO room_restrictions \
                 (room_id, user_id, kind, reason, created_by, created_at, expires_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?) \
                 ON DUPLICATE KEY UPDATE reason = VALUES(reason), \
                 created_by = VALUES(created_by), created_at = VALUES(created_at), \
                 expires_at = VALUES(expires_at)",
            )
            .bind(m.room_id)
            .bind(m.target)
            .bind(kind.as_str())
            .bind(m.reason)
            .bind(m.actor)
            .bind(millis(m.at))
            .bind(m.expires_at.map(millis))
            .execute(&mut **tx)
            .await?;
            if kind == Restriction::Ban {
                remove_member(tx, m).await?;
                sqlx::query("DELETE FROM room_invites WHERE room_id = ? AND user_id = ?")
                    .bind(m.room_id)
                    .bind(m.target)
                    .execute(&mut **tx)
                    .await?;
            }
            1
        }
        ModerationAction::Unban | ModerationAction::Unmute => {
            let kind = if m.action == ModerationAction::Unban {
                Restriction::Ban
            } else {
                Restriction::Mute
            };
            sqlx::query(
                "DELETE FROM room_restrictions WHERE room_id = ? AND user_id = ? AND kind = ?",
            )
            .bind(m.room_id)
            .bind(m.target)
            .bind(kind.as_str())
            .execute(&mut **tx)
            .await?
            .rows_affected()
        }
        ModerationAction::SetRole(role) => sqlx::query(
            "UPDATE memberships SET role = ? WHERE room_id = ? AND user_id = ? AND role <> ?",
        )
        .bind(role.as_str())
        .bind(m.room_id)
        .bind(m.target)
        .bind(role.as_str())
        .execute(&mut **tx)
        .await?
        .rows_affected(),
    };
    Ok(affected > 0)
}

async fn remove_member(
    tx: &mut Transaction<'_, MySql>,
    m: &Moderation<'_>,
) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM memberships WHERE room_id = ? AND user_id = ?")
            .bind(m.room_id)
            .bind(m.target)
            .execute(&mut **tx)
            .await?
            .rows_affected(),
    )
}
