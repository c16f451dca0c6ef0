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

use crate::MysqlStore;
use crate::error::{is_duplicate_on, map_err};
use crate::literal::Sql;

/// The case-folded text that room search matches against.
fn room_search_text(name: &str, topic: Option<&str>) -> String {
    fold_key(&format!("{name}\n{}", topic.unwrap_or_default()))
}

impl MysqlStore {
    async fn room_by_id(&self, room_id: i64) -> Result<RoomRecord, StoreError> {
        const SQL: &str = concat!(room_select!(), "WHERE r.id = ?");
        let row: RoomRow = sqlx::query_as(SQL)
            .bind(room_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?;
        row.try_into()
    }
}

#[async_trait]
impl RoomStore for MysqlStore {
    async fn create_room(&self, room: NewRoom<'_>) -> Result<RoomRecord, StoreError> {
        if room.kind == RoomKind::Dm {
            return Err(StoreError::Backend("a DM is opened with open_dm".into()));
        }
        // The room and its owner's membership together.
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let done = sqlx::query(
            "INSERT INTO rooms (name, kind, topic, search_text, created_by, created_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(room.name)
        .bind(room.kind.as_str())
        .bind(room.topic)
        .bind(room_search_text(room.name, room.topic))
        .bind(room.created_by)
        .bind(millis(room.created_at))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        let room_id = i64::try_from(done.last_insert_id())
            .map_err(|err| StoreError::Backend(Box::new(err)))?;
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
        self.room_by_id(room_id).await
    }

    async fn ensure_room(&self, room: NewRoom<'_>) -> Result<RoomRecord, StoreError> {
        // When another node inserts the same name at the same moment, the insert waits for
        // its commit and then meets the name: the select that follows sees that room.
        let inserted = sqlx::query(
            "INSERT INTO rooms (name, kind, topic, search_text, created_by, created_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(room.name)
        .bind(room.kind.as_str())
        .bind(room.topic)
        .bind(room_search_text(room.name, room.topic))
        .bind(room.created_by)
        .bind(millis(room.created_at))
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => {}
            Err(err) if is_duplicate_on(&err, "rooms_name_unique") => {}
            Err(err) => return Err(map_err(err)),
        }
        self.get_room(room.name).await?.ok_or(StoreError::NotFound)
    }

    async fn get_room(&self, name: &str) -> Result<Option<RoomRecord>, StoreError> {
        const SQL: &str = concat!(room_select!(), "WHERE r.name = ? AND r.archived_at IS NULL");
        let row: Option<RoomRow> = sqlx::query_as(SQL)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.map(RoomRecord::try_from).transpose()
    }

    async fn open_dm(&self, dm: NewDm<'_>) -> Result<(RoomRecord, bool), StoreError> {
        let key = dm_key(dm.members);
        let members = distinct(dm.members);
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        // Two nodes opening the same DM at once: the second insert waits for the first's
        // commit, then meets its key, and the select below finds the first's room.
        let made = match sqlx::query(
            "INSERT INTO rooms (name, kind, search_text, dm_key, created_by, created_at) \
             VALUES (?, 'dm', '', ?, ?, ?)",
        )
        .bind(dm.name)
        .bind(&key)
        .bind(dm.created_by)
        .bind(millis(dm.created_at))
        .execute(&mut *tx)
        .await
        {
            Ok(_) => true,
            Err(err) if is_duplicate_on(&err, "rooms_by_dm_key") => false,
            Err(err) => return Err(map_err(err)),
        };
        let (room_id,): (i64,) = sqlx::query_as("SELECT id FROM rooms WHERE dm_key = ?")
            .bind(&key)
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
        if !members.is_empty() {
            // A membership already there stays as it is (its read marker, its role).
            let mut sql = Sql::new("INSERT INTO memberships (user_id, room_id, joined_at) VALUES ");
            for (at, member) in members.iter().enumerate() {
                sql.push(if at == 0 { "(" } else { ", (" })
                    .int(*member)
                    .push(", ")
                    .int(room_id)
                    .push(", ")
                    .int(millis(dm.created_at))
                    .push(")");
            }
            sql.push(" ON DUPLICATE KEY UPDATE user_id = memberships.user_id");
            sql.execute(&mut *tx).await?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok((self.room_by_id(room_id).await?, made))
    }

    async fn set_topic(&self, room_id: i64, topic: Option<&str>) -> Result<RoomRecord, StoreError> {
        let done = sqlx::query(
            "UPDATE rooms SET topic = ?, search_text = CONCAT(name, CHAR(10 USING utf8mb4), ?) \
             WHERE id = ? AND kind <> 'dm'",
        )
        .bind(topic)
        .bind(fold_key(topic.unwrap_or_default()))
        .bind(room_id)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.room_by_id(room_id).await
    }

    async fn archive_room(&self, room_id: i64, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE rooms SET archived_at = ? \
             WHERE id = ? AND archived_at IS NULL AND kind <> 'dm'",
        )
        .bind(millis(at))
        .bind(room_id)
        .execute(&self.pool)
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
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn role_in(&self, user_id: i64, room_id: i64) -> Result<Option<Role>, StoreError> {
        let role: Option<(String,)> =
            sqlx::query_as("SELECT role FROM memberships WHERE user_id = ? AND room_id = ?")
                .bind(user_id)
                .bind(room_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(map_err)?;
        role.map(|(role,)| parse_role(&role)).transpose()
    }

    async fn set_role(&self, user_id: i64, room_id: i64, role: Role) -> Result<bool, StoreError> {
        // rows_affected counts the rows matched (sqlx asks for CLIENT_FOUND_ROWS), as on
        // PostgreSQL, so setting the role a member has is still `true`.
        let done = sqlx::query("UPDATE memberships SET role = ? WHERE user_id = ? AND room_id = ?")
            .bind(role.as_str())
            .bind(user_id)
            .bind(room_id)
            .execute(&self.pool)
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
        let after = after.map(fold_key);
        let rows: Vec<RoomMemberRow> = sqlx::query_as(
            "SELECT u.id AS user_id, u.username, m.role, u.busy, u.status_note \
             FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.room_id = ? AND (? IS NULL OR u.username_key > ?) \
             ORDER BY u.username_key LIMIT ?",
        )
        .bind(room_id)
        .bind(&after)
        .bind(&after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.into_iter().map(RoomMember::try_from).collect()
    }

    async fn list_rooms(&self, query: RoomQuery<'_>) -> Result<Vec<RoomRecord>, StoreError> {
        // LOCATE() rather than LIKE: the search string is matched literally, so `%` and `_`
        // typed by a user are just characters. Names compare and sort by code point (the
        // binary collation, as SQLite does), so the `after_name` cursor pages alike.
        const SQL: &str = concat!(
            room_select!(),
            "WHERE (? IS NULL OR LOCATE(?, r.search_text) > 0) \
             AND (? IS NULL OR r.name > ?) \
             AND (r.kind = 'public' OR (r.kind = 'private' AND EXISTS \
               (SELECT 1 FROM memberships m WHERE m.room_id = r.id AND m.user_id = ?))) \
             AND r.archived_at IS NULL \
             ORDER BY r.name LIMIT ?"
        );
        let search = query.search.map(fold_key);
        let rows: Vec<RoomRow> = sqlx::query_as(SQL)
            .bind(&search)
            .bind(&search)
            .bind(query.after_name)
            .bind(query.after_name)
            .bind(query.viewer)
            .bind(i64::from(query.limit))
            .fetch_all(&self.pool)
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
        // The membership, and the invite it uses up, together.
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        sqlx::query("DELETE FROM room_invites WHERE user_id = ? AND room_id = ?")
            .bind(user_id)
            .bind(room_id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        sqlx::query(
            "INSERT INTO memberships (user_id, room_id, joined_at) VALUES (?, ?, ?) \
             ON DUPLICATE KEY UPDATE user_id = memberships.user_id",
        )
        .bind(user_id)
        .bind(room_id)
        .bind(millis(at))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }

    async fn remove_member(&self, user_id: i64, room_id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM memberships WHERE user_id = ? AND room_id = ?")
            .bind(user_id)
            .bind(room_id)
            .execute(&self.pool)
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
                AND (x.user_id <> m.user_id OR x.assistant)) AS unread, \
             (SELECT COUNT(*) FROM messages x WHERE x.room_id = r.id AND x.id > m.last_read \
                AND x.deleted_at IS NULL AND x.user_id <> m.user_id \
                AND (x.mentions_room OR EXISTS (SELECT 1 FROM message_mentions mm \
                  WHERE mm.message_id = x.id AND mm.user_id = m.user_id))) AS unread_mentions \
             FROM memberships m JOIN rooms r ON r.id = m.room_id \
             LEFT JOIN users u ON u.id = r.created_by \
             WHERE m.user_id = ? AND r.archived_at IS NULL ORDER BY r.name",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.into_iter().map(MemberRoomRecord::try_from).collect()
    }

    async fn busy_members(&self, room_id: i64, limit: u32) -> Result<Vec<BusyMember>, StoreError> {
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT u.username, u.status_note FROM users u \
             WHERE u.busy AND EXISTS \
               (SELECT 1 FROM memberships m WHERE m.user_id = u.id AND m.room_id = ?) \
             ORDER BY u.username_key LIMIT ?",
        )
        .bind(room_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(rows
            .into_iter()
            .map(|(username, note)| BusyMember { username, note })
            .collect())
    }

    async fn set_quiet(&self, user_id: i64, room_id: i64, quiet: bool) -> Result<(), StoreError> {
        let done =
            sqlx::query("UPDATE memberships SET quiet = ? WHERE user_id = ? AND room_id = ?")
                .bind(quiet)
                .bind(user_id)
                .bind(room_id)
                .execute(&self.pool)
                .await
                .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn mark_read(&self, user_id: i64, room_id: i64, id: i64) -> Result<i64, StoreError> {
        // Never back, never past the room's newest message. One UPDATE, so two nodes marking
        // at once serialise on the row and the larger marker wins; read back in the same
        // transaction, under the row's lock.
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let done = sqlx::query(
            "UPDATE memberships SET last_read = GREATEST(last_read, \
               LEAST(?, (SELECT COALESCE(MAX(id), 0) FROM messages WHERE room_id = ?))) \
             WHERE user_id = ? AND room_id = ?",
        )
        .bind(id)
        .bind(room_id)
        .bind(user_id)
        .bind(room_id)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let (last_read,): (i64,) =
            sqlx::query_as("SELECT last_read FROM memberships WHERE user_id = ? AND room_id = ?")
                .bind(user_id)
                .bind(room_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(last_read)
    }
}
