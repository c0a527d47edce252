//! `Ledger`: where budgets, holds and spend live, and the contract every backend keeps.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

// Everything the `Ledger` trait's signatures name, so that a backend of your
// own needs one import: `use byok_guard::ledger::*;`.
pub use crate::budget::{Budget, Period, Scope};
pub use crate::cost::Label;
pub use crate::{GuardError, Usd};
pub use async_trait::async_trait;
pub use jiff::Timestamp;

pub mod memory;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub mod postgres;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
mod row;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod schema;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub mod sqlite;

/// A reservation's id: a UUID v7 (time-ordered).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReservationId(pub uuid::Uuid);

impl ReservationId {
    /// A fresh id.
    pub fn new() -> ReservationId {
        ReservationId(uuid::Uuid::now_v7())
    }
}

impl Default for ReservationId {
    fn default() -> Self {
        ReservationId::new()
    }
}

impl fmt::Display for ReservationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for ReservationId {
    type Err = GuardError;
    fn from_str(s: &str) -> Result<ReservationId, GuardError> {
        uuid::Uuid::parse_str(s)
            .map(ReservationId)
            .map_err(|_| GuardError::ReservationNotFound {
                id: s.chars().take(40).collect(),
            })
    }
}

/// The shortest hold a ledger accepts: 60 seconds.
///
/// A hold that lapses while its call still runs frees its room for other
/// calls, and the call's settle then adds spend on top of theirs: with a TTL of
/// 0 a hard limit would be no limit at all. Choose a TTL longer than the
/// slowest call (the default, [`Guard::DEFAULT_TTL`](crate::Guard::DEFAULT_TTL),
/// is 10 minutes); a settle that arrives after its hold lapsed and leaves a
/// budget over its limit is reported in [`SettleOutcome::Settled`]'s `over_limit`.
pub const MIN_HOLD_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// A request to hold `amount` against every budget of `scopes` until `expires_at`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoldRequest {
    /// The new reservation's id (idempotency: a repeated id is the same reservation).
    pub id: ReservationId,
    /// Every scope the request counts against; scopes without a budget are ignored.
    pub scopes: Vec<Scope>,
    /// The amount to hold (the worst-case cost).
    pub amount: Usd,
    /// The current time (periods and expiry are computed from it).
    pub now: Timestamp,
    /// When the hold lapses if neither settled nor released.
    pub expires_at: Timestamp,
}

impl HoldRequest {
    /// Refuse a hold that would last less than [`MIN_HOLD_TTL`] (`hold_ttl_too_short`).
    ///
    /// Every backend calls this before deciding a hold.
    pub fn check_ttl(&self) -> Result<(), GuardError> {
        let ttl = self.expires_at.duration_since(self.now);
        let min = jiff::SignedDuration::try_from(MIN_HOLD_TTL).unwrap_or(jiff::SignedDuration::MAX);
        if ttl < min {
            return Err(GuardError::HoldTtlTooShort {
                ttl_ms: i64::try_from(ttl.as_millis()).unwrap_or(i64::MIN),
                min_secs: MIN_HOLD_TTL.as_secs(),
            });
        }
        Ok(())
    }
}

/// Why a request was denied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DenyReason {
    /// Spent + reserved + needed would pass the hard limit.
    OverLimit,
    /// The model has no known price and a hard budget applies.
    UnpricedModel,
}

/// A denial: which budget said no, and its figures at that moment.
///
/// Serialises with two more fields for UIs: `message` (what happened, with the
/// figures) and `hint` (what to do).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Denied {
    /// The budget's scope.
    pub budget: Scope,
    /// Its hard limit.
    pub limit: Usd,
    /// Settled spend this period.
    pub spent: Usd,
    /// Amount currently held by other reservations.
    pub reserved: Usd,
    /// What this request needed (`None` when it could not be priced).
    pub needed: Option<Usd>,
    /// Why.
    pub reason: DenyReason,
}

