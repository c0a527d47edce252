//! `PostgresLedger`: many application instances on one PostgreSQL database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use jiff::Timestamp;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, ConnectOptions, Postgres, Row, Transaction};
use tokio::sync::{Semaphore, SemaphorePermit};

use super::sql::{Bind, SCHEMA, SqlDb, SqlLedger, SqlTx};
use super::{
    Alert, BudgetStatus, Denied, DenyReason, HoldOutcome, HoldRequest, Ledger, RelabelRequest,
    Relabeled, ReleaseOutcome, ReservationId, SettleOutcome, distinct_scopes, over_limit,
};
use crate::budget::{Budget, Scope, Window};
use crate::cost::Label;
use crate::{GuardError, Usd};

/// The hot paths as PL/pgSQL functions; `__V__` becomes [`version`].
const FUNCTIONS: &str = include_str!("pg/functions.sql");

/// Instances starting together must not race on CREATE TABLE / FUNCTION.
const MIGRATION_LOCK: i64 = 7262853541;

/// Connections idle this long are pinged before use.
const IDLE_PING: Duration = Duration::from_secs(5);

/// Hot-path connections unused this long are closed.
const IDLE_CLOSE: Duration = Duration::from_secs(60);

/// Hot-path connections of a ledger from [`PostgresLedger::connect`].
const HOT_CONNECTIONS: u32 = 8;

/// How long a call waits for a connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

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
    hot: Hot,
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
        let inside =
            self.window.start.is_none_or(|s| s <= now) && self.window.end.is_none_or(|e| now < e);
        if !inside {
            self.window = self.budget.window(now)?;
            self.key = self.window.key();
        }
        Ok(&self.key)
    }
}

/// The connections of the hot paths: opened with the pool's settings, reused
/// most-recently-used first, never shared while a call runs.
///
/// sqlx's pool pings every connection it takes back (a round trip per call)
/// and hands calls round-robin to its connections; a call here costs one
/// round trip on the connection that served the previous one. A connection
/// that saw an error is closed, never reused.
struct Hot {
    options: PgConnectOptions,
    idle: Mutex<Vec<(PgConnection, Instant)>>,
    permits: Semaphore,
}

/// One connection taken from [`Hot`] for one call.
struct Lease<'a> {
    hot: &'a Hot,
    conn: Option<PgConnection>,
    _permit: SemaphorePermit<'a>,
}

impl Lease<'_> {
    fn conn(&mut self) -> &mut PgConnection {
        self.conn
            .as_mut()
            .expect("a lease holds its connection until kept")
    }

    /// The call succeeded: the connection goes back for the next one.
    fn keep(mut self) {
        if let Some(conn) = self.conn.take() {
            let mut idle = self.hot.idle();
            // Least recently used first: close those unused for a while.
            while idle
                .first()
                .is_some_and(|(_, at)| at.elapsed() >= IDLE_CLOSE)
            {
                idle.remove(0);
            }
            idle.push((conn, Instant::now()));
        }
    }
}

