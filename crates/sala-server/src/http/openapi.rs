//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` attributes and the
//! wire types' `ToSchema` derives; served at `/api/openapi.json`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Sala", description = "Sala's HTTP API (SPEC §2). Errors always have the shape \
        {\"error\": {\"code\", \"message\"}}."),
    modifiers(&BearerAuth),
    components(schemas(sala_proto::error::ErrorBody)),
    tags((name = "accounts"), (name = "rooms"), (name = "people"), (name = "moderation"), (name = "messages"), (name = "files"), (name = "ops"))
)]
pub struct ApiDoc;

/// Declares the `bearer` security scheme the protected paths refer to.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}
