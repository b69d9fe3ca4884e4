use serde_json::{Value, json};

use crate::helpers::*;

async fn create(app: &TestApp, key: &str, body: &Value) -> reqwest::Response {
    app.http
        .post(app.url("/api/v1/instances"))
        .bearer_auth(token())
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_retried_create_answers_the_same_instance_with_200() {
    let app = spawn_app().await;
    let template = app.template("t", &token()).await;
    let body = json!({"template_id": template, "variables": {"a": 1}});
    let first = create(&app, "key-1", &body).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let second = create(&app, "key-1", &body).await;
    assert_eq!(second.status(), 200);
    let second: Value = second.json().await.unwrap();
    assert_eq!(first["id"], second["id"]);

    let other = create(&app, "key-1", &json!({"template_id": template})).await;
    problem(other, 409).await;

    let fingerprints = app.peer.fingerprints();
    let first_fp = fingerprints[0].clone().unwrap();
    assert_eq!(first_fp.len(), 64);
    assert!(first_fp.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(fingerprints[1], fingerprints[0]);
    assert_ne!(fingerprints[2], fingerprints[0]);
}

#[tokio::test]
async fn without_a_key_nothing_is_fingerprinted() {
    let app = spawn_app().await;
    let template = app.template("t", &token()).await;
    app.instance(&template, &token()).await;
    assert_eq!(app.peer.fingerprints(), vec![None]);
}

#[tokio::test]
async fn a_retried_webhook_answers_202_with_the_same_instance() {
    let app = spawn_app().await;
    let template = app.template("t", &token()).await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let response = app
            .http
            .post(app.url(&format!("/api/v1/triggers/webhook/{template}")))
            .bearer_auth(token())
            .header("idempotency-key", "hook-1")
            .json(&json!({"x": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        let body: Value = response.json().await.unwrap();
        ids.push(body["instance_id"].clone());
    }
    assert_eq!(ids[0], ids[1]);
}
