//! `/v1/workspaces/{workspace}/budget…` (set, status, alerts, daily history) and `…/audit`;
//! `/v1/projects/{project}/budget…` (admin tokens: a project spans workspaces).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use byok::guard::{Budget, Period, Scope, Usd};
use byok::store::AuditQuery;

use super::{Body, Query};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::schema::{AuditEntrySchema, BudgetStatusSchema, DailySpendSchema};
use crate::state::AppState;

type Answer = Result<Response, ApiError>;

/// A workspace's (or one of its keys') budget to set (replacing the one it
/// has; its spend stays).
#[derive(Deserialize, ToSchema)]
pub(crate) struct SetBudget {
    /// The hard limit per period in dollars, a decimal string (`"25"`, `"0.50"`).
    limit_usd: String,
    /// `day`, `week`, `month` (default) or `total`.
    period: Option<String>,
    /// IANA time zone of calendar periods (default `UTC`).
    time_zone: Option<String>,
    /// Soft alert thresholds, percent of the limit.
    #[serde(default)]
    alert_percents: Vec<u32>,
}

/// A budget's alert thresholds and which fired this period.
#[derive(ToSchema)]
#[schema(as = BudgetAlerts)]
#[allow(dead_code)]
pub(crate) struct AlertsSchema {
    /// `workspace:<id>`, `key:<id>` for a key's budget, `project:<name>` for a project's.
    scope: String,
    /// The thresholds set, percent of the limit.
    alert_percents: Vec<u32>,
    /// Those already fired this period.
    alerts_fired: Vec<u32>,
    /// RFC 3339; null for `total`.
    period_start: Option<String>,
    /// RFC 3339; null for `total`.
    period_end: Option<String>,
}

/// One page of the audit trail.
#[derive(ToSchema)]
#[schema(as = AuditPage)]
#[allow(dead_code)]
pub(crate) struct AuditPageSchema {
    /// Oldest first.
    events: Vec<AuditEntrySchema>,
    /// Pass as `after` for the next page; null after the last.
    next: Option<u64>,
}

/// Which part of the trail.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditParams {
    /// Only events after this cursor (a page's `next`).
    after: Option<u64>,
    /// Only events at or after this time (RFC 3339).
    since: Option<String>,
    /// At most this many (default 100, at most 1000).
    limit: Option<usize>,
}

/// Which budget of the workspace: its own (by default) or one key's.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct BudgetParams {
    /// A key id of this workspace: that key's own budget (scope `key:<id>`),
    /// which calls with the key count against besides the workspace's.
    key: Option<String>,
}

/// The scope `params` names in workspace `ws`: `workspace:<ws>`, or
/// `key:<id>` for a key of `ws` (another workspace's key is `not_found`).
async fn scope_of(
    vault: &byok::Vault,
    ws: &byok::store::WorkspaceId,
    params: &BudgetParams,
) -> Result<Scope, ApiError> {
    match &params.key {
        None => Ok(Scope::workspace(ws.as_str())),
        Some(id) => {
            let id = super::key_id(id)?;
            vault.show(ws, id).await?;
            Ok(Scope::key(id))
        }
    }
}

/// `project:<name>`: a project names the app's own grouping of calls
/// (`Call::project`), across workspaces, so only an admin token sets or reads
/// its budget.
fn project_scope(caller: &Caller, project: &str) -> Result<Scope, ApiError> {
    caller.admin("project budgets (admin tokens only: a project spans workspaces)")?;
    project_named(project)
}

/// The scope of the project `name` (`project:<name>`), or `invalid_input`:
/// the one rule for project names, in a path or the proxy's `x-byok-project`.
pub(crate) fn project_named(name: &str) -> Result<Scope, ApiError> {
    let scope = (!name.is_empty())
        .then(|| Scope::custom(format!("project:{name}")).ok())
        .flatten();
    scope.ok_or_else(|| {
        ApiError::invalid("a project name is 1 to 192 characters without control characters")
    })
}

fn budget_not_found(scope: &Scope) -> ApiError {
    let (whose, set) = if scope.as_str().starts_with("key:") {
        ("this key", "PUT /v1/workspaces/{workspace}/budget?key={id}")
    } else if scope.as_str().starts_with("project:") {
        ("this project", "PUT /v1/projects/{project}/budget")
    } else {
        ("this workspace", "PUT /v1/workspaces/{workspace}/budget")
    };
    ApiError::new(
        StatusCode::NOT_FOUND,
        "budget_not_found",
        format!("{whose} has no budget"),
    )
    .hint(format!("set one with {set}"))
}

