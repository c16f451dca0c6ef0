//! The token-signing secret: from the configuration, or generated once and kept in
//! `DATA_DIR/jwt-secret` with mode 0600, so tokens survive restarts.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};

const FILE_NAME: &str = "jwt-secret";
/// HS256 wants at least as many secret bytes as its output.
pub const MIN_SECRET_BYTES: usize = 32;

/// The configured secret if any, else the one stored in `data_dir` (made on first use).
///
/// # Errors
/// A configured secret that is too short, or a secret file that cannot be read or written.
pub fn load_or_create(
    configured: Option<&SecretString>,
    data_dir: &Path,
) -> anyhow::Result<SecretString> {
    if let Some(secret) = configured {
        if secret.expose_secret().len() < MIN_SECRET_BYTES {
            bail!("--jwt-secret must be at least {MIN_SECRET_BYTES} bytes");
        }
        return Ok(secret.clone());
    }
    let path = data_dir.join(FILE_NAME);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let secret = text.trim();
            if secret.len() < MIN_SECRET_BYTES {
                bail!(
                    "{} holds a secret shorter than {MIN_SECRET_BYTES} bytes",
                    path.display()
                );
            }
            warn_if_readable_by_others(&path);
            Ok(SecretString::from(secret.to_owned()))
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => create(&path),
        Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
    }
}

fn create(path: &Path) -> anyhow::Result<SecretString> {
    let mut bytes = [0u8; 48];
    rand::fill(&mut bytes);
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(secret.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    tracing::info!(path = %path.display(), "generated a new JWT secret");
    Ok(SecretString::from(secret))
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(path = %path.display(), "the JWT secret file is readable by others; chmod 600 it");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_once_with_private_permissions_and_reuses() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(None, dir.path()).unwrap();
        let second = load_or_create(None, dir.path()).unwrap();
        assert_eq!(first.expose_secret(), second.expose_secret());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(FILE_NAME))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn refuses_a_short_configured_secret() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load_or_create(Some(&SecretString::from("short".to_owned())), dir.path()).is_err());
    }
}
