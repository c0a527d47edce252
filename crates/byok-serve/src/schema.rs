//! OpenAPI schemas of the library's DTOs (docs/DTOS.md), which serialise with
//! serde but do not derive `ToSchema`: one mirror per type, used only for the
//! document. The server's tests check every real answer against these, so a
//! mirror that drifts from the type fails them.

#![allow(dead_code)]

use std::collections::BTreeMap;

use utoipa::ToSchema;

/// A stored key as a UI may show it (`byok::store::KeyView`): never the secret.
#[derive(ToSchema)]
#[schema(as = KeyView)]
pub(crate) struct KeyViewSchema {
    /// The record id (UUID v7).
    id: String,
    /// The workspace.
    workspace: String,
    /// Provider code.
    provider: String,
    /// Key kind.
    kind: String,
    /// The owner's name for it.
    label: String,
    /// `primary` or `backup`.
    role: String,
    /// Order among backups.
    order: u32,
    /// `active`, `disabled` or `revoked`.
    status: String,
    /// The mask (`sk-proj-…Q8xA`).
    masked: String,
    /// `sha256:` + 16 hex.
    fingerprint: String,
    /// RFC 3339.
    created_at: String,
    /// RFC 3339.
    updated_at: String,
    /// RFC 3339, null when never used.
    last_used_at: Option<String>,
    /// Verdict code of the last Test or reported call.
    last_verdict: Option<String>,
    /// RFC 3339.
    last_verdict_at: Option<String>,
    /// Model to use with this key.
    default_model: Option<String>,
    /// Free-form owner note.
    note: Option<String>,
    /// Key parameters (Azure `resource`, `deployment`; Bedrock `region`).
    params: BTreeMap<String, String>,
    /// Optimistic-concurrency version: send it back with edits.
    version: u64,
}

/// The result of a Test (`byok::verify::Report`): verdict, reason, message,
/// remediation, probe and the provider's own answer (key-shaped text masked).
#[derive(ToSchema)]
#[schema(as = Report)]
pub(crate) struct ReportSchema {
    /// Provider code.
    provider: String,
    /// The key's mask.
    masked: String,
    /// The key's fingerprint.
    fingerprint: String,
    /// `auth` or `billing`.
    depth: String,
    /// Verdict code (`valid`, `invalid`, `no_credits`, ...).
    verdict: String,
    /// Reason code of `invalid`, `no_credits`, `restricted`, `network_error`.
    reason: Option<String>,
    /// For people.
    message: String,
    /// What to do, for people.
    remediation: String,
    /// HTTP requests made.
    attempts: u32,
    /// Wall time of the whole test.
    elapsed_ms: u64,
    /// Time spent waiting between retries.
    waited_ms: u64,
    /// How long the provider asked to wait.
    retry_after_ms: Option<u64>,
    /// Which call decided (`list_models`, `billable`, `key_info`).
    probe: Option<String>,
    /// HTTP status of the deciding answer.
    http_status: Option<u16>,
    /// The provider's own error code.
    provider_code: Option<String>,
    /// The provider's message, key-shaped text masked.
    provider_message: Option<String>,
    /// The provider's request id.
    request_id: Option<String>,
    /// Rate-limit state from the last answer's headers.
    #[schema(value_type = Object)]
    rate_limits: serde_json::Value,
    /// What the provider's key-info probe said.
    #[schema(value_type = Option<Object>)]
    key_info: Option<serde_json::Value>,
}

/// A key selection passed over, and why (`byok::select::Skipped`).
#[derive(ToSchema)]
#[schema(as = Skipped)]
pub(crate) struct SkippedSchema {
    /// The skipped key's id.
    id: String,
    /// Its mask.
    masked: String,
    /// Its label.
    label: String,
    /// `primary` or `backup`.
    role: String,
    /// Why: `{code, message, verdict}`.
    reason: SkipReasonSchema,
}

