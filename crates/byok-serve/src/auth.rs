//! Who is calling: the bearer token checked against its stored hash, and what
//! its scope may reach. Every route takes a [`Caller`]; every workspace route
//! asks it for the workspace in its path ([`Caller::workspace`]).

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use byok::Vault;
use byok::store::{WorkspaceId, now};

use crate::error::ApiError;
use crate::observe::RequestFacts;
use crate::state::AppState;
use crate::token::{self, TokenScope};

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's id (the audit trail names `token:<id>`).
    pub id: String,
    /// Its scope.
    pub scope: TokenScope,
    /// The workspace of a workspace or app token.
    pub workspace: Option<WorkspaceId>,
}

impl Caller {
    /// How the audit trail names this caller.
    pub fn actor(&self) -> String {
        format!("token:{}", self.id)
    }

    /// Refuse all but admin tokens.
    pub(crate) fn admin(&self, what: &str) -> Result<(), ApiError> {
        match self.scope {
            TokenScope::Admin => Ok(()),
            _ => Err(ApiError::forbidden(what)),
        }
    }

    /// Refuse app tokens (they are for the proxy only).
    pub(crate) fn manager(&self, what: &str) -> Result<(), ApiError> {
        match self.scope {
            TokenScope::Admin | TokenScope::Workspace => Ok(()),
            _ => Err(ApiError::forbidden(what)),
        }
    }

    /// The workspace named in a path, if this caller may manage it and it exists:
    /// app tokens are `forbidden`; another workspace than a workspace token's,
    /// or one that does not exist, is `not_found` (the two are not told apart).
    pub(crate) async fn workspace(
        &self,
        state: &AppState,
        name: &str,
    ) -> Result<(WorkspaceId, Vault), ApiError> {
        self.manager("the management API (app tokens may only use the proxy)")?;
        let ws = WorkspaceId::new(name).map_err(|_| ApiError::workspace_not_found())?;
        if self.scope == TokenScope::Workspace && self.workspace.as_ref() != Some(&ws) {
            return Err(ApiError::workspace_not_found());
        }
        if state.access()?.workspace(&ws).await?.is_none() {
            return Err(ApiError::workspace_not_found());
        }
        Ok((ws, state.vault().with_actor(self.actor())))
    }
}

impl Caller {
    /// The caller a presented token names, checked against its stored hash:
    /// `unauthorized` when it is unknown, revoked, mistyped or not a token.
    pub(crate) async fn of_token(state: &AppState, presented: &str) -> Result<Caller, ApiError> {
        let parsed = token::parse(presented).ok_or_else(ApiError::unauthorized)?;
        // Only rows that exist are kept, and the checks below run on every request.
        let row = match state.tokens().get(parsed.id) {
            Some(row) => row,
            None => {
                let row = state
                    .access()?
                    .token(parsed.id)
                    .await?
                    .ok_or_else(ApiError::unauthorized)?;
                state.tokens().put(&row);
                row
            }
        };
        let scope = TokenScope::from_code(&row.scope).ok_or_else(ApiError::unauthorized)?;
        let live = row.revoked_at.is_none_or(|at| at > now());
        if !token::matches(presented, &row) || scope != parsed.scope || !live {
            return Err(ApiError::unauthorized());
        }
        Ok(Caller {
            id: row.id,
            scope,
            workspace: row.workspace,
        })
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let value = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(ApiError::unauthorized)?;
        let presented = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or_else(ApiError::unauthorized)?;
        let caller = Caller::of_token(state, presented).await?;
        if let Some(facts) = parts.extensions.get::<RequestFacts>() {
            facts.token(&caller.id);
        }
        Ok(caller)
    }
}
