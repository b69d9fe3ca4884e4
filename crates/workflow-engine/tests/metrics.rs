//! `/metrics` after known work: the counts match what ran. The Prometheus recorder is
//! process-wide, so this binary holds one test, and each backend's figures are the change its
//! run made.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Backend, TestApp};
use serde_json::json;

async fn scrape(app: &TestApp) -> HashMap<String, f64> {
    common::scrape(&app.client, &app.url("/metrics")).await
}

fn delta(before: &HashMap<String, f64>, after: &HashMap<String, f64>, series: &str) -> f64 {
    after.get(series).copied().unwrap_or(0.0) - before.get(series).copied().unwrap_or(0.0)
}

/// A service that fails every other call, starting with the first.
async fn flaky_target() -> String {
    let calls = Arc::new(AtomicUsize::new(0));
    let router = axum::Router::new().route(
        "/flaky",
        axum::routing::get(move || {
            let calls = calls.clone();
            async move {
                if calls.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
                    (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "try again")
                } else {
                    (axum::http::StatusCode::OK, "fine")
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}/flaky")
}

/// `unserved_queue` names a custom action no worker serves, one per backend: the embedded
/// run's sweeper may still be sampling while the distributed run reads the gauges.
async fn known_work(backend: Backend, unserved_queue: &str) {
    let app = TestApp::spawn(backend).await;
    let target = flaky_target().await;
    let before = scrape(&app).await;

    let two_logs = app
        .create_template(
            "two-logs",
            json!({"steps": [
                {"id": "a", "type": "action", "config": {"action": "log_message", "message": "a"},
                 "next_steps": ["b"]},
                {"id": "b", "type": "action", "config": {"action": "log_message", "message": "b"}}
            ]}),
        )
        .await;
    let flaky = app
        .create_template(
            "flaky",
            json!({"steps": [
                {"id": "call", "type": "action", "config": {"action": "http_request", "url": target},
                 "retry": {"max_attempts": 3, "backoff": "fixed", "initial_interval_seconds": 0.1}}
            ]}),
        )
        .await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(app.start_instance(&two_logs, json!({})).await);
    }
    ids.push(app.start_instance(&flaky, json!({})).await);
    for id in &ids {
        let instance = app.wait_finished(id).await;
        assert_eq!(instance["status"], "completed", "{instance}");
    }
    let unserved = app
        .create_template(
            "unserved",
            json!({"steps": [
                {"id": "wait", "type": "action", "config": {"action": unserved_queue}}
            ]}),
        )
        .await;
    app.start_instance(&unserved, json!({})).await;
    let missing = format!("/api/v1/instances/{}", uuid::Uuid::now_v7());
    assert_eq!(app.get(&missing).await.0, 404);
    // The sweeper samples the instance gauge once per check interval (1 s here).
    let completed = r#"workflow_instances{status="completed"}"#;
    // A custom action's queue lives inside its tenant (the test app's is `default`).
    let waiting = format!(r#"workflow_queue_depth{{queue="default/{unserved_queue}"}}"#);
    let age =
        format!(r#"workflow_queue_oldest_job_age_seconds{{queue="default/{unserved_queue}"}}"#);
    let mut after = scrape(&app).await;
    for _ in 0..100 {
        if after.get(completed).copied() == Some(4.0)
            && after.get(&waiting).copied() == Some(1.0)
            && after.get(&age).is_some_and(|age| *age > 0.0)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        after = scrape(&app).await;
    }
    let change = |series: &str| delta(&before, &after, series);

    assert_eq!(
        change(r#"workflow_step_executions_total{action="log_message",outcome="completed"}"#),
        6.0
    );
    assert_eq!(
        change(r#"workflow_step_executions_total{action="http_request",outcome="failed"}"#),
        1.0
    );
    assert_eq!(
        change(r#"workflow_step_executions_total{action="http_request",outcome="completed"}"#),
        1.0
    );
    assert_eq!(
        change(r#"workflow_step_duration_seconds_count{action="http_request",outcome="failed"}"#),
        1.0
    );
    assert_eq!(
        change(r#"workflow_step_retries_total{action="http_request"}"#),
        1.0
    );
    assert_eq!(
        change(r#"workflow_step_duration_seconds_count{action="log_message",outcome="completed"}"#),
        6.0
    );
    assert_eq!(
        change(r#"http_requests_total{method="POST",route="/api/v1/instances",status="201"}"#),
        5.0
    );
    // The gauges count the whole database, fresh per run: these instances and nothing else.
    assert_eq!(after.get(completed).copied(), Some(4.0), "{after:#?}");
    assert_eq!(
        after
            .get(r#"workflow_instances{status="running"}"#)
            .copied(),
        Some(1.0),
        "the unserved instance"
    );
    assert_eq!(after.get(&waiting).copied(), Some(1.0), "{after:#?}");
    // Its job has waited since it started, a few seconds at most: far below an hour.
    let waited = after.get(&age).copied().unwrap_or_default();
    assert!(waited > 0.0 && waited < 3600.0, "{after:#?}");
    // The served queue has nothing waiting.
    assert_eq!(
        after
            .get(r#"workflow_queue_oldest_job_age_seconds{queue="default"}"#)
            .copied(),
        Some(0.0),
        "{after:#?}"
    );
    let ids_of = |template: &str| {
        format!(
            r#"workflow_instance_duration_seconds_count{{template="{template}",outcome="completed"}}"#
        )
    };
    assert_eq!(change(&ids_of(&two_logs)), 3.0, "{after:#?}");
    assert_eq!(change(&ids_of(&flaky)), 1.0);
    let grpc = |method: &str, code: &str| {
        change(&format!(
            r#"workflow_grpc_request_duration_seconds_count{{method="/chorus.workflow.v1.WorkflowService/{method}",code="{code}"}}"#
        ))
    };
    assert_eq!(grpc("CreateInstance", "Ok"), 5.0, "{after:#?}");
    assert_eq!(grpc("GetInstance", "NotFound"), 1.0);
    // Every committed batch of worker results was timed.
    let batches = change("workflow_commit_batch_size_count");
    assert!(batches >= 1.0, "{after:#?}");
    assert_eq!(change("workflow_decision_duration_seconds_count"), batches);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_count_the_work_done_on_both_backends() {
    known_work(Backend::Embedded, "unserved_embedded").await;
    known_work(Backend::Distributed, "unserved_distributed").await;
}