/// Why a key was skipped.
#[derive(ToSchema)]
#[schema(as = SkipReason)]
pub(crate) struct SkipReasonSchema {
    /// Skip reason code.
    code: String,
    /// For people.
    message: String,
    /// The benching verdict when the code is `last_verdict`.
    verdict: Option<String>,
}

/// One audit trail entry (`byok::store::AuditEvent`) with its cursor.
#[derive(ToSchema)]
#[schema(as = AuditEntry)]
pub(crate) struct AuditEntrySchema {
    /// The cursor: pass the page's `next` as `after` for the next page.
    seq: u64,
    /// RFC 3339.
    at: String,
    /// The key's workspace.
    workspace: String,
    /// The key concerned.
    key_id: String,
    /// Audit action code.
    action: String,
    /// Who did it: `token:<id>` for changes made through this API.
    actor: String,
}

/// A budget (`byok::guard::Budget`).
#[derive(ToSchema)]
#[schema(as = Budget)]
pub(crate) struct BudgetSchema {
    /// `workspace:<id>`.
    scope: String,
    /// Hard limit per period, decimal dollars.
    limit: String,
    /// `day`, `week`, `month` or `total`.
    period: String,
    /// IANA time zone of calendar periods.
    time_zone: String,
    /// Soft thresholds, percent of the limit.
    alert_percents: Vec<u32>,
}

/// A budget's figures for the current period (`byok::guard::BudgetStatus`).
#[derive(ToSchema)]
#[schema(as = BudgetStatus)]
pub(crate) struct BudgetStatusSchema {
    /// The budget.
    budget: BudgetSchema,
    /// RFC 3339; null for `total`.
    period_start: Option<String>,
    /// RFC 3339; null for `total`.
    period_end: Option<String>,
    /// Settled spend, decimal dollars.
    spent: String,
    /// Settled spend per cost label.
    spent_by_label: BTreeMap<String, String>,
    /// Held by live reservations.
    held: String,
    /// `limit - spent - held`.
    remaining: String,
    /// Thresholds fired this period.
    alerts_fired: Vec<u32>,
}

/// One calendar day of a budget's history (`byok::guard::DaySpend`).
#[derive(ToSchema)]
#[schema(as = DaySpend)]
#[allow(dead_code)]
pub(crate) struct DaySpendSchema {
    /// `YYYY-MM-DD` in the budget's time zone.
    date: String,
    /// The day's first instant, RFC 3339.
    start: String,
    /// The next day's first instant, RFC 3339.
    end: String,
    /// Calls settled that day (a call settled at $0 counts too).
    calls: u64,
    /// The calls per cost label: `unavailable` ones (no known price) add
    /// nothing to `spent` but are counted here.
    calls_by_label: BTreeMap<String, u64>,
    /// Their settled spend, decimal dollars.
    spent: String,
    /// Per cost label (labels with nothing settled are left out).
    spent_by_label: BTreeMap<String, String>,
}

/// A budget's settled spend per day (`byok::guard::DailySpend`).
#[derive(ToSchema)]
#[schema(as = DailySpend)]
#[allow(dead_code)]
pub(crate) struct DailySpendSchema {
    /// `workspace:<id>`, `key:<id>` or `project:<name>`.
    scope: String,
    /// The IANA time zone of the days (the budget's).
    time_zone: String,
    /// Oldest first, today last.
    days: Vec<DaySpendSchema>,
}

/// An unusual but accepted key shape (`byok::keys::FormatWarning`).
#[derive(ToSchema)]
#[schema(as = FormatWarning)]
pub(crate) struct FormatWarningSchema {
    /// Warning code.
    code: String,
    /// For people.
    message: String,
}

/// Why pasted text is not a usable key (`byok::keys::KeyError`).
#[derive(ToSchema)]
#[schema(as = KeyError)]
pub(crate) struct KeyErrorSchema {
    /// Key error code.
    code: String,
    /// For people.
    message: String,
    /// What to do.
    hint: String,
    /// 0-based character position, when the error has one.
    position: Option<u64>,
}
