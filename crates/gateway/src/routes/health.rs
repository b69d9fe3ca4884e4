use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::RETRY_AFTER_SECONDS;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// `ok`, or `unavailable` when a check fails.
    pub status: &'static str,
    /// Each dependency: `ok`, `unavailable`, or `unknown` (the scheduler, who would know, is
    /// down).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<&'static str, &'static str>,
}

/// Readiness: the database (asked through the scheduler, which owns it), Redis (the event bus)
/// and the scheduler.
#[utoipa::path(get, path = "/health", tag = "operations", operation_id = "health",
    responses((status = 200, body = Health, description = "every dependency answers"), (status = 503, body = Health, description = "a dependency is down; see `checks`")))]
pub(crate) async fn ready(State(state): State<AppState>) -> Response {
    let (scheduler, database, redis) = tokio::join!(
        state.scheduler.check(""),
        state.scheduler.check("database"),
        redis_check(&state),
    );
    let mut checks = BTreeMap::new();
    let scheduler_ok = report(&mut checks, "scheduler", scheduler);
    let database_ok = match (scheduler_ok, database) {
        (false, _) => {
            checks.insert("database", "unknown");
            false
        }
        (true, result) => report(&mut checks, "database", result),
    };
    let redis_ok = report(&mut checks, "redis", redis);
    if scheduler_ok && database_ok && redis_ok {
        return (
            StatusCode::OK,
            Json(Health {
                status: "ok",
                checks,
            }),
        )
            .into_response();
    }
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(Health {
            status: "unavailable",
            checks,
        }),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
    response
}

fn report(
    checks: &mut BTreeMap<&'static str, &'static str>,
    name: &'static str,
    result: Result<(), String>,
) -> bool {
    match result {
        Ok(()) => {
            checks.insert(name, "ok");
            true
        }
        Err(reason) => {
            tracing::warn!(check = name, reason = %reason, "health check failed");
            checks.insert(name, "unavailable");
            false
        }
    }
}

async fn redis_check(state: &AppState) -> Result<(), String> {
    state.events.ping().await.map_err(|e| e.to_string())
}

/// Liveness: answers while the process runs, whatever its dependencies do.
#[utoipa::path(get, path = "/health/live", tag = "operations", operation_id = "health_live",
    responses((status = 200, body = Health, description = "the process runs")))]
pub(crate) async fn live() -> Json<Health> {
    Json(Health {
        status: "ok",
        checks: BTreeMap::new(),
    })
}
