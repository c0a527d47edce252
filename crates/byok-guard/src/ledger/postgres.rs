//! `PostgresLedger`: many application instances on one PostgreSQL database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use jiff::Timestamp;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Postgres, Row, Transaction};

use super::sql::{Bind, SCHEMA, SqlDb, SqlLedger, SqlTx};
use super::{
    Alert, BudgetStatus, Denied, DenyReason, HoldOutcome, HoldRequest, Ledger, RelabelRequest,
    Relabeled, ReleaseOutcome, ReservationId, SettleOutcome, distinct_scopes,
};
use crate::budget::{Budget, Scope, Window};
use crate::cost::Label;
use crate::{GuardError, Usd};

/// The hot paths as PL/pgSQL functions; `__V__` becomes [`version`].
const FUNCTIONS: &str = include_str!("pg/functions.sql");

/// Instances starting together must not race on CREATE TABLE / FUNCTION.
const MIGRATION_LOCK: i64 = 7262853541;

/// Pooled connections idle this long are pinged before use.
const IDLE_PING: std::time::Duration = std::time::Duration::from_secs(5);

/// Scopes whose budget spec is remembered; past this the cache starts over.
const CACHE_LIMIT: usize = 4096;

/// A ledger in PostgreSQL (tables `byok_guard_*`, created if missing).
///
/// Hold, settle, release and relabel are each one call of a PL/pgSQL
/// function (one round trip, one transaction): it locks the scopes' budget
/// rows with `SELECT … FOR UPDATE` in scope order, reads spend and live holds
/// and writes, so concurrent instances never admit past a limit and never
/// deadlock. Amounts are exact decimal text, added as `numeric`.
///
/// Calendar periods are computed here, not in the database: each instance
/// remembers the budget specs it has seen and sends, with a hold, the spec
/// each period key was computed from; when another instance has replaced a
/// budget the function says so, and the hold is retried with the new spec
/// (one more round trip, once per change).
///
/// The functions are created at connect under names carrying a hash of their
/// source, so instances of different versions can share a database.
pub struct PostgresLedger {
    inner: SqlLedger<PgDb>,
    calls: Calls,
    specs: Mutex<HashMap<Scope, Known>>,
}

/// The SQL of each call, built once.
struct Calls {
    hold: Arc<str>,
    settle: Arc<str>,
    release: Arc<str>,
    relabel: Arc<str>,
}

/// A budget as this instance last saw it, and its period at some instant.
struct Known {
    spec: String,
    budget: Budget,
    limit: String,
    window: Window,
    key: String,
}

impl Known {
    fn new(spec: String, budget: Budget, now: Timestamp) -> Result<Known, GuardError> {
        let window = budget.window(now)?;
        Ok(Known {
            key: window.key(),
            limit: budget.limit.to_string(),
            spec,
            budget,
            window,
        })
    }

    /// The period key at `now` (recomputed when `now` left the remembered window).
    fn key_at(&mut self, now: Timestamp) -> Result<&str, GuardError> {
        let inside = self.window.start.is_none_or(|s| s <= now)
            && self.window.end.is_none_or(|e| now < e);
        if !inside {
            self.window = self.budget.window(now)?;
            self.key = self.window.key();
        }
        Ok(&self.key)
    }
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

fn corrupt(what: impl std::fmt::Display) -> GuardError {
    GuardError::CorruptLedger {
        backend: "postgres",
        message: what.to_string(),
    }
}

fn amount(text: &str) -> Result<Usd, GuardError> {
    Usd::parse(text).map_err(|_| corrupt(format!("amount {text:?} is not a decimal")))
}

fn scope(text: &str) -> Result<Scope, GuardError> {
    Scope::custom(text).map_err(|_| corrupt(format!("scope {text:?}")))
}

/// Text column `i` of a function's reply row (`None` for SQL NULL).
fn col(row: &PgRow, i: usize) -> Result<Option<String>, GuardError> {
    row.try_get::<Option<String>, _>(i).map_err(err)
}

/// Text column `i`, which must be present.
fn req_col(row: &PgRow, i: usize) -> Result<String, GuardError> {
    col(row, i)?.ok_or_else(|| corrupt(format!("reply column {i} is NULL")))
}

/// A short, stable name suffix from the functions' source (FNV-1a, 48 bits).
fn version() -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in FUNCTIONS.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{:012x}", h >> 16)
}

