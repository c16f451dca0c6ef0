//! `GET /healthz` (SPEC §1): 200 when the node can serve, i.e. its database answers; and
//! `GET /metrics`, the node's counters as Prometheus text.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use sala_proto::api::Health;

use crate::error::ApiError;
use crate::http::AppState;

/// Liveness and readiness in one: the store must answer a round trip.
#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, body = Health), (status = 503, body = sala_proto::error::ErrorBody)))]
pub async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state.store.ping().await?;
    Ok(Json(Health {
        status: "ok".into(),
    }))
}

/// `GET /metrics` (SPEC §1).
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(state.chat.gauges()),
    )
}
