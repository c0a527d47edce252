//! `/v1/workspaces/{workspace}/keys…`: add (paste-box checks, then Test before
//! save), list masked, show, edit, Test, rotate, disable / enable / revoke,
//! delete, and the selection preview.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use byok::keys::params::Params;
use byok::keys::{ExposeSecret, Provider, SecretString, normalize};
use byok::store::Role;
use byok::verify::Depth;
use byok::{KeyEdit, NewKey, Purpose};

use super::{Body, Query, key_id};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::limit::Limited;
use crate::schema::{KeyViewSchema, ReportSchema, SkippedSchema};
use crate::state::AppState;

/// A key pasted into the UI. `Debug` never shows the key.
#[derive(Deserialize, ToSchema)]
pub(crate) struct AddKey {
    /// The pasted text: surrounding whitespace, quotes, `Bearer ` and `NAME=` are removed.
    key: String,
    /// The owner's name for the key.
    label: String,
    /// The provider the key must belong to (else `wrong_provider`); recognised from the key when left out.
    provider: Option<String>,
    /// `primary` (default) or `backup`.
    role: Option<String>,
    /// Order among backups, lower first (default 1 for a backup).
    order: Option<u32>,
    /// Model to use by default with this key.
    default_model: Option<String>,
    /// A note (never the secret).
    note: Option<String>,
    /// Key parameters: Azure OpenAI `resource`, `deployment` (`api_version`), Bedrock `region`.
    params: Option<BTreeMap<String, String>>,
    /// An organisation admin key for usage and cost sync (not for calls; not tested).
    #[serde(default)]
    usage_sync: bool,
}

/// What an add did.
#[derive(ToSchema)]
#[schema(as = Added)]
#[allow(dead_code)]
pub(crate) struct AddedSchema {
    /// The stored key.
    key: KeyViewSchema,
    /// The Test made before saving (null when none was: no verifier, or an admin key).
    report: Option<ReportSchema>,
    /// A line to show when the key was saved but does not work right now.
    warning: Option<String>,
}

/// Changes to a key's non-secret fields, from the version the caller saw.
#[derive(Deserialize, ToSchema)]
pub(crate) struct EditKey {
    /// The `version` of the key as last read; a stale one is `conflict`.
    version: u64,
    /// New label.
    label: Option<String>,
    /// New role: `primary` or `backup`.
    role: Option<String>,
    /// Order among backups with `role: backup` (default 1).
    order: Option<u32>,
    /// New default model; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    default_model: Option<Option<String>>,
    /// New note; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    note: Option<Option<String>>,
    /// New parameters, replacing the key's (give every value it keeps).
    params: Option<BTreeMap<String, String>>,
}

/// A field that is present (maybe `null`) is `Some`; an absent one stays `None`.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A new secret for a stored key (same id, label, role).
#[derive(Deserialize, ToSchema)]
pub(crate) struct RotateKey {
    /// The new key, of the same provider.
    key: String,
    /// Parameters the new key works with, when they differ.
    params: Option<BTreeMap<String, String>>,
}

/// How deep a Test goes.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct TestQuery {
    /// `auth` (free call only) or `billing` (default: also a 1-token request).
    depth: Option<String>,
}

/// The provider a selection preview is for.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SelectionQuery {
    /// Provider code (`openai`, `anthropic`, `google`, ...).
    provider: String,
}

/// Which key a call would use, and why the others are skipped.
#[derive(ToSchema)]
#[schema(as = Selection)]
#[allow(dead_code)]
pub(crate) struct SelectionSchema {
    /// The provider asked for.
    provider: String,
    /// The key a call would use now (null: none can serve).
    chosen: Option<KeyViewSchema>,
    /// Keys passed over, in order, with the reason.
    skipped: Vec<SkippedSchema>,
}

fn provider(code: &str) -> Result<Provider, ApiError> {
    code.parse::<Provider>().map_err(|_| {
        ApiError::invalid("unknown provider code").hint(
            "use a provider code such as openai, anthropic, google, mistral, azure_openai, bedrock",
        )
    })
}

fn role(code: Option<&str>, order: Option<u32>) -> Result<(Role, u32), ApiError> {
    match code.unwrap_or("primary") {
        "primary" => Ok((Role::Primary, 0)),
        "backup" => Ok((Role::Backup, order.unwrap_or(1))),
        _ => Err(ApiError::invalid("role must be `primary` or `backup`")),
    }
}

fn params(provider: Provider, given: BTreeMap<String, String>) -> Result<Params, ApiError> {
    Ok(Params::new(provider, given)?)
}

/// The provider of pasted text: the one named, else the one its shape says
/// (the paste-box checks' own error when it has none).
fn provider_of(secret: &SecretString, named: Option<Provider>) -> Result<Provider, ApiError> {
    match named {
        Some(p) => Ok(p),
        None => Ok(normalize(secret.expose_secret()).parse()?.provider()),
    }
}

type Answer = Result<Response, ApiError>;

fn ok(value: impl serde::Serialize) -> Answer {
    Ok(Json(value).into_response())
}

