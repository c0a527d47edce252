//! `PostgresLedger`: many application instances on one PostgreSQL database.

use async_trait::async_trait;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Postgres, Row, Transaction};

use super::sql::{Bind, SCHEMA, SqlDb, SqlLedger, SqlTx, forward_ledger};
use crate::GuardError;

/// A ledger in PostgreSQL (tables `byok_guard_*`, created if missing).
///
/// One transaction per operation: a hold locks its scopes' budget rows with
/// `SELECT … FOR UPDATE` in scope order, reads spend and live holds, and
/// inserts the hold, so concurrent instances never admit past a limit and
/// never deadlock. Amounts are exact decimal text.
pub struct PostgresLedger {
    inner: SqlLedger<PgDb>,
}

impl std::fmt::Debug for PostgresLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The pool's options hold the connection password: never print them.
        f.debug_struct("PostgresLedger").finish_non_exhaustive()
    }
}

pub(crate) struct PgDb {
    pool: PgPool,
}

impl std::fmt::Debug for PgDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgDb").finish_non_exhaustive()
    }
}

fn err(e: sqlx::Error) -> GuardError {
    let message = match e {
        // Configuration errors can echo the URL, which may hold a password.
        sqlx::Error::Configuration(_) => "the connection settings are invalid".to_owned(),
        other => other.to_string(),
    };
    GuardError::Ledger {
        backend: "postgres",
        message,
    }
}

impl PostgresLedger {
    /// Connect to `postgres://…` and create the tables if missing.
    pub async fn connect(url: &str) -> Result<PostgresLedger, GuardError> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            // Fail fast when the server is down; callers retry.
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(err)?;
        PostgresLedger::with_pool(pool).await
    }

    /// Use an existing pool and create the tables if missing.
    pub async fn with_pool(pool: PgPool) -> Result<PostgresLedger, GuardError> {
        let db = PgDb { pool };
        let mut tx = db.begin().await?;
        // Instances starting together must not race on CREATE TABLE.
        tx.exec("SELECT pg_advisory_xact_lock(7262853541)", Vec::new())
            .await?;
        // Ledgers created before relabelling existed lack these columns.
        tx.exec(
            "ALTER TABLE IF EXISTS byok_guard_reservations ADD COLUMN IF NOT EXISTS settled_at BIGINT, \
             ADD COLUMN IF NOT EXISTS amount TEXT, ADD COLUMN IF NOT EXISTS label TEXT",
            Vec::new(),
        )
        .await?;
        for stmt in SCHEMA {
            tx.exec(stmt, Vec::new()).await?;
        }
        tx.commit().await?;
        Ok(PostgresLedger {
            inner: SqlLedger { db },
        })
    }
}

forward_ledger!(PostgresLedger);

struct PgTx(Transaction<'static, Postgres>);

fn query(
    sql: &str,
    binds: Vec<Bind>,
) -> sqlx::query::Query<'static, Postgres, sqlx::postgres::PgArguments> {
    let mut q = sqlx::query(AssertSqlSafe(sql.to_owned()));
    for b in binds {
        q = match b {
            Bind::Text(s) => q.bind(s),
            Bind::Int(i) => q.bind(i),
        };
    }
    q
}

#[async_trait]
impl SqlTx for PgTx {
    async fn rows(&mut self, sql: &str, binds: Vec<Bind>) -> Result<Vec<Vec<String>>, GuardError> {
        let rows = query(sql, binds)
            .fetch_all(&mut *self.0)
            .await
            .map_err(err)?;
        rows.iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| r.try_get::<String, _>(i).map_err(err))
                    .collect()
            })
            .collect()
    }

    async fn exec(&mut self, sql: &str, binds: Vec<Bind>) -> Result<u64, GuardError> {
        Ok(query(sql, binds)
            .execute(&mut *self.0)
            .await
            .map_err(err)?
            .rows_affected())
    }

    async fn commit(self: Box<Self>) -> Result<(), GuardError> {
        self.0.commit().await.map_err(err)
    }
}

#[async_trait]
impl SqlDb for PgDb {
    const BACKEND: &'static str = "postgres";
    const LOCK_RESERVATION: &'static str = " FOR UPDATE OF r";
    const LOCK: &'static str = " FOR UPDATE";

    async fn begin(&self) -> Result<Box<dyn SqlTx>, GuardError> {
        Ok(Box::new(PgTx(self.pool.begin().await.map_err(err)?)))
    }
}
