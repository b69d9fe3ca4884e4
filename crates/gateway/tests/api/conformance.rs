//! What the OpenAPI document promises about inputs, held by the gateway itself: the answers
//! schemathesis checks (`scripts/api-fuzz.sh`), one case each.

use serde_json::{Value, json};

use crate::helpers::*;

async fn send(app: &TestApp, method: reqwest::Method, path: &str, body: &str) -> reqwest::Response {
    app.http
        .request(method, app.url(path))
        .bearer_auth(token())
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_body_that_is_not_an_object_is_422_even_where_serde_would_read_it() {
    let app = spawn_app().await;
    let template = app.template("t", &token()).await;
    let path = format!("/api/v1/templates/{template}");
    // serde fills a struct from an array in field order: the document says object.
    let body = problem(
        send(&app, reqwest::Method::PUT, &path, "[null, null]").await,
        422,
    )
    .await;
    assert_eq!(body["errors"][0]["path"], "");
    let webhook = format!("/api/v1/triggers/webhook/{template}");
    for body in ["null", "[]", "\"x\"", "1"] {
        problem(send(&app, reqwest::Method::POST, &webhook, body).await, 422).await;
    }
    let ok = send(&app, reqwest::Method::POST, &webhook, " \n{}").await;
    assert_eq!(ok.status(), 202);
}

#[tokio::test]
async fn list_filters_are_checked_as_documented() {
    let app = spawn_app().await;
    for query in [
        "status=",
        "status=Running",
        "status=done",
        "limit=0",
        "limit=501",
    ] {
        let response = app
            .get(&format!("/api/v1/instances?{query}"), &token())
            .await;
        problem(response, 422).await;
    }
    for query in ["cursor=abc", "template_id=1"] {
        let response = app
            .get(&format!("/api/v1/instances?{query}"), &token())
            .await;
        problem(response, 400).await;
    }
    let response = app.get("/api/v1/templates?cursor=nope", &token()).await;
    problem(response, 400).await;
    let template = app.template("t", &token()).await;
    app.instance(&template, &token()).await;
    let response = app
        .get("/api/v1/instances?status=pending&limit=500", &token())
        .await;
    assert_eq!(response.status(), 200);
    let page: Value = response.json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_blank_or_long_name_is_422_before_the_scheduler_is_asked() {
    let app = spawn_app().await;
    for name in [" \u{3000}\t".to_string(), "x".repeat(201)] {
        let response = app
            .post_json(
                "/api/v1/templates",
                &json!({"name": name, "definition": definition()}),
                &token(),
            )
            .await;
        let body = problem(response, 422).await;
        assert_eq!(body["errors"][0]["path"], "/name");
    }
    assert!(app.peer.seen().is_empty(), "the scheduler was asked");
}

#[tokio::test]
async fn versions_are_integers_from_1_however_json_writes_them() {
    let app = spawn_app().await;
    let template = app.template("t", &token()).await;
    let create =
        |version: &str| format!(r#"{{"template_id": "{template}", "version": {version}}}"#);
    let response = send(
        &app,
        reqwest::Method::POST,
        "/api/v1/instances",
        &create("1.0"),
    )
    .await;
    assert_eq!(response.status(), 201);
    for bad in ["0", "-3", "1.5"] {
        let response = send(
            &app,
            reqwest::Method::POST,
            "/api/v1/instances",
            &create(bad),
        )
        .await;
        let body = problem(response, 422).await;
        assert_eq!(body["errors"][0]["path"], "/version", "{bad}");
    }
}

#[tokio::test]
async fn an_idempotency_key_is_visible_ascii_only() {
    let app = spawn_app().await;
    let template = app.template("t", &token()).await;
    for key in ["has space", "tab\there"] {
        let response = app
            .http
            .post(app.url("/api/v1/instances"))
            .bearer_auth(token())
            .header("idempotency-key", key)
            .json(&json!({"template_id": template}))
            .send()
            .await
            .unwrap();
        problem(response, 400).await;
    }
}
