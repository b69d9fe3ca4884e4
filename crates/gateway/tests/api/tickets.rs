//! Stream tickets: a browser's way into the event streams (`EventSource` sends no headers).

use std::time::Duration;

use bus::EventBus;
use futures::StreamExt;
use model::{EventType, WorkflowEvent};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

async fn new_ticket(app: &TestApp, token: &str) -> String {
    let response = app
        .http
        .post(app.url("/api/v1/events/tickets"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["expires_in"], 60);
    assert!(body["expires_at"].is_string());
    body["ticket"].as_str().unwrap().to_string()
}

fn event(tenant: &str, instance_id: Uuid) -> WorkflowEvent {
    WorkflowEvent {
        event_type: EventType::StepWaiting,
        tenant: tenant.into(),
        instance_id,
        step_id: Some("approval".into()),
        status: "waiting".into(),
        at: chrono::Utc::now(),
        data: json!({}),
    }
}

/// Reads the stream until an event for `instance_id` arrives; answers its data.
async fn first_event_for(response: reqwest::Response, instance_id: Uuid) -> Value {
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut text = String::new();
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(5), body.next())
            .await
            .expect("an event within 5 s")
            .expect("the stream stays open")
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
        for line in text.lines() {
            if let Some(data) = line.strip_prefix("data:") {
                let data: Value = serde_json::from_str(data.trim()).unwrap();
                if data["instance_id"] == instance_id.to_string() {
                    return data;
                }
            }
        }
    }
}

#[tokio::test]
async fn a_viewer_opens_a_stream_with_a_ticket_and_no_header() {
    let app = spawn_app().await;
    let viewer = token_for("acme", Some("viewer"));
    let ticket = new_ticket(&app, &viewer).await;
    let response = app
        .http
        .get(app.url(&format!("/api/v1/events/stream?ticket={ticket}")))
        .send()
        .await
        .unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let (theirs, ours) = (Uuid::now_v7(), Uuid::now_v7());
    let publish = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        app.bus
            .publish(&[event("globex", theirs), event("acme", ours)])
            .await
            .unwrap();
    };
    let (data, ()) = tokio::join!(first_event_for(response, ours), publish);
    assert_eq!(data["status"], "waiting");
}

#[tokio::test]
async fn a_ticket_opens_its_tenants_instance_stream_only() {
    let app = spawn_app().await;
    let template = app.template("tickets", &token()).await;
    let instance = app.instance(&template, &token()).await;
    let ticket = new_ticket(&app, &token()).await;
    let path = format!("/api/v1/instances/{instance}/events/stream?ticket={ticket}");
    let response = app.http.get(app.url(&path)).send().await.unwrap();
    let id: Uuid = instance.parse().unwrap();
    let publish = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        app.bus.publish(&[event("acme", id)]).await.unwrap();
    };
    let (data, ()) = tokio::join!(first_event_for(response, id), publish);
    assert_eq!(data["step_id"], "approval");

    // Another tenant's ticket does not see the instance at all.
    let foreign = new_ticket(&app, &token_for("globex", None)).await;
    let path = format!("/api/v1/instances/{instance}/events/stream?ticket={foreign}");
    problem(app.http.get(app.url(&path)).send().await.unwrap(), 404).await;
}

#[tokio::test]
async fn tickets_need_a_token_and_open_nothing_but_streams() {
    let app = spawn_app().await;
    let response = app
        .http
        .post(app.url("/api/v1/events/tickets"))
        .send()
        .await
        .unwrap();
    let body = problem(response, 401).await;
    assert_eq!(body["type"], "urn:chorus:problem:unauthenticated");

    let ticket = new_ticket(&app, &token()).await;
    // A ticket is no bearer token...
    let response = app.get("/api/v1/templates", &ticket).await;
    problem(response, 401).await;
    // ...and a non-stream route ignores it in the query.
    let response = app
        .http
        .get(app.url(&format!("/api/v1/templates?ticket={ticket}")))
        .send()
        .await
        .unwrap();
    problem(response, 401).await;
}

#[tokio::test]
async fn forged_or_missing_tickets_are_refused() {
    let app = spawn_app().await;
    let ticket = new_ticket(&app, &token_for("acme", Some("viewer"))).await;
    let (body, signature) = ticket.split_once('.').unwrap();
    let mut flipped = signature.as_bytes().to_vec();
    flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
    let tampered = format!("{body}.{}", String::from_utf8(flipped).unwrap());
    for query in [
        String::new(),
        "?ticket=".to_string(),
        format!("?ticket={tampered}"),
        format!("?ticket={}", token()),
    ] {
        let response = app
            .http
            .get(app.url(&format!("/api/v1/events/stream{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        problem(response, 401).await;
    }
}
