use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn unreadable_json_is_400() {
    let app = spawn_app().await;
    let response = app
        .http
        .post(app.url("/api/v1/templates"))
        .bearer_auth(token())
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    problem(response, 400).await;
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415() {
    let app = spawn_app().await;
    let response = app
        .http
        .post(app.url("/api/v1/templates"))
        .bearer_auth(token())
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    problem(response, 415).await;
    let response = app
        .http
        .post(app.url("/api/v1/templates"))
        .bearer_auth(token())
        .body("{}")
        .send()
        .await
        .unwrap();
    problem(response, 415).await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let app = spawn_app_with_limit(1024).await;
    let big = json!({"name": "x".repeat(2048), "definition": definition()});
    let response = app.post_json("/api/v1/templates", &big, &token()).await;
    problem(response, 413).await;
}

#[tokio::test]
async fn unknown_fields_are_422_with_their_path() {
    let app = spawn_app().await;
    let response = app
        .post_json(
            "/api/v1/templates",
            &json!({"name": "x", "definition": definition(), "descripton": "typo"}),
            &token(),
        )
        .await;
    let body = problem(response, 422).await;
    assert_eq!(body["errors"][0]["path"], "/descripton", "{body}");
}

#[tokio::test]
async fn a_wrong_type_is_422_with_its_path() {
    let app = spawn_app().await;
    let response = app
        .post_json(
            "/api/v1/instances",
            &json!({"template_id": uuid::Uuid::now_v7(), "start": "yes"}),
            &token(),
        )
        .await;
    let body = problem(response, 422).await;
    assert_eq!(body["errors"][0]["path"], "/start", "{body}");
    let response = app
        .post_json("/api/v1/instances", &json!({"variables": {}}), &token())
        .await;
    problem(response, 422).await;
}

#[tokio::test]
async fn scheduler_field_violations_come_through_unprefixed() {
    let app = spawn_app().await;
    let response = app
        .post_json(
            "/api/v1/templates",
            &json!({"name": "x", "definition": {"steps": [{"type": "action"}]}}),
            &token(),
        )
        .await;
    let body = problem(response, 422).await;
    assert_eq!(
        body["errors"],
        json!([{"path": "/definition/steps/0/id", "message": "a step needs an id"}])
    );
}

#[tokio::test]
async fn malformed_ids_are_400_and_unknown_ones_404() {
    let app = spawn_app().await;
    problem(app.get("/api/v1/instances/not-a-uuid", &token()).await, 400).await;
    problem(app.get("/api/v1/templates/123", &token()).await, 400).await;
    problem(
        app.get("/api/v1/instances?template_id=nope", &token())
            .await,
        400,
    )
    .await;
    let unknown = uuid::Uuid::now_v7();
    problem(
        app.get(&format!("/api/v1/instances/{unknown}"), &token())
            .await,
        404,
    )
    .await;
    problem(app.get("/api/v1/nothing-here", &token()).await, 404).await;
}

#[tokio::test]
async fn another_tenants_resources_are_404() {
    let app = spawn_app().await;
    let template = app.template("mine", &token_for("acme", None)).await;
    let response = app
        .get(
            &format!("/api/v1/templates/{template}"),
            &token_for("globex", None),
        )
        .await;
    problem(response, 404).await;
}

#[tokio::test]
async fn a_bad_limit_is_422() {
    let app = spawn_app().await;
    for limit in ["0", "501", "ten", "-1"] {
        let response = app
            .get(&format!("/api/v1/templates?limit={limit}"), &token())
            .await;
        let body = problem(response, 422).await;
        assert_eq!(body["errors"][0]["path"], "/limit");
    }
    assert_eq!(
        app.get("/api/v1/templates?limit=500", &token())
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn state_conflicts_are_409() {
    let app = spawn_app().await;
    let template = app.template("t", &token()).await;
    let instance = app.instance(&template, &token()).await;
    problem(
        app.put(&format!("/api/v1/instances/{instance}/pause"), &token())
            .await,
        409,
    )
    .await;
    let duplicate = app
        .post_json(
            "/api/v1/templates",
            &json!({"name": "t", "definition": definition()}),
            &token(),
        )
        .await;
    problem(duplicate, 409).await;
}

#[tokio::test]
async fn a_scheduler_that_is_down_is_503_with_retry_after() {
    let app = spawn_app_without_scheduler().await;
    let response = app.get("/api/v1/templates", &token()).await;
    assert!(response.headers().contains_key("retry-after"));
    problem(response, 503).await;
}

#[tokio::test]
async fn wrong_methods_are_problems_too() {
    let app = spawn_app().await;
    let response = app
        .http
        .patch(app.url("/api/v1/templates"))
        .bearer_auth(token())
        .send()
        .await
        .unwrap();
    let body = problem(response, 405).await;
    assert_eq!(body["title"], Value::from("Method Not Allowed"));
}

#[tokio::test]
async fn request_ids_are_echoed_or_made() {
    let app = spawn_app().await;
    let response = app
        .http
        .get(app.url("/api/v1/templates"))
        .bearer_auth(token())
        .header("x-request-id", "caller-chose-this")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "caller-chose-this");
    assert_eq!(
        app.peer.seen()[0].request_id.as_deref(),
        Some("caller-chose-this")
    );

    // Made when absent, on errors too.
    let response = app
        .http
        .get(app.url("/api/v1/templates"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let id = response.headers()["x-request-id"].to_str().unwrap();
    let id = uuid::Uuid::parse_str(id).unwrap();
    assert_eq!(id.get_version_num(), 7);
}
