//! `Guard`: reserve before a call, settle after it, never overspend.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::budget::{Budget, Scope};
use crate::cost::{Cost, Label};
use crate::estimate::{Estimate, Prompt};
use crate::ledger::{
    BudgetStatus, Denied, DenyReason, HoldOutcome, HoldRequest, Ledger, ReleaseOutcome,
    ReservationId, SettleOutcome,
};
use crate::price::PriceBook;
use crate::{GuardError, Usage, Usd};

/// What to do with a model the price book does not know.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UnpricedPolicy {
    /// Deny it wherever a budget applies (the default): an unknown cost cannot be kept under a limit.
    #[default]
    Deny,
    /// Hold this fixed amount for it, and record that amount as `unavailable` spend on settle.
    Hold(Usd),
}

/// A call about to be made.
#[derive(Clone, Debug)]
pub struct CallRequest<'a> {
    /// Every scope it counts against (key, project, workspace, …).
    pub scopes: Vec<Scope>,
    /// The model, as the provider spells it.
    pub model: &'a str,
    /// The prompt text or its token count.
    pub prompt: Prompt<'a>,
    /// The request's output cap (else the model's maximum).
    pub max_output_tokens: Option<u64>,
}

/// Held budget room for one call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reservation {
    /// Its id (settle and release take it).
    pub id: ReservationId,
    /// The model, when reserved for a call.
    pub model: Option<String>,
    /// The amount held on each budget.
    pub amount: Usd,
    /// The worst-case estimate behind the amount, when reserved for a call.
    pub estimate: Option<Estimate>,
    /// The budgets carrying the hold.
    pub budgets: Vec<Scope>,
    /// Requested scopes that no budget covers (nothing limits spend on them),
    /// in request order, without repeats. When it holds every requested scope,
    /// nothing limited this call at all.
    pub uncovered: Vec<Scope>,
    /// When the hold lapses unless settled or released.
    pub expires_at: Timestamp,
}

/// The answer to a reservation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead; settle or release afterwards.
    Reserved(Reservation),
    /// Do not make the call.
    Denied(Denied),
}

/// What a call actually cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actual {
    /// The provider's usage: priced with the guard's price book.
    Usage(Usage),
    /// A cost computed elsewhere.
    Cost(Cost),
}

/// Budget enforcement over a [`Ledger`] and a [`PriceBook`].
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::sync::Arc;
/// use byok_guard::{Actual, Admission, Budget, CallRequest, Guard, MemoryLedger, Period, Prompt, Scope, Usage, Usd};
/// let guard = Guard::new(Arc::new(MemoryLedger::new()));
/// let project = Scope::project("p1");
/// guard.set_budget(&Budget::new(project.clone(), Usd::from_dollars(5), Period::Month)).await?;
/// let call = CallRequest { scopes: vec![project.clone()], model: "gpt-4o",
///     prompt: Prompt::Text("Say hi"), max_output_tokens: Some(100) };
/// let Admission::Reserved(r) = guard.reserve(&call).await? else { panic!("denied") };
/// let usage = Usage { input_tokens: 9, output_tokens: 3, ..Usage::default() };
/// guard.settle(&r, Actual::Usage(usage)).await?;
/// let status = guard.status(&project).await?.unwrap();
/// assert_eq!(status.spent.to_string(), "0.0000525");
/// # Ok::<(), byok_guard::GuardError>(()) }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct Guard {
    ledger: Arc<dyn Ledger>,
    prices: Arc<PriceBook>,
    ttl: SignedDuration,
    unpriced: UnpricedPolicy,
    provider_synced: bool,
}

impl Guard {
    /// Default hold lifetime: 10 minutes.
    pub const DEFAULT_TTL: std::time::Duration = std::time::Duration::from_secs(600);

    /// A guard with the embedded prices, a 10-minute TTL and unpriced models denied.
    pub fn new(ledger: Arc<dyn Ledger>) -> Guard {
        Guard {
            ledger,
            prices: Arc::new(PriceBook::embedded().clone()),
            ttl: SignedDuration::from_mins(10),
            unpriced: UnpricedPolicy::Deny,
            provider_synced: false,
        }
    }

