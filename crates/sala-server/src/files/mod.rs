//! Files shared in rooms (issue 21): an upload is received into a spool file within its
//! limits (bytes, a daily quota, a least rate), its type sniffed, a picture's metadata
//! dropped and its thumbnail made, then its bytes go to the [`storage`] and its record to
//! the store. A message attaches it later by id ([`crate::chat`] sends it, the store's
//! writer checks it is the sender's, of that room, and not sent yet).
//!
//! Files are deleted with their message. Bytes are shared by every file of the same
//! content, so a blob goes to the store's garbage and is deleted once no live file names
//! it. Files never sent are deleted after [`UNSENT_FILE_LIFETIME`].
//!
//! - [`sniff`]: the content type from the bytes.
//! - [`pictures`]: metadata stripping, sizes and thumbnails.
//! - [`storage`]: the data dir or S3.

pub mod pictures;
pub mod sniff;
pub mod storage;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use chrono::Utc;
use futures_util::{Stream, StreamExt as _};
use sala_store::{FileRecord, NewFile, Store, StoreError};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt as _;
use tokio::sync::{Mutex, Notify, Semaphore};
use tokio::time::Instant;

use crate::domain::FileName;
use pictures::PictureError;
use sniff::{Sniffed, sniff};
use storage::BlobStorage;

pub use storage::{BlobStream, LocalStorage, S3Storage};

/// How long an uploaded file waits to be sent in a message before it is deleted.
pub const UNSENT_FILE_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// An upload must bring at least this many bytes in every window of `upload_window`.
pub const MIN_BYTES_PER_WINDOW: u64 = 16 * 1024;
/// No upload takes longer than this, however steadily it comes.
pub const MAX_UPLOAD_TIME: Duration = Duration::from_secs(30 * 60);
/// Pictures decoded at once on a node (each may take up to `pictures::MAX_DECODE_BYTES`).
const DECODES_AT_ONCE: usize = 2;
/// How often garbage and unsent files are collected besides after each deletion.
const COLLECT_EVERY: Duration = Duration::from_secs(10 * 60);
/// A blob no file names is swept at start only if it is at least this old on shared
/// storage (another node may be between storing it and recording its file).
const SHARED_SWEEP_AGE: Duration = Duration::from_secs(60 * 60);

/// The limits of uploads, from the flags.
#[derive(Debug, Clone)]
pub struct FileLimits {
    /// Largest file, in bytes.
    pub max_bytes: u64,
    /// Bytes one user may upload in 24 hours.
    pub daily_quota_bytes: u64,
    /// The window in which an upload must bring [`MIN_BYTES_PER_WINDOW`].
    pub upload_window: Duration,
}

/// An upload's bytes and what it claims.
pub struct Upload<S> {
    pub room_id: i64,
    pub uploader_id: i64,
    pub name: FileName,
    pub body: S,
}