async fn status(state: &AppState, scope: &Scope) -> Result<byok::guard::BudgetStatus, ApiError> {
    state
        .guard()
        .status(scope)
        .await?
        .ok_or_else(|| budget_not_found(scope))
}

#[utoipa::path(put, path = "/v1/workspaces/{workspace}/budget", tag = "budgets",
    params(("workspace" = String, Path, description = "Workspace id"), BudgetParams), request_body = SetBudget,
    responses((status = 200, description = "Set; its status now", body = BudgetStatusSchema),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn set(
    caller: Caller,
    State(state): State<AppState>,
    Path(ws): Path<String>,
    Query(params): Query<BudgetParams>,
    Body(body): Body<SetBudget>,
) -> Answer {
    let (ws, vault) = caller.workspace(&state, &ws).await?;
    let scope = scope_of(&vault, &ws, &params).await?;
    put_budget(&state, scope, body).await
}

/// Set `scope`'s budget from `body`; answer its status.
async fn put_budget(state: &AppState, scope: Scope, body: SetBudget) -> Answer {
    let period: Period = body.period.as_deref().unwrap_or("month").parse()?;
    let limit: Usd = body.limit_usd.parse()?;
    let budget = Budget::new(scope.clone(), limit, period)
        .time_zone(body.time_zone.unwrap_or_else(|| "UTC".into()))
        .alerts(body.alert_percents);
    state.ledger().put_budget(&budget).await?;
    Ok(Json(status(state, &scope).await?).into_response())
}

#[utoipa::path(get, path = "/v1/workspaces/{workspace}/budget", tag = "budgets",
    params(("workspace" = String, Path, description = "Workspace id"), BudgetParams),
    responses((status = 200, description = "Limit, spend by label, held, remaining, period", body = BudgetStatusSchema),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "No such workspace or key, or no budget (`budget_not_found`)", body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn get(
    caller: Caller,
    State(state): State<AppState>,
    Path(ws): Path<String>,
    Query(params): Query<BudgetParams>,
) -> Answer {
    let (ws, vault) = caller.workspace(&state, &ws).await?;
    let scope = scope_of(&vault, &ws, &params).await?;
    Ok(Json(status(&state, &scope).await?).into_response())
}

#[utoipa::path(get, path = "/v1/workspaces/{workspace}/budget/alerts", tag = "budgets",
    params(("workspace" = String, Path, description = "Workspace id"), BudgetParams),
    responses((status = 200, description = "The thresholds and those fired this period", body = AlertsSchema),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn alerts(
    caller: Caller,
    State(state): State<AppState>,
    Path(ws): Path<String>,
    Query(params): Query<BudgetParams>,
) -> Answer {
    let (ws, vault) = caller.workspace(&state, &ws).await?;
    alerts_of(&state, &scope_of(&vault, &ws, &params).await?).await
}

/// `scope`'s alert thresholds and those fired this period.
async fn alerts_of(state: &AppState, scope: &Scope) -> Answer {
    let st = status(state, scope).await?;
    Ok(Json(json!({
        "scope": st.budget.scope,
        "alert_percents": st.budget.alert_percents,
        "alerts_fired": st.alerts_fired,
        "period_start": st.period_start,
        "period_end": st.period_end,
    }))
    .into_response())
}

#[utoipa::path(put, path = "/v1/projects/{project}/budget", tag = "budgets",
    params(("project" = String, Path, description = "Project name (what `Call::project` names)")), request_body = SetBudget,
    responses((status = 200, description = "Set; its status now", body = BudgetStatusSchema),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "Not an admin token (`forbidden`)", body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn set_project(
    caller: Caller,
    State(state): State<AppState>,
    Path(project): Path<String>,
    Body(body): Body<SetBudget>,
) -> Answer {
    let scope = project_scope(&caller, &project)?;
    put_budget(&state, scope, body).await
}

#[utoipa::path(get, path = "/v1/projects/{project}/budget", tag = "budgets",
    params(("project" = String, Path, description = "Project name (what `Call::project` names)")),
    responses((status = 200, description = "Limit, spend by label, held, remaining, period", body = BudgetStatusSchema),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "Not an admin token (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No budget (`budget_not_found`)", body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn get_project(
    caller: Caller,
    State(state): State<AppState>,
    Path(project): Path<String>,
) -> Answer {
    let scope = project_scope(&caller, &project)?;
    Ok(Json(status(&state, &scope).await?).into_response())
}

#[utoipa::path(get, path = "/v1/projects/{project}/budget/alerts", tag = "budgets",
    params(("project" = String, Path, description = "Project name (what `Call::project` names)")),
    responses((status = 200, description = "The thresholds and those fired this period", body = AlertsSchema),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn project_alerts(
    caller: Caller,
    State(state): State<AppState>,
    Path(project): Path<String>,
) -> Answer {
    alerts_of(&state, &project_scope(&caller, &project)?).await
}

/// Which budget's history, and how many days of it.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct HistoryParams {
    /// A key id of this workspace: that key's own budget (as in `GET …/budget`).
    key: Option<String>,
    /// How many calendar days, today included (1 to 400; default 30).
    days: Option<u32>,
}

/// The days a history request asks for (default 30).
fn days_of(days: Option<u32>) -> u32 {
    days.unwrap_or(30)
}

/// `scope`'s settled spend per day of its budget's time zone.
async fn history_of(state: &AppState, scope: &Scope, days: u32) -> Answer {
    let history = state
        .guard()
        .daily_spend(scope, days)
        .await?
        .ok_or_else(|| budget_not_found(scope))?;
    Ok(Json(history).into_response())
}

#[utoipa::path(get, path = "/v1/workspaces/{workspace}/budget/history", tag = "budgets",
    params(("workspace" = String, Path, description = "Workspace id"), HistoryParams),
    responses((status = 200, description = "Settled spend per calendar day of the budget's time zone, by label, oldest first (a daily spend chart)", body = DailySpendSchema),
        (status = 400, description = "`days` out of range (`invalid_history`)", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "No such workspace or key, or no budget (`budget_not_found`)", body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn history(
    caller: Caller,
    State(state): State<AppState>,
    Path(ws): Path<String>,
    Query(params): Query<HistoryParams>,
) -> Answer {
    let (ws, vault) = caller.workspace(&state, &ws).await?;
    let which = BudgetParams { key: params.key };
    let scope = scope_of(&vault, &ws, &which).await?;
    history_of(&state, &scope, days_of(params.days)).await
}

/// How many days of a project's history.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ProjectHistoryParams {
    /// How many calendar days, today included (1 to 400; default 30).
    days: Option<u32>,
}

#[utoipa::path(get, path = "/v1/projects/{project}/budget/history", tag = "budgets",
    params(("project" = String, Path, description = "Project name (what `Call::project` names)"), ProjectHistoryParams),
    responses((status = 200, description = "Settled spend per calendar day of the budget's time zone, by label, oldest first", body = DailySpendSchema),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "Not an admin token (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No budget (`budget_not_found`)", body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn project_history(
    caller: Caller,
    State(state): State<AppState>,
    Path(project): Path<String>,
    Query(params): Query<ProjectHistoryParams>,
) -> Answer {
    let scope = project_scope(&caller, &project)?;
    history_of(&state, &scope, days_of(params.days)).await
}

#[utoipa::path(get, path = "/v1/workspaces/{workspace}/audit", tag = "audit",
    params(("workspace" = String, Path, description = "Workspace id"), AuditParams),
    responses((status = 200, description = "The audit trail, oldest first, a page at a time", body = AuditPageSchema),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn audit(
    caller: Caller,
    State(state): State<AppState>,
    Path(ws): Path<String>,
    Query(q): Query<AuditParams>,
) -> Answer {
    let (ws, vault) = caller.workspace(&state, &ws).await?;
    let mut query = AuditQuery::first(q.limit.unwrap_or(100).clamp(1, 1000));
    if let Some(since) = q.since {
        let since = since
            .parse()
            .map_err(|_| ApiError::invalid("`since` is not an RFC 3339 time"))?;
        query = query.since(since);
    }
    query.after = q.after;
    let page = vault.audit_page(&ws, &query).await?;
    let events: Vec<serde_json::Value> = page
        .events
        .iter()
        .map(|(seq, e)| {
            let mut v = serde_json::to_value(e).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                o.insert("seq".into(), json!(seq));
            }
            v
        })
        .collect();
    Ok(Json(json!({ "events": events, "next": page.next })).into_response())
}