impl Denied {
    /// What happened, for people, with the budget's figures.
    pub fn message(&self) -> String {
        match self.reason {
            DenyReason::OverLimit => format!(
                "the {} budget would go over its ${} limit: ${} spent, ${} held, ${} needed",
                self.budget,
                self.limit,
                self.spent,
                self.reserved,
                self.needed
                    .map_or_else(|| "?".to_owned(), |n| n.to_string())
            ),
            DenyReason::UnpricedModel => format!(
                "the model has no known price, so the {} budget cannot be kept",
                self.budget
            ),
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self.reason {
            DenyReason::OverLimit => {
                "Wait for the next period, raise the budget's limit, or use a cheaper model or a smaller output cap."
            }
            DenyReason::UnpricedModel => {
                "Add the model's price to the price book (a LiteLLM-format file), or let the guard hold a fixed amount for unpriced models."
            }
        }
    }
}

impl Serialize for Denied {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Denied", 8)?;
        st.serialize_field("budget", &self.budget)?;
        st.serialize_field("limit", &self.limit)?;
        st.serialize_field("spent", &self.spent)?;
        st.serialize_field("reserved", &self.reserved)?;
        st.serialize_field("needed", &self.needed)?;
        st.serialize_field("reason", &self.reason)?;
        st.serialize_field("message", &self.message())?;
        st.serialize_field("hint", self.hint())?;
        st.end()
    }
}

/// The answer to a hold request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HoldOutcome {
    /// Held on every budget of the request (listed; may be empty).
    Held {
        /// The scopes whose budgets now carry the hold.
        budgets: Vec<Scope>,
    },
    /// Nothing was held anywhere.
    Denied(Denied),
}

/// A soft threshold crossed by settled spend; fired once per budget, period and threshold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// The budget's scope.
    pub scope: Scope,
    /// The threshold in percent.
    pub percent: u32,
    /// Settled spend when it fired.
    pub spent: Usd,
    /// The budget's limit.
    pub limit: Usd,
    /// The period's key (`total` or its start).
    pub period: String,
}

/// A budget that a settle left over its hard limit.
///
/// Holds keep admitted calls under the limit; settled spend can still pass it
/// when a call cost more than it held, or when its hold lapsed before the
/// settle (`late`) and other calls were admitted into the room it had held.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverLimit {
    /// The budget's scope.
    pub scope: Scope,
    /// Its hard limit.
    pub limit: Usd,
    /// Settled spend of the period after this settle (more than `limit`).
    pub spent: Usd,
    /// The period's key (`total` or its start).
    pub period: String,
    /// The reservation's hold had lapsed (its TTL passed) before this settle.
    pub late: bool,
}

impl OverLimit {
    /// What happened, for people.
    pub fn message(&self) -> String {
        let why = if self.late {
            "this call's hold had lapsed before it settled, so other calls were admitted into its room"
        } else {
            "this call cost more than it held"
        };
        format!(
            "the {} budget is over its ${} limit: ${} spent this period ({why})",
            self.scope, self.limit, self.spent
        )
    }
}

/// The report of one budget's settle (its scope and limit): `Some` when
/// `spent` (after adding `amount`) passed the limit. The one rule every backend applies.
pub(crate) fn over_limit(
    (scope, limit): (&Scope, Usd),
    spent: Usd,
    amount: Usd,
    period: &str,
    late: bool,
) -> Option<OverLimit> {
    (amount > Usd::ZERO && spent > limit).then(|| OverLimit {
        scope: scope.clone(),
        limit,
        spent,
        period: period.to_owned(),
        late,
    })
}

/// The answer to a settle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SettleOutcome {
    /// The spend is recorded; these thresholds were crossed by it.
    Settled {
        /// Alerts fired by this settle.
        alerts: Vec<Alert>,
        /// Budgets this settle left over their hard limit (each settle that
        /// adds spend to an overspent period is reported; see [`OverLimit`]).
        over_limit: Vec<OverLimit>,
    },
    /// It was settled before: nothing changed.
    AlreadySettled,
}

/// The answer to a release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReleaseOutcome {
    /// The hold is gone.
    Released,
    /// It was released before: nothing changed.
    AlreadyReleased,
}

/// Give settled calls another label: how a provider's cost report turns our
/// figures into `verified_by_provider` after the fact.
///
/// Selects every settled reservation that holds on `scope`'s budget and was
/// settled (the `now` given to [`Ledger::settle`]) in `[start, end)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelabelRequest {
    /// Calls that count against this scope's budget.
    pub scope: Scope,
    /// Settle times from (inclusive).
    pub start: Timestamp,
    /// Settle times until (exclusive).
    pub end: Timestamp,
    /// Only calls with one of these labels move; the others are counted, not moved.
    pub from: Vec<Label>,
    /// The label they move to.
    pub to: Label,
}

