//! `MemoryLedger`: one process, one mutex; for tests and single-instance apps.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;
use jiff::Timestamp;

use super::{
    BudgetStatus, HoldOutcome, HoldRequest, Ledger, ReleaseOutcome, ReservationId, SettleOutcome,
    check, distinct_scopes, status_of,
};
use crate::budget::{Budget, Scope, Window};
use crate::cost::Label;
use crate::ledger::Alert;
use crate::{GuardError, Usd};

/// An in-memory ledger. Holds and spend vanish with the process.
///
/// Every operation takes one mutex, so holds are atomic across all tasks of
/// the process. Settled and released reservations are remembered (for
/// idempotent settle) for the life of the ledger.
#[derive(Debug, Default)]
pub struct MemoryLedger {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    budgets: HashMap<Scope, Budget>,
    /// (scope, period key) → label → settled amount.
    spend: HashMap<(Scope, String), BTreeMap<Label, Usd>>,
    fired: HashSet<(Scope, String, u32)>,
    reservations: HashMap<ReservationId, Reservation>,
    /// scope → live hold ids (may include expired ones until the next hold prunes them).
    live: HashMap<Scope, HashSet<ReservationId>>,
    /// scope → its current period window and key (calendar math is the slow part of a hold).
    windows: HashMap<Scope, (Window, String)>,
}

#[derive(Debug)]
struct Reservation {
    state: HoldState,
    expires_at: Timestamp,
    /// (scope, period key, amount) per budget held.
    holds: Vec<(Scope, String, Usd)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HoldState {
    Held,
    Settled,
    Released,
}

impl MemoryLedger {
    /// An empty ledger.
    pub fn new() -> MemoryLedger {
        MemoryLedger::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave half-applied state: every
        // mutation below happens after all checks, so the data stays usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl State {
    /// The period key of `budget` at `now`, from the cache while `now` is inside it.
    fn period(&mut self, budget: &Budget, now: Timestamp) -> Result<String, GuardError> {
        if let Some((w, key)) = self.windows.get(&budget.scope) {
            let inside = w.start.is_none_or(|s| s <= now) && w.end.is_none_or(|e| now < e);
            if inside {
                return Ok(key.clone());
            }
        }
        let w = budget.window(now)?;
        let key = w.key();
        self.windows.insert(budget.scope.clone(), (w, key.clone()));
        Ok(key)
    }

    fn held(&mut self, scope: &Scope, now: Timestamp) -> Result<Usd, GuardError> {
        let Some(ids) = self.live.get_mut(scope) else {
            return Ok(Usd::ZERO);
        };
        let reservations = &self.reservations;
        ids.retain(|id| {
            reservations
                .get(id)
                .is_some_and(|r| r.state == HoldState::Held && r.expires_at > now)
        });
        Usd::checked_sum(ids.iter().filter_map(|id| {
            reservations[id]
                .holds
                .iter()
                .find(|(s, _, _)| s == scope)
                .map(|(_, _, a)| *a)
        }))
    }

    fn spent(&self, scope: &Scope, period: &str) -> Result<Usd, GuardError> {
        self.spend
            .get(&(scope.clone(), period.to_owned()))
            .map_or(Ok(Usd::ZERO), |m| Usd::checked_sum(m.values().copied()))
    }
}

#[async_trait]
impl Ledger for MemoryLedger {
    async fn put_budget(&self, budget: &Budget) -> Result<(), GuardError> {
        budget.validate()?;
        self.lock()
            .budgets
            .insert(budget.scope.clone(), budget.clone());
        Ok(())
    }

    async fn budget(&self, scope: &Scope) -> Result<Option<Budget>, GuardError> {
        Ok(self.lock().budgets.get(scope).cloned())
    }

    async fn delete_budget(&self, scope: &Scope) -> Result<bool, GuardError> {
        let mut st = self.lock();
        st.windows.remove(scope);
        Ok(st.budgets.remove(scope).is_some())
    }

