//! Logging set-up. Filter with `SALA_LOG` (or `RUST_LOG`), e.g. `SALA_LOG=sala_server=debug`.
//!
//! What is logged is decided where it happens; the rule everywhere: never a password, a
//! token or a secret. Request spans carry method and path only, never headers.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

const DEFAULT_FILTER: &str = "info,sqlx=warn";

/// Installs the global subscriber. Call once, from the binary.
pub fn init(format: LogFormat) {
    let filter = std::env::var("SALA_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .map(EnvFilter::new)
        .unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Pretty => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// For tests: logs to the test writer when `TEST_LOG` is set; silent otherwise.
pub fn init_for_tests() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new("debug,sqlx=warn"))
            .with_test_writer()
            .try_init();
    }
}