impl PostgresLedger {
    /// Connect to `postgres://…` and create the tables and functions if missing.
    pub async fn connect(url: &str) -> Result<PostgresLedger, GuardError> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            // Fail fast when the server is down; callers retry.
            .acquire_timeout(std::time::Duration::from_secs(5))
            // A health check on every acquire costs a round trip per call; check
            // only connections that sat idle (a restart while busy surfaces as an
            // error on the calls that hit a dead connection, which is then dropped).
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= IDLE_PING {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect(url)
            .await
            .map_err(err)?;
        PostgresLedger::with_pool(pool).await
    }

    /// Use an existing pool and create the tables and functions if missing.
    pub async fn with_pool(pool: PgPool) -> Result<PostgresLedger, GuardError> {
        let v = version();
        let name = |f: &str| format!("byok_guard_{f}_{v}");
        let mut tx: Transaction<'static, Postgres> = pool.begin().await.map_err(err)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        // Ledgers created before relabelling existed lack these columns.
        sqlx::query(
            "ALTER TABLE IF EXISTS byok_guard_reservations ADD COLUMN IF NOT EXISTS settled_at BIGINT, \
             ADD COLUMN IF NOT EXISTS amount TEXT, ADD COLUMN IF NOT EXISTS label TEXT",
        )
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        for stmt in SCHEMA {
            sqlx::query(stmt).execute(&mut *tx).await.map_err(err)?;
        }
        // The functions are created together, so one of them tells whether they exist.
        let present: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE p.proname = $1 AND n.nspname = current_schema())",
        )
        .bind(name("relabel"))
        .fetch_one(&mut *tx)
        .await
        .map_err(err)?;
        if !present {
            sqlx::raw_sql(AssertSqlSafe(FUNCTIONS.replace("__V__", &v)))
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        tx.commit().await.map_err(err)?;
        let calls = Calls {
            hold: format!(
                "SELECT r_tag, r_scope, r_a, r_b, r_c FROM {}($1, $2, $3, $4, $5, $6, $7, $8)",
                name("hold")
            )
            .into(),
            settle: format!(
                "SELECT r_tag, r_scope, r_a, r_b, r_c, r_d FROM {}($1, $2, $3, $4)",
                name("settle")
            )
            .into(),
            release: format!("SELECT {}($1)", name("release")).into(),
            relabel: format!(
                "SELECT r_calls, r_total, r_moved_calls, r_moved FROM {}($1, $2, $3, $4, $5)",
                name("relabel")
            )
            .into(),
        };
        Ok(PostgresLedger {
            inner: SqlLedger {
                db: PgDb { pool },
            },
            calls,
            specs: Mutex::new(HashMap::new()),
        })
    }

    fn pool(&self) -> &PgPool {
        &self.inner.db.pool
    }

    fn specs(&self) -> std::sync::MutexGuard<'_, HashMap<Scope, Known>> {
        // The map is only a cache: a panic elsewhere leaves it usable.
        self.specs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Remember a budget's spec (as stored) for later holds.
    fn remember(&self, spec: String, budget: Budget, now: Timestamp) -> Result<(), GuardError> {
        let known = Known::new(spec, budget, now)?;
        let mut specs = self.specs();
        if specs.len() >= CACHE_LIMIT && !specs.contains_key(&known.budget.scope) {
            specs.clear();
        }
        specs.insert(known.budget.scope.clone(), known);
        Ok(())
    }

    /// Per scope: the remembered spec ('' when unknown), its period key at `now`, its limit.
    #[allow(clippy::type_complexity)]
    fn views(
        &self,
        scopes: &[Scope],
        now: Timestamp,
    ) -> Result<(Vec<String>, Vec<String>, Vec<String>), GuardError> {
        let mut specs = self.specs();
        let (mut s, mut k, mut l) = (
            Vec::with_capacity(scopes.len()),
            Vec::with_capacity(scopes.len()),
            Vec::with_capacity(scopes.len()),
        );
        for scope in scopes {
            match specs.get_mut(scope) {
                Some(known) => {
                    k.push(known.key_at(now)?.to_owned());
                    s.push(known.spec.clone());
                    l.push(known.limit.clone());
                }
                None => {
                    s.push(String::new());
                    k.push(String::new());
                    l.push("0".to_owned());
                }
            }
        }
        Ok((s, k, l))
    }
}

