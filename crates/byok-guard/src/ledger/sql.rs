//! The ledger logic shared by the SQL backends, written once over a tiny
//! transaction interface so SQLite and PostgreSQL keep the same contract.
//!
//! Amounts are stored as decimal TEXT (exact i128 picodollars; SQLite integers
//! are only 64-bit) and added in Rust inside the transaction. Every mutation
//! first locks the budget rows of its scopes in scope order (PostgreSQL
//! `FOR UPDATE`; SQLite `BEGIN IMMEDIATE` serialises writers), so reading
//! spend and holds and writing the new hold is one atomic step.
//!
//! `PostgresLedger` runs its hot paths as PL/pgSQL functions over the same
//! tables and uses this logic only for budgets and status (and, in tests, as
//! the previous version it must share a database with).
// The mutations (hold, settle, release, relabel) serve only PostgreSQL's
// tests now, as the previous version a new instance must share a database with.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use jiff::Timestamp;

#[cfg(test)]
use super::{
    Alert, HoldOutcome, HoldRequest, ReservationId, SettleOutcome, check, distinct_scopes,
};
use super::{BudgetStatus, status_of};
use crate::budget::{Budget, Scope};
use crate::cost::Label;
use crate::{GuardError, Usd};

/// A bound parameter.
pub(crate) enum Bind {
    Text(String),
    Int(i64),
}

/// One open transaction.
#[async_trait]
pub(crate) trait SqlTx: Send {
    /// Rows of a query whose columns are all TEXT.
    async fn rows(&mut self, sql: &str, binds: Vec<Bind>) -> Result<Vec<Vec<String>>, GuardError>;
    /// Run a statement; rows affected.
    async fn exec(&mut self, sql: &str, binds: Vec<Bind>) -> Result<u64, GuardError>;
    /// Commit (dropping the transaction rolls back).
    async fn commit(self: Box<Self>) -> Result<(), GuardError>;
}

/// A database the shared logic runs on.
#[async_trait]
pub(crate) trait SqlDb: Send + Sync + fmt::Debug + 'static {
    /// `sqlite` / `postgres`, for errors.
    const BACKEND: &'static str;
    /// Appended to the budget-row select to lock it (`" FOR UPDATE"` or `""`).
    const LOCK: &'static str;
    #[cfg(test)]
    /// Appended to the reservation-with-holds join to lock the reservation row only.
    const LOCK_RESERVATION: &'static str;
    /// Begin a write transaction.
    async fn begin(&self) -> Result<Box<dyn SqlTx>, GuardError>;
}

/// Tables, created if missing (one statement each). A settled reservation
/// keeps its settle time (ms), amount and current label, for relabelling.
pub(crate) const SCHEMA: [&str; 7] = [
    "CREATE TABLE IF NOT EXISTS byok_guard_budgets (scope TEXT PRIMARY KEY, spec TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS byok_guard_reservations (id TEXT PRIMARY KEY, state TEXT NOT NULL, expires_at BIGINT NOT NULL, settled_at BIGINT, amount TEXT, label TEXT)",
    "CREATE INDEX IF NOT EXISTS byok_guard_reservations_settled ON byok_guard_reservations (settled_at)",
    "CREATE TABLE IF NOT EXISTS byok_guard_holds (id TEXT NOT NULL, scope TEXT NOT NULL, period TEXT NOT NULL, amount TEXT NOT NULL, expires_at BIGINT NOT NULL, active INTEGER NOT NULL, PRIMARY KEY (id, scope))",
    "CREATE INDEX IF NOT EXISTS byok_guard_holds_live ON byok_guard_holds (scope, active, expires_at)",
    "CREATE TABLE IF NOT EXISTS byok_guard_spend (scope TEXT NOT NULL, period TEXT NOT NULL, label TEXT NOT NULL, amount TEXT NOT NULL, PRIMARY KEY (scope, period, label))",
    "CREATE TABLE IF NOT EXISTS byok_guard_alerts (scope TEXT NOT NULL, period TEXT NOT NULL, percent TEXT NOT NULL, PRIMARY KEY (scope, period, percent))",
];

