use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::openapi;
use crate::state::AppState;

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "operations", operation_id = "metrics",
    responses((status = 200, content_type = "text/plain", body = String, description = "Prometheus text exposition")))]
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    state.metrics.run_upkeep();
    let mut response = state.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// This API as OpenAPI 3.1.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations", operation_id = "openapi",
    responses((status = 200, content_type = "application/json", body = Object, description = "this document")))]
pub(crate) async fn openapi_json() -> Result<Json<serde_json::Value>, ApiError> {
    openapi::document().map(Json).map_err(|e| {
        tracing::error!(error = %e, "cannot render the openapi document");
        ApiError::internal()
    })
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::not_found("no such resource")
}

pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}
