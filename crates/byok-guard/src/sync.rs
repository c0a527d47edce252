//! Provider cost sync: the provider's own figures (admin keys), and how far
//! our estimates drifted from them.
//!
//! - OpenAI `GET /v1/organization/costs` (an `sk-admin-…` key): daily buckets,
//!   `amount.value` in dollars (read from its decimal text, never through f64).
//! - Anthropic `GET /v1/organizations/cost_report` (an `sk-ant-admin01-…` key):
//!   daily buckets, `amount` a decimal string in **cents**.
//!
//! [`Guard::apply_provider_costs`] writes the report back into the ledger: every
//! call a complete provider bucket covers becomes `verified_by_provider` on all
//! of its budgets, later calls stay `pending_provider_sync` (or `estimated`),
//! and the drift between the provider's figure and ours is reported per
//! bucket. [`reconcile`] does the same comparison over per-call records you
//! keep yourself.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use byok_guard::sync::ProviderCost;
//! use byok_guard::{Budget, Guard, Label, MemoryLedger, Period, Scope, Usd};
//!
//! let guard = Guard::new(Arc::new(MemoryLedger::new()));
//! let org = Scope::workspace("acme");
//! guard.set_budget(&Budget::new(org.clone(), Usd::from_dollars(100), Period::Month)).await?;
//! let byok_guard::Admission::Reserved(r) = guard.reserve_amount(&[org.clone()], Usd::from_dollars(1)).await? else {
//!     unreachable!()
//! };
//! guard.settle_amount(r.id, "0.42".parse()?, Label::PendingProviderSync).await?;
//!
//! // Later, the provider's report for the day of that call (from `CostSync::costs`):
//! let now = jiff::Timestamp::now();
//! let day = ProviderCost {
//!     provider: byok_keys::Provider::OpenAi,
//!     start: now - jiff::SignedDuration::from_hours(1),
//!     end: now + jiff::SignedDuration::from_millis(1),
//!     usd: "0.45".parse()?,
//!     group: None,
//!     item: None,
//! };
//! // A bucket still running is compared but not written back; pretend it ended.
//! let synced = guard.apply_provider_costs_until(&org, &[day], now + jiff::SignedDuration::from_secs(1)).await?;
//! assert_eq!(synced.buckets[0].drift.drift_usd.to_string(), "0.03");
//! assert_eq!(synced.buckets[0].relabeled.moved_calls, 1);
//! let status = guard.status(&org).await?.unwrap();
//! assert_eq!(status.spent_by_label[&Label::VerifiedByProvider].to_string(), "0.42");
//! # Ok::<(), byok_guard::GuardError>(())
//! # }).unwrap();
//! ```

use std::collections::BTreeMap;

use byok_keys::{ApiKey, Provider};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::budget::Scope;
use crate::cost::Label;
use crate::error::{amount_problem, json_problem};
use crate::ledger::{RelabelRequest, Relabeled};
use crate::{Guard, GuardError, Usd};

/// One provider-reported amount for one time bucket (and group, when grouped).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProviderCost {
    /// Who reported it.
    pub provider: Provider,
    /// Bucket start (inclusive).
    pub start: Timestamp,
    /// Bucket end (exclusive).
    pub end: Timestamp,
    /// The amount in dollars, exact.
    pub usd: Usd,
    /// OpenAI `project_id` / Anthropic `workspace_id`, when reported.
    pub group: Option<String>,
    /// OpenAI `line_item` / Anthropic `description`, when reported.
    pub item: Option<String>,
}

/// Clients for the providers' cost APIs. Cheap to clone (one shared HTTP pool).
#[derive(Clone, Debug)]
pub struct CostSync {
    http: reqwest::Client,
    openai_base: String,
    anthropic_base: String,
}

impl Default for CostSync {
    fn default() -> Self {
        CostSync::new()
    }
}

fn sync_error(message: String) -> GuardError {
    // Provider text can quote the key that failed: mask any key-shaped text.
    GuardError::Sync {
        message: byok_keys::redact(&message).into_owned(),
    }
}

impl CostSync {
    /// Clients for the public API origins.
    pub fn new() -> CostSync {
        CostSync {
            http: reqwest::Client::new(),
            openai_base: "https://api.openai.com".into(),
            anthropic_base: "https://api.anthropic.com".into(),
        }
    }

