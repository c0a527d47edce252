//! `MemoryLedger`: one process, one mutex; for tests and single-instance apps.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};

use super::{
    Buckets, BudgetStatus, HistoryRequest, HoldOutcome, HoldRequest, Ledger, RelabelRequest,
    Relabeled, ReleaseOutcome, ReservationId, SettleOutcome, SpendBucket, check, over_limit,
    status_of,
};
use crate::budget::{Budget, CachedBudget, Scope};
use crate::cost::Label;
use crate::ledger::Alert;
use crate::{GuardError, Usd};

/// An in-memory ledger. Holds and spend vanish with the process.
///
/// Every operation takes one mutex, so holds are atomic across all tasks of
/// the process. A reservation is remembered a week past its expiry (so a late
/// settle or release still answers exactly once), and a settled one 90 days
/// past its settle (so provider cost sync can relabel it), as in the Redis
/// ledger; after that it is forgotten, so memory stays bounded.
#[derive(Debug, Default)]
pub struct MemoryLedger {
    state: Mutex<State>,
}

/// Hash maps with foldhash's seeded hasher: several times faster than SipHash
/// on the three scope lookups and two id lookups of every hold and settle.
type Map<K, V> = std::collections::HashMap<K, V, foldhash::quality::RandomState>;
type Set<K> = std::collections::HashSet<K, foldhash::quality::RandomState>;

/// How long an unsettled reservation is remembered past its expiry.
const KEEP_UNSETTLED: SignedDuration = SignedDuration::from_hours(7 * 24);
/// How long a settled reservation is remembered past its settle.
const KEEP_SETTLED: SignedDuration = SignedDuration::from_hours(90 * 24);

#[derive(Debug, Default)]
struct State {
    scopes: Map<Scope, ScopeState>,
    reservations: Map<ReservationId, Reservation>,
    /// (when it may be forgotten, id), roughly in time order; checked on each hold.
    forget: VecDeque<(Timestamp, ReservationId)>,
}

/// Everything about one scope, found with one hash lookup on the hot path.
#[derive(Debug, Default)]
struct ScopeState {
    /// The budget and its current period.
    budget: Option<CachedBudget>,
    /// period key → label → settled amount.
    spend: Map<Arc<str>, BTreeMap<Label, Usd>>,
    /// (period key, percent) already fired.
    fired: Set<(Arc<str>, u32)>,
    /// Live holds: id → (amount, expiry). Lapsed ones are pruned on the next hold.
    live: Map<ReservationId, (Usd, Timestamp)>,
    /// Settled calls by settle time, for relabelling.
    settled: BTreeMap<(Timestamp, ReservationId), ()>,
}

#[derive(Debug)]
struct Reservation {
    state: HoldState,
    /// (scope, period key) per budget held.
    holds: Vec<(Scope, Arc<str>)>,
    /// Once settled: the amount and its current label.
    settled: Option<(Usd, Label)>,
    /// When the holds lapse.
    expires_at: Timestamp,
    /// When it was settled.
    settled_at: Option<Timestamp>,
}

impl Reservation {
    /// When this record may be forgotten.
    fn forget_at(&self) -> Timestamp {
        let unsettled = self
            .expires_at
            .saturating_add(KEEP_UNSETTLED)
            .unwrap_or(Timestamp::MAX);
        match self.settled_at {
            Some(at) => unsettled.max(at.saturating_add(KEEP_SETTLED).unwrap_or(Timestamp::MAX)),
            None => unsettled,
        }
    }
}

impl State {
    /// Forget the reservations whose time has passed at `now`.
    fn prune(&mut self, now: Timestamp) {
        while let Some(&(at, id)) = self.forget.front() {
            if at > now {
                break;
            }
            self.forget.pop_front();
            let Some(r) = self.reservations.get(&id) else {
                continue;
            };
            if r.forget_at() > now {
                // Settled since: its later entry is further back in the queue.
                continue;
            }
            if let Some(r) = self.reservations.remove(&id) {
                for (scope, _) in &r.holds {
                    if let Some(ss) = self.scopes.get_mut(scope) {
                        ss.live.remove(&id);
                        if let Some(at) = r.settled_at {
                            ss.settled.remove(&(at, id));
                        }
                    }
                }
            }
        }
    }
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

impl ScopeState {
    /// The budget, if the scope has one.
    fn budget(&self) -> Option<&Budget> {
        self.budget.as_ref().map(CachedBudget::budget)
    }

