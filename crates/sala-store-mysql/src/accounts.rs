//! Accounts: users, found by name or email, and their status.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sala_store::rows::{UserRow, millis};
use sala_store::{
    AccountStore, NewUser, StatusRecord, StoreError, UserRecord, UserSummary, fold_key,
};

use crate::MysqlStore;
use crate::error::{is_duplicate_on, map_err};
use crate::literal::Sql;

#[async_trait]
impl AccountStore for MysqlStore {
    async fn create_user(&self, user: NewUser<'_>) -> Result<UserRecord, StoreError> {
        let done = sqlx::query(
            "INSERT INTO users (username, username_key, email, email_key, password_hash, \
             created_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(user.username)
        .bind(fold_key(user.username))
        .bind(user.email)
        .bind(user.email.map(fold_key))
        .bind(user.password_hash)
        .bind(millis(user.created_at))
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        let id = i64::try_from(done.last_insert_id())
            .map_err(|err| StoreError::Backend(Box::new(err)))?;
        self.get_user(id).await?.ok_or(StoreError::NotFound)
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
        if usernames.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = usernames.iter().map(|name| fold_key(name)).collect();
        let mut sql = Sql::new(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE username_key IN ("
        ));
        sql.texts(keys.iter().map(String::as_str)).push(")");
        let rows: Vec<UserRow> = sql.fetch_all(&self.pool).await?;
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
        let row: Option<UserRow> = sqlx::query_as(SQL)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.map(UserRecord::try_from).transpose()
    }

    async fn set_status(
        &self,
        user_id: i64,
        status: &StatusRecord,
    ) -> Result<UserRecord, StoreError> {
        // A busy status keeps the start of the busy period it continues. `busy_since` is
        // set before `busy` is: MySQL assigns left to right, each seeing the ones before.
        let done = sqlx::query(
            "UPDATE users SET busy_since = CASE WHEN ? THEN COALESCE(busy_since, ?) ELSE NULL END, \
             busy = ?, status_note = ? WHERE id = ?",
        )
        .bind(status.busy)
        .bind(status.busy_since.map(millis))
        .bind(status.busy)
        .bind(status.note.as_deref())
        .bind(user_id)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.get_user(user_id).await?.ok_or(StoreError::NotFound)
    }

    async fn search_users(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<UserSummary>, StoreError> {
        // LEFT() rather than LIKE: the prefix is matched literally. Keys compare in code
        // point order (the binary collation), as SQLite's do, so the cursor pages alike.
        let prefix = fold_key(prefix);
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, username FROM users WHERE LEFT(username_key, CHAR_LENGTH(?)) = ? \
             AND (? IS NULL OR username_key > ?) ORDER BY username_key LIMIT ?",
        )
        .bind(&prefix)
        .bind(&prefix)
        .bind(after.map(fold_key))
        .bind(after.map(fold_key))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
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
        if !block {
            let done = sqlx::query("DELETE FROM blocks WHERE blocker_id = ? AND blocked_id = ?")
                .bind(blocker)
                .bind(blocked)
                .execute(&self.pool)
                .await
                .map_err(map_err)?;
            return Ok(done.rows_affected() > 0);
        }
        match sqlx::query(
            "INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES (?, ?, ?)",
        )
        .bind(blocker)
        .bind(blocked)
        .bind(millis(at))
        .execute(&self.pool)
        .await
        {
            Ok(_) => Ok(true),
            Err(err) if is_duplicate_on(&err, "PRIMARY") => Ok(false),
            Err(err) => Err(map_err(err)),
        }
    }

    async fn blockers_of(&self, user_id: i64, among: &[i64]) -> Result<Vec<i64>, StoreError> {
        if among.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = Sql::new("SELECT blocker_id FROM blocks WHERE blocked_id = ");
        sql.int(user_id)
            .push(" AND blocker_id IN (")
            .ints(among)
            .push(")");
        let rows: Vec<(i64,)> = sql.fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    async fn blocked_by(&self, blocker: i64) -> Result<Vec<UserSummary>, StoreError> {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT users.id, users.username FROM blocks \
             JOIN users ON users.id = blocks.blocked_id \
             WHERE blocks.blocker_id = ? ORDER BY users.username_key",
        )
        .bind(blocker)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(rows
            .into_iter()
            .map(|(id, username)| UserSummary { id, username })
            .collect())
    }
}
