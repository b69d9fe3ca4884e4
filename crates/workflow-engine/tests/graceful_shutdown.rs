//! Graceful shutdown of the split services, as real processes: SIGTERM to a worker with a step
//! in flight lets the step finish and report (within the grace, `JOB_LEASE_SECONDS`) before it
//! exits 0; the next worker runs whatever is left, so the instance completes with every step
//! run once. The gateway and the scheduler exit 0 on SIGTERM.

mod common;
mod split_support;

use std::process::ExitStatus;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{call, wait_for_status};
use serde_json::json;
use split_support::{Shared, service_named, wait_until};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Child;

/// How long the slow endpoint takes: the worker gets its SIGTERM well inside it.
const SLOW_REPLY: Duration = Duration::from_secs(2);

fn worker(shared: &Shared, name: &str) -> Child {
    service_named(
        shared,
        "worker",
        name,
        &[
            ("WORKER_TOKEN", common::worker_token(None, None)),
            // The grace a stopping worker gives its running steps.
            ("JOB_LEASE_SECONDS", "10".to_owned()),
        ],
    )
}

/// Sends SIGTERM and answers how the process ended, or panics if it outlives `within`.
async fn terminate(child: &mut Child, name: &str, within: Duration) -> ExitStatus {
    let pid = child.id().expect("the process runs");
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "SIGTERM sent to the {name}");
    tokio::time::timeout(within, child.wait())
        .await
        .unwrap_or_else(|_| panic!("the {name} did not stop within {within:?} of SIGTERM"))
        .expect("the exit status")
}

async fn steps(base: &str, id: &str) -> Vec<(String, String)> {
    let (_, body) = call(
        reqwest::Method::GET,
        format!("{base}/api/v1/instances/{id}/steps"),
        None,
    )
    .await;
    body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|step| {
            (
                step["step_id"].as_str().unwrap_or_default().to_owned(),
                step["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// An endpoint that answers after [`SLOW_REPLY`], counting its calls.
async fn slow_endpoint() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                let _ = socket.read(&mut buffer).await;
                tokio::time::sleep(SLOW_REPLY).await;
                let body = "{\"ok\":true}";
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    (port, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_lets_a_worker_finish_its_step_and_every_service_exits_0() {
    let shared = Shared::fresh().await;
    let mut scheduler = split_support::scheduler(&shared, &[]).await;
    let (mut gateway, base) = split_support::gateway(&shared).await;
    let mut first_worker = worker(&shared, "worker-1");

    let (slow_port, hits) = slow_endpoint().await;
    let definition = json!({"steps": [
        {"id": "call", "type": "action", "config": {"action": "http_request", "url": format!("http://127.0.0.1:{slow_port}/work")}, "next_steps": ["done"]},
        {"id": "done", "type": "action", "config": {"action": "noop"}}
    ]});
    let (status, template) = call(
        reqwest::Method::POST,
        format!("{base}/api/v1/templates"),
        Some(json!({"name": "slow", "definition": definition})),
    )
    .await;
    assert_eq!(status, 201, "{template}");
    let (status, instance) = call(
        reqwest::Method::POST,
        format!("{base}/api/v1/instances"),
        Some(json!({"template_id": template["id"], "start": true})),
    )
    .await;
    assert_eq!(status, 201, "{instance}");
    let id = instance["id"].as_str().unwrap().to_owned();
    wait_until("the step in flight", || async {
        hits.load(Ordering::SeqCst) == 1
    })
    .await;

    let stopped = terminate(&mut first_worker, "worker", Duration::from_secs(10)).await;
    assert!(stopped.success(), "the worker exited {stopped}");
    // The next step may have run too: a stopping worker still runs what its last blocking
    // read (at most 5 s) handed it, since the queue has no way to give a delivery back early.
    let reported = steps(&base, &id).await;
    assert_eq!(
        reported.first(),
        Some(&("call".to_owned(), "completed".to_owned())),
        "the step in flight finished and was reported before the worker exited: {reported:?}"
    );

    let mut second_worker = worker(&shared, "worker-2");
    wait_for_status(&base, &id, "completed").await;
    let ran: Vec<String> = steps(&base, &id)
        .await
        .into_iter()
        .map(|(step, _)| step)
        .collect();
    assert_eq!(ran, ["call", "done"]);
    assert_eq!(hits.load(Ordering::SeqCst), 1, "the slow call ran once");

    for (child, name) in [
        (&mut second_worker, "second worker"),
        (&mut gateway, "gateway"),
        (&mut scheduler, "scheduler"),
    ] {
        let stopped = terminate(child, name, Duration::from_secs(10)).await;
        assert!(stopped.success(), "the {name} exited {stopped}");
    }
}
