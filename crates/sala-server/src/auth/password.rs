//! Password hashing with argon2id at OWASP's recommended cost (19 MiB, 2 passes, 1 lane:
//! the crate's defaults).
//!
//! Hashing is CPU- and memory-heavy, so it runs on a few dedicated threads (one per core),
//! not on the async runtime nor on tokio's blocking pool: a burst of logins queues instead of
//! taking every core, and only those few threads ever hold argon2's 19 MiB blocks. (On the
//! blocking pool, each of its many threads kept its own freed 19 MiB in its malloc arena: a
//! few dozen logins left the server at 600 MiB.)

use std::sync::{Arc, Mutex};

use anyhow::Context;
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use tokio::sync::{mpsc, oneshot};

use crate::domain::Password;

/// Hashes and verifies passwords. Cheap to clone.
#[derive(Clone)]
pub struct PasswordHasher {
    /// Work for the hashing threads; bounded, so callers wait when they are all busy.
    jobs: mpsc::Sender<Job>,
    /// Registration's share of the threads: hashes of new passwords wait for a permit.
    new_hashes: Arc<tokio::sync::Semaphore>,
    /// A real hash of a random password: verified against when the user does not exist, so
    /// both failures take the same time.
    dummy_hash: Arc<str>,
}

impl PasswordHasher {
    /// # Errors
    /// When the dummy hash cannot be computed (the platform has no randomness).
    pub fn new() -> anyhow::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let mut random = [0u8; 24];
        rand::fill(&mut random);
        let dummy_hash = Argon2::default()
            .hash_password(&random)
            .map_err(|err| anyhow::anyhow!("hashing the dummy password: {err}"))?
            .to_string();
        let (jobs, queue) = mpsc::channel::<Job>(cores * 16);
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..cores {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("sala-argon2-{n}"))
                .spawn(move || work(&queue))
                .context("starting a password hashing thread")?;
        }
        Ok(Self {
            jobs,
            new_hashes: Arc::new(tokio::sync::Semaphore::new((cores / 2).max(1))),
            dummy_hash: dummy_hash.into(),
        })
    }

    /// Hashes a new password into a PHC string.
    ///
    /// # Errors
    /// When hashing fails (no randomness for the salt) or the blocking task dies.
    pub async fn hash(&self, password: Password) -> anyhow::Result<String> {
        let _share = self
            .new_hashes
            .acquire()
            .await
            .context("the hashing permits are gone")?;
        self.run(move || {
            Argon2::default()
                .hash_password(password.expose().as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|err| anyhow::anyhow!("hashing a password: {err}"))
        })
        .await?
    }

    /// Whether `password` matches `hash`. With no hash (unknown user) it checks the dummy
    /// hash and answers `false`, taking the same time as a wrong password.
    ///
    /// # Errors
    /// When the blocking task dies. A malformed stored hash is logged and counts as no match.
    pub async fn verify(&self, password: String, hash: Option<String>) -> anyhow::Result<bool> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.to_string());
        let matches = self
            .run(move || match PasswordHash::new(&hash) {
                Ok(parsed) => Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok(),
                Err(err) => {
                    tracing::error!(error = %err, "stored password hash is malformed");
                    false
                }
            })
            .await?;
        Ok(known && matches)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let (done, result) = oneshot::channel();
        let span = tracing::Span::current();
        let job: Job = Box::new(move || {
            let _ = done.send(span.in_scope(work));
        });
        self.jobs
            .send(job)
            .await
            .map_err(|_| anyhow::anyhow!("the password hashing threads are gone"))?;
        result.await.context("a password hashing job was dropped")
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// A hashing thread: runs jobs until every `PasswordHasher` is dropped.
fn work(queue: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        // The lock is held only while waiting for the next job, never while hashing.
        let job = queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .blocking_recv();
        match job {
            Some(job) => job(),
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PasswordHasher;
    use crate::domain::Password;

    #[tokio::test]
    async fn verifies_the_right_password_only() {
        let hasher = PasswordHasher::new().unwrap();
        let hash = hasher
            .hash(Password::parse("correct horse".into()).unwrap())
            .await
            .unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(
            hasher
                .verify("correct horse".into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify("wrong horse".into(), Some(hash))
                .await
                .unwrap()
        );
        assert!(!hasher.verify("correct horse".into(), None).await.unwrap());
    }
}
