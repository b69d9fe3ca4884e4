//! Each split service's own `/metrics`: the gateway, scheduler and worker as separate processes
//! of the built binary (one process holds one Prometheus recorder, so in-process services would
//! share every series). After known work, the scheduler's `METRICS_PORT` has the decisions and
//! instance gauges and no job executions, the worker's has the job executions and nothing of the
//! scheduler's, each with counts that match the work.

mod common;
mod split_support;

use std::collections::HashMap;

use common::{call, wait_for_status};
use serde_json::{Value, json};
use split_support::{Shared, free_port, wait_until};

const INSTANCES: usize = 3;

async fn metrics_at(port: u16) -> HashMap<String, f64> {
    common::scrape(
        &reqwest::Client::new(),
        &format!("http://127.0.0.1:{port}/metrics"),
    )
    .await
}

async fn answers(port: u16) -> bool {
    reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .is_ok_and(|response| response.status() == 200)
}

fn has_series(samples: &HashMap<String, f64>, name: &str) -> bool {
    samples.keys().any(|series| series.starts_with(name))
}

async fn start(base: &str, template: &Value) -> String {
    let (status, instance) = call(
        reqwest::Method::POST,
        format!("{base}/api/v1/instances"),
        Some(json!({"template_id": template["id"], "start": true})),
    )
    .await;
    assert_eq!(status, 201, "{instance}");
    instance["id"].as_str().unwrap().to_owned()
}

async fn create_template(base: &str, name: &str, steps: Value) -> Value {
    let (status, template) = call(
        reqwest::Method::POST,
        format!("{base}/api/v1/templates"),
        Some(json!({"name": name, "definition": {"steps": steps}})),
    )
    .await;
    assert_eq!(status, 201, "{template}");
    template
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scheduler_and_worker_each_serve_their_own_metrics() {
    let shared = Shared::fresh().await;
    let scheduler_metrics = free_port();
    let worker_metrics = free_port();
    let _scheduler =
        split_support::scheduler(&shared, &[("METRICS_PORT", scheduler_metrics.to_string())]).await;
    let (_gateway, base) = split_support::gateway(&shared).await;
    let _worker = split_support::service(
        &shared,
        "worker",
        &[
            ("WORKER_TOKEN", common::worker_token(None, None)),
            ("METRICS_PORT", worker_metrics.to_string()),
        ],
    );
    wait_until("both metrics ports answering", || async {
        answers(scheduler_metrics).await && answers(worker_metrics).await
    })
    .await;

    let two_logs = create_template(
        &base,
        "two-logs",
        json!([
            {"id": "a", "type": "action", "config": {"action": "log_message", "message": "a"},
             "next_steps": ["b"]},
            {"id": "b", "type": "action", "config": {"action": "log_message", "message": "b"}}
        ]),
    )
    .await;
    let mut ids = Vec::new();
    for _ in 0..INSTANCES {
        ids.push(start(&base, &two_logs).await);
    }
    for id in &ids {
        wait_for_status(&base, id, "completed").await;
    }
    // A custom action no worker serves: its job waits in its queue.
    let unserved = create_template(
        &base,
        "unserved",
        json!([{"id": "wait", "type": "action", "config": {"action": "unserved_split"}}]),
    )
    .await;
    start(&base, &unserved).await;

    let completed = r#"workflow_instances{status="completed"}"#;
    let age = r#"workflow_queue_oldest_job_age_seconds{queue="default/unserved_split"}"#;
    // The sweeper samples the gauges once per check interval (1 s here).
    let mut scheduler = metrics_at(scheduler_metrics).await;
    for _ in 0..100 {
        if scheduler.get(completed).copied() == Some(INSTANCES as f64)
            && scheduler.get(age).is_some_and(|age| *age > 0.0)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        scheduler = metrics_at(scheduler_metrics).await;
    }
    let worker = metrics_at(worker_metrics).await;
    let gateway = common::scrape(&reqwest::Client::new(), &format!("{base}/metrics")).await;

    // The scheduler: instances, decisions, its gRPC calls, the queues; no job ran there.
    assert_eq!(
        scheduler.get(completed).copied(),
        Some(INSTANCES as f64),
        "{scheduler:#?}"
    );
    assert_eq!(
        scheduler
            .get(r#"workflow_instances{status="running"}"#)
            .copied(),
        Some(1.0),
        "the unserved instance: {scheduler:#?}"
    );
    let finished = format!(
        r#"workflow_instance_duration_seconds_count{{template="{}",outcome="completed"}}"#,
        two_logs["id"].as_str().unwrap()
    );
    assert_eq!(scheduler.get(&finished).copied(), Some(INSTANCES as f64));
    let batches = scheduler
        .get("workflow_commit_batch_size_count")
        .copied()
        .unwrap_or_default();
    assert!(batches >= 1.0, "{scheduler:#?}");
    assert_eq!(
        scheduler
            .get("workflow_decision_duration_seconds_count")
            .copied(),
        Some(batches)
    );
    assert_eq!(
        scheduler
            .get(r#"workflow_grpc_request_duration_seconds_count{method="/chorus.workflow.v1.WorkflowService/CreateInstance",code="Ok"}"#)
            .copied(),
        Some((INSTANCES + 1) as f64),
        "{scheduler:#?}"
    );
    assert_eq!(
        scheduler
            .get(r#"workflow_queue_depth{queue="default/unserved_split"}"#)
            .copied(),
        Some(1.0),
        "{scheduler:#?}"
    );
    let waited = scheduler.get(age).copied().unwrap_or_default();
    assert!(waited > 0.0 && waited < 3600.0, "{scheduler:#?}");
    assert!(!has_series(&scheduler, "workflow_step_executions_total"));
    assert!(!has_series(&scheduler, "http_requests_total"));

    // The worker: every job it ran, by action and outcome; nothing of the scheduler's.
    assert_eq!(
        worker
            .get(r#"workflow_step_executions_total{action="log_message",outcome="completed"}"#)
            .copied(),
        Some((2 * INSTANCES) as f64),
        "{worker:#?}"
    );
    assert_eq!(
        worker
            .get(
                r#"workflow_step_duration_seconds_count{action="log_message",outcome="completed"}"#
            )
            .copied(),
        Some((2 * INSTANCES) as f64)
    );
    assert!(!has_series(&worker, "workflow_instances"), "{worker:#?}");
    assert!(!has_series(&worker, "workflow_commit_batch_size"));
    assert!(!has_series(&worker, "workflow_queue_depth"));

    // The gateway: its REST requests only.
    assert_eq!(
        gateway
            .get(r#"http_requests_total{method="POST",route="/api/v1/instances",status="201"}"#)
            .copied(),
        Some((INSTANCES + 1) as f64),
        "{gateway:#?}"
    );
    assert!(!has_series(&gateway, "workflow_step_executions_total"));
    assert!(!has_series(&gateway, "workflow_instances"));
}
