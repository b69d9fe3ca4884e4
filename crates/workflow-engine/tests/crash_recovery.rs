//! The embedded engine survives `kill -9`: the real binary is killed and started again on the
//! same SQLite file, and its instances go on from where they were.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{call, wait_for_status};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

struct Engine {
    child: Child,
    base: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

async fn start_engine(database: &str, port: u16, extra: &[(&str, &str)]) -> Engine {
    let mut command = Command::new(env!("CARGO_BIN_EXE_workflow-engine"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("GRPC_PORT", free_port().to_string())
        .env("DATABASE_URL", database)
        .env("ENVIRONMENT", "test")
        .env("JWT_SECRET", common::JWT_SECRET)
        .env("TRIGGER_SECRET_KEY", common::TRIGGER_SECRET_KEY)
        .env("LOG_FORMAT", "json")
        .env("HTTP_ACTION_ALLOW_PRIVATE", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    for (name, value) in extra {
        command.env(name, value);
    }
    let child = command.spawn().expect("the binary starts");
    let engine = Engine {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let client = reqwest::Client::new();
    for _ in 0..400 {
        let answer = client.get(format!("{}/health", engine.base)).send().await;
        if answer.is_ok_and(|response| response.status() == 200) {
            return engine;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the engine did not become healthy");
}

async fn steps(base: &str, id: &str) -> Vec<Value> {
    let (_, body) = call(
        reqwest::Method::GET,
        format!("{base}/api/v1/instances/{id}/steps"),
        None,
    )
    .await;
    body["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_waiting_instance_survives_kill_9() {
    let database = testkit::fresh_sqlite_url();
    let port = free_port();
    let mut engine = start_engine(&database, port, &[]).await;
    let definition = json!({"steps": [
        {"id": "before", "type": "action", "config": {"action": "log_message", "message": "before"}, "next_steps": ["approval"]},
        {"id": "approval", "type": "wait", "config": {"wait_type": "event", "event": "approved"}, "next_steps": ["after"]},
        {"id": "after", "type": "action", "config": {"action": "log_message", "message": "approved by {{steps.approval.output.by}}"}}
    ]});
    let (status, template) = call(
        reqwest::Method::POST,
        format!("{}/api/v1/templates", engine.base),
        Some(json!({"name": "approval", "definition": definition})),
    )
    .await;
    assert_eq!(status, 201, "{template}");
    let (status, instance) = call(
        reqwest::Method::POST,
        format!("{}/api/v1/instances", engine.base),
        Some(json!({"template_id": template["id"], "start": true})),
    )
    .await;
    assert_eq!(status, 201, "{instance}");
    let id = instance["id"].as_str().unwrap().to_owned();
    for _ in 0..500 {
        let listed = steps(&engine.base, &id).await;
        if listed
            .iter()
            .any(|s| s["step_id"] == "approval" && s["status"] == "waiting")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    engine.child.start_kill().expect("kill -9");
    engine.child.wait().await.expect("the engine is gone");

    let engine = start_engine(&database, port, &[]).await;
    let (status, body) = call(
        reqwest::Method::POST,
        format!("{}/api/v1/instances/{id}/events", engine.base),
        Some(json!({"event": "approved", "data": {"by": "ada"}})),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    wait_for_status(&engine.base, &id, "completed").await;
    let listed = steps(&engine.base, &id).await;
    let ids: Vec<&str> = listed
        .iter()
        .map(|s| s["step_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["before", "approval", "after"],
        "nothing ran twice: {listed:?}"
    );
    assert_eq!(listed[2]["input"]["message"], "approved by ada");
}

#[tokio::test]
async fn a_step_in_flight_at_kill_9_runs_again_after_restart() {
    // A slow endpoint keeps the step in flight while the engine is killed.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slow_port = listener.local_addr().unwrap().port();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = listener.accept().await {
            let attempt = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                let _ = socket.read(&mut buffer).await;
                if attempt == 0 {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
                let body = "{\"ok\":true}";
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });

    let database = testkit::fresh_sqlite_url();
    let port = free_port();
    let lease = [("JOB_LEASE_SECONDS", "1"), ("WORKFLOW_CHECK_INTERVAL", "1")];
    let mut engine = start_engine(&database, port, &lease).await;
    let definition = json!({"steps": [
        {"id": "call", "type": "action", "config": {"action": "http_request", "url": format!("http://127.0.0.1:{slow_port}/work")}, "next_steps": ["done"]},
        {"id": "done", "type": "action", "config": {"action": "noop"}}
    ]});
    let (_, template) = call(
        reqwest::Method::POST,
        format!("{}/api/v1/templates", engine.base),
        Some(json!({"name": "slow", "definition": definition})),
    )
    .await;
    let (_, instance) = call(
        reqwest::Method::POST,
        format!("{}/api/v1/instances", engine.base),
        Some(json!({"template_id": template["id"], "start": true})),
    )
    .await;
    let id = instance["id"].as_str().unwrap().to_owned();
    for _ in 0..500 {
        if hits.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the step is in flight"
    );

    engine.child.start_kill().expect("kill -9");
    engine.child.wait().await.expect("the engine is gone");

    let engine = start_engine(&database, port, &lease).await;
    let finished = wait_for_status(&engine.base, &id, "completed").await;
    assert_eq!(finished["status"], "completed");
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "only the in-flight step ran again"
    );
    let listed = steps(&engine.base, &id).await;
    let ids: Vec<&str> = listed
        .iter()
        .map(|s| s["step_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["call", "done"], "{listed:?}");
}
