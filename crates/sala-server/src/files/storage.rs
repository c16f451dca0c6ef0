//! Where files' bytes are kept: one seam, two backends. [`LocalStorage`] keeps them in the
//! data dir of a single node; [`S3Storage`] in S3-compatible object storage (AWS S3, MinIO,
//! Garage, Ceph RGW) that several nodes share.
//!
//! Either way a blob is named by the SHA-256 of its bytes and only ever stored complete:
//! the upload is spooled to a temporary file first, and only a finished one is renamed
//! into place (locally) or sent (S3, where a multipart upload is invisible until it is
//! completed). A crash mid-upload leaves a spool file, which the next start removes.

use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload, WriteMultipart};
use tokio::io::AsyncReadExt as _;

/// A blob's bytes as they are read out.
pub type BlobStream = BoxStream<'static, io::Result<Bytes>>;

#[async_trait]
pub trait BlobStorage: Send + Sync {
    /// Stores the complete file at `spooled` as the blob `key`, and removes the spool file.
    /// A blob already there has the same bytes (its name is their hash) and is kept.
    async fn put(&self, key: &str, spooled: &Path) -> io::Result<()>;

    /// The blob's bytes; `NotFound` if there is none.
    async fn get(&self, key: &str) -> io::Result<BlobStream>;

    /// Deletes the blob; one already gone is no error.
    async fn delete(&self, key: &str) -> io::Result<()>;

    /// Every blob, and when it was stored (for the sweep of blobs no file names).
    async fn list(&self) -> io::Result<Vec<(String, SystemTime)>>;

    /// What it is, for the log.
    fn describe(&self) -> String;
}

/// Whether `key` can be a blob's name: 64 lowercase hex digits (a SHA-256).
pub fn is_blob_key(key: &str) -> bool {
    key.len() == 64
        && key
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Blobs as files under `root`, two levels deep by their first hex digits
/// (`ab/cd/abcd…`), so no folder holds more than a few thousand.
pub struct LocalStorage {
    root: PathBuf,
}

impl LocalStorage {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    fn path_of(&self, key: &str) -> io::Result<PathBuf> {
        if !is_blob_key(key) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a blob name",
            ));
        }
        Ok(self.root.join(&key[..2]).join(&key[2..4]).join(key))
    }
}

#[async_trait]
impl BlobStorage for LocalStorage {
    async fn put(&self, key: &str, spooled: &Path) -> io::Result<()> {
        let path = self.path_of(key)?;
        let folder = path.parent().map(Path::to_path_buf).unwrap_or_default();
        tokio::fs::create_dir_all(&folder).await?;
        if tokio::fs::try_exists(&path).await? {
            return tokio::fs::remove_file(spooled).await;
        }
        // The spool file was synced when it was written; the rename is made durable by
        // syncing the folder it lands in.
        tokio::fs::rename(spooled, &path).await?;
        tokio::task::spawn_blocking(move || std::fs::File::open(folder)?.sync_all())
            .await
            .map_err(io::Error::other)?
    }

    async fn get(&self, key: &str) -> io::Result<BlobStream> {
        let file = tokio::fs::File::open(self.path_of(key)?).await?;
        Ok(tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024).boxed())
    }

    async fn delete(&self, key: &str) -> io::Result<()> {
        match tokio::fs::remove_file(self.path_of(key)?).await {
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    async fn list(&self) -> io::Result<Vec<(String, SystemTime)>> {
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || {
            let mut blobs = Vec::new();
            let Ok(first) = std::fs::read_dir(&root) else {
                return Ok(blobs);
            };
            for first in first {
                for second in std::fs::read_dir(first?.path())? {
                    for blob in std::fs::read_dir(second?.path())? {
                        let blob = blob?;
                        let name = blob.file_name().to_string_lossy().into_owned();
                        if is_blob_key(&name) {
                            blobs.push((name, blob.metadata()?.modified()?));
                        }
                    }
                }
            }
            Ok(blobs)
        })
        .await
        .map_err(io::Error::other)?
    }

    fn describe(&self) -> String {
        format!("the folder {}", self.root.display())
    }
}

/// Part size of a multipart upload to S3 (5 MiB is S3's least but for the last part);
/// with one part in flight, an upload holds about two parts in memory.
const PART_BYTES: usize = 5 << 20;

/// Blobs as objects `blobs/<key>` of one bucket.
pub struct S3Storage {
    store: Box<dyn ObjectStore>,
    bucket: String,
}

impl S3Storage {
    /// The bucket, reached at `endpoint` if given (MinIO, Garage, a test server), with the
    /// credentials and region of the usual `AWS_*` environment variables.
    ///
    /// # Errors
    /// When the settings do not make a client.
    pub fn new(bucket: &str, endpoint: Option<&str>) -> anyhow::Result<Self> {
        let mut builder = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(endpoint) = endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                // Path-style URLs: S3-compatible servers other than AWS expect them.
                .with_virtual_hosted_style_request(false);
        }
        Ok(Self {
            store: Box::new(builder.build()?),
            bucket: bucket.to_owned(),
        })
    }

    fn path_of(key: &str) -> io::Result<object_store::path::Path> {
        if !is_blob_key(key) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a blob name",
            ));
        }
        Ok(object_store::path::Path::from(format!("blobs/{key}")))
    }
}

fn s3_error(err: object_store::Error) -> io::Error {
    match err {
        object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, err),
        other => io::Error::other(other),
    }
}

#[async_trait]
impl BlobStorage for S3Storage {
    async fn put(&self, key: &str, spooled: &Path) -> io::Result<()> {
        let path = Self::path_of(key)?;
        let mut file = tokio::fs::File::open(spooled).await?;
        let size = file.metadata().await?.len();
        if size <= PART_BYTES as u64 {
            let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(PART_BYTES));
            file.read_to_end(&mut bytes).await?;
            self.store
                .put(&path, PutPayload::from(bytes))
                .await
                .map_err(s3_error)?;
        } else {
            let upload = self.store.put_multipart(&path).await.map_err(s3_error)?;
            let mut parts = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
            let mut buffer = vec![0u8; 256 * 1024];
            loop {
                let read = file.read(&mut buffer).await?;
                if read == 0 {
                    break;
                }
                parts.wait_for_capacity(1).await.map_err(s3_error)?;
                parts.write(&buffer[..read]);
            }
            parts.finish().await.map_err(s3_error)?;
        }
        drop(file);
        tokio::fs::remove_file(spooled).await
    }

    async fn get(&self, key: &str) -> io::Result<BlobStream> {
        let found = self
            .store
            .get(&Self::path_of(key)?)
            .await
            .map_err(s3_error)?;
        Ok(found
            .into_stream()
            .map(|chunk| chunk.map_err(s3_error))
            .boxed())
    }

    async fn delete(&self, key: &str) -> io::Result<()> {
        match self.store.delete(&Self::path_of(key)?).await {
            Err(object_store::Error::NotFound { .. }) | Ok(()) => Ok(()),
            Err(err) => Err(s3_error(err)),
        }
    }

    async fn list(&self) -> io::Result<Vec<(String, SystemTime)>> {
        let prefix = object_store::path::Path::from("blobs");
        let mut listing = self.store.list(Some(&prefix));
        let mut blobs = Vec::new();
        while let Some(object) = listing.next().await {
            let object = object.map_err(s3_error)?;
            if let Some(name) = object.location.filename()
                && is_blob_key(name)
            {
                blobs.push((name.to_owned(), SystemTime::from(object.last_modified)));
            }
        }
        Ok(blobs)
    }

    fn describe(&self) -> String {
        format!("the S3 bucket {}", self.bucket)
    }
}