/// Why an upload was refused; nothing of it is kept.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("a file is at most {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("this upload would pass your quota of {limit} bytes a day")]
    QuotaExceeded { limit: u64 },
    #[error("the upload came slower than {MIN_BYTES_PER_WINDOW} bytes in {window_secs} s")]
    TooSlow { window_secs: u64 },
    #[error("the upload was cut off: {0}")]
    Interrupted(String),
    #[error(transparent)]
    Picture(#[from] PictureError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the file storage failed: {0}")]
    Storage(#[source] io::Error),
}

/// Files of this node: the storage, the spool folder and the limits. Cheap to clone.
#[derive(Clone)]
pub struct Files {
    inner: Arc<Inner>,
}

struct Inner {
    storage: Arc<dyn BlobStorage>,
    store: Arc<dyn Store>,
    spool: PathBuf,
    limits: FileLimits,
    decodes: Semaphore,
    /// Held while a blob is stored and its file recorded, and while garbage is checked
    /// and deleted, so this node never deletes bytes a file of its own is about to name.
    blobs: Mutex<()>,
    shared: bool,
}

impl Files {
    /// Files kept in `storage`, spooled in `spool` (emptied now: what is there is left of
    /// uploads a crash cut off). `shared`: other nodes use the same storage.
    ///
    /// # Errors
    /// When the spool folder cannot be made.
    pub async fn open(
        storage: Arc<dyn BlobStorage>,
        store: Arc<dyn Store>,
        spool: PathBuf,
        limits: FileLimits,
        shared: bool,
    ) -> io::Result<Self> {
        if tokio::fs::try_exists(&spool).await? {
            tokio::fs::remove_dir_all(&spool).await?;
        }
        tokio::fs::create_dir_all(&spool).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                storage,
                store,
                spool,
                limits,
                decodes: Semaphore::new(DECODES_AT_ONCE),
                blobs: Mutex::new(()),
                shared,
            }),
        })
    }

    pub fn limits(&self) -> &FileLimits {
        &self.inner.limits
    }

    /// Receives an upload and records it, not yet attached to a message.
    ///
    /// # Errors
    /// Each limit, a picture that cannot be read, the storage or the store failing. The
    /// spool files are removed either way.
    pub async fn upload<S, E>(&self, upload: Upload<S>) -> Result<FileRecord, UploadError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let limits = &self.inner.limits;
        let since =
            Utc::now() - chrono::Duration::from_std(UNSENT_FILE_LIFETIME).unwrap_or_default();
        let used = self
            .inner
            .store
            .uploaded_bytes_since(upload.uploader_id, since)
            .await?;
        if used >= limits.daily_quota_bytes {
            return Err(UploadError::QuotaExceeded {
                limit: limits.daily_quota_bytes,
            });
        }
        let allowed = limits.max_bytes.min(limits.daily_quota_bytes - used);
        let mut spooled = Spooled::new(&self.inner.spool);
        let received = receive(upload.body, &spooled.path, allowed, limits.upload_window).await;
        let received = match received {
            Err(UploadError::TooLarge { .. }) if allowed < limits.max_bytes => {
                Err(UploadError::QuotaExceeded {
                    limit: limits.daily_quota_bytes,
                })
            }
            Err(UploadError::TooLarge { .. }) => Err(UploadError::TooLarge {
                limit: limits.max_bytes,
            }),
            other => other,
        };
        let received = received?;
        let kind = sniff(&received.prefix);
        let mut hash = received.hash;
        let mut size = received.size;
        let mut dimensions = None;
        let mut thumbnail = None;
        if kind.is_picture() {
            // The semaphore is never closed, so the permit always comes.
            let _decoding = self.inner.decodes.acquire().await;
            let input = spooled.path.clone();
            let stripped = Spooled::new(&self.inner.spool);
            let output = stripped.path.clone();
            let (picture, stripped_hash, stripped_size) =
                tokio::task::spawn_blocking(move || -> Result<_, UploadError> {
                    if kind != Sniffed::Gif {
                        pictures::strip_metadata(kind, &input, &output)
                            .map_err(|err| PictureError::Unreadable(err.to_string()))?;
                    } else {
                        std::fs::copy(&input, &output).map_err(UploadError::Storage)?;
                    }
                    let picture = pictures::inspect(kind, &output)?;
                    let (hash, size) = hash_file(&output).map_err(UploadError::Storage)?;
                    Ok((picture, hash, size))
                })
                .await
                .map_err(|err| UploadError::Storage(io::Error::other(err)))??;
            spooled = stripped;
            hash = stripped_hash;
            size = stripped_size;
            dimensions = Some((picture.width, picture.height));
            let small = Spooled::new(&self.inner.spool);
            write_synced(&small.path, &picture.thumbnail)
                .await
                .map_err(UploadError::Storage)?;
            thumbnail = Some((hex(&Sha256::digest(&picture.thumbnail)), small));
        }
        let file = NewFile {
            id: new_file_id(),
            room_id: upload.room_id,
            uploader_id: upload.uploader_id,
            name: upload.name.into_inner(),
            size,
            content_type: kind.content_type().to_owned(),
            width: dimensions.map(|(width, _)| width),
            height: dimensions.map(|(_, height)| height),
            blob: hash.clone(),
            thumbnail_blob: thumbnail.as_ref().map(|(key, _)| key.clone()),
            created_at: Utc::now(),
        };
        let _storing = self.inner.blobs.lock().await;
        self.inner
            .storage
            .put(&hash, &spooled.path)
            .await
            .map_err(UploadError::Storage)?;
        spooled.stored();
        if let Some((key, mut small)) = thumbnail {
            self.inner
                .storage
                .put(&key, &small.path)
                .await
                .map_err(UploadError::Storage)?;
            small.stored();
        }
        Ok(self.inner.store.create_file(file).await?)
    }

    /// The bytes of a blob.
    ///
    /// # Errors
    /// `NotFound` when the storage has no such blob.
    pub async fn read(&self, blob: &str) -> io::Result<BlobStream> {
        self.inner.storage.get(blob).await
    }

    /// Deletes the bytes no live file names any more.
    ///
    /// # Errors
    /// The store's or the storage's failure; what was deleted before it stays deleted.
    pub async fn collect_garbage(&self) -> Result<u64, UploadError> {
        let mut deleted = 0;
        loop {
            let _checking = self.inner.blobs.lock().await;
            let blobs = self.inner.store.blob_garbage(100).await?;
            if blobs.is_empty() {
                return Ok(deleted);
            }
            for blob in &blobs {
                self.inner
                    .storage
                    .delete(blob)
                    .await
                    .map_err(UploadError::Storage)?;
            }
            self.inner.store.forget_garbage(&blobs).await?;
            deleted += blobs.len() as u64;
        }
    }

    /// Deletes unsent files past their time and then the garbage.
    ///
    /// # Errors
    /// As [`Self::collect_garbage`].
    pub async fn collect(&self) -> Result<(u64, u64), UploadError> {
        let before =
            Utc::now() - chrono::Duration::from_std(UNSENT_FILE_LIFETIME).unwrap_or_default();
        let expired = self.inner.store.expire_files(before).await?;
        Ok((expired, self.collect_garbage().await?))
    }

    /// Deletes blobs that no file names (left by a crash between storing a blob and
    /// recording its file). On shared storage only those older than an hour.
    ///
    /// # Errors
    /// The store's or the storage's failure.
    pub async fn sweep(&self) -> Result<u64, UploadError> {
        let now = SystemTime::now();
        let min_age = if self.inner.shared {
            SHARED_SWEEP_AGE
        } else {
            Duration::ZERO
        };
        let mut swept = 0;
        for (blob, stored) in self
            .inner
            .storage
            .list()
            .await
            .map_err(UploadError::Storage)?
        {
            if now.duration_since(stored).unwrap_or_default() < min_age {
                continue;
            }
            let _checking = self.inner.blobs.lock().await;
            if !self.inner.store.blob_in_use(&blob).await? {
                self.inner
                    .storage
                    .delete(&blob)
                    .await
                    .map_err(UploadError::Storage)?;
                swept += 1;
            }
        }
        Ok(swept)
    }

    /// At start: the sweep and a collection; then a collection after each deletion
    /// (`released` is notified) and every ten minutes, until `stop` is cancelled.
    pub async fn run_collector(
        self,
        released: Arc<Notify>,
        stop: tokio_util::sync::CancellationToken,
    ) {
        match self.sweep().await {
            Ok(0) => {}
            Ok(swept) => tracing::info!(swept, "deleted blobs no file names"),
            Err(err) => tracing::warn!(error = %err, "sweeping the file storage"),
        }
        loop {
            match self.collect().await {
                Ok((0, 0)) => {}
                Ok((expired, deleted)) => {
                    tracing::info!(expired, deleted, "collected unsent files and unused bytes");
                }
                Err(err) => tracing::warn!(error = %err, "collecting deleted files"),
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = released.notified() => {}
                () = tokio::time::sleep(COLLECT_EVERY) => {}
            }
        }
    }

    /// What the storage is, for the log.
    pub fn describe(&self) -> String {
        self.inner.storage.describe()
    }
}

