//! `EventService` with a stock tonic client: an instance's events arrive in order, a watcher
//! that disconnects resumes from its last id without a gap, and the filters and errors are the
//! SSE routes'.

mod common;

use common::{Backend, TestApp};
use proto::v1::event_service_client::EventServiceClient;
use proto::v1::{Event, WatchEventsRequest, WatchInstanceRequest};
use serde_json::json;
use tonic::Streaming;
use tonic::transport::Channel;

async fn client(app: &TestApp) -> EventServiceClient<Channel> {
    EventServiceClient::connect(format!("http://127.0.0.1:{}", app.grpc_port))
        .await
        .expect("scheduler reachable")
}

fn authorized<T>(app: &TestApp, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", app.token).parse().unwrap(),
    );
    request
}

async fn watch_instance(app: &TestApp, instance_id: &str, after_id: &str) -> Streaming<Event> {
    client(app)
        .await
        .watch_instance(authorized(
            app,
            WatchInstanceRequest {
                instance_id: instance_id.to_owned(),
                types: Vec::new(),
                after_id: after_id.to_owned(),
            },
        ))
        .await
        .expect("watch accepted")
        .into_inner()
}

/// Events until (and with) the first of type `last`, or `count` of them.
async fn read(stream: &mut Streaming<Event>, last: &str, count: usize) -> Vec<Event> {
    let mut events = Vec::new();
    while events.len() < count {
        let next = tokio::time::timeout(std::time::Duration::from_secs(20), stream.message())
            .await
            .expect("an event in time")
            .expect("the stream stays up")
            .expect("the stream does not end");
        let done = next.r#type == last;
        events.push(next);
        if done {
            break;
        }
    }
    events
}

async fn events_arrive_in_order_and_resume_without_a_gap(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let steps: Vec<_> = (1..=4)
        .map(|n| {
            let mut step = json!({"id": format!("s{n}"), "type": "action",
                "config": {"action": "log_message", "message": format!("step {n}")}});
            if n < 4 {
                step["next_steps"] = json!([format!("s{}", n + 1)]);
            }
            step
        })
        .collect();
    let template_id = app
        .create_template("watched", json!({ "steps": steps }))
        .await;
    let (status, created) = app
        .post(
            "/api/v1/instances",
            &json!({"template_id": template_id, "start": false}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let instance_id = created["id"].as_str().unwrap().to_owned();

    // The whole history, replayed from the start of the stream: the reference.
    let mut everything = watch_instance(&app, &instance_id, "0").await;
    // A live watcher that sees two events and hangs up.
    let mut first = watch_instance(&app, &instance_id, "").await;
    let (status, body) = app
        .put(&format!("/api/v1/instances/{instance_id}/start"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    let seen_first = read(&mut first, "instance.completed", 2).await;
    drop(first);
    let resume_from = seen_first.last().unwrap().id.clone();
    let mut resumed = watch_instance(&app, &instance_id, &resume_from).await;
    let seen_after = read(&mut resumed, "instance.completed", usize::MAX).await;
    let reference = read(&mut everything, "instance.completed", usize::MAX).await;

    let kinds: Vec<&str> = reference.iter().map(|e| e.r#type.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"instance.created"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"instance.completed"), "{kinds:?}");
    assert_eq!(
        kinds.iter().filter(|k| **k == "step.completed").count(),
        4,
        "{kinds:?}"
    );
    let completed_steps: Vec<&str> = reference
        .iter()
        .filter(|e| e.r#type == "step.completed")
        .filter_map(|e| e.step_id.as_deref())
        .collect();
    assert_eq!(completed_steps, ["s1", "s2", "s3", "s4"]);
    assert!(
        reference.iter().all(|e| e.instance_id == instance_id),
        "{reference:?}"
    );

    // The live watcher joined after `instance.created`; with its resumption it saw exactly the
    // rest of the reference, in order, nothing twice and nothing missing.
    let pieced: Vec<&str> = seen_first
        .iter()
        .chain(&seen_after)
        .map(|e| e.id.as_str())
        .collect();
    let expected: Vec<&str> = reference[1..].iter().map(|e| e.id.as_str()).collect();
    assert_eq!(pieced, expected);

    // A type filter over all of the tenant's events, replayed.
    let mut completed = client(&app)
        .await
        .watch_events(authorized(
            &app,
            WatchEventsRequest {
                instance_id: instance_id.clone(),
                types: vec!["step.completed".to_owned()],
                after_id: "0".to_owned(),
            },
        ))
        .await
        .expect("watch accepted")
        .into_inner();
    let filtered = read(&mut completed, "", 4).await;
    assert!(
        filtered.iter().all(|e| e.r#type == "step.completed"),
        "{filtered:?}"
    );
    let expected: Vec<&str> = reference
        .iter()
        .filter(|e| e.r#type == "step.completed")
        .map(|e| e.id.as_str())
        .collect();
    let got: Vec<&str> = filtered.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(got, expected);

    // Refusals: an unknown instance, a malformed id, an unknown type, no token.
    let mut events = client(&app).await;
    let unknown = events
        .watch_instance(authorized(
            &app,
            WatchInstanceRequest {
                instance_id: uuid::Uuid::now_v7().to_string(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound, "{unknown:?}");
    for request in [
        WatchEventsRequest {
            after_id: "yesterday".to_owned(),
            ..Default::default()
        },
        WatchEventsRequest {
            types: vec!["step.exploded".to_owned()],
            ..Default::default()
        },
    ] {
        let refused = events
            .watch_events(authorized(&app, request))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    }
    let anonymous = events
        .watch_events(WatchEventsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), tonic::Code::Unauthenticated);
}

on_both_backends!(events_arrive_in_order_and_resume_without_a_gap);