    /// Use another origin (optionally with a path prefix) for one provider, e.g. a mock.
    pub fn with_base_url(mut self, provider: Provider, base: impl Into<String>) -> CostSync {
        let base = base.into().trim_end_matches('/').to_owned();
        match provider {
            Provider::Anthropic => self.anthropic_base = base,
            _ => self.openai_base = base,
        }
        self
    }

    /// Every cost bucket in `[start, end)` for the admin key's organisation.
    pub async fn costs(
        &self,
        admin_key: &ApiKey,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<ProviderCost>, GuardError> {
        if !admin_key.is_admin() {
            return Err(sync_error(format!(
                "the {} key {} is not an admin key; cost reports need an admin key",
                admin_key.provider().as_str(),
                admin_key.masked()
            )));
        }
        match admin_key.provider() {
            Provider::OpenAi => self.openai(admin_key, start, end).await,
            Provider::Anthropic => self.anthropic(admin_key, start, end).await,
            other => Err(sync_error(format!(
                "{} has no cost report API; its spend stays pending_provider_sync",
                other.as_str()
            ))),
        }
    }

    async fn get_page(
        &self,
        request: reqwest::RequestBuilder,
        provider: &str,
        secret: &str,
    ) -> Result<String, GuardError> {
        let response = request.send().await.map_err(|e| {
            sync_error(byok_keys::scrub(
                &format!("{provider} cost API unreachable: {e}"),
                Some(secret),
                400,
            ))
        })?;
        let status = response.status();
        let body = response.text().await.map_err(|e| {
            sync_error(byok_keys::scrub(
                &format!("{provider} cost API body unreadable: {e}"),
                Some(secret),
                400,
            ))
        })?;
        if !status.is_success() {
            let snippet = byok_keys::scrub(&body, Some(secret), 300);
            return Err(sync_error(format!(
                "{provider} cost API returned HTTP {}: {snippet}",
                status.as_u16()
            )));
        }
        Ok(body)
    }

    async fn openai(
        &self,
        key: &ApiKey,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<ProviderCost>, GuardError> {
        #[derive(Deserialize)]
        struct Page<'a> {
            #[serde(borrow)]
            data: Vec<Bucket<'a>>,
            #[serde(default)]
            has_more: bool,
            next_page: Option<String>,
        }
        #[derive(Deserialize)]
        struct Bucket<'a> {
            start_time: i64,
            end_time: i64,
            #[serde(borrow)]
            results: Vec<Result_<'a>>,
        }
        #[derive(Deserialize)]
        struct Result_<'a> {
            #[serde(borrow)]
            amount: Amount<'a>,
            line_item: Option<String>,
            project_id: Option<String>,
        }
        #[derive(Deserialize)]
        struct Amount<'a> {
            #[serde(borrow)]
            value: &'a RawValue,
            currency: String,
        }
        let url = format!("{}/v1/organization/costs", self.openai_base);
        let mut page: Option<String> = None;
        let mut out = Vec::new();
        loop {
            let mut query = vec![
                ("start_time", start.as_second().to_string()),
                ("end_time", end.as_second().to_string()),
                ("bucket_width", "1d".to_owned()),
                ("limit", "31".to_owned()),
            ];
            if let Some(p) = &page {
                query.push(("page", p.clone()));
            }
            let request = self
                .http
                .get(&url)
                .bearer_auth(key.expose_secret())
                .query(&query);
            let body = self
                .get_page(request, "OpenAI", key.expose_secret())
                .await?;
            let parsed: Page<'_> = serde_json::from_str(&body).map_err(|e| {
                sync_error(format!(
                    "OpenAI cost API sent an unexpected body: {}",
                    json_problem(&e)
                ))
            })?;
            for bucket in parsed.data {
                let ts = |s: i64| {
                    Timestamp::from_second(s)
                        .map_err(|_| sync_error(format!("OpenAI bucket time {s} is out of range")))
                };
                let (b_start, b_end) = (ts(bucket.start_time)?, ts(bucket.end_time)?);
                for r in bucket.results {
                    if !r.amount.currency.eq_ignore_ascii_case("usd") {
                        return Err(sync_error(format!(
                            "OpenAI reported currency {:?}; only USD is supported",
                            r.amount.currency
                        )));
                    }
                    out.push(ProviderCost {
                        provider: Provider::OpenAi,
                        start: b_start,
                        end: b_end,
                        usd: Usd::parse(r.amount.value.get()).map_err(|e| {
                            sync_error(format!(
                                "OpenAI sent an amount that is not an exact decimal: {}",
                                amount_problem(&e)
                            ))
                        })?,
                        group: r.project_id,
                        item: r.line_item,
                    });
                }
            }
            match (parsed.has_more, parsed.next_page) {
                (true, Some(next)) => page = Some(next),
                _ => return Ok(out),
            }
        }
    }

    async fn anthropic(
        &self,
        key: &ApiKey,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<ProviderCost>, GuardError> {
        #[derive(Deserialize)]
        struct Page {
            data: Vec<Bucket>,
            #[serde(default)]
            has_more: bool,
            next_page: Option<String>,
        }
        #[derive(Deserialize)]
        struct Bucket {
            starting_at: Timestamp,
            ending_at: Timestamp,
            results: Vec<Item>,
        }
        #[derive(Deserialize)]
        struct Item {
            amount: String,
            currency: String,
            workspace_id: Option<String>,
            description: Option<String>,
        }
        let url = format!("{}/v1/organizations/cost_report", self.anthropic_base);
        let mut page: Option<String> = None;
        let mut out = Vec::new();
        loop {
            let mut query = vec![
                ("starting_at", start.to_string()),
                ("ending_at", end.to_string()),
                ("bucket_width", "1d".to_owned()),
            ];
            if let Some(p) = &page {
                query.push(("page", p.clone()));
            }
            let request = self
                .http
                .get(&url)
                .header("x-api-key", key.expose_secret())
                .header("anthropic-version", "2023-06-01")
                .query(&query);
            let body = self
                .get_page(request, "Anthropic", key.expose_secret())
                .await?;
            let parsed: Page = serde_json::from_str(&body).map_err(|e| {
                sync_error(format!(
                    "Anthropic cost API sent an unexpected body: {}",
                    json_problem(&e)
                ))
            })?;
            for bucket in parsed.data {
                for r in bucket.results {
                    if !r.currency.eq_ignore_ascii_case("usd") {
                        return Err(sync_error(format!(
                            "Anthropic reported currency {:?}; only USD is supported",
                            r.currency
                        )));
                    }
                    // Cents → dollars exactly: shift the decimal point by two places.
                    let usd = Usd::parse(&format!("{}e-2", r.amount)).map_err(|e| {
                        sync_error(format!(
                            "Anthropic sent an amount that is not an exact decimal: {}",
                            amount_problem(&e)
                        ))
                    })?;
                    out.push(ProviderCost {
                        provider: Provider::Anthropic,
                        start: bucket.starting_at,
                        end: bucket.ending_at,
                        usd,
                        group: r.workspace_id,
                        item: r.description,
                    });
                }
            }
            match (parsed.has_more, parsed.next_page) {
                (true, Some(next)) => page = Some(next),
                _ => return Ok(out),
            }
        }
    }
}

