//! Password hashing with argon2id at OWASP's recommended cost (19 MiB, 2 passes, 1 lane:
//! the crate's defaults).
//!
//! Hashing is CPU- and memory-heavy, so it runs on the blocking pool, carrying the caller's
//! span, and a semaphore caps how many run at once: a burst of logins queues instead of
//! taking every core and `19 MiB × N` of memory.

use std::sync::Arc;

use anyhow::Context;
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::domain::Password;

/// Hashes and verifies passwords. Cheap to clone.
#[derive(Clone)]
pub struct PasswordHasher {
    /// Bounds concurrent hashes to the number of cores.
    permits: Arc<Semaphore>,
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
        Ok(Self {
            permits: Arc::new(Semaphore::new(cores)),
            dummy_hash: dummy_hash.into(),
        })
    }

    /// Hashes a new password into a PHC string.
    ///
    /// # Errors
    /// When hashing fails (no randomness for the salt) or the blocking task dies.
    pub async fn hash(&self, password: Password) -> anyhow::Result<String> {
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
        let _permit = self
            .permits
            .acquire()
            .await
            .context("BUG: the hashing semaphore is never closed")?;
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(work))
            .instrument(tracing::Span::current())
            .await
            .context("password hashing task failed")
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
