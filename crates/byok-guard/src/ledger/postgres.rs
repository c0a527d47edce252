//! `PostgresLedger`: many application instances on one PostgreSQL database.
//!
//! This file is what ships: setup, the hot paths (one PL/pgSQL function call
//! each, `postgres/functions.sql`) and the cold paths (budgets, status) as
//! plain queries. `postgres/hot.rs` is the connection pool of the hot paths;
//! `postgres/previous.rs` (tests only) is the previous version, kept to prove
//! that old and new instances can share a database.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use jiff::Timestamp;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Postgres, Row, Transaction};

use super::row::Rows;
use super::schema::{self, Dialect, SETTLE_COLUMNS};
use super::{
    Alert, Buckets, BudgetStatus, Denied, DenyReason, HistoryRequest, HoldOutcome, HoldRequest,
    Ledger, RelabelRequest, Relabeled, ReleaseOutcome, ReservationId, SettleOutcome, SpendBucket,
    distinct_scopes, over_limit, status_of,
};
use crate::budget::{Budget, CachedBudget, Scope};
use crate::cost::Label;
use crate::{GuardError, Usd};

mod hot;
#[cfg(test)]
mod previous;
#[cfg(test)]
mod tests;

use hot::{ACQUIRE_TIMEOUT, Hot, IDLE_PING};

/// Reads stored text back (errors name the `postgres` backend).
const ROWS: Rows = Rows::new("postgres");

/// The hot paths as PL/pgSQL functions; `__V__` becomes [`version`].
const FUNCTIONS: &str = include_str!("postgres/functions.sql");

/// Instances starting together must not race on CREATE TABLE / FUNCTION.
const MIGRATION_LOCK: i64 = 7262853541;

/// Hot-path connections of a ledger from [`PostgresLedger::connect`].
const HOT_CONNECTIONS: u32 = 8;

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
    /// Budgets, status, setup.
    pool: PgPool,
    /// Holds, settles, releases, relabels.
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

/// A budget as this instance last saw it (its spec as stored, its limit as
/// sent to the functions) and its current period.
struct Known {
    spec: String,
    limit: String,
    cached: CachedBudget,
}

impl Known {
    fn new(spec: String, budget: Budget, now: Timestamp) -> Result<Known, GuardError> {
        let limit = budget.limit.to_string();
        let mut cached = CachedBudget::new(budget);
        cached.period_key(now)?;
        Ok(Known {
            spec,
            limit,
            cached,
        })
    }
}

impl std::fmt::Debug for PostgresLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The pool's options hold the connection password: never print them.
        f.debug_struct("PostgresLedger").finish_non_exhaustive()
    }
}

/// A driver error, never echoing the connection settings.
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

/// Text column `i` of a function's reply row (`None` for SQL NULL).
fn col(row: &PgRow, i: usize) -> Result<Option<String>, GuardError> {
    row.try_get::<Option<String>, _>(i).map_err(err)
}

