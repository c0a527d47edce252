//! `/v1/workspaces` (list, create) and `/v1/tokens` (admin: create, list, revoke).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use byok::store::{TokenRow, WorkspaceId, WorkspaceRow, now};

use super::Body;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::token::{IssuedToken, TokenScope};

type Answer = Result<Response, ApiError>;

/// A workspace.
#[derive(Serialize, ToSchema)]
pub(crate) struct WorkspaceView {
    /// Its id (the `{workspace}` of its routes).
    id: String,
    /// RFC 3339.
    created_at: String,
    /// Who created it (`token:<id>`).
    created_by: String,
}

impl From<WorkspaceRow> for WorkspaceView {
    fn from(w: WorkspaceRow) -> Self {
        WorkspaceView {
            id: w.id.as_str().to_owned(),
            created_at: w.created_at.to_string(),
            created_by: w.created_by,
        }
    }
}

/// A workspace to create.
#[derive(Deserialize, ToSchema)]
pub(crate) struct NewWorkspace {
    /// 1 to 200 characters, no control characters.
    id: String,
}

#[utoipa::path(get, path = "/v1/workspaces", tag = "workspaces",
    responses((status = 200, description = "The workspaces this token may manage (all for admin, its own for a workspace token)", body = [WorkspaceView]),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn list_workspaces(caller: Caller, State(state): State<AppState>) -> Answer {
    caller.manager("the management API (app tokens may only use the proxy)")?;
    let all = state.access()?.workspaces().await?;
    let visible: Vec<WorkspaceView> = all
        .into_iter()
        .filter(|w| caller.scope == TokenScope::Admin || caller.workspace.as_ref() == Some(&w.id))
        .map(WorkspaceView::from)
        .collect();
    Ok(Json(visible).into_response())
}

#[utoipa::path(post, path = "/v1/workspaces", tag = "workspaces", request_body = NewWorkspace,
    responses((status = 201, description = "Created", body = WorkspaceView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "It exists already (`duplicate`)", body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn create_workspace(
    caller: Caller,
    State(state): State<AppState>,
    Body(body): Body<NewWorkspace>,
) -> Answer {
    caller.admin("creating workspaces (admin tokens only)")?;
    byok::store::refuse_secrets("workspace", &body.id)?;
    let id = WorkspaceId::new(body.id)?;
    let row = WorkspaceRow::new(id, caller.actor());
    if !state.access()?.insert_workspace(&row).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "duplicate",
            "a workspace with this id exists already",
        ));
    }
    Ok((StatusCode::CREATED, Json(WorkspaceView::from(row))).into_response())
}

/// An API token as lists show it: never its value or hash.
#[derive(Serialize, ToSchema)]
pub(crate) struct TokenView {
    /// Its public id (the audit trail names `token:<id>`).
    id: String,
    /// `admin`, `workspace` or `app`.
    scope: TokenScope,
    /// The workspace of a workspace or app token.
    workspace: Option<String>,
    /// Its name.
    name: String,
    /// RFC 3339.
    created_at: String,
    /// Who made it.
    created_by: String,
    /// RFC 3339, null while it works.
    revoked_at: Option<String>,
}

impl TokenView {
    fn from_row(row: &TokenRow) -> Result<TokenView, ApiError> {
        Ok(TokenView {
            id: row.id.clone(),
            scope: TokenScope::from_code(&row.scope).ok_or_else(|| {
                ApiError::from(byok::store::StoreError::Malformed {
                    detail: "a stored token has an unknown scope".into(),
                })
            })?,
            workspace: row.workspace.as_ref().map(|w| w.as_str().to_owned()),
            name: row.name.clone(),
            created_at: row.created_at.to_string(),
            created_by: row.created_by.clone(),
            revoked_at: row.revoked_at.map(|t| t.to_string()),
        })
    }
}

/// A token to make.
#[derive(Deserialize, ToSchema)]
pub(crate) struct NewToken {
    /// `admin`, `workspace` or `app`.
    scope: TokenScope,
    /// The workspace (required for `workspace` and `app`, refused for `admin`).
    workspace: Option<String>,
    /// A name for people (who or what uses it).
    name: String,
}

/// A new token: its value is shown this once.
#[derive(Serialize, ToSchema)]
pub(crate) struct CreatedToken {
    /// The token itself: store it now, it cannot be shown again.
    token: String,
    /// What lists show of it.
    view: TokenView,
}

#[utoipa::path(get, path = "/v1/tokens", tag = "tokens",
    responses((status = 200, description = "Every token, oldest first (never a value)", body = [TokenView]),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn list_tokens(caller: Caller, State(state): State<AppState>) -> Answer {
    caller.admin("managing tokens (admin tokens only)")?;
    let rows = state.access()?.tokens().await?;
    let views = rows
        .iter()
        .map(TokenView::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(views).into_response())
}

#[utoipa::path(post, path = "/v1/tokens", tag = "tokens", request_body = NewToken,
    responses((status = 201, description = "Made; the value is in this answer only", body = CreatedToken),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "The workspace does not exist", body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn create_token(
    caller: Caller,
    State(state): State<AppState>,
    Body(body): Body<NewToken>,
) -> Answer {
    caller.admin("managing tokens (admin tokens only)")?;
    byok::store::refuse_secrets("name", &body.name)?;
    let workspace = match (body.scope, body.workspace) {
        (TokenScope::Admin, None) => None,
        (TokenScope::Admin, Some(_)) => {
            return Err(ApiError::invalid(
                "an admin token is for every workspace: leave `workspace` out",
            ));
        }
        (_, Some(ws)) => {
            let ws = WorkspaceId::new(ws)?;
            if state.access()?.workspace(&ws).await?.is_none() {
                return Err(ApiError::workspace_not_found());
            }
            Some(ws)
        }
        (_, None) => {
            return Err(ApiError::invalid(
                "a workspace or app token needs its `workspace`",
            ));
        }
    };
    let issued = issue(&state, body.scope, workspace, &body.name, &caller.actor()).await?;
    let created = CreatedToken {
        token: issued.expose_secret().to_owned(),
        view: TokenView::from_row(issued.row())?,
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// Make a token and store its row.
pub(crate) async fn issue(
    state: &AppState,
    scope: TokenScope,
    workspace: Option<WorkspaceId>,
    name: &str,
    created_by: &str,
) -> Result<IssuedToken, ApiError> {
    let issued = IssuedToken::generate(scope, workspace, name, created_by)
        .map_err(|_| ApiError::from(byok::store::StoreError::Random))?;
    state.access()?.insert_token(issued.row()).await?;
    Ok(issued)
}

#[utoipa::path(delete, path = "/v1/tokens/{id}", tag = "tokens",
    params(("id" = String, Path, description = "Token id")),
    responses((status = 200, description = "Revoked: refused from now on", body = TokenView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn revoke_token(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Answer {
    caller.admin("managing tokens (admin tokens only)")?;
    let access = state.access()?;
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "not_found", "no token with this id");
    if access.token(&id).await?.is_none() {
        return Err(not_found());
    }
    access.revoke_token(&id, now()).await?;
    state.tokens().forget(&id);
    let row = access.token(&id).await?.ok_or_else(not_found)?;
    Ok(Json(TokenView::from_row(&row)?).into_response())
}