    /// Use these prices.
    pub fn with_prices(mut self, prices: Arc<PriceBook>) -> Guard {
        self.prices = prices;
        self
    }

    /// Holds lapse after `ttl` unless settled or released.
    ///
    /// Choose it longer than the slowest call (the provider's timeout): a hold
    /// that lapses mid-call frees its room for other calls. A TTL below
    /// [`MIN_HOLD_TTL`](crate::MIN_HOLD_TTL) (60 s) makes every reservation fail
    /// with `hold_ttl_too_short`.
    pub fn with_ttl(mut self, ttl: std::time::Duration) -> Guard {
        // Durations past jiff's range (centuries) are clamped: they never expire in practice.
        self.ttl = SignedDuration::try_from(ttl).unwrap_or(SignedDuration::MAX);
        self
    }

    /// Say that a provider cost sync will cover these calls: costs priced from
    /// usage are then settled as `pending_provider_sync` instead of `estimated`,
    /// until the provider's report verifies them.
    pub fn with_provider_sync(mut self, synced: bool) -> Guard {
        self.provider_synced = synced;
        self
    }

    /// What to do with models the price book does not know.
    pub fn with_unpriced(mut self, policy: UnpricedPolicy) -> Guard {
        self.unpriced = policy;
        self
    }

    /// The ledger.
    pub fn ledger(&self) -> &Arc<dyn Ledger> {
        &self.ledger
    }

    /// The prices.
    pub fn prices(&self) -> &PriceBook {
        &self.prices
    }

    /// Create or replace a budget.
    pub async fn set_budget(&self, budget: &Budget) -> Result<(), GuardError> {
        self.ledger.put_budget(budget).await
    }

    /// Reserve the worst-case cost of a call on every budget of its scopes, atomically.
    pub async fn reserve(&self, call: &CallRequest<'_>) -> Result<Admission, GuardError> {
        let estimate = self
            .prices
            .estimate(call.model, call.prompt, call.max_output_tokens)?;
        let amount = match (estimate.cost.usd, self.unpriced) {
            (Some(usd), _) => usd,
            (None, UnpricedPolicy::Hold(usd)) => usd,
            (None, UnpricedPolicy::Deny) => {
                for scope in &call.scopes {
                    if let Some(st) = self.ledger.status(scope, Timestamp::now()).await? {
                        return Ok(Admission::Denied(Denied {
                            budget: scope.clone(),
                            limit: st.budget.limit,
                            spent: st.spent,
                            reserved: st.held,
                            needed: None,
                            reason: DenyReason::UnpricedModel,
                        }));
                    }
                }
                Usd::ZERO
            }
        };
        self.hold(&call.scopes, amount, Some(call.model), Some(estimate))
            .await
    }

    /// Reserve an amount the caller priced itself.
    pub async fn reserve_amount(
        &self,
        scopes: &[Scope],
        usd: Usd,
    ) -> Result<Admission, GuardError> {
        if usd.is_negative() {
            return Err(GuardError::InvalidAmount {
                text: usd.to_string(),
                reason: "a reservation cannot be negative",
            });
        }
        self.hold(scopes, usd, None, None).await
    }

