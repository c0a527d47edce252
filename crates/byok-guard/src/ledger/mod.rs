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

/// The most buckets one [`HistoryRequest`] may ask for (a little over a year of days).
pub const MAX_HISTORY_BUCKETS: usize = 400;

/// Settled spend of a scope's budget over time, summed into consecutive
/// buckets: what a daily spend chart draws.
///
/// Bucket `i` is `[edges[i], edges[i + 1])`; a call counts in the bucket that
/// holds its settle time (the `now` given to [`Ledger::settle`]), with its
/// current label (a [`Ledger::relabel`] moves it). Only calls that held on the
/// scope's budget count: a scope without a budget has no history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryRequest {
    /// Calls that count against this scope's budget.
    pub scope: Scope,
    /// The buckets' edges, strictly ascending: at least 2 and at most
    /// [`MAX_HISTORY_BUCKETS`] + 1.
    pub edges: Vec<Timestamp>,
}

impl HistoryRequest {
    /// The last `days` calendar days in `time_zone` up to and including the
    /// one containing `now`, a bucket per day (DST days are 23 or 25 hours long).
    ///
    /// ```
    /// use byok_guard::ledger::{HistoryRequest, Scope, Timestamp};
    ///
    /// let now: Timestamp = "2026-03-29T12:00:00Z".parse().unwrap();
    /// let week = HistoryRequest::days(Scope::workspace("acme"), "Europe/Paris", 7, now).unwrap();
    /// assert_eq!(week.edges.len(), 8);
    /// assert_eq!(week.edges[0].to_string(), "2026-03-22T23:00:00Z");
    /// // 29 March is the day Paris moves its clocks forward: 23 hours long.
    /// assert_eq!(week.edges[7].duration_since(week.edges[6]).as_hours(), 23);
    /// ```
    pub fn days(
        scope: Scope,
        time_zone: &str,
        days: u32,
        now: Timestamp,
    ) -> Result<HistoryRequest, GuardError> {
        let count = usize::try_from(days).unwrap_or(usize::MAX);
        if !(1..=MAX_HISTORY_BUCKETS).contains(&count) {
            return Err(GuardError::InvalidHistory {
                reason: format!("{days} days asked for; ask for 1 to {MAX_HISTORY_BUCKETS}"),
            });
        }
        let tz = jiff::tz::db()
            .get(time_zone)
            .map_err(|_| GuardError::InvalidTimeZone {
                name: time_zone.to_owned(),
            })?;
        let err = |e: jiff::Error| GuardError::InvalidHistory {
            reason: format!("cannot compute the days: {e}"),
        };
        let today = now.to_zoned(tz.clone()).date();
        let first = today
            .checked_sub(jiff::Span::new().days(i64::from(days) - 1))
            .map_err(err)?;
        let mut edges = Vec::with_capacity(count + 1);
        let mut day = first;
        for _ in 0..=count {
            edges.push(day.to_zoned(tz.clone()).map_err(err)?.timestamp());
            day = day.tomorrow().map_err(err)?;
        }
        Ok(HistoryRequest { scope, edges })
    }

    /// Refuse edges that make no buckets, too many, or are not strictly
    /// ascending (`invalid_history`). Every backend calls this first.
    pub fn check(&self) -> Result<(), GuardError> {
        let buckets = self.edges.len().saturating_sub(1);
        if !(1..=MAX_HISTORY_BUCKETS).contains(&buckets) {
            return Err(GuardError::InvalidHistory {
                reason: format!(
                    "{} edges make {buckets} buckets; give 2 to {} edges",
                    self.edges.len(),
                    MAX_HISTORY_BUCKETS + 1
                ),
            });
        }
        if let Some(i) = self.edges.windows(2).position(|w| w[0] >= w[1]) {
            return Err(GuardError::InvalidHistory {
                reason: format!(
                    "edge {} is not after edge {i}; sort them, without repeats",
                    i + 1
                ),
            });
        }
        Ok(())
    }

    /// The first edge: calls settled from then (inclusive) count.
    pub fn start(&self) -> Timestamp {
        self.edges.first().copied().unwrap_or(Timestamp::MIN)
    }