    fn spent(&self, period: &str) -> Result<Usd, GuardError> {
        self.spend
            .get(period)
            .map_or(Ok(Usd::ZERO), |m| Usd::checked_sum(m.values().copied()))
    }

    /// Live holds at `now`, dropping lapsed ones.
    fn held(&mut self, now: Timestamp) -> Result<Usd, GuardError> {
        self.live.retain(|_, (_, expires_at)| *expires_at > now);
        Usd::checked_sum(self.live.values().map(|(a, _)| *a))
    }

    /// Live holds at `now`, without pruning (for read-only status).
    fn held_at(&self, now: Timestamp) -> Result<Usd, GuardError> {
        Usd::checked_sum(
            self.live
                .values()
                .filter(|(_, e)| *e > now)
                .map(|(a, _)| *a),
        )
    }

    fn fired_in(&self, budget: &Budget, period: &Arc<str>) -> Vec<u32> {
        budget
            .alert_percents
            .iter()
            .copied()
            .filter(|p| self.fired.contains(&(period.clone(), *p)))
            .collect()
    }
}

#[async_trait]
impl Ledger for MemoryLedger {
    async fn put_budget(&self, budget: &Budget) -> Result<(), GuardError> {
        budget.validate()?;
        let now = Timestamp::now();
        let mut st = self.lock();
        let st = &mut *st;
        let slot = st.scopes.entry(budget.scope.clone()).or_default();
        let carry = match slot.budget() {
            Some(old) => budget.carry_from(old, now)?,
            None => None,
        };
        if let Some((from, into)) = carry {
            let (from, into): (Arc<str>, Arc<str>) = (from.into(), into.into());
            // Every new figure first, so an overflow changes nothing.
            let mut merged = slot.spend.get(&into).cloned().unwrap_or_default();
            for (label, amount) in slot.spend.get(&from).into_iter().flatten() {
                let total = merged.get(label).copied().unwrap_or_default();
                merged.insert(*label, total.checked_add(*amount)?);
            }
            slot.spend.remove(&from);
            slot.spend.insert(into.clone(), merged);
            let fired: Vec<u32> = slot
                .fired
                .iter()
                .filter(|(p, _)| *p == from)
                .map(|(_, pct)| *pct)
                .collect();
            for pct in fired {
                slot.fired.remove(&(from.clone(), pct));
                slot.fired.insert((into.clone(), pct));
            }
            for r in st.reservations.values_mut() {
                for (s, p) in &mut r.holds {
                    if *s == budget.scope && *p == from {
                        *p = into.clone();
                    }
                }
            }
        }
        slot.budget = Some(CachedBudget::new(budget.clone()));
        Ok(())
    }

    async fn budget(&self, scope: &Scope) -> Result<Option<Budget>, GuardError> {
        Ok(self
            .lock()
            .scopes
            .get(scope)
            .and_then(|s| s.budget().cloned()))
    }

    async fn delete_budget(&self, scope: &Scope) -> Result<bool, GuardError> {
        let mut st = self.lock();
        Ok(st
            .scopes
            .get_mut(scope)
            .is_some_and(|s| s.budget.take().is_some()))
    }

    async fn hold(&self, req: &HoldRequest) -> Result<HoldOutcome, GuardError> {
        req.check_ttl()?;
        let mut st = self.lock();
        let st = &mut *st;
        st.prune(req.now);
        if let Some(r) = st.reservations.get(&req.id) {
            return Ok(HoldOutcome::Held {
                budgets: r.holds.iter().map(|(s, _)| s.clone()).collect(),
            });
        }
        let mut order: Vec<&Scope> = req.scopes.iter().collect();
        order.sort();
        order.dedup();
        // Check every budget first; write only when all of them admit.
        let mut holds: Vec<(Scope, Arc<str>)> = Vec::with_capacity(order.len());
        for scope in order {
            let Some(ss) = st.scopes.get_mut(scope) else {
                continue;
            };
            let Some(cached) = ss.budget.as_mut() else {
                continue;
            };
            let period = cached.period_key(req.now)?;
            let spent = ss.spent(&period)?;
            let held = ss.held(req.now)?;
            // Borrowed again: `spent` and `held` read the rest of the scope's state.
            let Some(budget) = ss.budget() else {
                continue;
            };
            match check(budget, spent, held, req.amount)? {
                Some(denied) => return Ok(HoldOutcome::Denied(denied)),
                None => holds.push((scope.clone(), period)),
            }
        }
        for (scope, _) in &holds {
            if let Some(ss) = st.scopes.get_mut(scope) {
                ss.live.insert(req.id, (req.amount, req.expires_at));
            }
        }
        let budgets = holds.iter().map(|(s, _)| s.clone()).collect();
        st.reservations.insert(
            req.id,
            Reservation {
                state: HoldState::Held,
                holds,
                settled: None,
                expires_at: req.expires_at,
                settled_at: None,
            },
        );
        let forget = st
            .reservations
            .get(&req.id)
            .map_or(req.expires_at, Reservation::forget_at);
        st.forget.push_back((forget, req.id));
        Ok(HoldOutcome::Held { budgets })
    }

