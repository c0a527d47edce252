//! `Guard`: reserve before a call, settle after it, never overspend.

use std::sync::Arc;

use byok_keys::Provider;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::budget::{Budget, Scope};
use crate::cost::{Cost, Label};
use crate::estimate::{Estimate, Prompt};
use crate::ledger::{
    BudgetStatus, DailySpend, DaySpend, Denied, DenyReason, HistoryRequest, HoldOutcome,
    HoldRequest, Ledger, ReleaseOutcome, ReservationId, SettleOutcome,
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
    /// The provider the call goes to, when reserved with
    /// [`Guard::reserve_for`]: settling its usage prices the model as that
    /// provider bills it. Absent (and not serialised) for [`Guard::reserve`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<Provider>,
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
    ///
    /// The model is looked up by name alone ([`PriceBook::get`]): an OpenAI,
    /// Anthropic or Gemini model, or a provider-prefixed name
    /// (`groq/llama-3.1-8b-instant`). For a call to any other provider use
    /// [`reserve_for`](Guard::reserve_for).
    pub async fn reserve(&self, call: &CallRequest<'_>) -> Result<Admission, GuardError> {
        self.reserve_priced(None, call).await
    }

    /// As [`reserve`](Guard::reserve), for a call to `provider`: the model is
    /// priced and its prompt counted as that provider bills it
    /// ([`PriceBook::estimate_for`]), and the reservation remembers the
    /// provider so that [`settle`](Guard::settle) prices the usage the same way.
    pub async fn reserve_for(
        &self,
        provider: Provider,
        call: &CallRequest<'_>,
    ) -> Result<Admission, GuardError> {
        self.reserve_priced(Some(provider), call).await
    }

    async fn reserve_priced(
        &self,
        provider: Option<Provider>,
        call: &CallRequest<'_>,
    ) -> Result<Admission, GuardError> {
        let estimate = match provider {
            Some(p) => {
                self.prices
                    .estimate_for(p, call.model, call.prompt, call.max_output_tokens)?
            }
            None => self
                .prices
                .estimate(call.model, call.prompt, call.max_output_tokens)?,
        };
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
        let mut admission = self
            .hold(&call.scopes, amount, Some(call.model), Some(estimate))
            .await?;
        if let Admission::Reserved(r) = &mut admission {
            r.provider = provider;
        }
        Ok(admission)
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
                    // Joined only when the event is logged (tracing evaluates fields lazily).
                    let names = || {
                        uncovered
                            .iter()
                            .map(Scope::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    if budgets.is_empty() {
                        tracing::warn!(
                            reservation = %request.id,
                            uncovered = %names(),
                            "no budget covers any scope of this reservation: nothing limits its spend"
                        );
                    } else {
                        tracing::debug!(
                            reservation = %request.id,
                            uncovered = %names(),
                            "some scopes of this reservation have no budget"
                        );
                    }
                }
                Admission::Reserved(Reservation {
                    id: request.id,
                    model: model.map(str::to_owned),
                    provider: None,
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
    /// Usage is priced as the reservation's provider bills the model (when
    /// reserved with [`reserve_for`](Guard::reserve_for)). A cost given as
    /// [`Actual::Cost`] keeps its label: a provider-reported cost
    /// ([`reported_cost`](crate::reported_cost)) is recorded `verified_by_provider`.
    pub async fn settle(
        &self,
        reservation: &Reservation,
        actual: Actual,
    ) -> Result<SettleOutcome, GuardError> {
        let cost = match actual {
            Actual::Cost(c) => c,
            Actual::Usage(u) => match (&reservation.model, reservation.provider) {
                (Some(m), Some(p)) => self.cost_of_for(p, m, &u)?,
                (Some(m), None) => self.cost_of(m, &u)?,
                (None, _) => Cost::UNAVAILABLE,
            },
        };
        let (amount, label) = match cost.usd {
            Some(usd) => (usd, cost.label),
            None => (reservation.amount, Label::Unavailable),
        };
        self.settle_amount(reservation.id, amount, label).await
    }

    /// What `usage` of `model` costs with this guard's prices, labelled as a
    /// settle would record it (`pending_provider_sync` when a provider cost
    /// sync is configured, else `estimated`; `unavailable` for unknown models).
    pub fn cost_of(&self, model: &str, usage: &Usage) -> Result<Cost, GuardError> {
        Ok(self.synced(self.prices.cost(model, usage)?))
    }

    /// As [`cost_of`](Guard::cost_of), with `model` as `provider` bills it
    /// ([`PriceBook::cost_for`]).
    pub fn cost_of_for(
        &self,
        provider: Provider,
        model: &str,
        usage: &Usage,
    ) -> Result<Cost, GuardError> {
        Ok(self.synced(self.prices.cost_for(provider, model, usage)?))
    }

    fn synced(&self, mut c: Cost) -> Cost {
        if self.provider_synced && c.label == Label::Estimated {
            c.label = Label::PendingProviderSync;
        }
        c
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

    /// Settled spend of a scope's budget per calendar day of its time zone,
    /// for the last `days` days (1 to [`MAX_HISTORY_BUCKETS`](crate::ledger::MAX_HISTORY_BUCKETS),
    /// today included), by label; `None` when the scope has no budget.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use byok_guard::{Admission, Budget, Guard, Label, MemoryLedger, Period, Scope, Usd};
    ///
    /// let guard = Guard::new(Arc::new(MemoryLedger::new()));
    /// let ws = Scope::workspace("acme");
    /// guard.set_budget(&Budget::new(ws.clone(), Usd::from_dollars(10), Period::Month)).await.unwrap();
    /// let Admission::Reserved(held) = guard.reserve_amount(&[ws.clone()], Usd::from_dollars(1)).await.unwrap()
    /// else { unreachable!("$1 fits a $10 budget") };
    /// guard.settle_amount(held.id, "0.25".parse().unwrap(), Label::Estimated).await.unwrap();
    /// let week = guard.daily_spend(&ws, 7).await.unwrap().unwrap();
    /// assert_eq!(week.days.len(), 7);
    /// let today = &week.days[6].spend;
    /// assert_eq!((today.calls, today.spent.to_string().as_str()), (1, "0.25"));
    /// # });
    /// ```
    pub async fn daily_spend(
        &self,
        scope: &Scope,
        days: u32,
    ) -> Result<Option<DailySpend>, GuardError> {
        let Some(budget) = self.ledger.budget(scope).await? else {
            return Ok(None);
        };
        let request =
            HistoryRequest::days(scope.clone(), &budget.time_zone, days, Timestamp::now())?;
        let tz =
            jiff::tz::db()
                .get(&budget.time_zone)
                .map_err(|_| GuardError::InvalidTimeZone {
                    name: budget.time_zone.clone(),
                })?;
        let buckets = self.ledger.spend_history(&request).await?;
        let days = buckets
            .into_iter()
            .map(|spend| DaySpend {
                date: spend.start.to_zoned(tz.clone()).date(),
                spend,
            })
            .collect();
        Ok(Some(DailySpend {
            scope: scope.clone(),
            time_zone: budget.time_zone,
            days,
        }))
    }
}

#[cfg(test)]
mod tests;
