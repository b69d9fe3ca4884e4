use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn templates_round_trip_as_json() {
    let app = spawn_app().await;
    let response = app
        .post_json(
            "/api/v1/templates",
            &json!({"name": "greet", "description": "says hi", "definition": definition()}),
            &token(),
        )
        .await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    assert_eq!(
        created["definition"],
        definition(),
        "embedded as json, not text"
    );
    assert_eq!(created["version"], 1);
    assert_eq!(created["description"], "says hi");
    assert_eq!(created["created_at"], "2026-11-26T12:00:00Z");
    assert_eq!(created["warnings"][0]["path"], "/definition");
    let id = created["id"].as_str().unwrap();

    let fetched: Value = app
        .get(&format!("/api/v1/templates/{id}"), &token())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched, created);

    let response = app
        .http
        .put(app.url(&format!("/api/v1/templates/{id}")))
        .bearer_auth(token())
        .json(&json!({"name": "greet2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["version"], 2);
    assert_eq!(updated["name"], "greet2");

    let list: Value = app
        .get("/api/v1/templates", &token())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["next_cursor"], Value::Null);

    let response = app
        .http
        .delete(app.url(&format!("/api/v1/templates/{id}")))
        .bearer_auth(token())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(
        app.get(&format!("/api/v1/templates/{id}"), &token())
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn lists_page_with_a_cursor() {
    let app = spawn_app().await;
    for name in ["a", "b", "c"] {
        app.template(name, &token()).await;
    }
    let first: Value = app
        .get("/api/v1/templates?limit=2", &token())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    assert_eq!(first["items"][0]["name"], "c", "newest first");
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value = app
        .get(
            &format!("/api/v1/templates?limit=2&cursor={cursor}"),
            &token(),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert_eq!(second["next_cursor"], Value::Null);
}

#[tokio::test]
async fn instances_walk_their_lifecycle() {
    let app = spawn_app().await;
    let template = app.template("t", &token()).await;
    let response = app
        .post_json(
            "/api/v1/instances",
            &json!({"template_id": template, "variables": {"big": 12345678901234567890u64}}),
            &token(),
        )
        .await;
    assert_eq!(response.status(), 201);
    let instance: Value = response.json().await.unwrap();
    assert_eq!(instance["status"], "pending");
    assert_eq!(
        instance["variables"],
        json!({"big": 12345678901234567890u64})
    );
    assert_eq!(instance["output"], Value::Null);
    assert_eq!(instance["started_at"], Value::Null);
    let id = instance["id"].as_str().unwrap();

    for (action, status) in [
        ("start", "running"),
        ("pause", "paused"),
        ("resume", "running"),
        ("cancel", "cancelled"),
    ] {
        let response = app
            .put(&format!("/api/v1/instances/{id}/{action}"), &token())
            .await;
        assert_eq!(response.status(), 200, "{action}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], status);
    }
    let cancelled: Value = app
        .get(&format!("/api/v1/instances/{id}"), &token())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cancelled["error"]["type"], "cancelled");
    assert_eq!(cancelled["error"]["retryable"], false);

    let steps: Value = app
        .get(&format!("/api/v1/instances/{id}/steps"), &token())
        .await
        .json()
        .await
        .unwrap();
    let step = &steps["items"][0];
    assert_eq!(step["type"], "action");
    assert_eq!(step["input"]["n"], json!(12345678901234567890u64));
    assert_eq!(step["output"], json!({"big": 12345678901234567890u64}));

    let list: Value = app
        .get(
            &format!("/api/v1/instances?template_id={template}&status=cancelled"),
            &token(),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"][0]["id"], id);
}

#[tokio::test]
async fn events_are_accepted_for_an_instance() {
    let app = spawn_app().await;
    let template = app.template("t", &token()).await;
    let id = app.instance(&template, &token()).await;
    let response = app
        .post_json(
            &format!("/api/v1/instances/{id}/events"),
            &json!({"event": "approved", "data": {"by": "ann"}}),
            &token(),
        )
        .await;
    assert_eq!(response.status(), 202);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"accepted": true})
    );
}

#[tokio::test]
async fn the_webhook_creates_and_starts_an_instance() {
    let app = spawn_app().await;
    let template = app.template("t", &token()).await;
    let response = app
        .post_json(
            &format!("/api/v1/triggers/webhook/{template}"),
            &json!({"order": 7}),
            &token(),
        )
        .await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    let id = body["instance_id"].as_str().unwrap();
    let instance: Value = app
        .get(&format!("/api/v1/instances/{id}"), &token())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(instance["status"], "running");
    assert_eq!(instance["variables"], json!({"order": 7}));

    let response = app
        .post_json(
            &format!("/api/v1/triggers/webhook/{template}"),
            &json!([1]),
            &token(),
        )
        .await;
    problem(response, 422).await;
}

#[tokio::test]
async fn calls_are_balanced_away_from_a_dead_scheduler() {
    let app = spawn_app_with_a_dead_replica().await;
    let started = std::time::Instant::now();
    for i in 0..10 {
        app.template(&format!("t{i}"), &token()).await;
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}
