//! Throwaway databases for tests (feature `test-support`).
//!
//! Each test gets a database of its own on the server that `SALA_TEST_MYSQL_URL` names
//! (an account that may create databases, e.g. `mysql://sala:sala@127.0.0.1:3307/`;
//! `scripts/test.sh` starts a throwaway MariaDB and sets it). Tests that need more than one node, like
//! multi-node server tests, connect several stores to the same [`TempDatabase::url`].
//!
//! Not for production code: failures panic, as test helpers do. A test that panics before
//! [`TempDatabase::drop_now`] leaves its database behind; the throwaway server goes with it
//! when `scripts/services.sh` stops it. (Dropping from `Drop` would need a runtime of its
//! own, since `Drop` cannot await.)

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use sqlx::{AssertSqlSafe, Connection, MySqlConnection};

/// The environment variable holding the admin URL.
pub const ADMIN_URL_VAR: &str = "SALA_TEST_MYSQL_URL";

/// A database created for one test, to be dropped when it is done.
#[derive(Debug)]
pub struct TempDatabase {
    /// Where the test connects: the admin URL with this database's name as its path.
    pub url: String,
    /// The server's admin URL, to drop the database from outside it.
    admin_url: String,
    /// `sala_test_` and 16 hex digits: safe to splice into SQL unquoted.
    name: String,
}

impl TempDatabase {
    /// Creates an empty database with a fresh random name.
    ///
    /// # Panics
    /// When `SALA_TEST_MYSQL_URL` is unset, or the server refuses the connection or the
    /// `CREATE DATABASE`.
    pub async fn create() -> Self {
        let admin_url = std::env::var(ADMIN_URL_VAR).unwrap_or_else(|_| {
            panic!(
                "{ADMIN_URL_VAR} is not set: these tests need a MySQL or MariaDB server. \
                 scripts/test.sh starts one and sets it; by hand: \
                 `source scripts/services.sh && start_mariadb`, then run the tests with \
                 `-- --include-ignored` in that shell"
            )
        });
        let name = format!("sala_test_{:016x}", random_u64());
        let mut admin = admin_connection(&admin_url).await;
        // `name` is made of `[a-z0-9_]` by the line above, so it needs no quoting.
        sqlx::raw_sql(AssertSqlSafe(format!(
            "CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        )))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|err| panic!("CREATE DATABASE {name}: {err}"));
        // The database exists now either way; a failed close only leaks a connection.
        let _ = admin.close().await;
        Self {
            url: with_database(&admin_url, &name),
            admin_url,
            name,
        }
    }

    /// The database's name, for tests that look at it through the admin connection.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the database.
    ///
    /// # Panics
    /// When the server refuses the connection or the `DROP DATABASE`.
    pub async fn drop_now(self) {
        let mut admin = admin_connection(&self.admin_url).await;
        let name = &self.name;
        sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}")))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|err| panic!("DROP DATABASE {name}: {err}"));
        let _ = admin.close().await;
    }
}

async fn admin_connection(admin_url: &str) -> MySqlConnection {
    MySqlConnection::connect(admin_url)
        .await
        .unwrap_or_else(|err| panic!("connecting to {ADMIN_URL_VAR} ({admin_url}): {err}"))
}

/// A fresh random number without a `rand` dependency: std's `RandomState` is seeded from the
/// OS per thread, and the counter and clock keep two calls on one thread apart.
fn random_u64() -> u64 {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    RandomState::new().hash_one((
        std::process::id(),
        SystemTime::now(),
        CALLS.fetch_add(1, Ordering::Relaxed),
    ))
}

/// `url` with its path (the database name) replaced by `database`, keeping the query.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority = base.find("://").map_or(0, |at| at + "://".len());
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |at| authority + at);
    let mut out = format!("{}/{database}", &base[..path]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{random_u64, with_database};

    #[test]
    fn the_database_name_replaces_the_path_and_keeps_the_query() {
        let cases = [
            (
                "mysql://sala:sala@127.0.0.1:3307/",
                "mysql://sala:sala@127.0.0.1:3307/t",
            ),
            (
                "mysql://sala@127.0.0.1:3307",
                "mysql://sala@127.0.0.1:3307/t",
            ),
            (
                "mysql://u:p@h/db?ssl-mode=disabled",
                "mysql://u:p@h/t?ssl-mode=disabled",
            ),
        ];
        for (admin, expected) in cases {
            assert_eq!(with_database(admin, "t"), expected, "{admin}");
        }
    }

    #[test]
    fn random_names_differ() {
        assert_ne!(random_u64(), random_u64());
    }
}