/// Text column `i`, which must be present.
fn req_col(row: &PgRow, i: usize) -> Result<String, GuardError> {
    col(row, i)?.ok_or_else(|| ROWS.corrupt(format!("reply column {i} is NULL")))
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
    pub async fn from_pool(pool: PgPool) -> Result<PostgresLedger, GuardError> {
        let max = pool.options().get_max_connections();
        PostgresLedger::setup(pool, max).await
    }

    /// The former name of [`from_pool`](Self::from_pool).
    #[deprecated(
        since = "0.2.0",
        note = "renamed `from_pool` (byok's constructor names: `open(path)`, `connect(url)`, `from_pool(pool)`)"
    )]
    pub async fn with_pool(pool: PgPool) -> Result<PostgresLedger, GuardError> {
        PostgresLedger::from_pool(pool).await
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
        for stmt in schema::tables(Dialect::Postgres) {
            sqlx::query(AssertSqlSafe(stmt))
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        // Ledgers created before relabelling existed lack these columns.
        let add: Vec<String> = SETTLE_COLUMNS
            .iter()
            .map(|(name, ty)| format!("ADD COLUMN IF NOT EXISTS {name} {ty}"))
            .collect();
        sqlx::query(AssertSqlSafe(format!(
            "ALTER TABLE byok_guard_reservations {}",
            add.join(", ")
        )))
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        for stmt in schema::indexes(Dialect::Postgres) {
            sqlx::query(AssertSqlSafe(stmt))
                .execute(&mut *tx)
                .await
                .map_err(err)?;
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
            pool,
            calls,
            specs: Mutex::new(HashMap::new()),
        })
    }

    fn pool(&self) -> &PgPool {
        &self.pool
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
        let scope = known.cached.budget().scope.clone();
        if specs.len() >= CACHE_LIMIT && !specs.contains_key(&scope) {
            specs.clear();
        }
        specs.insert(scope, known);
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
                    k.push(known.cached.period_key(now)?.to_string());
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
        let spec = ROWS.spec(budget)?;
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
            let old = ROWS.budget(&old)?;
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
        let spec: Option<String> =
            sqlx::query_scalar("SELECT spec FROM byok_guard_budgets WHERE scope = $1")
                .bind(scope.as_str())
                .fetch_optional(self.pool())
                .await
                .map_err(err)?;
        spec.map(|spec| ROWS.budget(&spec)).transpose()
    }

    async fn delete_budget(&self, scope: &Scope) -> Result<bool, GuardError> {
        self.specs().remove(scope);
        let deleted = sqlx::query("DELETE FROM byok_guard_budgets WHERE scope = $1")
            .bind(scope.as_str())
            .execute(self.pool())
            .await
            .map_err(err)?
            .rows_affected();
        Ok(deleted > 0)
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
                None => return Err(ROWS.corrupt("empty hold reply")),
            };
            match tag.as_str() {
                "held" => {
                    let mut budgets = Vec::new();
                    for row in &rows {
                        if let Some(s) = col(row, 1)? {
                            budgets.push(ROWS.scope(&s)?);
                        }
                    }
                    return Ok(HoldOutcome::Held { budgets });
                }
                "denied" => {
                    let row = &rows[0];
                    return Ok(HoldOutcome::Denied(Denied {
                        budget: ROWS.scope(&req_col(row, 1)?)?,
                        limit: ROWS.amount(&req_col(row, 2)?)?,
                        spent: ROWS.amount(&req_col(row, 3)?)?,
                        reserved: ROWS.amount(&req_col(row, 4)?)?,
                        needed: Some(req.amount),
                        reason: DenyReason::OverLimit,
                    }));
                }
                "stale" => {
                    for row in &rows {
                        let spec = req_col(row, 2)?;
                        let budget = ROWS.budget(&spec)?;
                        if budget.scope.as_str() != req_col(row, 1)? {
                            return Err(ROWS.corrupt("a budget spec names another scope"));
                        }
                        self.remember(spec, budget, req.now)?;
                    }
                }
                other => return Err(ROWS.corrupt(format!("unexpected hold reply {other:?}"))),
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
                    scope: ROWS.scope(&req_col(row, 1)?)?,
                    percent: ROWS.percent(&req_col(row, 2)?)?,
                    spent: ROWS.amount(&req_col(row, 3)?)?,
                    limit: ROWS.amount(&req_col(row, 4)?)?,
                    period: req_col(row, 5)?,
                }),
                "spent" => spent.push((
                    ROWS.scope(&req_col(row, 1)?)?,
                    ROWS.amount(&req_col(row, 2)?)?,
                    ROWS.amount(&req_col(row, 3)?)?,
                    req_col(row, 4)?,
                )),
                "settled" => {
                    let expires: i64 = req_col(row, 2)?
                        .parse()
                        .map_err(|_| ROWS.corrupt("reservation expiry"))?;
                    let late = now.as_millisecond() >= expires;
                    let over_limit = spent
                        .iter()
                        .filter_map(|(s, total, limit, period)| {
                            over_limit((s, *limit), *total, settled, period, late)
                        })
                        .collect();
                    return Ok(SettleOutcome::Settled { alerts, over_limit });
                }
                other => return Err(ROWS.corrupt(format!("unexpected settle reply {other:?}"))),
            }
        }
        Err(ROWS.corrupt("settle reply without an outcome"))
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
            other => Err(ROWS.corrupt(format!("unexpected release reply {other:?}"))),
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
            u64::try_from(n).map_err(|_| ROWS.corrupt(format!("count {n}")))
        };
        Ok(Relabeled {
            calls: count(0)?,
            total: ROWS.amount(&req_col(&row, 1)?)?,
            moved_calls: count(2)?,
            moved: ROWS.amount(&req_col(&row, 3)?)?,
        })
    }

    async fn spend_history(&self, req: &HistoryRequest) -> Result<Vec<SpendBucket>, GuardError> {
        req.check()?;
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT r.settled_at, r.amount, r.label FROM byok_guard_reservations r \
             JOIN byok_guard_holds h ON h.id = r.id AND h.scope = $1 \
             WHERE r.state = 'settled' AND r.settled_at >= $2 AND r.settled_at < $3",
        )
        .bind(req.scope.as_str())
        .bind(req.start().as_millisecond())
        .bind(req.end().as_millisecond())
        .fetch_all(self.pool())
        .await
        .map_err(err)?;
        let mut buckets = Buckets::new(req);
        for (at, amount, label) in &rows {
            buckets.add(ROWS.millis(*at)?, ROWS.amount(amount)?, ROWS.label(label)?)?;
        }
        buckets.finish()
    }

    async fn status(
        &self,
        scope: &Scope,
        now: Timestamp,
    ) -> Result<Option<BudgetStatus>, GuardError> {
        let mut tx = self.pool().begin().await.map_err(err)?;
        // Locked as a hold locks it: the figures below are those of one moment.
        let spec: Option<String> =
            sqlx::query_scalar("SELECT spec FROM byok_guard_budgets WHERE scope = $1 FOR UPDATE")
                .bind(scope.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(err)?;
        let Some(spec) = spec else {
            return Ok(None);
        };
        let budget = ROWS.budget(&spec)?;
        let window = budget.window(now)?;
        let period = window.key();
        // Spend by label, live holds (lapsed ones are not counted; the
        // `holds_live` index scans only live ones) and fired thresholds, in one round trip.
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT 's', label, amount FROM byok_guard_spend WHERE scope = $1 AND period = $2 \
             UNION ALL \
             SELECT 'h', '', amount FROM byok_guard_holds WHERE scope = $1 AND active = 1 AND expires_at > $3 \
             UNION ALL \
             SELECT 'a', percent, '' FROM byok_guard_alerts WHERE scope = $1 AND period = $2",
        )
        .bind(scope.as_str())
        .bind(&period)
        .bind(now.as_millisecond())
        .fetch_all(&mut *tx)
        .await
        .map_err(err)?;
        tx.commit().await.map_err(err)?;
        let (mut by_label, mut held, mut fired) = (BTreeMap::new(), Usd::ZERO, Vec::new());
        for (kind, key, amount) in &rows {
            match kind.as_str() {
                "s" => {
                    by_label.insert(ROWS.label(key)?, ROWS.amount(amount)?);
                }
                "h" => held = held.checked_add(ROWS.amount(amount)?)?,
                _ => fired.push(ROWS.percent(key)?),
            }
        }
        status_of(budget, window, by_label, held, fired).map(Some)
    }
}
