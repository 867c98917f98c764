//! The OpenAPI 3 document, generated from the handlers' annotations, served at
//! `/api/openapi.json`.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "hotline case API", description = "Tenants, cases and the audit trail."),
    paths(
        crate::auth::login,
        crate::auth::refresh,
        crate::auth::create_api_key,
        crate::cases::create,
        crate::cases::list,
        crate::cases::get,
        crate::cases::update,
        crate::cases::resolve,
        crate::cases::reopen,
        crate::audit::verify,
    ),
    components(schemas(crate::error::ErrorBody, crate::error::ErrorDetail)),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Login, refresh tokens and API keys"),
        (name = "cases", description = "Cases"),
        (name = "audit", description = "The hash-chained audit trail"),
    )
)]
pub struct ApiDoc;

/// Declares the `bearer` scheme: an access token (JWT) or an API key (`hk_…`).
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("Access token (JWT) or API key (hk_...)"))
                    .build(),
            ),
        );
    }
}

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
