//! Accounts: users, found by name or email, and their status.

use async_trait::async_trait;
use sala_store::rows::{UserRow, millis};
use sala_store::{AccountStore, NewUser, StatusRecord, StoreError, UserRecord, fold_key};

use crate::PostgresStore;
use crate::error::map_err;

#[async_trait]
impl AccountStore for PostgresStore {
    async fn create_user(&self, user: NewUser<'_>) -> Result<UserRecord, StoreError> {
        const SQL: &str = concat!(
            "INSERT INTO users (username, username_key, email, email_key, password_hash, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
            user_columns!()
        );
        let row: UserRow = sqlx::query_as(SQL)
            .bind(user.username)
            .bind(fold_key(user.username))
            .bind(user.email)
            .bind(user.email.map(fold_key))
            .bind(user.password_hash)
            .bind(millis(user.created_at))
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        row.try_into()
    }

    async fn find_user_by_username(
        &self,
        username: &str,
    ) -> Result<Option<UserRecord>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE username_key = $1"
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
            " FROM users WHERE username_key = ANY($1)"
        );
        if usernames.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = usernames.iter().map(|name| fold_key(name)).collect();
        let rows: Vec<UserRow> = sqlx::query_as(SQL)
            .bind(&keys)
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.into_iter().map(UserRecord::try_from).collect()
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE email_key = $1"
        );
        self.user_where(SQL, &fold_key(email)).await
    }

    async fn get_user(&self, id: i64) -> Result<Option<UserRecord>, StoreError> {
        const SQL: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");
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
        // A busy status keeps the start of the busy period it continues.
        const SQL: &str = concat!(
            "UPDATE users SET busy = $1, status_note = $2, \
             busy_since = CASE WHEN $1 THEN COALESCE(busy_since, $4) ELSE NULL END \
             WHERE id = $3 RETURNING ",
            user_columns!()
        );
        let row: Option<UserRow> = sqlx::query_as(SQL)
            .bind(status.busy)
            .bind(status.note.as_deref())
            .bind(user_id)
            .bind(status.busy_since.map(millis))
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.ok_or(StoreError::NotFound)?.try_into()
    }
}
