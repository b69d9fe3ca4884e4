use serde_json::{Value, json};
use tonic_health::ServingStatus;

use crate::helpers::*;

#[tokio::test]
async fn health_is_ok_when_everything_answers() {
    let app = spawn_app().await;
    let response = app.http.get(app.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"status": "ok", "checks": {"database": "ok", "redis": "ok", "scheduler": "ok"}})
    );
}

#[tokio::test]
async fn health_names_a_failing_database() {
    let app = spawn_app().await;
    app.health
        .set_service_status("database", ServingStatus::NotServing)
        .await;
    let response = app.http.get(app.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["checks"]["database"], "unavailable");
    assert_eq!(body["checks"]["scheduler"], "ok");
}

#[tokio::test]
async fn health_names_a_missing_scheduler_and_live_still_answers() {
    let app = spawn_app_without_scheduler().await;
    let response = app.http.get(app.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["checks"]["scheduler"], "unavailable");
    assert_eq!(body["checks"]["redis"], "ok");

    let live = app.http.get(app.url("/health/live")).send().await.unwrap();
    assert_eq!(live.status(), 200);
}

#[tokio::test]
async fn metrics_count_requests_by_route() {
    let app = spawn_app().await;
    app.get("/api/v1/templates", &token()).await;
    let response = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(text.contains("http_requests_total"), "{text}");
    assert!(text.contains(r#"route="/api/v1/templates""#), "{text}");
}

#[tokio::test]
async fn the_openapi_document_describes_the_routes() {
    let app = spawn_app().await;
    let response = app
        .http
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/api/v1/templates",
        "/api/v1/templates/{id}",
        "/api/v1/instances",
        "/api/v1/instances/{id}/cancel",
        "/api/v1/instances/{id}/events/stream",
        "/api/v1/triggers/webhook/{template_id}",
        "/health",
    ] {
        assert!(doc["paths"].get(path).is_some(), "missing {path}");
    }
    assert!(doc["components"]["schemas"].get("InstanceDto").is_some());
    assert!(doc["components"]["securitySchemes"].get("bearer").is_some());
}
