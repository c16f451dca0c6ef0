//! Statements whose shape depends on the data (a batch of N rows, a list of N ids), written
//! with their values in the SQL text and sent as one plain query, not prepared.
//!
//! Why not sqlx's `QueryBuilder`: every N is another statement text, so it is another
//! prepared statement, and sqlx's per-connection cache (100 statements) soon evicts one at
//! each batch. The eviction sends `COM_STMT_CLOSE`, which the server never answers, and
//! sqlx's socket keeps Nagle's algorithm on: the next command then waits for the delayed
//! ACK of that close, about 40 ms on Linux. Measured with the rooms benchmark over TCP:
//! 22 ms a batch while the cache filled, then 175 to 270 ms a batch, in steps of 45 ms;
//! over a Unix socket (no Nagle) 14 ms throughout. A plain query is one round trip, never
//! prepared and never closed.
//!
//! The values cannot change the statement: integers are written as digits, text as
//! `_utf8mb4 X'…'` (hexadecimal digits only, so no quote or backslash can end it), and
//! nothing else is accepted.

use std::fmt::Write as _;

use sqlx::mysql::{MySqlQueryResult, MySqlRow};
use sqlx::{AssertSqlSafe, Executor, FromRow, MySql};

use crate::error::map_err;
use sala_store::StoreError;

/// A statement being written, values in line.
pub(crate) struct Sql(String);

impl Sql {
    pub(crate) fn new(start: &'static str) -> Self {
        Self(start.to_owned())
    }

    /// SQL text of the statement's own.
    pub(crate) fn push(&mut self, sql: &'static str) -> &mut Self {
        self.0.push_str(sql);
        self
    }

    pub(crate) fn int(&mut self, value: i64) -> &mut Self {
        // Writing to a String cannot fail.
        let _ = write!(self.0, "{value}");
        self
    }

    pub(crate) fn bool(&mut self, value: bool) -> &mut Self {
        self.push(if value { "TRUE" } else { "FALSE" })
    }

    /// A text value, as a hexadecimal utf8mb4 literal.
    pub(crate) fn text(&mut self, value: &str) -> &mut Self {
        self.0.reserve(value.len() * 2 + 12);
        self.0.push_str("_utf8mb4 X'");
        for byte in value.bytes() {
            let _ = write!(self.0, "{byte:02x}");
        }
        self.0.push('\'');
        self
    }

    pub(crate) fn opt_text(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            Some(value) => self.text(value),
            None => self.push("NULL"),
        }
    }

    /// `ids` separated by commas (the caller writes the parentheses).
    pub(crate) fn ints(&mut self, ids: &[i64]) -> &mut Self {
        for (at, id) in ids.iter().enumerate() {
            if at > 0 {
                self.0.push_str(", ");
            }
            self.int(*id);
        }
        self
    }

    /// `values` as texts separated by commas.
    pub(crate) fn texts<'a>(&mut self, values: impl IntoIterator<Item = &'a str>) -> &mut Self {
        for (at, value) in values.into_iter().enumerate() {
            if at > 0 {
                self.0.push_str(", ");
            }
            self.text(value);
        }
        self
    }

    /// Runs it; the driver's error, to tell a duplicate key apart.
    pub(crate) async fn execute_raw<'c, E>(
        self,
        executor: E,
    ) -> Result<MySqlQueryResult, sqlx::Error>
    where
        E: Executor<'c, Database = MySql>,
    {
        sqlx::raw_sql(AssertSqlSafe(self.0)).execute(executor).await
    }

    pub(crate) async fn execute<'c, E>(self, executor: E) -> Result<MySqlQueryResult, StoreError>
    where
        E: Executor<'c, Database = MySql>,
    {
        self.execute_raw(executor).await.map_err(map_err)
    }

    /// Runs it and reads every row as a `T`.
    pub(crate) async fn fetch_all<'c, T, E>(self, executor: E) -> Result<Vec<T>, StoreError>
    where
        T: for<'r> FromRow<'r, MySqlRow>,
        E: Executor<'c, Database = MySql>,
    {
        let rows = sqlx::raw_sql(AssertSqlSafe(self.0))
            .fetch_all(executor)
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|row| T::from_row(row).map_err(map_err))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::Sql;

    #[test]
    fn values_are_digits_and_hexadecimal_only() {
        let mut sql = Sql::new("SELECT ");
        sql.int(-7)
            .push(", ")
            .text("a'b\\c 😀")
            .push(", ")
            .opt_text(None)
            .push(", ")
            .bool(true)
            .push(" IN (")
            .ints(&[1, 2])
            .push(")");
        assert_eq!(
            sql.0,
            "SELECT -7, _utf8mb4 X'6127625c6320f09f9880', NULL, TRUE IN (1, 2)"
        );
    }
}