#[async_trait]
impl Ledger for PostgresLedger {
    async fn put_budget(&self, budget: &Budget) -> Result<(), GuardError> {
        budget.validate()?;
        let spec = serde_json::to_string(budget).map_err(corrupt)?;
        sqlx::query(
            "INSERT INTO byok_guard_budgets (scope, spec) VALUES ($1, $2) \
             ON CONFLICT (scope) DO UPDATE SET spec = excluded.spec",
        )
        .bind(budget.scope.as_str())
        .bind(&spec)
        .execute(self.pool())
        .await
        .map_err(err)?;
        self.remember(spec, budget.clone(), Timestamp::now())
    }

    async fn budget(&self, scope: &Scope) -> Result<Option<Budget>, GuardError> {
        self.inner.budget(scope).await
    }

    async fn delete_budget(&self, scope: &Scope) -> Result<bool, GuardError> {
        self.specs().remove(scope);
        self.inner.delete_budget(scope).await
    }

    async fn hold(&self, req: &HoldRequest) -> Result<HoldOutcome, GuardError> {
        let scopes = distinct_scopes(&req.scopes);
        let names: Vec<String> = scopes.iter().map(Scope::to_string).collect();
        let held_amount = req.amount.to_string();
        // A budget this instance has not seen (or that another replaced) costs one
        // more pass; more than a few means budgets are being rewritten nonstop.
        for _ in 0..4 {
            let (specs, keys, limits) = self.views(&scopes, req.now)?;
            let rows = sqlx::query(AssertSqlSafe(self.calls.hold.clone()))
                .bind(req.id.to_string())
                .bind(&held_amount)
                .bind(req.now.as_millisecond())
                .bind(req.expires_at.as_millisecond())
                .bind(&names)
                .bind(specs)
                .bind(keys)
                .bind(limits)
                .fetch_all(self.pool())
                .await
                .map_err(err)?;
            let tag = match rows.first() {
                Some(row) => req_col(row, 0)?,
                None => return Err(corrupt("empty hold reply")),
            };
            match tag.as_str() {
                "held" => {
                    let mut budgets = Vec::new();
                    for row in &rows {
                        if let Some(s) = col(row, 1)? {
                            budgets.push(scope(&s)?);
                        }
                    }
                    return Ok(HoldOutcome::Held { budgets });
                }
                "denied" => {
                    let row = &rows[0];
                    return Ok(HoldOutcome::Denied(Denied {
                        budget: scope(&req_col(row, 1)?)?,
                        limit: amount(&req_col(row, 2)?)?,
                        spent: amount(&req_col(row, 3)?)?,
                        reserved: amount(&req_col(row, 4)?)?,
                        needed: Some(req.amount),
                        reason: DenyReason::OverLimit,
                    }));
                }
                "stale" => {
                    for row in &rows {
                        let spec = req_col(row, 2)?;
                        let budget: Budget = serde_json::from_str(&spec)
                            .map_err(|e| corrupt(format!("budget spec: {e}")))?;
                        if budget.scope.as_str() != req_col(row, 1)? {
                            return Err(corrupt("a budget spec names another scope"));
                        }
                        self.remember(spec, budget, req.now)?;
                    }
                }
                other => return Err(corrupt(format!("unexpected hold reply {other:?}"))),
            }
        }
        Err(GuardError::Ledger {
            backend: "postgres",
            message: "the budgets of this request kept changing while it was decided".to_owned(),
        })
    }

