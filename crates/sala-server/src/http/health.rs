//! `GET /healthz` (SPEC §1): 200 when the node can serve, i.e. its database answers.

use axum::Json;
use axum::extract::State;
use sala_proto::api::Health;

use crate::error::ApiError;
use crate::state::AppState;

/// Liveness and readiness in one: the store must answer a round trip.
#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, body = Health), (status = 503, body = sala_proto::error::ErrorBody)))]
pub async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state.store.ping().await?;
    Ok(Json(Health {
        status: "ok".into(),
    }))
}
