use std::pin::Pin;
use std::time::Duration;

use bus::EventBus;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use model::{EventType, WorkflowEvent};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

struct SseEvent {
    id: String,
    event: String,
    data: Value,
}

struct SseReader {
    body: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    buffer: String,
}

impl SseReader {
    async fn open(app: &TestApp, path: &str, last_event_id: Option<&str>) -> Self {
        let mut request = app.http.get(app.url(path)).bearer_auth(token());
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        Self {
            body: Box::pin(response.bytes_stream()),
            buffer: String::new(),
        }
    }

    async fn next(&mut self) -> SseEvent {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (String::new(), String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().into();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().into();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if data.is_empty() {
                    continue; // a keep-alive comment
                }
                return SseEvent {
                    id,
                    event,
                    data: serde_json::from_str(&data).unwrap(),
                };
            }
            let chunk = tokio::time::timeout(Duration::from_secs(5), self.body.next())
                .await
                .expect("an event within 5 s")
                .expect("the stream stays open")
                .unwrap();
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

fn event(tenant: &str, instance_id: Uuid, kind: EventType, status: &str) -> WorkflowEvent {
    WorkflowEvent {
        event_type: kind,
        tenant: tenant.into(),
        instance_id,
        step_id: Some("fetch".into()),
        status: status.into(),
        at: chrono::Utc::now(),
        data: json!({"attempt": 1}),
    }
}

#[tokio::test]
async fn the_stream_carries_only_the_callers_tenant() {
    let app = spawn_app().await;
    let mut reader = SseReader::open(&app, "/api/v1/events/stream", None).await;
    let theirs = Uuid::now_v7();
    let ours = Uuid::now_v7();
    app.bus
        .publish(&[
            event("globex", theirs, EventType::StepStarted, "running"),
            event("acme", ours, EventType::StepCompleted, "completed"),
        ])
        .await
        .unwrap();
    let received = reader.next().await;
    assert_eq!(received.event, "step.completed");
    assert!(!received.id.is_empty());
    assert_eq!(received.data["instance_id"], ours.to_string());
    assert_eq!(received.data["type"], "step.completed");
    assert_eq!(received.data["step_id"], "fetch");
    assert_eq!(received.data["status"], "completed");
    assert_eq!(received.data["data"], json!({"attempt": 1}));
    assert!(received.data["at"].is_string());
    assert!(
        received.data.get("tenant").is_none(),
        "the tenant stays out"
    );
}

#[tokio::test]
async fn a_reconnect_with_last_event_id_resumes_after_it() {
    let app = spawn_app().await;
    let id = Uuid::now_v7();
    let mut first = SseReader::open(&app, "/api/v1/events/stream", None).await;
    app.bus
        .publish(&[
            event("acme", id, EventType::StepQueued, "queued"),
            event("acme", id, EventType::StepStarted, "running"),
        ])
        .await
        .unwrap();
    let one = first.next().await;
    let two = first.next().await;
    assert_eq!(one.event, "step.queued");
    drop(first);

    let mut resumed = SseReader::open(&app, "/api/v1/events/stream", Some(&one.id)).await;
    let replayed = resumed.next().await;
    assert_eq!(replayed.id, two.id);
    assert_eq!(replayed.event, "step.started");
}

#[tokio::test]
async fn filters_narrow_by_instance_and_type() {
    let app = spawn_app().await;
    let wanted = Uuid::now_v7();
    let mut reader = SseReader::open(
        &app,
        &format!("/api/v1/events/stream?instance_id={wanted}&type=instance.completed"),
        None,
    )
    .await;
    app.bus
        .publish(&[
            event(
                "acme",
                Uuid::now_v7(),
                EventType::InstanceCompleted,
                "completed",
            ),
            event("acme", wanted, EventType::StepCompleted, "completed"),
            event("acme", wanted, EventType::InstanceCompleted, "completed"),
        ])
        .await
        .unwrap();
    let received = reader.next().await;
    assert_eq!(received.event, "instance.completed");
    assert_eq!(received.data["instance_id"], wanted.to_string());

    let response = app
        .get("/api/v1/events/stream?type=instance.exploded", &token())
        .await;
    problem(response, 422).await;
}

#[tokio::test]
async fn the_instance_stream_checks_the_instance_first() {
    let app = spawn_app().await;
    let unknown = Uuid::now_v7();
    problem(
        app.get(
            &format!("/api/v1/instances/{unknown}/events/stream"),
            &token(),
        )
        .await,
        404,
    )
    .await;

    let template = app.template("t", &token()).await;
    let id: Uuid = app.instance(&template, &token()).await.parse().unwrap();
    let mut reader =
        SseReader::open(&app, &format!("/api/v1/instances/{id}/events/stream"), None).await;
    app.bus
        .publish(&[
            event(
                "acme",
                Uuid::now_v7(),
                EventType::InstanceStarted,
                "running",
            ),
            event("acme", id, EventType::InstanceStarted, "running"),
        ])
        .await
        .unwrap();
    let received = reader.next().await;
    assert_eq!(received.data["instance_id"], id.to_string());
}

#[tokio::test]
async fn shutdown_ends_open_streams() {
    let mut app = spawn_app().await;
    let mut reader = SseReader::open(&app, "/api/v1/events/stream", None).await;
    app.stop.take().unwrap().send(()).unwrap();
    let served = tokio::time::timeout(Duration::from_secs(5), &mut app.server)
        .await
        .expect("the gateway stops although a stream is open")
        .unwrap();
    assert!(served.is_ok());
    let end = tokio::time::timeout(Duration::from_secs(5), reader.body.next())
        .await
        .unwrap();
    assert!(end.is_none_or(|chunk| chunk.is_err() || chunk.unwrap().is_empty()));
}
