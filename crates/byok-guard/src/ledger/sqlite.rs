//! `SqliteLedger`: the embedded default, one file, safe across processes.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, Row, Sqlite, SqlitePool, Transaction};

use super::sql::{Bind, SCHEMA, SqlDb, SqlLedger, SqlTx, forward_ledger};
use crate::GuardError;

/// A ledger in one SQLite file (WAL mode, `synchronous = NORMAL`).
///
/// Every mutation runs in a `BEGIN IMMEDIATE` transaction, so writers —
/// tasks or whole processes sharing the file — are serialised and a hold's
/// check-then-write is atomic. Amounts are stored as exact decimal text.
#[derive(Debug)]
pub struct SqliteLedger {
    inner: SqlLedger<SqliteDb>,
}

#[derive(Debug)]
pub(crate) struct SqliteDb {
    pool: SqlitePool,
}

fn err(e: sqlx::Error) -> GuardError {
    GuardError::Ledger {
        backend: "sqlite",
        message: e.to_string(),
    }
}

impl SqliteLedger {
    /// Open (creating if missing) `sqlite:PATH`, `sqlite://PATH` or `sqlite::memory:`.
    pub async fn open(url: &str) -> Result<SqliteLedger, GuardError> {
        let path = url
            .strip_prefix("sqlite:")
            .ok_or_else(|| GuardError::InvalidLedgerUrl {
                reason: "a SQLite URL starts with sqlite:".into(),
            })?;
        let path = path.strip_prefix("//").unwrap_or(path);
        if path.is_empty() {
            return Err(GuardError::InvalidLedgerUrl {
                reason: "the SQLite path is empty".into(),
            });
        }
        let in_memory = path == ":memory:";
        let options = if in_memory {
            SqliteConnectOptions::from_str("sqlite::memory:").map_err(err)?
        } else {
            SqliteConnectOptions::new().filename(path)
        };
        let options = options
            .create_if_missing(true)
            .journal_mode(if in_memory {
                SqliteJournalMode::Memory
            } else {
                SqliteJournalMode::Wal
            })
            // WAL + NORMAL: a commit survives a crash of any process; only an OS crash or
            // power loss can drop the last commits. FULL would cost an fsync per operation.
            .synchronous(SqliteSynchronous::Normal)
            // Writers queue behind `BEGIN IMMEDIATE`; wait rather than fail under contention.
            .busy_timeout(Duration::from_secs(60));
        let pool = SqlitePoolOptions::new()
            // An in-memory database exists per connection: keep exactly one.
            .max_connections(if in_memory { 1 } else { 4 })
            .connect_with(options)
            .await
            .map_err(err)?;
        let db = SqliteDb { pool };
        let mut tx = db.begin().await?;
        for stmt in SCHEMA {
            tx.exec(stmt, Vec::new()).await?;
        }
        tx.commit().await?;
        Ok(SqliteLedger {
            inner: SqlLedger { db },
        })
    }
}

forward_ledger!(SqliteLedger);

struct SqliteTx(Transaction<'static, Sqlite>);

#[async_trait]
impl SqlTx for SqliteTx {
    async fn rows(&mut self, sql: &str, binds: Vec<Bind>) -> Result<Vec<Vec<String>>, GuardError> {
        let mut q = sqlx::query(AssertSqlSafe(sql.to_owned()));
        for b in binds {
            q = match b {
                Bind::Text(s) => q.bind(s),
                Bind::Int(i) => q.bind(i),
            };
        }
        let rows = q.fetch_all(&mut *self.0).await.map_err(err)?;
        rows.iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| r.try_get::<String, _>(i).map_err(err))
                    .collect()
            })
            .collect()
    }

    async fn exec(&mut self, sql: &str, binds: Vec<Bind>) -> Result<u64, GuardError> {
        let mut q = sqlx::query(AssertSqlSafe(sql.to_owned()));
        for b in binds {
            q = match b {
                Bind::Text(s) => q.bind(s),
                Bind::Int(i) => q.bind(i),
            };
        }
        Ok(q.execute(&mut *self.0).await.map_err(err)?.rows_affected())
    }

    async fn commit(self: Box<Self>) -> Result<(), GuardError> {
        self.0.commit().await.map_err(err)
    }
}

#[async_trait]
impl SqlDb for SqliteDb {
    const BACKEND: &'static str = "sqlite";
    const LOCK_RESERVATION: &'static str = "";
    const LOCK: &'static str = "";

    async fn begin(&self) -> Result<Box<dyn SqlTx>, GuardError> {
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(err)?;
        Ok(Box::new(SqliteTx(tx)))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::SqliteLedger;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite_ledger_keeps_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("ledger.db").display());
        crate::conformance::run_all(Arc::new(SqliteLedger::open(&url).await.unwrap())).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite_in_memory_and_two_handles_on_one_file() {
        crate::conformance::run_all(Arc::new(
            SqliteLedger::open("sqlite::memory:").await.unwrap(),
        ))
        .await;
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("shared.db").display());
        let a = Arc::new(SqliteLedger::open(&url).await.unwrap());
        let b = Arc::new(SqliteLedger::open(&url).await.unwrap());
        // Two pools on one file stand in for two processes inside one test.
        let (ra, rb) = tokio::join!(
            crate::conformance::concurrent_holds_never_overspend(a, 8, 20),
            crate::conformance::concurrent_holds_never_overspend(b, 8, 20),
        );
        let _ = (ra, rb);
    }

    #[tokio::test]
    async fn bad_urls_are_coded() {
        assert_eq!(
            SqliteLedger::open("sqlite:").await.unwrap_err().code(),
            "invalid_ledger_url"
        );
        assert_eq!(
            SqliteLedger::open("postgres://x").await.unwrap_err().code(),
            "invalid_ledger_url"
        );
    }
}