/// One of our own cost records, to compare with the provider's figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpendRecord {
    /// When the call was made.
    pub at: Timestamp,
    /// Our estimate of its cost.
    pub usd: Usd,
}

/// Our estimates against the provider's figure for one bucket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Drift {
    /// Bucket start.
    pub start: Timestamp,
    /// Bucket end.
    pub end: Timestamp,
    /// What the provider billed.
    pub provider_usd: Usd,
    /// What we estimated for calls in the bucket.
    pub estimated_usd: Usd,
    /// `provider_usd - estimated_usd` (positive: we under-estimated).
    pub drift_usd: Usd,
}

/// The result of comparing our spend with the provider's report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reconciliation {
    /// Per bucket, ascending.
    pub buckets: Vec<Drift>,
    /// The end of the last bucket the provider reported; later spend is pending.
    pub synced_until: Option<Timestamp>,
}

impl Reconciliation {
    /// The honest label for a call made at `at`: `verified_by_provider` when a
    /// provider bucket covers it, else `pending_provider_sync`.
    pub fn label_at(&self, at: Timestamp) -> Label {
        if self.buckets.iter().any(|b| b.start <= at && at < b.end) {
            Label::VerifiedByProvider
        } else {
            Label::PendingProviderSync
        }
    }
}

/// One provider bucket written back into the ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SyncedBucket {
    /// The provider's figure against ours (our figure: every call the ledger
    /// holds for the scope in the bucket, any label).
    #[serde(flatten)]
    pub drift: Drift,
    /// Whether the bucket had ended: only complete buckets are written back.
    pub complete: bool,
    /// What the ledger found and moved to `verified_by_provider`.
    pub relabeled: Relabeled,
}

