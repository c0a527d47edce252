//! The previous PostgreSQL ledger, frozen for tests: holds and settles as
//! multi-statement transactions over the same tables, from before the hot
//! paths became PL/pgSQL functions.
//!
//! Instances of the previous version and the shipping one may share a
//! database during a rolling upgrade; `tests.rs` runs both on one database
//! and checks that they keep one set of books. Its statements are kept as
//! they were (only the layer that sent them to either SQL backend is gone).

use std::collections::BTreeMap;

use jiff::Timestamp;
use sqlx::postgres::{PgArguments, PgPool};
use sqlx::query::Query;
use sqlx::{AssertSqlSafe, Postgres, Row, Transaction};

use super::{ROWS, err};
use crate::budget::{Budget, Scope};
use crate::cost::Label;
use crate::ledger::{
    Alert, HoldOutcome, HoldRequest, ReservationId, SettleOutcome, check, distinct_scopes,
};
use crate::{GuardError, Usd};

/// A bound parameter.
enum Bind {
    Text(String),
    Int(i64),
}

fn ms(t: Timestamp) -> Bind {
    Bind::Int(t.as_millisecond())
}

fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn query(sql: &str, binds: Vec<Bind>) -> Query<'static, Postgres, PgArguments> {
    let mut q = sqlx::query(AssertSqlSafe(sql.to_owned()));
    for b in binds {
        q = match b {
            Bind::Text(s) => q.bind(s),
            Bind::Int(i) => q.bind(i),
        };
    }
    q
}

/// One open transaction.
struct Tx(Transaction<'static, Postgres>);

impl Tx {
    /// Rows of a query whose columns are all TEXT.
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

    /// Run a statement; rows affected.
    async fn exec(&mut self, sql: &str, binds: Vec<Bind>) -> Result<u64, GuardError> {
        Ok(query(sql, binds)
            .execute(&mut *self.0)
            .await
            .map_err(err)?
            .rows_affected())
    }

    /// Commit (dropping the transaction rolls back).
    async fn commit(self) -> Result<(), GuardError> {
        self.0.commit().await.map_err(err)
    }
}

/// The previous version's ledger on a pool.
pub(super) struct Previous {
    pool: PgPool,
}

impl Previous {
    /// The previous version on `pool`'s database.
    pub(super) fn new(pool: PgPool) -> Previous {
        Previous { pool }
    }

    async fn begin(&self) -> Result<Tx, GuardError> {
        Ok(Tx(self.pool.begin().await.map_err(err)?))
    }

    /// Lock and read the budgets of `scopes` (sorted, distinct), in scope order.
    async fn lock_budgets(tx: &mut Tx, scopes: &[Scope]) -> Result<Vec<Budget>, GuardError> {
        if scopes.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT spec FROM byok_guard_budgets WHERE scope IN ({}) ORDER BY scope{}",
            placeholders(1, scopes.len()),
            " FOR UPDATE"
        );
        let binds = scopes.iter().map(|s| Bind::Text(s.to_string())).collect();
        tx.rows(&sql, binds)
            .await?
            .into_iter()
            .map(|r| {
                serde_json::from_str(&r[0]).map_err(|e| ROWS.corrupt(format!("budget spec: {e}")))
            })
            .collect()
    }

    /// Settled spend in `period` and live holds of `scope`, in one round trip.
    async fn spent_and_held(
        tx: &mut Tx,
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
            let a = ROWS.amount(&r[1])?;
            if r[0] == "s" {
                spent = spent.checked_add(a)?;
            } else {
                held = held.checked_add(a)?;
            }
        }
        Ok((spent, held))
    }

    /// The reservation's state (locked) and its holds, in one round trip.
    async fn reservation(
        tx: &mut Tx,
        id: ReservationId,
    ) -> Result<Option<(String, Vec<(Scope, String)>)>, GuardError> {
        let sql = format!(
            "SELECT r.state, COALESCE(h.scope, ''), COALESCE(h.period, '') \
             FROM byok_guard_reservations r LEFT JOIN byok_guard_holds h ON h.id = r.id \
             WHERE r.id = $1 ORDER BY 2{}",
            " FOR UPDATE OF r"
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
                    Scope::custom(scope).map_err(|_| ROWS.corrupt("scope"))?,
                    period,
                ));
            }
        }
        Ok(Some((state, holds)))
    }

    /// Settled spend by label and the alerts fired, for one scope and period, in one round trip.
    async fn spend_and_fired(
        tx: &mut Tx,
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
                    .map_err(|_| ROWS.corrupt(format!("label {:?}", r[1])))?;
                by_label.insert(label, ROWS.amount(&r[2])?);
            } else {
                fired.push(
                    r[1].parse()
                        .map_err(|_| ROWS.corrupt(format!("alert percent {:?}", r[1])))?,
                );
            }
        }
        Ok((by_label, fired))
    }

    async fn hold_scopes(
        tx: &mut Tx,
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
                    .map_err(|_| ROWS.corrupt("scope"))?;
                Ok((scope, period))
            })
            .collect()
    }

    pub(super) async fn put_budget(&self, budget: &Budget) -> Result<(), GuardError> {
        budget.validate()?;
        let spec = serde_json::to_string(budget).map_err(|e| ROWS.corrupt(e))?;
        let mut tx = self.begin().await?;
        tx.exec(
            "INSERT INTO byok_guard_budgets (scope, spec) VALUES ($1, $2) ON CONFLICT (scope) DO UPDATE SET spec = excluded.spec",
            vec![Bind::Text(budget.scope.to_string()), Bind::Text(spec)],
        )
        .await?;
        tx.commit().await
    }

    pub(super) async fn hold(&self, req: &HoldRequest) -> Result<HoldOutcome, GuardError> {
        let mut tx = self.begin().await?;
        let scopes = distinct_scopes(&req.scopes);
        let budgets = Previous::lock_budgets(&mut tx, &scopes).await?;
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
            let budgets = Previous::hold_scopes(&mut tx, req.id)
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
                Previous::spent_and_held(&mut tx, &budget.scope, &period, req.now).await?;
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

    pub(super) async fn settle(
        &self,
        id: ReservationId,
        settled: Usd,
        label: Label,
        now: Timestamp,
    ) -> Result<SettleOutcome, GuardError> {
        let mut tx = self.begin().await?;
        let holds = match Previous::reservation(&mut tx, id).await? {
            None => return Err(GuardError::ReservationNotFound { id: id.to_string() }),
            Some((state, _)) if state == "settled" => return Ok(SettleOutcome::AlreadySettled),
            Some((state, _)) if state == "released" => {
                return Err(GuardError::ReservationReleased { id: id.to_string() });
            }
            Some((_, holds)) => holds,
        };
        let scopes: Vec<Scope> = holds.iter().map(|(s, _)| s.clone()).collect();
        let budgets = Previous::lock_budgets(&mut tx, &scopes).await?;
        let mut alerts = Vec::new();
        for (scope, period) in &holds {
            let (mut by_label, fired) = Previous::spend_and_fired(&mut tx, scope, period).await?;
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
        Previous::finish(&mut tx, id, "settled").await?;
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

    async fn finish(tx: &mut Tx, id: ReservationId, state: &str) -> Result<(), GuardError> {
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
}