    /// The last edge: calls settled until then (exclusive) count.
    pub fn end(&self) -> Timestamp {
        self.edges.last().copied().unwrap_or(Timestamp::MIN)
    }
}

/// One bucket of a [`HistoryRequest`]'s answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendBucket {
    /// Inclusive start.
    pub start: Timestamp,
    /// Exclusive end.
    pub end: Timestamp,
    /// Calls settled in the bucket (a call settled at $0 counts too).
    pub calls: u64,
    /// The calls per label (labels without calls left out): a call of an
    /// unknown price is settled at $0 as `unavailable`, counted here though it
    /// adds nothing to `spent`, so a chart can say "cost unavailable", not "$0".
    pub calls_by_label: BTreeMap<Label, u64>,
    /// Their settled amount, all labels.
    pub spent: Usd,
    /// Per label (labels with nothing settled are left out, as in [`BudgetStatus`]).
    pub spent_by_label: BTreeMap<Label, Usd>,
}

/// One calendar day of [`DailySpend`]: its date in the budget's time zone and its bucket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaySpend {
    /// The day, `YYYY-MM-DD` in the budget's time zone.
    pub date: jiff::civil::Date,
    /// Its settled spend (`start` and `end` are the day's first instant and the next day's).
    #[serde(flatten)]
    pub spend: SpendBucket,
}

/// A budget's settled spend per calendar day, oldest first: what
/// [`Guard::daily_spend`](crate::Guard::daily_spend) answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailySpend {
    /// The budget's scope.
    pub scope: Scope,
    /// The IANA time zone whose calendar days these are (the budget's).
    pub time_zone: String,
    /// One entry per day, today last.
    pub days: Vec<DaySpend>,
}

/// Sums settled calls into a request's buckets: the one rule every backend's
/// [`Ledger::spend_history`] applies to the calls it found in `[start, end)`.
pub(crate) struct Buckets<'a> {
    edges: &'a [Timestamp],
    sums: Vec<(BTreeMap<Label, u64>, BTreeMap<Label, Usd>)>,
}

