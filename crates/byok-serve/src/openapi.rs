//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]`
//! attributes and the DTOs' schemas; served at `/openapi.json`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{access, budgets, format, health, keys};

/// The API's document type: `ApiDoc::openapi()` builds it.
#[derive(OpenApi)]
#[openapi(
    info(title = "byok serve", description = "The management REST API of a byok vault: workspaces, keys (add with Test before save, list masked, edit, Test, rotate, disable, enable, revoke, delete), format check, selection preview, budgets, audit trail, API tokens."),
    paths(
        health::healthz, health::readyz, crate::metrics::metrics,
        access::list_workspaces, access::create_workspace,
        access::list_tokens, access::create_token, access::revoke_token,
        keys::list, keys::add, keys::show, keys::edit, keys::delete, keys::test, keys::rotate,
        keys::disable, keys::enable, keys::revoke, keys::selection,
        format::check,
        budgets::set, budgets::get, budgets::alerts, budgets::history, budgets::audit,
        budgets::set_project, budgets::get_project, budgets::project_alerts, budgets::project_history,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "health", description = "Liveness, readiness and metrics"),
        (name = "workspaces", description = "Tenants"),
        (name = "tokens", description = "API tokens (admin)"),
        (name = "keys", description = "A workspace's provider keys"),
        (name = "budgets", description = "A workspace's spend limit"),
        (name = "audit", description = "Who changed which key"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("byok_<adm|wsm|app>_<id>_<secret>")
                    .build(),
            ),
        );
    }
}