/// A spool file, removed when dropped unless it was stored.
struct Spooled {
    path: PathBuf,
    keep: bool,
}

impl Spooled {
    fn new(folder: &Path) -> Self {
        Self {
            path: folder.join(format!("{}.part", new_file_id())),
            keep: false,
        }
    }

    /// The storage took it (and removed or moved it).
    fn stored(&mut self) {
        self.keep = true;
    }
}

impl Drop for Spooled {
    fn drop(&mut self) {
        if !self.keep
            && let Err(err) = std::fs::remove_file(&self.path)
            && err.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.path.display(), error = %err, "removing a spool file");
        }
    }
}

/// What [`receive`] wrote.
struct Received {
    size: u64,
    hash: String,
    prefix: Vec<u8>,
}

/// Writes `body` to `path` (synced), at most `limit` bytes, at least
/// [`MIN_BYTES_PER_WINDOW`] in every `window`, all within [`MAX_UPLOAD_TIME`].
async fn receive<S, E>(
    mut body: S,
    path: &Path,
    limit: u64,
    window: Duration,
) -> Result<Received, UploadError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(UploadError::Storage)?;
    let mut hasher = Sha256::new();
    let mut prefix = Vec::with_capacity(Sniffed::PREFIX);
    let mut size = 0u64;
    let started = Instant::now();
    let mut window_start = started;
    let mut window_bytes = 0u64;
    loop {
        let deadline = (window_start + window).min(started + MAX_UPLOAD_TIME);
        let chunk = match tokio::time::timeout_at(deadline, body.next()).await {
            Err(_) => {
                if window_bytes < MIN_BYTES_PER_WINDOW
                    || Instant::now() >= started + MAX_UPLOAD_TIME
                {
                    return Err(UploadError::TooSlow {
                        window_secs: window.as_secs(),
                    });
                }
                window_start = Instant::now();
                window_bytes = 0;
                continue;
            }
            Ok(None) => break,
            Ok(Some(Err(err))) => return Err(UploadError::Interrupted(err.to_string())),
            Ok(Some(Ok(chunk))) => chunk,
        };
        // A client that keeps a steady trickle still ends at the whole upload's limit.
        if Instant::now() >= started + MAX_UPLOAD_TIME {
            return Err(UploadError::TooSlow {
                window_secs: window.as_secs(),
            });
        }
        size += chunk.len() as u64;
        if size > limit {
            return Err(UploadError::TooLarge { limit });
        }
        window_bytes += chunk.len() as u64;
        if prefix.len() < Sniffed::PREFIX {
            let take = (Sniffed::PREFIX - prefix.len()).min(chunk.len());
            prefix.extend_from_slice(&chunk[..take]);
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(UploadError::Storage)?;
    }
    file.sync_all().await.map_err(UploadError::Storage)?;
    Ok(Received {
        size,
        hash: hex(&hasher.finalize()),
        prefix,
    })
}

/// The SHA-256 and length of a file (blocking).
fn hash_file(path: &Path) -> io::Result<(String, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let size = io::copy(&mut file, &mut hasher)?;
    Ok((hex(&hasher.finalize()), size))
}

async fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = tokio::fs::File::create(path).await?;
    file.write_all(bytes).await?;
    file.sync_all().await
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}

/// A new file id: 128 random bits in hex (unguessable, though access is checked anyway).
fn new_file_id() -> String {
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes);
    hex(&bytes)
}