impl<'a> Buckets<'a> {
    /// Empty buckets for a checked request.
    pub(crate) fn new(request: &'a HistoryRequest) -> Buckets<'a> {
        Buckets {
            edges: &request.edges,
            sums: vec![(BTreeMap::new(), BTreeMap::new()); request.edges.len().saturating_sub(1)],
        }
    }

    /// Count one call settled at `at` (ignored outside `[start, end)`).
    pub(crate) fn add(
        &mut self,
        at: Timestamp,
        amount: Usd,
        label: Label,
    ) -> Result<(), GuardError> {
        // The bucket whose start is the last edge at or before `at`.
        let i = self.edges.partition_point(|e| *e <= at);
        if i == 0 || i >= self.edges.len() {
            return Ok(());
        }
        let (calls, by_label) = &mut self.sums[i - 1];
        *calls.entry(label).or_insert(0) += 1;
        let sum = by_label.entry(label).or_insert(Usd::ZERO);
        *sum = sum.checked_add(amount)?;
        Ok(())
    }

    /// The buckets, in order.
    pub(crate) fn finish(self) -> Result<Vec<SpendBucket>, GuardError> {
        self.sums
            .into_iter()
            .enumerate()
            .map(|(i, (calls_by_label, mut spent_by_label))| {
                spent_by_label.retain(|_, usd| *usd != Usd::ZERO);
                Ok(SpendBucket {
                    start: self.edges[i],
                    end: self.edges[i + 1],
                    calls: calls_by_label.values().sum(),
                    calls_by_label,
                    spent: Usd::checked_sum(spent_by_label.values().copied())?,
                    spent_by_label,
                })
            })
            .collect()
    }
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
/// - **History.** `spend_history` counts every call settled on the scope's
///   budget with its settle time in the request's window once, in its bucket,
///   with its current label; an invalid request is `invalid_history`. Our
///   SQL ledgers keep settled calls for good; the memory and Redis ledgers for
///   90 days past their settle, so their history reaches 90 days back.
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
    /// Settled spend of a scope's budget per time bucket (a daily chart's bars).
    async fn spend_history(&self, request: &HistoryRequest)
    -> Result<Vec<SpendBucket>, GuardError>;
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{Buckets, HistoryRequest, Label, MAX_HISTORY_BUCKETS, Scope, Timestamp, Usd};

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn days_are_calendar_days_of_the_time_zone() {
        let now = at("2026-12-03T23:30:00Z");
        let utc = HistoryRequest::days(Scope::workspace("w"), "UTC", 3, now).unwrap();
        assert_eq!(
            utc.edges.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
            [
                "2026-12-01T00:00:00Z",
                "2026-12-02T00:00:00Z",
                "2026-12-03T00:00:00Z",
                "2026-12-04T00:00:00Z"
            ]
        );
        // 23:30 UTC is already 4 December in Tokyo: today there is the 4th.
        let tokyo = HistoryRequest::days(Scope::workspace("w"), "Asia/Tokyo", 1, now).unwrap();
        assert_eq!(tokyo.start().to_string(), "2026-12-03T15:00:00Z");
        assert_eq!(tokyo.end().to_string(), "2026-12-04T15:00:00Z");
        // Paris leaves summer time on 25 October 2026: a 25-hour day.
        let autumn = HistoryRequest::days(
            Scope::workspace("w"),
            "Europe/Paris",
            1,
            at("2026-10-25T12:00:00Z"),
        )
        .unwrap();
        assert_eq!(autumn.end().duration_since(autumn.start()).as_hours(), 25);
        for (days, tz, code) in [
            (0, "UTC", "invalid_history"),
            (401, "UTC", "invalid_history"),
            (7, "Mars/Olympus", "invalid_time_zone"),
        ] {
            let e = HistoryRequest::days(Scope::workspace("w"), tz, days, now).unwrap_err();
            assert_eq!(e.code(), code, "{e}");
        }
        let year = HistoryRequest::days(
            Scope::workspace("w"),
            "UTC",
            u32::try_from(MAX_HISTORY_BUCKETS).unwrap(),
            now,
        )
        .unwrap();
        year.check().unwrap();
    }

    proptest! {
        /// Every call in [start, end) lands in exactly one bucket, the one
        /// whose edges hold it; the buckets' sums are the calls' sums exactly.
        #[test]
        fn buckets_partition_the_calls(
            gaps in prop::collection::vec(1i64..10_000, 1..20),
            calls in prop::collection::vec((-1_000i64..200_000, 0i64..1_000_000_000, 0usize..4), 0..200),
        ) {
            let base = at("2030-01-01T00:00:00Z");
            let mut edges = vec![base];
            for g in &gaps {
                let last = *edges.last().unwrap();
                edges.push(last + jiff::SignedDuration::from_millis(*g));
            }
            let request = HistoryRequest { scope: Scope::workspace("p"), edges };
            request.check().unwrap();
            let labels = [Label::Estimated, Label::PendingProviderSync, Label::VerifiedByProvider, Label::Unavailable];
            let mut b = Buckets::new(&request);
            let (mut inside, mut total) = (0u64, Usd::ZERO);
            for (ms, picos, l) in &calls {
                let t = base + jiff::SignedDuration::from_millis(*ms);
                let amount = Usd::from_picos(i128::from(*picos));
                if t >= request.start() && t < request.end() {
                    inside += 1;
                    total = total.checked_add(amount).unwrap();
                }
                b.add(t, amount, labels[*l]).unwrap();
            }
            let out = b.finish().unwrap();
            prop_assert_eq!(out.len(), gaps.len());
            prop_assert_eq!(out.iter().map(|x| x.calls).sum::<u64>(), inside);
            prop_assert_eq!(Usd::checked_sum(out.iter().map(|x| x.spent)).unwrap(), total);
            for bucket in &out {
                let by_label = Usd::checked_sum(bucket.spent_by_label.values().copied()).unwrap();
                prop_assert_eq!(by_label, bucket.spent);
                prop_assert_eq!(bucket.calls_by_label.values().sum::<u64>(), bucket.calls);
                prop_assert!(bucket.spent_by_label.keys().all(|l| bucket.calls_by_label.contains_key(l)));
                prop_assert!(bucket.spent_by_label.values().all(|u| *u != Usd::ZERO));
            }
        }
    }
}