/// The result of [`Guard::apply_provider_costs`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProviderSync {
    /// Per bucket, ascending.
    pub buckets: Vec<SyncedBucket>,
    /// The end of the last complete bucket written back; later spend stays pending.
    pub synced_until: Option<Timestamp>,
}

impl Guard {
    /// Write a provider's cost report back into the ledger for `scope`.
    ///
    /// `costs` are the provider's buckets for what `scope` stands for (all of
    /// an organisation for a workspace scope; filter by [`ProviderCost::group`]
    /// for a project). Buckets are summed per time range. For every bucket that
    /// has ended, each call the scope's budget holds with a settle time inside
    /// it moves from `estimated` or `pending_provider_sync` to
    /// `verified_by_provider`, on every budget the call counts against
    /// (`unavailable` calls stay: we never knew their price). A bucket still
    /// running is compared but not written back, since the provider has not
    /// counted its later calls yet. Safe to repeat: a call moves once.
    pub async fn apply_provider_costs(
        &self,
        scope: &Scope,
        costs: &[ProviderCost],
    ) -> Result<ProviderSync, GuardError> {
        self.apply_provider_costs_until(scope, costs, Timestamp::now())
            .await
    }

    /// [`Guard::apply_provider_costs`] as of `now` (buckets ending after it are incomplete).
    pub async fn apply_provider_costs_until(
        &self,
        scope: &Scope,
        costs: &[ProviderCost],
        now: Timestamp,
    ) -> Result<ProviderSync, GuardError> {
        let buckets = per_time_range(costs)?;
        let mut out = Vec::with_capacity(buckets.len());
        for ((start, end), provider_usd) in buckets {
            let complete = end <= now;
            let request = RelabelRequest {
                scope: scope.clone(),
                start,
                end,
                // A bucket still running only counts: nothing moves.
                from: if complete {
                    vec![Label::Estimated, Label::PendingProviderSync]
                } else {
                    Vec::new()
                },
                to: Label::VerifiedByProvider,
            };
            let relabeled = self.ledger().relabel(&request).await?;
            out.push(SyncedBucket {
                drift: Drift {
                    start,
                    end,
                    provider_usd,
                    estimated_usd: relabeled.total,
                    drift_usd: provider_usd.checked_sub(relabeled.total)?,
                },
                complete,
                relabeled,
            });
        }
        Ok(ProviderSync {
            synced_until: out.iter().filter(|b| b.complete).map(|b| b.drift.end).max(),
            buckets: out,
        })
    }
}

/// The provider's amounts summed per time range (groups and line items of one bucket together), in time order.
fn per_time_range(
    costs: &[ProviderCost],
) -> Result<BTreeMap<(Timestamp, Timestamp), Usd>, GuardError> {
    let mut buckets: BTreeMap<(Timestamp, Timestamp), Usd> = BTreeMap::new();
    for c in costs {
        let slot = buckets.entry((c.start, c.end)).or_default();
        *slot = slot.checked_add(c.usd)?;
    }
    Ok(buckets)
}

/// Compare our records with provider buckets (groups within a bucket are summed).
pub fn reconcile(
    ours: &[SpendRecord],
    provider: &[ProviderCost],
) -> Result<Reconciliation, GuardError> {
    let buckets = per_time_range(provider)?;
    let mut out = Vec::with_capacity(buckets.len());
    for ((start, end), provider_usd) in buckets {
        let estimated_usd = Usd::checked_sum(
            ours.iter()
                .filter(|r| start <= r.at && r.at < end)
                .map(|r| r.usd),
        )?;
        out.push(Drift {
            start,
            end,
            provider_usd,
            estimated_usd,
            drift_usd: provider_usd.checked_sub(estimated_usd)?,
        });
    }
    Ok(Reconciliation {
        synced_until: out.iter().map(|d| d.end).max(),
        buckets: out,
    })
}