/// What a [`RelabelRequest`] found and moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relabeled {
    /// Calls settled in the window that count against the scope, any label.
    pub calls: u64,
    /// Their settled amount, any label: our own figure for the window.
    pub total: Usd,
    /// Calls this request moved to the new label.
    pub moved_calls: u64,
    /// Their settled amount.
    pub moved: Usd,
}

/// A budget's figures for the period containing `now`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BudgetStatus {
    /// The budget.
    pub budget: Budget,
    /// Period start (`None` for total).
    pub period_start: Option<Timestamp>,
    /// Period end (`None` for total).
    pub period_end: Option<Timestamp>,
    /// Settled spend, all labels.
    pub spent: Usd,
    /// Settled spend per label (labels with nothing settled are left out).
    pub spent_by_label: BTreeMap<Label, Usd>,
    /// Held by live reservations.
    pub held: Usd,
    /// `limit - spent - held` (negative when settled costs passed the limit).
    pub remaining: Usd,
    /// Thresholds already fired this period.
    pub alerts_fired: Vec<u32>,
}

/// Storage for budgets, holds and spend.
///
/// # Contract
///
/// Every backend (ours and third parties') guarantees, checked by
/// `byok_guard::conformance::run_all` (feature `conformance`):
///
/// - **Atomic, all-or-nothing holds.** `hold` checks every budget of the
///   request's scopes and either holds the amount on all of them or on none.
///   It denies exactly when `spent + held + amount > limit` for some budget,
///   where `spent` is settled spend in the period containing `now` and `held`
///   counts live (unexpired, unsettled, unreleased) holds. This holds under
///   any number of concurrent callers, threads or processes sharing the
///   ledger: never one admission past the limit, never a denial below it.
/// - **Expiry.** A hold stops counting at `expires_at`; no explicit cleanup is needed.
///   A request whose `expires_at` is less than [`MIN_HOLD_TTL`] after its `now`
///   is refused with `hold_ttl_too_short` ([`HoldRequest::check_ttl`]), nothing held.
/// - **Settle exactly once.** `settle` records `amount` with its `label` in the
///   period each hold was made in, and drops the holds. A repeated settle
///   returns `AlreadySettled` and changes nothing; settle after release is
///   `ReservationReleased`; an unknown id is `ReservationNotFound`. Settle after
///   expiry still records the spend (the call happened). Every budget whose
///   period spend the settle leaves above its limit (with an amount above 0) is
///   listed in `over_limit`, `late` when the settle came at or after `expires_at`.
/// - **Release.** Drops the holds; repeated release is `AlreadyReleased`;
///   release after settle is `ReservationSettled`.
/// - **Alerts.** Each threshold of a budget fires at most once per period,
///   across all callers, on the settle whose spend reaches it.
/// - **Durability.** Once `settle` returns `Ok`, the spend survives a restart
///   of the backend. Errors are returned, never swallowed; a failed call may be
///   retried with the same arguments.
/// - Budgets set with `put_budget` replace earlier ones of the same scope and
///   keep existing spend. When the period or time zone changes, the spend,
///   holds (live and settled) and fired thresholds of the period open at the
///   wall clock under the old definition move, atomically with the
///   replacement, into the period open under the new one (never forgotten).
/// - **Relabel.** `relabel` moves each selected call's amount from its label
///   to the new one in the spend of every budget the call was settled into
///   (all of its scopes, not only the requested one), in the period it was
///   held in, atomically per call. Spent totals never change. A repeated
///   request moves nothing. A call is relabelled on all of its budgets or on none.
#[async_trait]
pub trait Ledger: Send + Sync + fmt::Debug + 'static {
    /// Create or replace a budget.
    async fn put_budget(&self, budget: &Budget) -> Result<(), GuardError>;
    /// The budget of `scope`, if any.
    async fn budget(&self, scope: &Scope) -> Result<Option<Budget>, GuardError>;
    /// Remove the budget of `scope` (its spend records stay). True if there was one.
    async fn delete_budget(&self, scope: &Scope) -> Result<bool, GuardError>;
    /// Atomically hold an amount on every applicable budget, or deny.
    async fn hold(&self, request: &HoldRequest) -> Result<HoldOutcome, GuardError>;
    /// Replace a reservation's holds with the actual spend, exactly once.
    async fn settle(
        &self,
        id: ReservationId,
        amount: Usd,
        label: Label,
        now: Timestamp,
    ) -> Result<SettleOutcome, GuardError>;
    /// Drop a reservation's holds.
    async fn release(&self, id: ReservationId) -> Result<ReleaseOutcome, GuardError>;
    /// Move settled calls of a scope and time window to another label.
    async fn relabel(&self, request: &RelabelRequest) -> Result<Relabeled, GuardError>;
    /// A budget's figures for the period containing `now`; `None` without a budget.
    async fn status(
        &self,
        scope: &Scope,
        now: Timestamp,
    ) -> Result<Option<BudgetStatus>, GuardError>;
}

