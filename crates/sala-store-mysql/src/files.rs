//! Uploaded files' records, their quota, and the garbage of blobs to delete.
//!
//! `blob` is a reserved word in MySQL, so the column is quoted wherever it is named.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sala_store::rows::{FileRow, millis};
use sala_store::{FileRecord, FileStore, NewFile, StoreError};

use crate::MysqlStore;
use crate::error::map_err;
use crate::literal::Sql;

macro_rules! file_columns {
    () => {
        "id, room_id, uploader_id, name, size, content_type, width, height, `blob`, \
         thumbnail_blob, created_at, message_id"
    };
}

#[async_trait]
impl FileStore for MysqlStore {
    async fn create_file(&self, file: NewFile) -> Result<FileRecord, StoreError> {
        sqlx::query(
            "INSERT INTO files (id, room_id, uploader_id, name, size, content_type, width, \
             height, `blob`, thumbnail_blob, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&file.id)
        .bind(file.room_id)
        .bind(file.uploader_id)
        .bind(&file.name)
        .bind(i64::try_from(file.size).unwrap_or(i64::MAX))
        .bind(&file.content_type)
        .bind(file.width.map(i64::from))
        .bind(file.height.map(i64::from))
        .bind(&file.blob)
        .bind(&file.thumbnail_blob)
        .bind(millis(file.created_at))
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        self.file(&file.id).await?.ok_or(StoreError::NotFound)
    }

    async fn file(&self, id: &str) -> Result<Option<FileRecord>, StoreError> {
        let row: Option<FileRow> = sqlx::query_as(concat!(
            "SELECT ",
            file_columns!(),
            " FROM files WHERE id = ? AND deleted_at IS NULL"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        row.map(FileRecord::try_from).transpose()
    }

    async fn uploaded_bytes_since(
        &self,
        user_id: i64,
        since: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        // SUM() of BIGINT is a DECIMAL in MySQL: cast back.
        let (bytes,): (i64,) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(size), 0) AS SIGNED) FROM files \
             WHERE uploader_id = ? AND created_at >= ?",
        )
        .bind(user_id)
        .bind(millis(since))
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(u64::try_from(bytes).unwrap_or(0))
    }

    async fn expire_files(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let now = millis(Utc::now());
        sqlx::query(
            "INSERT INTO blob_garbage (`blob`, since) \
             SELECT g.b, ? FROM ( \
               SELECT `blob` AS b FROM files \
               WHERE message_id IS NULL AND deleted_at IS NULL AND created_at < ? \
               UNION SELECT thumbnail_blob FROM files \
               WHERE message_id IS NULL AND deleted_at IS NULL AND created_at < ? \
               AND thumbnail_blob IS NOT NULL) AS g \
             ON DUPLICATE KEY UPDATE since = blob_garbage.since",
        )
        .bind(now)
        .bind(millis(before))
        .bind(millis(before))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        let expired = sqlx::query(
            "UPDATE files SET deleted_at = ? \
             WHERE message_id IS NULL AND deleted_at IS NULL AND created_at < ?",
        )
        .bind(now)
        .bind(millis(before))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?
        .rows_affected();
        sqlx::query("DELETE FROM files WHERE deleted_at IS NOT NULL AND created_at < ?")
            .bind(millis(before))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(expired)
    }

    async fn blob_garbage(&self, limit: u32) -> Result<Vec<String>, StoreError> {
        // A blob a live file took again (the same bytes uploaded anew) is no garbage.
        sqlx::query(
            "DELETE FROM blob_garbage WHERE \
             EXISTS (SELECT 1 FROM files f WHERE f.`blob` = blob_garbage.`blob` \
                     AND f.deleted_at IS NULL) \
             OR EXISTS (SELECT 1 FROM files f WHERE f.thumbnail_blob = blob_garbage.`blob` \
                        AND f.deleted_at IS NULL)",
        )
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        let blobs: Vec<(String,)> =
            sqlx::query_as("SELECT `blob` FROM blob_garbage ORDER BY since LIMIT ?")
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?;
        Ok(blobs.into_iter().map(|(blob,)| blob).collect())
    }

    async fn forget_garbage(&self, blobs: &[String]) -> Result<(), StoreError> {
        if blobs.is_empty() {
            return Ok(());
        }
        let mut sql = Sql::new("DELETE FROM blob_garbage WHERE `blob` IN (");
        sql.texts(blobs.iter().map(String::as_str)).push(")");
        sql.execute(&self.pool).await?;
        Ok(())
    }

    async fn blob_in_use(&self, blob: &str) -> Result<bool, StoreError> {
        let found: Option<(i64,)> = sqlx::query_as(
            "SELECT 1 FROM DUAL WHERE EXISTS \
               (SELECT 1 FROM files WHERE `blob` = ? AND deleted_at IS NULL) \
             OR EXISTS (SELECT 1 FROM files WHERE thumbnail_blob = ? AND deleted_at IS NULL)",
        )
        .bind(blob)
        .bind(blob)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(found.is_some())
    }
}
