//! Rooms, their search, and memberships with their read markers.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sala_store::rows::{MemberRoomRow, RoomRow, millis};
use sala_store::{
    BusyMember, MemberRoomRecord, NewRoom, RoomQuery, RoomRecord, RoomStore, StoreError, fold_key,
};

use crate::PostgresStore;
use crate::error::map_err;

/// The case-folded text that room search matches against.
fn room_search_text(name: &str, topic: Option<&str>) -> String {
    fold_key(&format!("{name}\n{}", topic.unwrap_or_default()))
}

#[async_trait]
impl RoomStore for PostgresStore {
    async fn create_room(&self, room: NewRoom<'_>) -> Result<RoomRecord, StoreError> {
        // One statement: the insert and the creator's name come back together.
        const SQL: &str = "WITH r AS ( \
               INSERT INTO rooms (name, topic, search_text, created_by, created_at) \
               VALUES ($1, $2, $3, $4, $5) RETURNING * \
             ) \
             SELECT r.id, r.name, r.topic, u.username AS created_by, r.created_at \
             FROM r LEFT JOIN users u ON u.id = r.created_by";
        let row: RoomRow = sqlx::query_as(SQL)
            .bind(room.name)
            .bind(room.topic)
            .bind(room_search_text(room.name, room.topic))
            .bind(room.created_by)
            .bind(millis(room.created_at))
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        row.try_into()
    }

    async fn ensure_room(&self, room: NewRoom<'_>) -> Result<RoomRecord, StoreError> {
        // When another node inserts the same name at the same moment, the insert waits for
        // its commit and then does nothing; the select that follows sees that room.
        sqlx::query(
            "INSERT INTO rooms (name, topic, search_text, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING",
        )
        .bind(room.name)
        .bind(room.topic)
        .bind(room_search_text(room.name, room.topic))
        .bind(room.created_by)
        .bind(millis(room.created_at))
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        self.get_room(room.name).await?.ok_or(StoreError::NotFound)
    }

    async fn get_room(&self, name: &str) -> Result<Option<RoomRecord>, StoreError> {
        const SQL: &str = concat!(room_select!(), "WHERE r.name = $1");
        let row: Option<RoomRow> = sqlx::query_as(SQL)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.map(RoomRecord::try_from).transpose()
    }

    async fn list_rooms(&self, query: RoomQuery<'_>) -> Result<Vec<RoomRecord>, StoreError> {
        // strpos() rather than LIKE: the search string is matched literally, so `%` and `_`
        // typed by a user are just characters. Names compare and sort in byte order
        // (COLLATE "C", as SQLite does), so the `after_name` cursor pages exactly like the
        // SQLite backend whatever the database's default collation.
        const SQL: &str = concat!(
            room_select!(),
            "WHERE ($1::text IS NULL OR strpos(r.search_text, $1) > 0) \
             AND ($2::text IS NULL OR r.name > $2 COLLATE \"C\") \
             ORDER BY r.name COLLATE \"C\" LIMIT $3"
        );
        let rows: Vec<RoomRow> = sqlx::query_as(SQL)
            .bind(query.search.map(fold_key))
            .bind(query.after_name)
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
        sqlx::query(
            "INSERT INTO memberships (user_id, room_id, joined_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, room_id) DO NOTHING",
        )
        .bind(user_id)
        .bind(room_id)
        .bind(millis(at))
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn remove_member(&self, user_id: i64, room_id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM memberships WHERE user_id = $1 AND room_id = $2")
            .bind(user_id)
            .bind(room_id)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn member_rooms(&self, user_id: i64) -> Result<Vec<MemberRoomRecord>, StoreError> {
        let rows: Vec<MemberRoomRow> = sqlx::query_as(
            "SELECT r.id, r.name, r.topic, u.username AS created_by, r.created_at, m.last_read, \
             (SELECT COUNT(*) FROM messages x WHERE x.room_id = r.id AND x.id > m.last_read \
                AND (x.user_id <> m.user_id OR x.assistant)) AS unread \
             FROM memberships m JOIN rooms r ON r.id = m.room_id \
             LEFT JOIN users u ON u.id = r.created_by \
             WHERE m.user_id = $1 ORDER BY r.name COLLATE \"C\"",
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
               (SELECT 1 FROM memberships m WHERE m.user_id = u.id AND m.room_id = $1) \
             ORDER BY u.username_key COLLATE \"C\" LIMIT $2",
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

    async fn mark_read(&self, user_id: i64, room_id: i64, id: i64) -> Result<i64, StoreError> {
        // Never back, never past the room's newest message. One UPDATE, so two nodes marking
        // at once serialise on the row and the larger marker wins.
        let marker: Option<(i64,)> = sqlx::query_as(
            "UPDATE memberships SET last_read = GREATEST(last_read, \
               LEAST($1, (SELECT COALESCE(MAX(id), 0) FROM messages WHERE room_id = $3))) \
             WHERE user_id = $2 AND room_id = $3 RETURNING last_read",
        )
        .bind(id)
        .bind(user_id)
        .bind(room_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        marker
            .map(|(last_read,)| last_read)
            .ok_or(StoreError::NotFound)
    }
}