impl Hot {
    fn new(options: PgConnectOptions, max: u32) -> Hot {
        Hot {
            options,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(max.max(1) as usize),
        }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<(PgConnection, Instant)>> {
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn lease(&self) -> Result<Lease<'_>, GuardError> {
        let busy = || GuardError::Ledger {
            backend: "postgres",
            message: "every connection stayed busy for 5 s".to_owned(),
        };
        let permit = tokio::time::timeout(ACQUIRE_TIMEOUT, self.permits.acquire())
            .await
            .map_err(|_| busy())?
            .map_err(|_| busy())?;
        loop {
            let popped = self.idle().pop();
            let Some((mut conn, since)) = popped else {
                break;
            };
            // One that sat idle may have been cut (server restart, idle timeout).
            if since.elapsed() < IDLE_PING || sqlx::Connection::ping(&mut conn).await.is_ok() {
                return Ok(Lease {
                    hot: self,
                    conn: Some(conn),
                    _permit: permit,
                });
            }
        }
        let connect = async {
            let mut conn = self.options.connect().await?;
            // The functions rely on READ COMMITTED: each statement after the
            // budget locks sees what earlier lock holders committed. (They
            // refuse to run under another level, e.g. a database default.)
            sqlx::query("SET default_transaction_isolation = 'read committed'")
                .execute(&mut conn)
                .await?;
            Ok::<_, sqlx::Error>(conn)
        };
        let conn = tokio::time::timeout(ACQUIRE_TIMEOUT, connect)
            .await
            .map_err(|_| GuardError::Ledger {
                backend: "postgres",
                message: "connecting took more than 5 s".to_owned(),
            })?
            .map_err(err)?;
        Ok(Lease {
            hot: self,
            conn: Some(conn),
            _permit: permit,
        })
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
    ///
    /// Opens up to 8 connections for holds, settles, releases and relabels,
    /// and up to 2 more for budgets and status.
    pub async fn connect(url: &str) -> Result<PostgresLedger, GuardError> {
        let pool = PgPoolOptions::new()
            .max_connections(2)
            // Fail fast when the server is down; callers retry.
            .acquire_timeout(ACQUIRE_TIMEOUT)
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
        PostgresLedger::setup(pool, HOT_CONNECTIONS).await
    }

    /// Use an existing pool and create the tables and functions if missing.
    ///
    /// Budgets and status use the pool. Holds, settles, releases and relabels
    /// use connections of their own, opened with the pool's connect options,
    /// at most the pool's `max_connections` of them: sqlx's pool costs a
    /// round trip per call (it pings every connection it takes back).
    pub async fn with_pool(pool: PgPool) -> Result<PostgresLedger, GuardError> {
        let max = pool.options().get_max_connections();
        PostgresLedger::setup(pool, max).await
    }

    async fn setup(pool: PgPool, hot: u32) -> Result<PostgresLedger, GuardError> {
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
            hot: Hot::new((*pool.connect_options()).clone(), hot),
            inner: SqlLedger { db: PgDb { pool } },
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
        let s = budget.scope.as_str();
        let mut tx = self.pool().begin().await.map_err(err)?;
        // Holds and settles lock this row too: the carry below is atomic with them.
        let old: Option<String> =
            sqlx::query_scalar("SELECT spec FROM byok_guard_budgets WHERE scope = $1 FOR UPDATE")
                .bind(s)
                .fetch_optional(&mut *tx)
                .await
                .map_err(err)?;
        if let Some(old) = old {
            let old: Budget =
                serde_json::from_str(&old).map_err(|e| corrupt(format!("budget spec: {e}")))?;
            if let Some((from, into)) = budget.carry_from(&old, Timestamp::now())? {
                // Each statement takes (scope, from, into).
                for sql in [
                    "INSERT INTO byok_guard_spend AS s (scope, period, label, amount) \
                     SELECT scope, $3, label, amount FROM byok_guard_spend \
                     WHERE scope = $1 AND period = $2 \
                     ON CONFLICT (scope, period, label) \
                     DO UPDATE SET amount = (s.amount::numeric + excluded.amount::numeric)::text",
                    "DELETE FROM byok_guard_spend WHERE scope = $1 AND period = $2 AND $3::text IS NOT NULL",
                    "UPDATE byok_guard_holds SET period = $3 WHERE scope = $1 AND period = $2",
                    "INSERT INTO byok_guard_alerts (scope, period, percent) \
                     SELECT scope, $3, percent FROM byok_guard_alerts \
                     WHERE scope = $1 AND period = $2 ON CONFLICT DO NOTHING",
                    "DELETE FROM byok_guard_alerts WHERE scope = $1 AND period = $2 AND $3::text IS NOT NULL",
                ] {
                    sqlx::query(sql)
                        .bind(s)
                        .bind(&from)
                        .bind(&into)
                        .execute(&mut *tx)
                        .await
                        .map_err(err)?;
                }
            }
        }
        sqlx::query(
            "INSERT INTO byok_guard_budgets (scope, spec) VALUES ($1, $2) \
             ON CONFLICT (scope) DO UPDATE SET spec = excluded.spec",
        )
        .bind(s)
        .bind(&spec)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        tx.commit().await.map_err(err)?;
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
        req.check_ttl()?;
        let scopes = distinct_scopes(&req.scopes);
        let names: Vec<String> = scopes.iter().map(Scope::to_string).collect();
        let held_amount = req.amount.to_string();
        // A budget this instance has not seen (or that another replaced) costs one
        // more pass; more than a few means budgets are being rewritten nonstop.
        for _ in 0..4 {
            let (specs, keys, limits) = self.views(&scopes, req.now)?;
            let mut lease = self.hot.lease().await?;
            let rows = sqlx::query(AssertSqlSafe(self.calls.hold.clone()))
                .bind(req.id.to_string())
                .bind(&held_amount)
                .bind(req.now.as_millisecond())
                .bind(req.expires_at.as_millisecond())
                .bind(&names)
                .bind(specs)
                .bind(keys)
                .bind(limits)
                .fetch_all(lease.conn())
                .await
                .map_err(err)?;
            lease.keep();
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
        let mut lease = self.hot.lease().await?;
        let rows = sqlx::query(AssertSqlSafe(self.calls.settle.clone()))
            .bind(id.to_string())
            .bind(settled.to_string())
            .bind(label.as_str())
            .bind(now.as_millisecond())
            .fetch_all(lease.conn())
            .await
            .map_err(err)?;
        lease.keep();
        let mut alerts = Vec::new();
        let mut spent = Vec::new();
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
                "spent" => spent.push((
                    scope(&req_col(row, 1)?)?,
                    amount(&req_col(row, 2)?)?,
                    amount(&req_col(row, 3)?)?,
                    req_col(row, 4)?,
                )),
                "settled" => {
                    let expires: i64 = req_col(row, 2)?
                        .parse()
                        .map_err(|_| corrupt("reservation expiry"))?;
                    let late = now.as_millisecond() >= expires;
                    let over_limit = spent
                        .iter()
                        .filter_map(|(s, total, limit, period)| {
                            over_limit((s, *limit), *total, settled, period, late)
                        })
                        .collect();
                    return Ok(SettleOutcome::Settled { alerts, over_limit });
                }
                other => return Err(corrupt(format!("unexpected settle reply {other:?}"))),
            }
        }
        Err(corrupt("settle reply without an outcome"))
    }

    async fn release(&self, id: ReservationId) -> Result<ReleaseOutcome, GuardError> {
        let mut lease = self.hot.lease().await?;
        let reply: Option<String> = sqlx::query_scalar(AssertSqlSafe(self.calls.release.clone()))
            .bind(id.to_string())
            .fetch_one(lease.conn())
            .await
            .map_err(err)?;
        lease.keep();
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
        let mut lease = self.hot.lease().await?;
        let row = sqlx::query(AssertSqlSafe(self.calls.relabel.clone()))
            .bind(req.scope.as_str())
            .bind(req.start.as_millisecond())
            .bind(req.end.as_millisecond())
            .bind(from)
            .bind(req.to.as_str())
            .fetch_one(lease.conn())
            .await
            .map_err(err)?;
        lease.keep();
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
    #[cfg(test)]
    const LOCK_RESERVATION: &'static str = " FOR UPDATE OF r";
    const LOCK: &'static str = " FOR UPDATE";

    async fn begin(&self) -> Result<Box<dyn SqlTx>, GuardError> {
        Ok(Box::new(PgTx(self.pool.begin().await.map_err(err)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::Period;
    use jiff::SignedDuration;

    /// A ledger on `BYOK_TEST_POSTGRES_URL`, or `None` (skipped loudly) without one.
    async fn ledger(test: &str) -> Option<PostgresLedger> {
        match std::env::var("BYOK_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => Some(PostgresLedger::connect(&url).await.unwrap()),
            _ if std::env::var("BYOK_REQUIRE_SERVICES").as_deref() == Ok("1") => {
                panic!("BYOK_TEST_POSTGRES_URL is required for {test}")
            }
            _ => {
                eprintln!("SKIPPED (set BYOK_TEST_POSTGRES_URL): {test}");
                None
            }
        }
    }

    fn usd(s: &str) -> Usd {
        s.parse().unwrap()
    }

    fn scope(name: &str) -> Scope {
        Scope::custom(format!("pg-test:{name}:{}", uuid::Uuid::now_v7())).unwrap()
    }

    fn req(scopes: &[&Scope], amount: &str, now: Timestamp) -> HoldRequest {
        HoldRequest {
            id: ReservationId::new(),
            scopes: scopes.iter().map(|s| (*s).clone()).collect(),
            amount: usd(amount),
            now,
            expires_at: now + SignedDuration::from_mins(10),
        }
    }

    async fn held(l: &dyn Ledger, r: &HoldRequest) -> bool {
        matches!(l.hold(r).await.unwrap(), HoldOutcome::Held { .. })
    }

    #[tokio::test]
    async fn a_budget_replaced_by_another_instance_applies_at_once() {
        let (Some(a), Some(b)) = (
            ledger("a_budget_replaced_by_another_instance_applies_at_once").await,
            ledger("a_budget_replaced_by_another_instance_applies_at_once").await,
        ) else {
            return;
        };
        let s = scope("replaced");
        let now = Timestamp::now();
        a.put_budget(&Budget::new(s.clone(), usd("1"), Period::Total))
            .await
            .unwrap();
        // `b` learns the budget from its first hold, then keeps its copy.
        assert!(held(&b, &req(&[&s], "0.5", now)).await);
        a.put_budget(&Budget::new(s.clone(), usd("0.6"), Period::Day))
            .await
            .unwrap();
        match b.hold(&req(&[&s], "0.25", now)).await.unwrap() {
            HoldOutcome::Denied(d) => {
                assert_eq!((d.limit, d.reserved), (usd("0.6"), usd("0.5")));
            }
            other => panic!("b must apply a's new limit, got {other:?}"),
        }
        assert!(held(&b, &req(&[&s], "0.1", now)).await);
        // Deleted by another instance: the scope no longer limits anything.
        assert!(a.delete_budget(&s).await.unwrap());
        match b.hold(&req(&[&s], "100", now)).await.unwrap() {
            HoldOutcome::Held { budgets } => assert!(budgets.is_empty()),
            other => panic!("a deleted budget cannot deny, got {other:?}"),
        }
    }

    /// Instances of the previous version (multi-statement transactions over the
    /// same tables) and this one keep one set of books.
    #[tokio::test]
    async fn the_previous_version_shares_the_books() {
        let Some(new) = ledger("the_previous_version_shares_the_books").await else {
            return;
        };
        let old = SqlLedger {
            db: PgDb {
                pool: new.pool().clone(),
            },
        };
        let (s, t) = (scope("shared"), scope("shared-2"));
        let now = Timestamp::now();
        let budget = Budget::new(s.clone(), usd("1"), Period::Month).alerts([50]);
        old.put_budget(&budget).await.unwrap();
        new.put_budget(&Budget::new(t.clone(), usd("10"), Period::Day))
            .await
            .unwrap();
        let a = req(&[&s, &t], "0.5", now);
        assert!(matches!(
            old.hold(&a).await.unwrap(),
            HoldOutcome::Held { .. }
        ));
        // The old instance's hold counts for the new one, and the other way round.
        let b = req(&[&s], "0.5", now);
        assert!(held(&new, &b).await);
        assert!(matches!(
            old.hold(&req(&[&s], "0.01", now)).await.unwrap(),
            HoldOutcome::Denied(_)
        ));
        assert!(!held(&new, &req(&[&t, &s], "0.01", now)).await);
        // Settled by the other version: spend lands in the same rows, alerts fire once.
        match new
            .settle(a.id, usd("0.25"), Label::Estimated, now)
            .await
            .unwrap()
        {
            SettleOutcome::Settled { alerts, .. } => assert!(alerts.is_empty()),
            other => panic!("{other:?}"),
        }
        match old
            .settle(b.id, usd("0.375"), Label::Estimated, now)
            .await
            .unwrap()
        {
            SettleOutcome::Settled { alerts, .. } => {
                assert_eq!(alerts.len(), 1);
                assert_eq!(alerts[0].spent, usd("0.625"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            old.settle(a.id, usd("0.25"), Label::Estimated, now)
                .await
                .unwrap(),
            SettleOutcome::AlreadySettled
        );
        for l in [&new as &dyn Ledger] {
            let st = l.status(&s, now).await.unwrap().unwrap();
            assert_eq!((st.spent, st.held), (usd("0.625"), Usd::ZERO));
            assert_eq!(st.alerts_fired, vec![50]);
        }
        // Exactly the room left: 0.375 fits, a picodollar more does not.
        assert!(!held(&new, &req(&[&s], "0.375000000001", now)).await);
        assert!(held(&new, &req(&[&s], "0.375", now)).await);
        let moved = new
            .relabel(&RelabelRequest {
                scope: s.clone(),
                start: now,
                end: now + SignedDuration::from_secs(1),
                from: vec![Label::Estimated],
                to: Label::VerifiedByProvider,
            })
            .await
            .unwrap();
        assert_eq!((moved.calls, moved.moved_calls), (2, 2));
        assert_eq!(moved.moved, usd("0.625"));
        let st = new.status(&t, now).await.unwrap().unwrap();
        assert_eq!(
            st.spent_by_label.get(&Label::VerifiedByProvider),
            Some(&usd("0.25"))
        );
        assert_eq!(st.spent_by_label.get(&Label::Estimated), None);
    }

    /// Old and new instances racing on one budget admit exactly its room.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_previous_version_races_fairly() {
        let Some(new) = ledger("the_previous_version_races_fairly").await else {
            return;
        };
        let new = Arc::new(new);
        let old = Arc::new(SqlLedger {
            db: PgDb {
                pool: new.pool().clone(),
            },
        });
        let s = scope("mixed-race");
        new.put_budget(&Budget::new(s.clone(), usd("1"), Period::Total))
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for i in 0..16 {
            let (new, old, s) = (new.clone(), old.clone(), s.clone());
            tasks.push(tokio::spawn(async move {
                let mut admitted = 0;
                for _ in 0..10 {
                    let r = req(&[&s], "0.01", Timestamp::now());
                    let outcome = if i % 2 == 0 {
                        new.hold(&r).await.unwrap()
                    } else {
                        old.hold(&r).await.unwrap()
                    };
                    if let HoldOutcome::Held { .. } = outcome {
                        admitted += 1;
                        // Settle half of them on the other version, at the held amount.
                        if admitted % 2 == 0 {
                            let settled = if i % 2 == 0 {
                                old.settle(r.id, usd("0.01"), Label::Estimated, r.now).await
                            } else {
                                new.settle(r.id, usd("0.01"), Label::Estimated, r.now).await
                            };
                            settled.unwrap();
                        }
                    }
                }
                admitted
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        assert_eq!(
            total, 100,
            "exactly limit / amount admitted across versions"
        );
        let st = new.status(&s, Timestamp::now()).await.unwrap().unwrap();
        assert_eq!(st.spent.checked_add(st.held).unwrap(), usd("1"));
    }

    #[tokio::test]
    async fn the_functions_refuse_snapshot_isolation() {
        let Some(l) = ledger("the_functions_refuse_snapshot_isolation").await else {
            return;
        };
        let mut tx = l.pool().begin().await.unwrap();
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            .execute(&mut *tx)
            .await
            .unwrap();
        let e = sqlx::query(AssertSqlSafe(l.calls.settle.clone()))
            .bind(ReservationId::new().to_string())
            .bind("1")
            .bind("estimated")
            .bind(0i64)
            .fetch_all(&mut *tx)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("READ COMMITTED"), "{e}");
    }

    #[tokio::test]
    async fn figures_come_back_exact() {
        let Some(l) = ledger("figures_come_back_exact").await else {
            return;
        };
        let s = scope("exact");
        let now = Timestamp::now();
        l.put_budget(&Budget::new(s.clone(), usd("0.3"), Period::Week).alerts([100]))
            .await
            .unwrap();
        let a = req(&[&s], "0.1", now);
        let b = req(&[&s], "0.000000000001", now);
        assert!(held(&l, &a).await && held(&l, &b).await);
        match l.hold(&req(&[&s], "0.2", now)).await.unwrap() {
            HoldOutcome::Denied(d) => {
                assert_eq!(d.reserved, usd("0.100000000001"));
                assert_eq!(d.spent, Usd::ZERO);
            }
            other => panic!("{other:?}"),
        }
        l.settle(a.id, usd("0.15"), Label::Estimated, now)
            .await
            .unwrap();
        match l
            .settle(b.id, usd("0.15"), Label::Unavailable, now)
            .await
            .unwrap()
        {
            SettleOutcome::Settled { alerts, .. } => {
                assert_eq!(alerts.len(), 1);
                assert_eq!((alerts[0].spent, alerts[0].limit), (usd("0.3"), usd("0.3")));
                assert_eq!(alerts[0].percent, 100);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            l.release(b.id).await.unwrap_err().code(),
            "reservation_settled"
        );
    }
}