    async fn hold(&self, req: &HoldRequest) -> Result<HoldOutcome, GuardError> {
        let mut st = self.lock();
        if let Some(r) = st.reservations.get(&req.id) {
            return Ok(HoldOutcome::Held {
                budgets: r.holds.iter().map(|(s, _, _)| s.clone()).collect(),
            });
        }
        let mut holds = Vec::new();
        for scope in distinct_scopes(&req.scopes) {
            let Some(budget) = st.budgets.get(&scope).cloned() else {
                continue;
            };
            let period = st.period(&budget, req.now)?;
            let spent = st.spent(&scope, &period)?;
            let held = st.held(&scope, req.now)?;
            if let Some(denied) = check(&budget, spent, held, req.amount)? {
                return Ok(HoldOutcome::Denied(denied));
            }
            holds.push((scope, period, req.amount));
        }
        for (scope, _, _) in &holds {
            st.live.entry(scope.clone()).or_default().insert(req.id);
        }
        let budgets = holds.iter().map(|(s, _, _)| s.clone()).collect();
        st.reservations.insert(
            req.id,
            Reservation {
                state: HoldState::Held,
                expires_at: req.expires_at,
                holds,
            },
        );
        Ok(HoldOutcome::Held { budgets })
    }

    async fn settle(
        &self,
        id: ReservationId,
        amount: Usd,
        label: Label,
        _now: Timestamp,
    ) -> Result<SettleOutcome, GuardError> {
        let mut st = self.lock();
        let st = &mut *st;
        let r = st
            .reservations
            .get_mut(&id)
            .ok_or_else(|| GuardError::ReservationNotFound { id: id.to_string() })?;
        match r.state {
            HoldState::Settled => return Ok(SettleOutcome::AlreadySettled),
            HoldState::Released => {
                return Err(GuardError::ReservationReleased { id: id.to_string() });
            }
            HoldState::Held => {}
        }
        // Compute every new total first so an overflow changes nothing.
        let mut updates = Vec::new();
        for (scope, period, _) in &r.holds {
            let key = (scope.clone(), period.clone());
            let current = st
                .spend
                .get(&key)
                .and_then(|m| m.get(&label))
                .copied()
                .unwrap_or_default();
            updates.push((key, current.checked_add(amount)?));
        }
        r.state = HoldState::Settled;
        let holds = r.holds.clone();
        for (key, total) in updates {
            st.spend.entry(key).or_default().insert(label, total);
        }
        let mut alerts = Vec::new();
        for (scope, period, _) in holds {
            if let Some(live) = st.live.get_mut(&scope) {
                live.remove(&id);
            }
            let Some(budget) = st.budgets.get(&scope) else {
                continue;
            };
            let spent = st.spent(&scope, &period)?;
            let fired: Vec<u32> = budget
                .alert_percents
                .iter()
                .copied()
                .filter(|p| st.fired.contains(&(scope.clone(), period.clone(), *p)))
                .collect();
            for percent in budget.crossed(spent, &fired) {
                st.fired.insert((scope.clone(), period.clone(), percent));
                alerts.push(Alert {
                    scope: scope.clone(),
                    percent,
                    spent,
                    limit: budget.limit,
                    period: period.clone(),
                });
            }
        }
        Ok(SettleOutcome::Settled { alerts })
    }

    async fn release(&self, id: ReservationId) -> Result<ReleaseOutcome, GuardError> {
        let mut st = self.lock();
        let st = &mut *st;
        let r = st
            .reservations
            .get_mut(&id)
            .ok_or_else(|| GuardError::ReservationNotFound { id: id.to_string() })?;
        match r.state {
            HoldState::Released => return Ok(ReleaseOutcome::AlreadyReleased),
            HoldState::Settled => {
                return Err(GuardError::ReservationSettled { id: id.to_string() });
            }
            HoldState::Held => r.state = HoldState::Released,
        }
        for (scope, _, _) in &r.holds {
            if let Some(live) = st.live.get_mut(scope) {
                live.remove(&id);
            }
        }
        Ok(ReleaseOutcome::Released)
    }

    async fn status(
        &self,
        scope: &Scope,
        now: Timestamp,
    ) -> Result<Option<BudgetStatus>, GuardError> {
        let mut st = self.lock();
        let Some(budget) = st.budgets.get(scope).cloned() else {
            return Ok(None);
        };
        let window = budget.window(now)?;
        let period = window.key();
        let by_label = st
            .spend
            .get(&(scope.clone(), period.clone()))
            .cloned()
            .unwrap_or_default();
        let held = st.held(scope, now)?;
        let fired = budget
            .alert_percents
            .iter()
            .copied()
            .filter(|p| st.fired.contains(&(scope.clone(), period.clone(), *p)))
            .collect();
        status_of(budget, window, by_label, held, fired).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::MemoryLedger;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn memory_ledger_keeps_the_contract() {
        crate::conformance::run_all(Arc::new(MemoryLedger::new())).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn memory_ledger_race_with_many_tasks() {
        crate::conformance::concurrent_holds_never_overspend(Arc::new(MemoryLedger::new()), 64, 50)
            .await;
    }
}
