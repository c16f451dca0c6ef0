//! Rooms, their search, and memberships with their read markers.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sala_store::rows::{
    MemberRoomRow, RoomMemberRow, RoomRow, distinct, dm_key, millis, parse_role,
};
use sala_store::{
    BusyMember, MemberRoomRecord, NewDm, NewRoom, Role, RoomKind, RoomMember, RoomQuery,
    RoomRecord, RoomStore, StoreError, fold_key,
};
use sqlx::SqlitePool;

use crate::error::map_err;
use crate::{SqliteStore, only_row, rows};

/// The case-folded text that room search matches against.
fn room_search_text(name: &str, topic: Option<&str>) -> String {
    fold_key(&format!("{name}\n{}", topic.unwrap_or_default()))
}

#[async_trait]
impl RoomStore for SqliteStore {
    async fn create_room(&self, room: NewRoom<'_>) -> Result<RoomRecord, StoreError> {
        if room.kind == RoomKind::Dm {
            return Err(StoreError::Backend("a DM is opened with open_dm".into()));
        }
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_err)?;
        let (room_id,): (i64,) = sqlx::query_as(
            "INSERT INTO rooms (name, kind, topic, search_text, created_by, created_at) \
             VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(room.name)
        .bind(room.kind.as_str())
        .bind(room.topic)
        .bind(room_search_text(room.name, room.topic))
        .bind(room.created_by)
        .bind(millis(room.created_at))
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)?;
        if let Some(owner) = room.created_by {
            sqlx::query(
                "INSERT INTO memberships (user_id, room_id, joined_at, role) \
                 VALUES (?, ?, ?, 'owner')",
            )
            .bind(owner)
            .bind(room_id)
            .bind(millis(room.created_at))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)?;
        self.room_by_name(&self.writer, room.name).await
    }

    async fn ensure_room(&self, room: NewRoom<'_>) -> Result<RoomRecord, StoreError> {
        sqlx::query(
            "INSERT INTO rooms (name, kind, topic, search_text, created_by, created_at) \
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
        )
        .bind(room.name)
        .bind(room.kind.as_str())
        .bind(room.topic)
        .bind(room_search_text(room.name, room.topic))
        .bind(room.created_by)
        .bind(millis(room.created_at))
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        self.room_by_name(&self.writer, room.name).await
    }

    async fn get_room(&self, name: &str) -> Result<Option<RoomRecord>, StoreError> {
        const SQL: &str = concat!(room_select!(), "WHERE r.name = ? AND r.archived_at IS NULL");
        let name = name.to_owned();
        let row = self
            .read(move |connection| rows::first(connection, SQL, [name], rows::room_row))
            .await?;
        row.map(RoomRecord::try_from).transpose()
    }

    async fn open_dm(&self, dm: NewDm<'_>) -> Result<(RoomRecord, bool), StoreError> {
        let key = dm_key(dm.members);
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_err)?;
        let made = sqlx::query(
            "INSERT INTO rooms (name, kind, search_text, dm_key, created_by, created_at) \
             VALUES (?, 'dm', '', ?, ?, ?) ON CONFLICT (dm_key) WHERE dm_key IS NOT NULL DO NOTHING",
        )
        .bind(dm.name)
        .bind(&key)
        .bind(dm.created_by)
        .bind(millis(dm.created_at))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?
        .rows_affected()
            > 0;
        let (room_id,): (i64,) = sqlx::query_as("SELECT id FROM rooms WHERE dm_key = ?")
            .bind(&key)
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
        for member in distinct(dm.members) {
            sqlx::query(
                "INSERT INTO memberships (user_id, room_id, joined_at) VALUES (?, ?, ?) \
                 ON CONFLICT (user_id, room_id) DO NOTHING",
            )
            .bind(member)
            .bind(room_id)
            .bind(millis(dm.created_at))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)?;
        const SQL: &str = concat!(room_select!(), "WHERE r.id = ?");
        let row: RoomRow = sqlx::query_as(SQL)
            .bind(room_id)
            .fetch_one(&self.writer)
            .await
            .map_err(map_err)?;
        Ok((row.try_into()?, made))
    }

    async fn set_topic(&self, room_id: i64, topic: Option<&str>) -> Result<RoomRecord, StoreError> {
        let (name,): (String,) = sqlx::query_as(
            "UPDATE rooms SET topic = ?, search_text = name || char(10) || ? \
             WHERE id = ? AND kind <> 'dm' RETURNING name",
        )
        .bind(topic)
        .bind(fold_key(topic.unwrap_or_default()))
        .bind(room_id)
        .fetch_optional(&self.writer)
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
        const SQL: &str = concat!(room_select!(), "WHERE r.name = ?");
        let row: RoomRow = sqlx::query_as(SQL)
            .bind(name)
            .fetch_one(&self.writer)
            .await
            .map_err(map_err)?;
        row.try_into()
    }

    async fn archive_room(&self, room_id: i64, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE rooms SET archived_at = ? \
             WHERE id = ? AND archived_at IS NULL AND kind <> 'dm'",
        )
        .bind(millis(at))
        .bind(room_id)
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn set_members_invite(&self, room_id: i64, allowed: bool) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE rooms SET members_invite = ? \
             WHERE id = ? AND kind = 'private' AND archived_at IS NULL",
        )
        .bind(allowed)
        .bind(room_id)
        .execute(&self.writer)
        .await
        .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn role_in(&self, user_id: i64, room_id: i64) -> Result<Option<Role>, StoreError> {
        let role: Option<String> = self
            .read(move |connection| {
                rows::first(
                    connection,
                    "SELECT role FROM memberships WHERE user_id = ? AND room_id = ?",
                    [user_id, room_id],
                    |row| row.get(0),
                )
            })
            .await?;
        role.map(|role| parse_role(&role)).transpose()
    }

    async fn set_role(&self, user_id: i64, room_id: i64, role: Role) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE memberships SET role = ? WHERE user_id = ? AND room_id = ?")
            .bind(role.as_str())
            .bind(user_id)
            .bind(room_id)
            .execute(&self.writer)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn room_members(
        &self,
        room_id: i64,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RoomMember>, StoreError> {
        let rows: Vec<RoomMemberRow> = sqlx::query_as(
            "SELECT u.id AS user_id, u.username, m.role, u.busy, u.status_note \
             FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.room_id = ?1 AND (?2 IS NULL OR u.username_key > ?2) \
             ORDER BY u.username_key LIMIT ?3",
        )
        .bind(room_id)
        .bind(after.map(fold_key))
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await
        .map_err(map_err)?;
        rows.into_iter().map(RoomMember::try_from).collect()
    }

    async fn list_rooms(&self, query: RoomQuery<'_>) -> Result<Vec<RoomRecord>, StoreError> {
        // instr() rather than LIKE: the search string is matched literally, so `%` and `_`
        // typed by a user are just characters.
        const SQL: &str = concat!(
            room_select!(),
            "WHERE (?1 IS NULL OR instr(r.search_text, ?1) > 0) \
             AND (?2 IS NULL OR r.name > ?2) \
             AND (r.kind = 'public' OR (r.kind = 'private' AND EXISTS \
               (SELECT 1 FROM memberships m WHERE m.room_id = r.id AND m.user_id = ?4))) \
             AND r.archived_at IS NULL \
             ORDER BY r.name LIMIT ?3"
        );
        let rows: Vec<RoomRow> = sqlx::query_as(SQL)
            .bind(query.search.map(fold_key))
            .bind(query.after_name)
            .bind(i64::from(query.limit))
            .bind(query.viewer)
            .fetch_all(&self.readers)
            .await
            .map_err(map_err)?;
        rows.into_iter().map(RoomRecord::try_from).collect()
    }

    async fn add_member(
        &self,
        user_id: i64,
        room_id: i64,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // Every join of a room asks this, and nearly always of a member already: a read
        // says so without taking the write lock (a member never has an invite pending).
        if self.role_in(user_id, room_id).await?.is_some() {
            return Ok(());
        }
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_err)?;
        sqlx::query(
            "INSERT INTO memberships (user_id, room_id, joined_at) VALUES (?, ?, ?) \
             ON CONFLICT (user_id, room_id) DO NOTHING",
        )
        .bind(user_id)
        .bind(room_id)
        .bind(millis(at))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        sqlx::query("DELETE FROM room_invites WHERE room_id = ? AND user_id = ?")
            .bind(room_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)
    }

    async fn remove_member(&self, user_id: i64, room_id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM memberships WHERE user_id = ? AND room_id = ?")
            .bind(user_id)
            .bind(room_id)
            .execute(&self.writer)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn member_rooms(&self, user_id: i64) -> Result<Vec<MemberRoomRecord>, StoreError> {
        let rows: Vec<MemberRoomRow> = sqlx::query_as(
            "SELECT r.id, r.name, r.kind, r.members_invite, r.topic, u.username AS created_by, r.created_at, \
             m.role, m.last_read, m.quiet, \
             (SELECT COUNT(*) FROM messages x WHERE x.room_id = r.id AND x.id > m.last_read \
                AND x.deleted_at IS NULL \
                AND (x.user_id <> m.user_id OR x.assistant <> 0)) AS unread, \
             (SELECT COUNT(*) FROM messages x WHERE x.room_id = r.id AND x.id > m.last_read \
                AND x.deleted_at IS NULL AND x.user_id <> m.user_id \
                AND (x.mentions_room <> 0 OR EXISTS (SELECT 1 FROM message_mentions mm \
                  WHERE mm.message_id = x.id AND mm.user_id = m.user_id))) AS unread_mentions \
             FROM memberships m JOIN rooms r ON r.id = m.room_id \
             LEFT JOIN users u ON u.id = r.created_by \
             WHERE m.user_id = ? AND r.archived_at IS NULL ORDER BY r.name",
        )
        .bind(user_id)
        .fetch_all(&self.readers)
        .await
        .map_err(map_err)?;
        rows.into_iter().map(MemberRoomRecord::try_from).collect()
    }

    async fn busy_members(&self, room_id: i64, limit: u32) -> Result<Vec<BusyMember>, StoreError> {
        self.read(move |connection| {
            rows::all(
                connection,
                "SELECT u.username, u.status_note FROM users u \
                 WHERE u.busy <> 0 AND EXISTS \
                   (SELECT 1 FROM memberships m WHERE m.user_id = u.id AND m.room_id = ?) \
                 ORDER BY u.username_key LIMIT ?",
                [room_id, i64::from(limit)],
                |row| {
                    Ok(BusyMember {
                        username: row.get(0)?,
                        note: row.get(1)?,
                    })
                },
            )
        })
        .await
    }

    async fn set_quiet(&self, user_id: i64, room_id: i64, quiet: bool) -> Result<(), StoreError> {
        let done =
            sqlx::query("UPDATE memberships SET quiet = ? WHERE user_id = ? AND room_id = ?")
                .bind(quiet)
                .bind(user_id)
                .bind(room_id)
                .execute(&self.writer)
                .await
                .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn mark_read(&self, user_id: i64, room_id: i64, id: i64) -> Result<i64, StoreError> {
        let marker: Vec<(i64,)> = sqlx::query_as(
            "UPDATE memberships SET last_read = MAX(last_read, \
               MIN(?1, (SELECT COALESCE(MAX(id), 0) FROM messages WHERE room_id = ?3))) \
             WHERE user_id = ?2 AND room_id = ?3 RETURNING last_read",
        )
        .bind(id)
        .bind(user_id)
        .bind(room_id)
        .fetch_all(&self.writer)
        .await
        .map_err(map_err)?;
        only_row(marker).map(|(last_read,)| last_read)
    }
}

impl SqliteStore {
    /// Reads a room through `pool`; the writer is used right after a write so the read sees it.
    async fn room_by_name(&self, pool: &SqlitePool, name: &str) -> Result<RoomRecord, StoreError> {
        const SQL: &str = concat!(room_select!(), "WHERE r.name = ?");
        let row: Option<RoomRow> = sqlx::query_as(SQL)
            .bind(name)
            .fetch_optional(pool)
            .await
            .map_err(map_err)?;
        row.ok_or(StoreError::NotFound)?.try_into()
    }
}