    async fn hold(
        &self,
        scopes: &[Scope],
        amount: Usd,
        model: Option<&str>,
        estimate: Option<Estimate>,
    ) -> Result<Admission, GuardError> {
        let now = Timestamp::now();
        let request = HoldRequest {
            id: ReservationId::new(),
            scopes: scopes.to_vec(),
            amount,
            now,
            expires_at: now + self.ttl,
        };
        // The ledgers refuse it too; checked here as well so no backend can forget.
        request.check_ttl()?;
        Ok(match self.ledger.hold(&request).await? {
            HoldOutcome::Held { budgets } => {
                let mut uncovered: Vec<Scope> = Vec::new();
                for s in scopes {
                    if !budgets.contains(s) && !uncovered.contains(s) {
                        uncovered.push(s.clone());
                    }
                }
                if !uncovered.is_empty() {
                    let names = uncovered
                        .iter()
                        .map(Scope::as_str)
                        .collect::<Vec<_>>()
                        .join(", ");
                    if budgets.is_empty() {
                        tracing::warn!(
                            reservation = %request.id,
                            uncovered = %names,
                            "no budget covers any scope of this reservation: nothing limits its spend"
                        );
                    } else {
                        tracing::debug!(
                            reservation = %request.id,
                            uncovered = %names,
                            "some scopes of this reservation have no budget"
                        );
                    }
                }
                Admission::Reserved(Reservation {
                    id: request.id,
                    model: model.map(str::to_owned),
                    amount,
                    estimate,
                    budgets,
                    uncovered,
                    expires_at: request.expires_at,
                })
            }
            HoldOutcome::Denied(d) => Admission::Denied(d),
        })
    }

    /// Replace the hold with what the call cost, exactly once.
    ///
    /// A cost that cannot be priced (unknown model) records the held amount
    /// labelled `unavailable`: the call happened, so it is never counted as $0.
    pub async fn settle(
        &self,
        reservation: &Reservation,
        actual: Actual,
    ) -> Result<SettleOutcome, GuardError> {
        let cost = match actual {
            Actual::Cost(c) => c,
            Actual::Usage(u) => match &reservation.model {
                Some(m) => {
                    let mut c = self.prices.cost(m, &u)?;
                    if self.provider_synced && c.label == Label::Estimated {
                        c.label = Label::PendingProviderSync;
                    }
                    c
                }
                None => Cost::UNAVAILABLE,
            },
        };
        let (amount, label) = match cost.usd {
            Some(usd) => (usd, cost.label),
            None => (reservation.amount, Label::Unavailable),
        };
        self.settle_amount(reservation.id, amount, label).await
    }

    /// Settle by id with a known amount and label.
    pub async fn settle_amount(
        &self,
        id: ReservationId,
        amount: Usd,
        label: Label,
    ) -> Result<SettleOutcome, GuardError> {
        if amount.is_negative() {
            return Err(GuardError::InvalidAmount {
                text: amount.to_string(),
                reason: "spend cannot be negative",
            });
        }
        let outcome = self
            .ledger
            .settle(id, amount, label, Timestamp::now())
            .await?;
        if let SettleOutcome::Settled { over_limit, .. } = &outcome {
            for o in over_limit {
                tracing::warn!(
                    reservation = %id,
                    scope = %o.scope,
                    limit = %o.limit,
                    spent = %o.spent,
                    late = o.late,
                    "{}",
                    o.message()
                );
            }
        }
        Ok(outcome)
    }

    /// Give the hold back (the call failed or was cancelled).
    pub async fn release(&self, id: ReservationId) -> Result<ReleaseOutcome, GuardError> {
        self.ledger.release(id).await
    }