    async fn settle(
        &self,
        id: ReservationId,
        settled: Usd,
        label: Label,
        now: Timestamp,
    ) -> Result<SettleOutcome, GuardError> {
        let rows = sqlx::query(AssertSqlSafe(self.calls.settle.clone()))
            .bind(id.to_string())
            .bind(settled.to_string())
            .bind(label.as_str())
            .bind(now.as_millisecond())
            .fetch_all(self.pool())
            .await
            .map_err(err)?;
        let mut alerts = Vec::new();
        for row in &rows {
            match req_col(row, 0)?.as_str() {
                "not_found" => return Err(GuardError::ReservationNotFound { id: id.to_string() }),
                "released" => return Err(GuardError::ReservationReleased { id: id.to_string() }),
                "already" => return Ok(SettleOutcome::AlreadySettled),
                "alert" => alerts.push(Alert {
                    scope: scope(&req_col(row, 1)?)?,
                    percent: req_col(row, 2)?
                        .parse()
                        .map_err(|_| corrupt("alert percent"))?,
                    spent: amount(&req_col(row, 3)?)?,
                    limit: amount(&req_col(row, 4)?)?,
                    period: req_col(row, 5)?,
                }),
                "settled" => return Ok(SettleOutcome::Settled { alerts }),
                other => return Err(corrupt(format!("unexpected settle reply {other:?}"))),
            }
        }
        Err(corrupt("settle reply without an outcome"))
    }

    async fn release(&self, id: ReservationId) -> Result<ReleaseOutcome, GuardError> {
        let reply: Option<String> = sqlx::query_scalar(AssertSqlSafe(self.calls.release.clone()))
            .bind(id.to_string())
            .fetch_one(self.pool())
            .await
            .map_err(err)?;
        match reply.as_deref() {
            Some("released") => Ok(ReleaseOutcome::Released),
            Some("already") => Ok(ReleaseOutcome::AlreadyReleased),
            Some("settled") => Err(GuardError::ReservationSettled { id: id.to_string() }),
            Some("not_found") => Err(GuardError::ReservationNotFound { id: id.to_string() }),
            other => Err(corrupt(format!("unexpected release reply {other:?}"))),
        }
    }

    async fn relabel(&self, req: &RelabelRequest) -> Result<Relabeled, GuardError> {
        let from: Vec<&str> = req.from.iter().map(|l| l.as_str()).collect();
        let row = sqlx::query(AssertSqlSafe(self.calls.relabel.clone()))
            .bind(req.scope.as_str())
            .bind(req.start.as_millisecond())
            .bind(req.end.as_millisecond())
            .bind(from)
            .bind(req.to.as_str())
            .fetch_one(self.pool())
            .await
            .map_err(err)?;
        let count = |i: usize| -> Result<u64, GuardError> {
            let n: i64 = row.try_get(i).map_err(err)?;
            u64::try_from(n).map_err(|_| corrupt(format!("count {n}")))
        };
        Ok(Relabeled {
            calls: count(0)?,
            total: amount(&req_col(&row, 1)?)?,
            moved_calls: count(2)?,
            moved: amount(&req_col(&row, 3)?)?,
        })
    }

    async fn status(
        &self,
        scope: &Scope,
        now: Timestamp,
    ) -> Result<Option<BudgetStatus>, GuardError> {
        self.inner.status(scope, now).await
    }
}

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