    async fn settle(
        &self,
        id: ReservationId,
        amount: Usd,
        label: Label,
        now: Timestamp,
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
        let mut totals = Vec::with_capacity(r.holds.len());
        for (scope, period) in &r.holds {
            let current = st
                .scopes
                .get(scope)
                .and_then(|ss| ss.spend.get(&**period))
                .and_then(|m| m.get(&label))
                .copied()
                .unwrap_or_default();
            totals.push(current.checked_add(amount)?);
        }
        r.state = HoldState::Settled;
        r.settled = Some((amount, label));
        r.settled_at = Some(now);
        let late = now >= r.expires_at;
        st.forget.push_back((r.forget_at(), id));
        let mut alerts = Vec::new();
        let mut over = Vec::new();
        for ((scope, period), total) in r.holds.iter().zip(totals) {
            let ss = st.scopes.entry(scope.clone()).or_default();
            ss.spend
                .entry(period.clone())
                .or_default()
                .insert(label, total);
            ss.live.remove(&id);
            ss.settled.insert((now, id), ());
            let Some(budget) = ss.budget() else {
                continue;
            };
            let spent = ss.spent(period)?;
            over.extend(over_limit(
                (scope, budget.limit),
                spent,
                amount,
                period,
                late,
            ));
            let fired = ss.fired_in(budget, period);
            for percent in budget.crossed(spent, &fired) {
                alerts.push(Alert {
                    scope: scope.clone(),
                    percent,
                    spent,
                    limit: budget.limit,
                    period: period.to_string(),
                });
            }
            for a in alerts.iter().filter(|a| &a.scope == scope) {
                ss.fired.insert((period.clone(), a.percent));
            }
        }
        Ok(SettleOutcome::Settled {
            alerts,
            over_limit: over,
        })
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
        for (scope, _) in &r.holds {
            if let Some(ss) = st.scopes.get_mut(scope) {
                ss.live.remove(&id);
            }
        }
        Ok(ReleaseOutcome::Released)
    }

    async fn relabel(&self, req: &RelabelRequest) -> Result<Relabeled, GuardError> {
        let mut st = self.lock();
        let st = &mut *st;
        let Some(ss) = st.scopes.get(&req.scope) else {
            return Ok(Relabeled::default());
        };
        let ids: Vec<ReservationId> = ss
            .settled
            .range((req.start, ReservationId(uuid::Uuid::nil()))..)
            .take_while(|((at, _), _)| *at < req.end)
            .map(|((_, id), _)| *id)
            .collect();
        let mut out = Relabeled::default();
        for id in ids {
            let Some(r) = st.reservations.get_mut(&id) else {
                continue;
            };
            let Some((amount, label)) = r.settled else {
                continue;
            };
            out.calls += 1;
            out.total = out.total.checked_add(amount)?;
            if label == req.to || !req.from.contains(&label) {
                continue;
            }
            // Every new figure first, so an overflow changes nothing.
            let mut updates = Vec::with_capacity(r.holds.len());
            for (scope, period) in &r.holds {
                let by_label = st
                    .scopes
                    .get(scope)
                    .and_then(|s| s.spend.get(&**period))
                    .cloned()
                    .unwrap_or_default();
                let from = by_label.get(&label).copied().unwrap_or_default();
                let to = by_label.get(&req.to).copied().unwrap_or_default();
                updates.push((from.checked_sub(amount)?, to.checked_add(amount)?));
            }
            for ((scope, period), (from, to)) in r.holds.iter().zip(updates) {
                let by_label = st
                    .scopes
                    .entry(scope.clone())
                    .or_default()
                    .spend
                    .entry(period.clone())
                    .or_default();
                by_label.insert(label, from);
                by_label.insert(req.to, to);
            }
            r.settled = Some((amount, req.to));
            out.moved_calls += 1;
            out.moved = out.moved.checked_add(amount)?;
        }
        Ok(out)
    }