/// The shared ledger over a database.
#[derive(Debug)]
pub(crate) struct SqlLedger<D> {
    pub(crate) db: D,
}

fn corrupt<D: SqlDb>(what: impl fmt::Display) -> GuardError {
    GuardError::CorruptLedger {
        backend: D::BACKEND,
        message: what.to_string(),
    }
}

fn amount<D: SqlDb>(text: &str) -> Result<Usd, GuardError> {
    Usd::parse(text).map_err(|_| corrupt::<D>(format!("amount {text:?} is not a decimal")))
}

fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn ms(t: Timestamp) -> Bind {
    Bind::Int(t.as_millisecond())
}

impl<D: SqlDb> SqlLedger<D> {
    /// Lock and read the budgets of `scopes` (sorted, distinct), in scope order.
    async fn lock_budgets(tx: &mut dyn SqlTx, scopes: &[Scope]) -> Result<Vec<Budget>, GuardError> {
        if scopes.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT spec FROM byok_guard_budgets WHERE scope IN ({}) ORDER BY scope{}",
            placeholders(1, scopes.len()),
            D::LOCK
        );
        let binds = scopes.iter().map(|s| Bind::Text(s.to_string())).collect();
        tx.rows(&sql, binds)
            .await?
            .into_iter()
            .map(|r| {
                serde_json::from_str(&r[0]).map_err(|e| corrupt::<D>(format!("budget spec: {e}")))
            })
            .collect()
    }

    async fn spend_by_label(
        tx: &mut dyn SqlTx,
        scope: &Scope,
        period: &str,
    ) -> Result<BTreeMap<Label, Usd>, GuardError> {
        let rows = tx
            .rows(
                "SELECT label, amount FROM byok_guard_spend WHERE scope = $1 AND period = $2",
                vec![Bind::Text(scope.to_string()), Bind::Text(period.to_owned())],
            )
            .await?;
        let mut out = BTreeMap::new();
        for r in rows {
            let label: Label = r[0]
                .parse()
                .map_err(|_| corrupt::<D>(format!("label {:?}", r[0])))?;
            out.insert(label, amount::<D>(&r[1])?);
        }
        Ok(out)
    }

    async fn held(tx: &mut dyn SqlTx, scope: &Scope, now: Timestamp) -> Result<Usd, GuardError> {
        // Lapsed holds are simply not counted: the (scope, active, expires_at) index
        // range-scans only live ones, so no cleanup write is needed on the hot path.
        let rows = tx
            .rows(
                "SELECT amount FROM byok_guard_holds WHERE scope = $1 AND active = 1 AND expires_at > $2",
                vec![Bind::Text(scope.to_string()), ms(now)],
            )
            .await?;
        let amounts: Result<Vec<Usd>, GuardError> =
            rows.iter().map(|r| amount::<D>(&r[0])).collect();
        Usd::checked_sum(amounts?)
    }

    #[cfg(test)]
    /// Settled spend in `period` and live holds of `scope`, in one round trip.
    async fn spent_and_held(
        tx: &mut dyn SqlTx,
        scope: &Scope,
        period: &str,
        now: Timestamp,
    ) -> Result<(Usd, Usd), GuardError> {
        let rows = tx
            .rows(
                "SELECT 's', amount FROM byok_guard_spend WHERE scope = $1 AND period = $2 \
                 UNION ALL \
                 SELECT 'h', amount FROM byok_guard_holds WHERE scope = $1 AND active = 1 AND expires_at > $3",
                vec![Bind::Text(scope.to_string()), Bind::Text(period.to_owned()), ms(now)],
            )
            .await?;
        let (mut spent, mut held) = (Usd::ZERO, Usd::ZERO);
        for r in rows {
            let a = amount::<D>(&r[1])?;
            if r[0] == "s" {
                spent = spent.checked_add(a)?;
            } else {
                held = held.checked_add(a)?;
            }
        }
        Ok((spent, held))
    }

    async fn fired(
        tx: &mut dyn SqlTx,
        scope: &Scope,
        period: &str,
    ) -> Result<Vec<u32>, GuardError> {
        let rows = tx
            .rows(
                "SELECT percent FROM byok_guard_alerts WHERE scope = $1 AND period = $2",
                vec![Bind::Text(scope.to_string()), Bind::Text(period.to_owned())],
            )
            .await?;
        rows.iter()
            .map(|r| {
                r[0].parse()
                    .map_err(|_| corrupt::<D>(format!("alert percent {:?}", r[0])))
            })
            .collect()
    }

    #[cfg(test)]
    /// The reservation's state (locked) and its holds, in one round trip.
    async fn reservation(
        tx: &mut dyn SqlTx,
        id: ReservationId,
    ) -> Result<Option<(String, Vec<(Scope, String)>)>, GuardError> {
        let sql = format!(
            "SELECT r.state, COALESCE(h.scope, ''), COALESCE(h.period, '') \
             FROM byok_guard_reservations r LEFT JOIN byok_guard_holds h ON h.id = r.id \
             WHERE r.id = $1 ORDER BY 2{}",
            D::LOCK_RESERVATION
        );
        let rows = tx.rows(&sql, vec![Bind::Text(id.to_string())]).await?;
        let Some(state) = rows.first().map(|r| r[0].clone()) else {
            return Ok(None);
        };
        let mut holds = Vec::new();
        for mut r in rows {
            let period = r.pop().unwrap_or_default();
            let scope = r.pop().unwrap_or_default();
            if !scope.is_empty() {
                holds.push((
                    Scope::custom(scope).map_err(|_| corrupt::<D>("scope"))?,
                    period,
                ));
            }
        }
        Ok(Some((state, holds)))
    }

    #[cfg(test)]
    /// Settled spend by label and the alerts fired, for one scope and period, in one round trip.
    async fn spend_and_fired(
        tx: &mut dyn SqlTx,
        scope: &Scope,
        period: &str,
    ) -> Result<(BTreeMap<Label, Usd>, Vec<u32>), GuardError> {
        let rows = tx
            .rows(
                "SELECT 's', label, amount FROM byok_guard_spend WHERE scope = $1 AND period = $2 \
                 UNION ALL \
                 SELECT 'a', percent, '' FROM byok_guard_alerts WHERE scope = $1 AND period = $2",
                vec![Bind::Text(scope.to_string()), Bind::Text(period.to_owned())],
            )
            .await?;
        let (mut by_label, mut fired) = (BTreeMap::new(), Vec::new());
        for r in rows {
            if r[0] == "s" {
                let label: Label = r[1]
                    .parse()
                    .map_err(|_| corrupt::<D>(format!("label {:?}", r[1])))?;
                by_label.insert(label, amount::<D>(&r[2])?);
            } else {
                fired.push(
                    r[1].parse()
                        .map_err(|_| corrupt::<D>(format!("alert percent {:?}", r[1])))?,
                );
            }
        }
        Ok((by_label, fired))
    }

    #[cfg(test)]
    async fn hold_scopes(
        tx: &mut dyn SqlTx,
        id: ReservationId,
    ) -> Result<Vec<(Scope, String)>, GuardError> {
        let rows = tx
            .rows(
                "SELECT scope, period FROM byok_guard_holds WHERE id = $1 ORDER BY scope",
                vec![Bind::Text(id.to_string())],
            )
            .await?;
        rows.into_iter()
            .map(|mut r| {
                let period = r.pop().unwrap_or_default();
                let scope = Scope::custom(r.pop().unwrap_or_default())
                    .map_err(|_| corrupt::<D>("scope"))?;
                Ok((scope, period))
            })
            .collect()
    }

    #[cfg(test)]
    pub(crate) async fn put_budget(&self, budget: &Budget) -> Result<(), GuardError> {
        budget.validate()?;
        let spec = serde_json::to_string(budget).map_err(|e| corrupt::<D>(e))?;
        let mut tx = self.db.begin().await?;
        tx.exec(
            "INSERT INTO byok_guard_budgets (scope, spec) VALUES ($1, $2) ON CONFLICT (scope) DO UPDATE SET spec = excluded.spec",
            vec![Bind::Text(budget.scope.to_string()), Bind::Text(spec)],
        )
        .await?;
        tx.commit().await
    }

    pub(crate) async fn budget(&self, scope: &Scope) -> Result<Option<Budget>, GuardError> {
        let mut tx = self.db.begin().await?;
        let rows = tx
            .rows(
                "SELECT spec FROM byok_guard_budgets WHERE scope = $1",
                vec![Bind::Text(scope.to_string())],
            )
            .await?;
        tx.commit().await?;
        rows.into_iter()
            .next()
            .map(|r| {
                serde_json::from_str(&r[0]).map_err(|e| corrupt::<D>(format!("budget spec: {e}")))
            })
            .transpose()
    }

    pub(crate) async fn delete_budget(&self, scope: &Scope) -> Result<bool, GuardError> {
        let mut tx = self.db.begin().await?;
        let n = tx
            .exec(
                "DELETE FROM byok_guard_budgets WHERE scope = $1",
                vec![Bind::Text(scope.to_string())],
            )
            .await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    #[cfg(test)]
    pub(crate) async fn hold(&self, req: &HoldRequest) -> Result<HoldOutcome, GuardError> {
        let mut tx = self.db.begin().await?;
        let scopes = distinct_scopes(&req.scopes);
        let budgets = Self::lock_budgets(&mut *tx, &scopes).await?;
        // Claim the id first: a repeated hold (a retry) finds it taken and returns
        // the original answer instead of being evaluated against its own hold.
        let claimed = tx
            .exec(
                "INSERT INTO byok_guard_reservations (id, state, expires_at) VALUES ($1, 'held', $2) \
                 ON CONFLICT (id) DO NOTHING",
                vec![Bind::Text(req.id.to_string()), ms(req.expires_at)],
            )
            .await?;
        if claimed == 0 {
            let budgets = Self::hold_scopes(&mut *tx, req.id)
                .await?
                .into_iter()
                .map(|(s, _)| s)
                .collect();
            tx.commit().await?;
            return Ok(HoldOutcome::Held { budgets });
        }
        let mut holds = Vec::new();
        for budget in budgets {
            let period = budget.window(req.now)?.key();
            let (spent, held) =
                Self::spent_and_held(&mut *tx, &budget.scope, &period, req.now).await?;
            if let Some(denied) = check(&budget, spent, held, req.amount)? {
                // Dropping the transaction rolls back the claimed id: nothing is held anywhere.
                return Ok(HoldOutcome::Denied(denied));
            }
            holds.push((budget.scope, period));
        }
        if !holds.is_empty() {
            // One multi-row insert: one round trip whatever the number of budgets.
            let rows: Vec<String> = (0..holds.len())
                .map(|i| format!("($1, ${}, ${}, $2, $3, 1)", 4 + 2 * i, 5 + 2 * i))
                .collect();
            let sql = format!(
                "INSERT INTO byok_guard_holds (id, scope, period, amount, expires_at, active) VALUES {}",
                rows.join(", ")
            );
            let mut binds = vec![
                Bind::Text(req.id.to_string()),
                Bind::Text(req.amount.to_string()),
                ms(req.expires_at),
            ];
            for (scope, period) in &holds {
                binds.push(Bind::Text(scope.to_string()));
                binds.push(Bind::Text(period.clone()));
            }
            tx.exec(&sql, binds).await?;
        }
        tx.commit().await?;
        Ok(HoldOutcome::Held {
            budgets: holds.into_iter().map(|(s, _)| s).collect(),
        })
    }

    #[cfg(test)]
    pub(crate) async fn settle(
        &self,
        id: ReservationId,
        settled: Usd,
        label: Label,
        now: Timestamp,
    ) -> Result<SettleOutcome, GuardError> {
        let mut tx = self.db.begin().await?;
        let holds = match Self::reservation(&mut *tx, id).await? {
            None => return Err(GuardError::ReservationNotFound { id: id.to_string() }),
            Some((state, _)) if state == "settled" => return Ok(SettleOutcome::AlreadySettled),
            Some((state, _)) if state == "released" => {
                return Err(GuardError::ReservationReleased { id: id.to_string() });
            }
            Some((_, holds)) => holds,
        };
        let scopes: Vec<Scope> = holds.iter().map(|(s, _)| s.clone()).collect();
        let budgets = Self::lock_budgets(&mut *tx, &scopes).await?;
        let mut alerts = Vec::new();
        for (scope, period) in &holds {
            let (mut by_label, fired) = Self::spend_and_fired(&mut *tx, scope, period).await?;
            let total = by_label
                .get(&label)
                .copied()
                .unwrap_or_default()
                .checked_add(settled)?;
            tx.exec(
                "INSERT INTO byok_guard_spend (scope, period, label, amount) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (scope, period, label) DO UPDATE SET amount = excluded.amount",
                vec![
                    Bind::Text(scope.to_string()),
                    Bind::Text(period.clone()),
                    Bind::Text(label.as_str().to_owned()),
                    Bind::Text(total.to_string()),
                ],
            )
            .await?;
            by_label.insert(label, total);
            let Some(budget) = budgets.iter().find(|b| &b.scope == scope) else {
                continue;
            };
            let spent = Usd::checked_sum(by_label.into_values())?;
            for percent in budget.crossed(spent, &fired) {
                let inserted = tx
                    .exec(
                        "INSERT INTO byok_guard_alerts (scope, period, percent) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                        vec![Bind::Text(scope.to_string()), Bind::Text(period.clone()), Bind::Text(percent.to_string())],
                    )
                    .await?;
                if inserted == 1 {
                    alerts.push(Alert {
                        scope: scope.clone(),
                        percent,
                        spent,
                        limit: budget.limit,
                        period: period.clone(),
                    });
                }
            }
        }
        Self::finish(&mut *tx, id, "settled").await?;
        tx.exec(
            "UPDATE byok_guard_reservations SET settled_at = $2, amount = $3, label = $4 WHERE id = $1",
            vec![
                Bind::Text(id.to_string()),
                ms(now),
                Bind::Text(settled.to_string()),
                Bind::Text(label.as_str().to_owned()),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(SettleOutcome::Settled {
            alerts,
            over_limit: Vec::new(),
        })
    }

    #[cfg(test)]
    async fn finish(tx: &mut dyn SqlTx, id: ReservationId, state: &str) -> Result<(), GuardError> {
        tx.exec(
            "UPDATE byok_guard_reservations SET state = $2 WHERE id = $1",
            vec![Bind::Text(id.to_string()), Bind::Text(state.to_owned())],
        )
        .await?;
        tx.exec(
            "UPDATE byok_guard_holds SET active = 0 WHERE id = $1",
            vec![Bind::Text(id.to_string())],
        )
        .await?;
        Ok(())
    }

    pub(crate) async fn status(
        &self,
        scope: &Scope,
        now: Timestamp,
    ) -> Result<Option<BudgetStatus>, GuardError> {
        let mut tx = self.db.begin().await?;
        let Some(budget) = Self::lock_budgets(&mut *tx, std::slice::from_ref(scope))
            .await?
            .pop()
        else {
            return Ok(None);
        };
        let window = budget.window(now)?;
        let period = window.key();
        let by_label = Self::spend_by_label(&mut *tx, scope, &period).await?;
        let held = Self::held(&mut *tx, scope, now).await?;
        let fired = Self::fired(&mut *tx, scope, &period).await?;
        tx.commit().await?;
        status_of(budget, window, by_label, held, fired).map(Some)
    }
}