    /// Limit, settled spend by label, held amount, remaining and period end of a scope's budget.
    pub async fn status(&self, scope: &Scope) -> Result<Option<BudgetStatus>, GuardError> {
        self.ledger.status(scope, Timestamp::now()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::Period;
    use crate::ledger::memory::MemoryLedger;

    fn guard() -> Guard {
        Guard::new(Arc::new(MemoryLedger::new()))
    }

    #[tokio::test]
    async fn unpriced_model_is_denied_under_a_budget_unless_configured() {
        let g = guard();
        let s = Scope::workspace("w");
        g.set_budget(&Budget::new(s.clone(), Usd::from_dollars(1), Period::Day))
            .await
            .unwrap();
        let call = CallRequest {
            scopes: vec![s.clone()],
            model: "mystery-model",
            prompt: Prompt::Tokens(10),
            max_output_tokens: Some(10),
        };
        match g.reserve(&call).await.unwrap() {
            Admission::Denied(d) => {
                assert_eq!(d.reason, DenyReason::UnpricedModel);
                assert_eq!(d.needed, None);
            }
            other => panic!("{other:?}"),
        }
        // Without a budget there is nothing to protect, and the reservation says so.
        let free = CallRequest {
            scopes: vec![
                Scope::workspace("other"),
                s.clone(),
                Scope::workspace("other"),
            ],
            model: "gpt-4o",
            ..call.clone()
        };
        let Admission::Reserved(r) = g.reserve(&free).await.unwrap() else {
            panic!("admitted")
        };
        assert_eq!(r.budgets, vec![s.clone()]);
        assert_eq!(r.uncovered, vec![Scope::workspace("other")]);
        let free = CallRequest {
            scopes: vec![Scope::workspace("other")],
            ..call.clone()
        };
        let Admission::Reserved(r) = g.reserve(&free).await.unwrap() else {
            panic!("admitted")
        };
        assert_eq!((r.budgets.len(), r.uncovered.len()), (0, 1));
        // Configured: a fixed hold, settled as `unavailable` at that amount.
        let g = g.with_unpriced(UnpricedPolicy::Hold(Usd::from_picos(1_000)));
        let Admission::Reserved(r) = g.reserve(&call).await.unwrap() else {
            panic!("held")
        };
        g.settle(
            &r,
            Actual::Usage(Usage {
                input_tokens: 3,
                ..Usage::default()
            }),
        )
        .await
        .unwrap();
        let st = g.status(&s).await.unwrap().unwrap();
        assert_eq!(
            st.spent_by_label.get(&Label::Unavailable),
            Some(&Usd::from_picos(1_000))
        );
    }

    #[tokio::test]
    async fn reserve_holds_the_worst_case_and_settle_replaces_it() {
        let g = guard();
        let s = Scope::key("k1");
        g.set_budget(&Budget::new(s.clone(), Usd::from_dollars(1), Period::Total))
            .await
            .unwrap();
        let call = CallRequest {
            scopes: vec![s.clone()],
            model: "gpt-4o",
            prompt: Prompt::Tokens(1000),
            max_output_tokens: Some(1000),
        };
        let Admission::Reserved(r) = g.reserve(&call).await.unwrap() else {
            panic!("held")
        };
        assert_eq!(r.amount.to_string(), "0.0125");
        assert_eq!(g.status(&s).await.unwrap().unwrap().held, r.amount);
        g.settle(
            &r,
            Actual::Usage(Usage {
                input_tokens: 1000,
                output_tokens: 10,
                ..Usage::default()
            }),
        )
        .await
        .unwrap();
        let st = g.status(&s).await.unwrap().unwrap();
        assert_eq!(
            (st.spent.to_string(), st.held),
            ("0.0026".to_owned(), Usd::ZERO)
        );
        assert_eq!(
            g.settle(&r, Actual::Cost(Cost::UNAVAILABLE)).await.unwrap(),
            SettleOutcome::AlreadySettled
        );
        assert_eq!(
            g.reserve_amount(&[s], Usd::from_picos(-1))
                .await
                .unwrap_err()
                .code(),
            "invalid_amount"
        );
    }
}

#[cfg(test)]
mod ttl_tests {
    use super::*;
    use crate::budget::Period;
    use crate::ledger::memory::MemoryLedger;

    /// A TTL of 0 once made every hold lapse at once: $15 spent on a $5 limit.
    #[tokio::test]
    async fn a_ttl_below_the_floor_is_refused_and_a_late_settle_is_reported() {
        let s = Scope::project("ttl");
        let base = Guard::new(Arc::new(MemoryLedger::new()));
        base.set_budget(&Budget::new(s.clone(), Usd::from_dollars(5), Period::Day))
            .await
            .unwrap();
        for secs in [0, 1, 59] {
            let g = base.clone().with_ttl(std::time::Duration::from_secs(secs));
            let e = g
                .reserve_amount(std::slice::from_ref(&s), Usd::from_dollars(5))
                .await
                .unwrap_err();
            assert_eq!(e.code(), "hold_ttl_too_short", "{secs} s");
            assert!(e.to_string().contains("at least 60 s"), "{e}");
        }
        let g = base.with_ttl(crate::MIN_HOLD_TTL);
        let Admission::Reserved(r) = g
            .reserve_amount(std::slice::from_ref(&s), Usd::from_dollars(1))
            .await
            .unwrap()
        else {
            panic!("fits")
        };
        let SettleOutcome::Settled { over_limit, .. } = g
            .settle_amount(r.id, Usd::from_dollars(6), Label::Estimated)
            .await
            .unwrap()
        else {
            panic!("first settle")
        };
        assert_eq!(over_limit.len(), 1);
        assert!(!over_limit[0].late);
        assert!(
            over_limit[0].message().contains("cost more than it held"),
            "{}",
            over_limit[0].message()
        );
    }
}

#[cfg(test)]
mod hierarchy_tests {
    use super::*;
    use crate::budget::Period;
    use crate::ledger::memory::MemoryLedger;

    #[tokio::test]
    async fn every_level_is_checked_and_alerts_come_back_from_settle() {
        let g = Guard::new(Arc::new(MemoryLedger::new()));
        let (key, project, workspace) =
            (Scope::key("k"), Scope::project("p"), Scope::workspace("w"));
        for (s, dollars) in [(&key, 100), (&project, 50), (&workspace, 2)] {
            let b = Budget::new(s.clone(), Usd::from_dollars(dollars), Period::Month).alerts([50]);
            g.set_budget(&b).await.unwrap();
        }
        let scopes = vec![key.clone(), project.clone(), workspace.clone()];
        let Admission::Reserved(r) = g
            .reserve_amount(&scopes, Usd::from_dollars(1))
            .await
            .unwrap()
        else {
            panic!("fits every level")
        };
        match g
            .reserve_amount(&scopes, Usd::from_dollars(2))
            .await
            .unwrap()
        {
            Admission::Denied(d) => assert_eq!(d.budget, workspace, "the tightest level denies"),
            other => panic!("{other:?}"),
        }
        let SettleOutcome::Settled { alerts, .. } = g
            .settle_amount(r.id, Usd::from_dollars(1), Label::Estimated)
            .await
            .unwrap()
        else {
            panic!("first settle")
        };
        let fired: Vec<_> = alerts
            .iter()
            .map(|a| (a.scope.clone(), a.percent))
            .collect();
        assert_eq!(
            fired,
            vec![(workspace.clone(), 50)],
            "only the workspace crossed 50 %"
        );
        for s in [&key, &project] {
            assert_eq!(
                g.status(s).await.unwrap().unwrap().spent,
                Usd::from_dollars(1)
            );
        }
    }

    #[tokio::test]
    async fn synced_guards_settle_usage_as_pending_provider_sync() {
        let g = Guard::new(Arc::new(MemoryLedger::new())).with_provider_sync(true);
        let s = Scope::project("synced");
        g.set_budget(&Budget::new(s.clone(), Usd::from_dollars(1), Period::Day))
            .await
            .unwrap();
        let call = CallRequest {
            scopes: vec![s.clone()],
            model: "gpt-4o",
            prompt: Prompt::Tokens(10),
            max_output_tokens: Some(10),
        };
        let Admission::Reserved(r) = g.reserve(&call).await.unwrap() else {
            panic!("held")
        };
        g.settle(
            &r,
            Actual::Usage(Usage {
                input_tokens: 10,
                output_tokens: 10,
                ..Usage::default()
            }),
        )
        .await
        .unwrap();
        let st = g.status(&s).await.unwrap().unwrap();
        assert_eq!(
            st.spent_by_label.keys().copied().collect::<Vec<_>>(),
            vec![Label::PendingProviderSync]
        );
        assert_eq!(st.spent.to_string(), "0.000125");
    }
}
