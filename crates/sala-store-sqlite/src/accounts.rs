//! Accounts: users, found by name or email, and their status.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sala_store::rows::{UserRow, millis};
use sala_store::{
    AccountStore, NewUser, StatusRecord, StoreError, UserRecord, UserSummary, fold_key,
};

use crate::error::map_err;
use crate::{SqliteStore, only_row, rows};

#[async_trait]
impl AccountStore for SqliteStore {
    async fn create_user(&self, user: NewUser<'_>) -> Result<UserRecord, StoreError> {
        const SQL: &str = concat!(
            "INSERT INTO users (username, username_key, email, email_key, password_hash, \
             created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING ",
            user_columns!()
        );
        let rows: Vec<UserRow> = sqlx::query_as(SQL)
            .bind(user.username)
            .bind(fold_key(user.username))
            .bind(user.email)
            .bind(user.email.map(fold_key))
            .bind(user.password_hash)
            .bind(millis(user.created_at))
            .fetch_all(&self.writer)
            .await
            .map_err(map_err)?;
        only_row(rows)?.try_into()
    }

    async fn find_user_by_username(
        &self,
        username: &str,
    ) -> Result<Option<UserRecord>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE username_key = ?"
        );
        self.user_where(SQL, &fold_key(username)).await
    }

    async fn find_users_by_username(
        &self,
        usernames: &[String],
    ) -> Result<Vec<UserRecord>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE username_key IN (SELECT value FROM json_each(?))"
        );
        if usernames.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = usernames.iter().map(|name| fold_key(name)).collect();
        let rows: Vec<UserRow> = sqlx::query_as(SQL)
            .bind(serde_json::to_string(&keys).map_err(|err| StoreError::Backend(Box::new(err)))?)
            .fetch_all(&self.readers)
            .await
            .map_err(map_err)?;
        rows.into_iter().map(UserRecord::try_from).collect()
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE email_key = ?"
        );
        self.user_where(SQL, &fold_key(email)).await
    }

    async fn get_user(&self, id: i64) -> Result<Option<UserRecord>, StoreError> {
        const SQL: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE id = ?");
        let row = self
            .read(move |connection| rows::first(connection, SQL, [id], rows::user_row))
            .await?;
        row.map(UserRecord::try_from).transpose()
    }

    async fn set_status(
        &self,
        user_id: i64,
        status: &StatusRecord,
    ) -> Result<UserRecord, StoreError> {
        const SQL: &str = concat!(
            "UPDATE users SET busy = ?1, status_note = ?2, \
             busy_since = CASE WHEN ?1 THEN COALESCE(busy_since, ?4) ELSE NULL END \
             WHERE id = ?3 RETURNING ",
            user_columns!()
        );
        let rows: Vec<UserRow> = sqlx::query_as(SQL)
            .bind(status.busy)
            .bind(status.note.as_deref())
            .bind(user_id)
            .bind(status.busy_since.map(millis))
            .fetch_all(&self.writer)
            .await
            .map_err(map_err)?;
        only_row(rows)?.try_into()
    }

    async fn search_users(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<UserSummary>, StoreError> {
        // substr() rather than LIKE: the prefix is matched literally.
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, username FROM users \
             WHERE substr(username_key, 1, length(?1)) = ?1 \
             AND (?2 IS NULL OR username_key > ?2) ORDER BY username_key LIMIT ?3",
        )
        .bind(fold_key(prefix))
        .bind(after.map(fold_key))
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await
        .map_err(map_err)?;
        Ok(rows
            .into_iter()
            .map(|(id, username)| UserSummary { id, username })
            .collect())
    }

    async fn set_block(
        &self,
        blocker: i64,
        blocked: i64,
        block: bool,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = if block {
            sqlx::query(
                "INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES (?, ?, ?) \
                 ON CONFLICT (blocker_id, blocked_id) DO NOTHING",
            )
            .bind(blocker)
            .bind(blocked)
            .bind(millis(at))
            .execute(&self.writer)
            .await
        } else {
            sqlx::query("DELETE FROM blocks WHERE blocker_id = ? AND blocked_id = ?")
                .bind(blocker)
                .bind(blocked)
                .execute(&self.writer)
                .await
        }
        .map_err(map_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn blockers_of(&self, user_id: i64, among: &[i64]) -> Result<Vec<i64>, StoreError> {
        if among.is_empty() {
            return Ok(Vec::new());
        }
        let among =
            serde_json::to_string(among).map_err(|err| StoreError::Backend(Box::new(err)))?;
        let rows: Vec<(i64,)> = sqlx::query_as(
            "SELECT blocker_id FROM blocks WHERE blocked_id = ? \
             AND blocker_id IN (SELECT value FROM json_each(?))",
        )
        .bind(user_id)
        .bind(among)
        .fetch_all(&self.readers)
        .await
        .map_err(map_err)?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    async fn blocked_by(&self, blocker: i64) -> Result<Vec<UserSummary>, StoreError> {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT users.id, users.username FROM blocks \
             JOIN users ON users.id = blocks.blocked_id \
             WHERE blocks.blocker_id = ? ORDER BY users.username_key",
        )
        .bind(blocker)
        .fetch_all(&self.readers)
        .await
        .map_err(map_err)?;
        Ok(rows
            .into_iter()
            .map(|(id, username)| UserSummary { id, username })
            .collect())
    }
}