#[utoipa::path(get, path = "/v1/workspaces/{workspace}/keys", tag = "keys",
    params(("workspace" = String, Path, description = "Workspace id")),
    responses((status = 200, description = "Every key, masked: primaries, then backups by order", body = [KeyViewSchema]),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn list(
    caller: Caller,
    State(state): State<AppState>,
    Path(ws): Path<String>,
) -> Answer {
    let (ws, vault) = caller.workspace(&state, &ws).await?;
    ok(vault.list(&ws).await?)
}

#[utoipa::path(post, path = "/v1/workspaces/{workspace}/keys", tag = "keys",
    params(("workspace" = String, Path, description = "Workspace id")),
    request_body = AddKey,
    responses((status = 201, description = "Checked, tested and saved (a warning when the Test was not `valid`)", body = AddedSchema),
        (status = 400, description = "The paste-box checks failed (`truncated`, `wrong_provider`, `missing_param`, ...)", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The same key is already stored (`duplicate`)", body = ErrorBody),
        (status = 422, description = "The Test said `invalid` (`key_rejected`, with the report) or an admin key (`admin_key_refused`)", body = ErrorBody),
        (status = 429, description = "This token's adds, Tests and rotations are over its rate limit (`rate_limited`, with `retry-after`)", body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn add(
    caller: Caller,
    State(state): State<AppState>,
    Path(ws): Path<String>,
    Body(body): Body<AddKey>,
) -> Answer {
    let (ws, vault) = caller.workspace(&state, &ws).await?;
    state.limit(&caller, Limited::KeyTest)?;
    let secret = SecretString::from(body.key);
    let named = body.provider.as_deref().map(provider).transpose()?;
    let (role, order) = role(body.role.as_deref(), body.order)?;
    let given = match body.params {
        Some(given) => Some(params(provider_of(&secret, named)?, given)?),
        None => None,
    };
    let mut new = NewKey::new(ws, secret, body.label);
    if let Some(p) = named {
        new = new.provider(p);
    }
    if role == Role::Backup {
        new = new.backup(order);
    }
    if body.usage_sync {
        new = new.purpose(Purpose::UsageSync);
    }
    if let Some(m) = body.default_model {
        new = new.default_model(m);
    }
    if let Some(n) = body.note {
        new = new.note(n);
    }
    if let Some(given) = given {
        new = new.params(given);
    }
    let added = vault.add_with_report(new).await;
    match &added {
        Ok(byok::Added {
            report: Some(report),
            ..
        }) => count_test(&state, report),
        Err(byok::VaultError::KeyRejected { report }) => count_test(&state, report),
        _ => {}
    }
    let added = added?;
    let answer = json!({ "key": added.key, "report": added.report, "warning": added.warning() });
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

#[utoipa::path(get, path = "/v1/workspaces/{workspace}/keys/{id}", tag = "keys",
    params(("workspace" = String, Path, description = "Workspace id"), ("id" = String, Path, description = "Key id")),
    responses((status = 200, description = "The key, masked", body = KeyViewSchema),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn show(
    caller: Caller,
    State(state): State<AppState>,
    Path((ws, id)): Path<(String, String)>,
) -> Answer {
    let (ws, vault) = caller.workspace(&state, &ws).await?;
    ok(vault.show(&ws, key_id(&id)?).await?)
}

#[utoipa::path(patch, path = "/v1/workspaces/{workspace}/keys/{id}", tag = "keys",
    params(("workspace" = String, Path, description = "Workspace id"), ("id" = String, Path, description = "Key id")),
    request_body = EditKey,
    responses((status = 200, description = "The edited key", body = KeyViewSchema),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "The key changed since `version` (`conflict`)", body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn edit(
    caller: Caller,
    State(state): State<AppState>,
    Path((ws, id)): Path<(String, String)>,
    Body(body): Body<EditKey>,
) -> Answer {
    let (ws, vault) = caller.workspace(&state, &ws).await?;
    let id = key_id(&id)?;
    let mut edit = KeyEdit::new();
    if let Some(label) = body.label {
        edit = edit.label(label);
    }
    if body.role.is_some() {
        edit = match role(body.role.as_deref(), body.order)? {
            (Role::Backup, order) => edit.backup(order),
            _ => edit.primary(),
        };
    }
    if let Some(m) = body.default_model {
        edit = edit.default_model(m);
    }
    if let Some(n) = body.note {
        edit = edit.note(n);
    }
    if let Some(given) = body.params {
        let current = vault.show(&ws, id).await?;
        edit = edit.params(params(current.provider, given)?);
    }
    ok(vault.edit(&ws, id, body.version, edit).await?)
}

#[utoipa::path(delete, path = "/v1/workspaces/{workspace}/keys/{id}", tag = "keys",
    params(("workspace" = String, Path, description = "Workspace id"), ("id" = String, Path, description = "Key id")),
    responses((status = 204, description = "Deleted with its sealed secret"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn delete(
    caller: Caller,
    State(state): State<AppState>,
    Path((ws, id)): Path<(String, String)>,
) -> Answer {
    let (ws, vault) = caller.workspace(&state, &ws).await?;
    vault.delete(&ws, key_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(post, path = "/v1/workspaces/{workspace}/keys/{id}/test", tag = "keys",
    params(("workspace" = String, Path, description = "Workspace id"), ("id" = String, Path, description = "Key id"), TestQuery),
    responses((status = 200, description = "The Test button: the report (its verdict is recorded on the key)", body = ReportSchema),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The key is disabled or revoked (`key_inactive`)", body = ErrorBody),
        (status = 429, description = "Over the rate limit (`rate_limited`, with `retry-after`)", body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn test(
    caller: Caller,
    State(state): State<AppState>,
    Path((ws, id)): Path<(String, String)>,
    Query(q): Query<TestQuery>,
) -> Answer {
    let (ws, vault) = caller.workspace(&state, &ws).await?;
    state.limit(&caller, Limited::KeyTest)?;
    let depth = match q.depth.as_deref() {
        None => Depth::Billing,
        Some(d) => d
            .parse::<Depth>()
            .map_err(|_| ApiError::invalid("depth must be `auth` or `billing`"))?,
    };
    let report = vault.test(&ws, key_id(&id)?, depth).await?;
    count_test(&state, &report);
    ok(report)
}

/// A Test's verdict, in the metrics.
fn count_test(state: &AppState, report: &byok::verify::Report) {
    state.metrics().count(
        "byok_key_tests_total",
        vec![
            ("provider", report.provider.as_str().to_owned()),
            ("verdict", report.code().to_owned()),
        ],
    );
}

#[utoipa::path(post, path = "/v1/workspaces/{workspace}/keys/{id}/rotate", tag = "keys",
    params(("workspace" = String, Path, description = "Workspace id"), ("id" = String, Path, description = "Key id")),
    request_body = RotateKey,
    responses((status = 200, description = "The key with its new secret (same id)", body = KeyViewSchema),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 429, description = "Over the rate limit (`rate_limited`, with `retry-after`)", body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn rotate(
    caller: Caller,
    State(state): State<AppState>,
    Path((ws, id)): Path<(String, String)>,
    Body(body): Body<RotateKey>,
) -> Answer {
    let (ws, vault) = caller.workspace(&state, &ws).await?;
    state.limit(&caller, Limited::KeyTest)?;
    let id = key_id(&id)?;
    let secret = SecretString::from(body.key);
    let view = match body.params {
        Some(given) => {
            let current = vault.show(&ws, id).await?;
            let p = params(current.provider, given)?;
            vault.rotate_with_params(&ws, id, secret, p).await?
        }
        None => vault.rotate(&ws, id, secret).await?,
    };
    ok(view)
}

macro_rules! status_route {
    ($name:ident, $path:literal, $method:ident, $what:literal) => {
        #[utoipa::path(post, path = $path, tag = "keys",
            params(("workspace" = String, Path, description = "Workspace id"), ("id" = String, Path, description = "Key id")),
            responses((status = 200, description = $what, body = KeyViewSchema),
                (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
                (status = 409, description = "A revoked key can only be deleted (`key_inactive`)", body = ErrorBody)),
            security(("bearer" = [])))]
        pub(crate) async fn $name(
            caller: Caller,
            State(state): State<AppState>,
            Path((ws, id)): Path<(String, String)>,
        ) -> Answer {
            let (ws, vault) = caller.workspace(&state, &ws).await?;
            ok(vault.$method(&ws, key_id(&id)?).await?)
        }
    };
}

status_route!(
    disable,
    "/v1/workspaces/{workspace}/keys/{id}/disable",
    disable,
    "Switched off (reversible)"
);
status_route!(
    enable,
    "/v1/workspaces/{workspace}/keys/{id}/enable",
    enable,
    "Switched on again"
);
status_route!(
    revoke,
    "/v1/workspaces/{workspace}/keys/{id}/revoke",
    revoke,
    "Revoked for good (never used again; can only be deleted)"
);

#[utoipa::path(get, path = "/v1/workspaces/{workspace}/selection", tag = "keys",
    params(("workspace" = String, Path, description = "Workspace id"), SelectionQuery),
    responses((status = 200, description = "Which key a call to the provider would use now, and every key passed over with its reason (nothing is leased or audited)", body = SelectionSchema),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn selection(
    caller: Caller,
    State(state): State<AppState>,
    Path(ws): Path<String>,
    Query(q): Query<SelectionQuery>,
) -> Answer {
    let (ws, vault) = caller.workspace(&state, &ws).await?;
    let p = provider(&q.provider)?;
    let views = vault.list(&ws).await?;
    let (chosen, skipped) = match byok::select::choose(&views, p) {
        Ok((chosen, skipped)) => (Some(chosen), skipped),
        Err(skipped) => (None, skipped),
    };
    let answer: Value = json!({ "provider": p, "chosen": chosen, "skipped": skipped });
    ok(answer)
}