    async fn spend_history(&self, req: &HistoryRequest) -> Result<Vec<SpendBucket>, GuardError> {
        req.check()?;
        let mut buckets = Buckets::new(req);
        let st = self.lock();
        if let Some(ss) = st.scopes.get(&req.scope) {
            let calls = ss
                .settled
                .range((req.start(), ReservationId(uuid::Uuid::nil()))..)
                .take_while(|((at, _), _)| *at < req.end());
            for ((at, id), ()) in calls {
                if let Some((amount, label)) = st.reservations.get(id).and_then(|r| r.settled) {
                    buckets.add(*at, amount, label)?;
                }
            }
        }
        buckets.finish()
    }

    async fn status(
        &self,
        scope: &Scope,
        now: Timestamp,
    ) -> Result<Option<BudgetStatus>, GuardError> {
        let mut st = self.lock();
        let Some(ss) = st.scopes.get_mut(scope) else {
            return Ok(None);
        };
        let Some(budget) = ss.budget().cloned() else {
            return Ok(None);
        };
        let window = budget.window(now)?;
        let period: Arc<str> = window.key().into();
        let by_label = ss.spend.get(&*period).cloned().unwrap_or_default();
        let held = ss.held_at(now)?;
        let fired = ss.fired_in(&budget, &period);
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

    /// Records are forgotten on schedule, so a long-running process stays bounded.
    #[tokio::test]
    async fn old_reservations_are_forgotten() {
        use crate::ledger::{HoldRequest, Ledger, RelabelRequest, ReservationId};
        use crate::{Budget, Label, Period, Scope, Usd};
        use jiff::{SignedDuration, Timestamp};

        let l = MemoryLedger::new();
        let s = Scope::custom("forget").unwrap();
        l.put_budget(&Budget::new(
            s.clone(),
            Usd::from_dollars(100),
            Period::Total,
        ))
        .await
        .unwrap();
        let t0: Timestamp = "2030-01-01T00:00:00Z".parse().unwrap();
        let hold = |now: Timestamp| HoldRequest {
            id: ReservationId::new(),
            scopes: vec![s.clone()],
            amount: Usd::from_dollars(1),
            now,
            expires_at: now + SignedDuration::from_mins(10),
        };
        let (open, settled) = (hold(t0), hold(t0));
        l.hold(&open).await.unwrap();
        l.hold(&settled).await.unwrap();
        l.settle(settled.id, Usd::from_dollars(1), Label::Estimated, t0)
            .await
            .unwrap();
        let days = |n: i64| t0 + SignedDuration::from_hours(24 * n);
        // Six days on, both are remembered; eight days on, only the settled one.
        l.hold(&hold(days(6))).await.unwrap();
        assert_eq!(l.lock().reservations.len(), 3);
        l.hold(&hold(days(8))).await.unwrap();
        assert!(!l.lock().reservations.contains_key(&open.id));
        assert_eq!(
            l.release(open.id).await.unwrap_err().code(),
            "reservation_not_found"
        );
        let relabel = RelabelRequest {
            scope: s.clone(),
            start: t0,
            end: days(1),
            from: vec![Label::Estimated],
            to: Label::VerifiedByProvider,
        };
        assert_eq!(l.relabel(&relabel).await.unwrap().calls, 1);
        // Ninety-one days on, the settled one is gone too; its spend stays.
        l.hold(&hold(days(91))).await.unwrap();
        assert!(!l.lock().reservations.contains_key(&settled.id));
        assert_eq!(l.relabel(&relabel).await.unwrap().calls, 0);
        let st = l.status(&s, days(91)).await.unwrap().unwrap();
        assert_eq!(st.spent, Usd::from_dollars(1));
        assert_eq!(l.lock().reservations.len(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn memory_ledger_race_with_many_tasks() {
        crate::conformance::concurrent_holds_never_overspend(Arc::new(MemoryLedger::new()), 64, 50)
            .await;
    }
}