const _OBJECT_SAFE: fn(Arc<dyn Ledger>) = |_| {};

/// Open a ledger from a URL: `memory:`, `sqlite:PATH` (created if missing),
/// `postgres://…`, `redis://…`. Error messages never repeat the URL.
pub async fn open(url: &str) -> Result<Arc<dyn Ledger>, GuardError> {
    let scheme = url.split(':').next().unwrap_or_default();
    match scheme {
        "memory" => Ok(Arc::new(memory::MemoryLedger::new())),
        "sqlite" => {
            #[cfg(feature = "sqlite")]
            {
                Ok(Arc::new(sqlite::SqliteLedger::open(url).await?))
            }
            #[cfg(not(feature = "sqlite"))]
            {
                Err(GuardError::BackendDisabled { backend: "sqlite" })
            }
        }
        "postgres" | "postgresql" => {
            #[cfg(feature = "postgres")]
            {
                Ok(Arc::new(postgres::PostgresLedger::connect(url).await?))
            }
            #[cfg(not(feature = "postgres"))]
            {
                Err(GuardError::BackendDisabled {
                    backend: "postgres",
                })
            }
        }
        "redis" | "rediss" => {
            #[cfg(feature = "redis")]
            {
                Ok(Arc::new(redis::RedisLedger::connect(url).await?))
            }
            #[cfg(not(feature = "redis"))]
            {
                Err(GuardError::BackendDisabled { backend: "redis" })
            }
        }
        _ => Err(GuardError::InvalidLedgerUrl {
            reason: "unknown scheme".into(),
        }),
    }
}

/// The decision for one budget: `Some(denial)` when `amount` does not fit.
pub(crate) fn check(
    budget: &Budget,
    spent: Usd,
    held: Usd,
    amount: Usd,
) -> Result<Option<Denied>, GuardError> {
    let total = spent.checked_add(held)?.checked_add(amount)?;
    Ok((total > budget.limit).then(|| Denied {
        budget: budget.scope.clone(),
        limit: budget.limit,
        spent,
        reserved: held,
        needed: Some(amount),
        reason: DenyReason::OverLimit,
    }))
}

/// Assemble a status from raw figures.
pub(crate) fn status_of(
    budget: Budget,
    window: crate::budget::Window,
    mut spent_by_label: BTreeMap<Label, Usd>,
    held: Usd,
    mut alerts_fired: Vec<u32>,
) -> Result<BudgetStatus, GuardError> {
    // A label emptied by a relabel (or only $0 calls) says nothing: leave it out,
    // the same way on every backend.
    spent_by_label.retain(|_, usd| *usd != Usd::ZERO);
    let spent = Usd::checked_sum(spent_by_label.values().copied())?;
    let remaining = budget.limit.checked_sub(spent)?.checked_sub(held)?;
    alerts_fired.sort_unstable();
    Ok(BudgetStatus {
        period_start: window.start,
        period_end: window.end,
        budget,
        spent,
        spent_by_label,
        held,
        remaining,
        alerts_fired,
    })
}

/// Every distinct scope of a request, in a fixed order (locks are taken in this order).
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
pub(crate) fn distinct_scopes(scopes: &[Scope]) -> Vec<Scope> {
    let mut v = scopes.to_vec();
    v.sort();
    v.dedup();
    v
}
