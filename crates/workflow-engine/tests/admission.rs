//! `MAX_CONCURRENT_WORKFLOWS` and `TENANT_MAX_CONCURRENT_WORKFLOWS`: instances beyond a cap
//! wait, holding nothing, and go on in arrival order as slots free up; one tenant's waiting
//! instances never keep another tenant's waiting.

mod common;

use std::sync::{Arc, Mutex};

use common::{Backend, Options, TestApp, token_for};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

/// An HTTP endpoint that holds every request until the test lets it go, and records which
/// instance called and how many calls were in flight at once.
struct Gate {
    port: u16,
    release: Arc<Semaphore>,
    seen: Arc<Mutex<Vec<String>>>,
    in_flight: Arc<Mutex<(usize, usize)>>,
}

async fn gate() -> Gate {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let release = Arc::new(Semaphore::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let in_flight = Arc::new(Mutex::new((0usize, 0usize)));
    let (gate_release, gate_seen, gate_flight) = (release.clone(), seen.clone(), in_flight.clone());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (release, seen, in_flight) =
                (gate_release.clone(), gate_seen.clone(), gate_flight.clone());
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 8192];
                let read = socket.read(&mut buffer).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buffer[..read]).to_string();
                let caller = request
                    .split_whitespace()
                    .nth(1)
                    .and_then(|path| path.split("instance=").nth(1))
                    .unwrap_or_default()
                    .to_owned();
                {
                    let mut flight = in_flight.lock().unwrap();
                    flight.0 += 1;
                    flight.1 = flight.1.max(flight.0);
                    seen.lock().unwrap().push(caller);
                }
                release.acquire().await.unwrap().forget();
                in_flight.lock().unwrap().0 -= 1;
                let body = "{}";
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    Gate {
        port,
        release,
        seen,
        in_flight,
    }
}

/// An engine under `MAX_CONCURRENT_WORKFLOWS = cap` and a template whose one step calls the
/// gate, which holds it until the test lets it go.
async fn gated_app(backend: Backend, cap: u32) -> (Gate, TestApp, String) {
    let gate = gate().await;
    let app = TestApp::spawn_with(
        backend,
        Options {
            vars: vec![("MAX_CONCURRENT_WORKFLOWS", cap.to_string())],
            ..Options::default()
        },
    )
    .await;
    let url = format!(
        "http://127.0.0.1:{}/hold?instance={{{{instance.id}}}}",
        gate.port
    );
    let template = app
        .create_template(
            "gated",
            json!({"steps": [
                {"id": "hold", "type": "action", "config": {"action": "http_request", "url": url}}
            ]}),
        )
        .await;
    (gate, app, template)
}

async fn instances_beyond_the_cap_wait_their_turn(backend: Backend) {
    let (gate, app, template) = gated_app(backend, 2).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(app.start_instance(&template, json!({})).await);
    }
    // The first two take the slots; the others stay pending, holding nothing.
    for _ in 0..500 {
        if gate.seen.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(*gate.seen.lock().unwrap(), ids[..2].to_vec());
    for id in &ids[2..] {
        let (_, instance) = app.get(&format!("/api/v1/instances/{id}")).await;
        assert_eq!(instance["status"], "pending", "{instance}");
    }

    gate.release.add_permits(5);
    for id in &ids {
        let instance = app.wait_finished(id).await;
        assert_eq!(instance["status"], "completed", "{instance}");
    }
    let seen = gate.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 5, "{seen:?}");
    let mut sorted = seen.clone();
    sorted.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(sorted, expected);
    assert_eq!(
        gate.in_flight.lock().unwrap().1,
        2,
        "never more than the cap at once"
    );
}
on_both_backends!(instances_beyond_the_cap_wait_their_turn);

/// Starts arriving together are decided together (one batch, one read of the slot count): the
/// cap must still hold for every start in the batch, not only between batches.
async fn starts_arriving_together_keep_the_cap(backend: Backend) {
    let (gate, app, template) = gated_app(backend, 3).await;
    let starts = (0..12).map(|_| app.start_instance(&template, json!({})));
    let ids = futures::future::join_all(starts).await;
    for _ in 0..500 {
        if gate.seen.lock().unwrap().len() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // Give an over-admitted fourth the time to show up before counting.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(gate.seen.lock().unwrap().len(), 3);
    let mut pending = 0;
    for id in &ids {
        let (_, instance) = app.get(&format!("/api/v1/instances/{id}")).await;
        if instance["status"] == "pending" {
            pending += 1;
        }
    }
    assert_eq!(pending, 9, "all but the cap wait");

    gate.release.add_permits(12);
    for id in &ids {
        let instance = app.wait_finished(id).await;
        assert_eq!(instance["status"], "completed", "{instance}");
    }
    assert_eq!(gate.seen.lock().unwrap().len(), 12);
    assert_eq!(
        gate.in_flight.lock().unwrap().1,
        3,
        "never more than the cap at once"
    );
}
on_both_backends!(starts_arriving_together_keep_the_cap);

async fn waiting_instances_hold_no_slot(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        Options {
            vars: vec![("MAX_CONCURRENT_WORKFLOWS", "1".to_owned())],
            ..Options::default()
        },
    )
    .await;
    let approval = app
        .create_template(
            "approval",
            json!({"steps": [
                {"id": "wait", "type": "wait", "config": {"wait_type": "event", "event": "go"}}
            ]}),
        )
        .await;
    let quick = app
        .create_template(
            "quick",
            json!({"steps": [{"id": "log", "type": "action", "config": {"action": "log_message", "message": "hi"}}]}),
        )
        .await;
    let mut waiting = Vec::new();
    for _ in 0..3 {
        let id = app.start_instance(&approval, json!({})).await;
        app.wait_status(&id, &["running"]).await;
        waiting.push(id);
    }
    // Three instances parked in a wait do not block new work under a cap of one.
    let id = app.start_instance(&quick, json!({})).await;
    let instance = app.wait_finished(&id).await;
    assert_eq!(instance["status"], "completed", "{instance}");
    for id in &waiting {
        let (status, body) = app
            .post(
                &format!("/api/v1/instances/{id}/events"),
                &json!({"event": "go"}),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        let instance = app.wait_finished(id).await;
        assert_eq!(instance["status"], "completed", "{instance}");
    }
}
on_both_backends!(waiting_instances_hold_no_slot);

/// Starts `count` instances of a custom action nobody serves: each holds its slot until its
/// step times out (five minutes), long after the test.
async fn flood(app: &TestApp, count: usize) -> Vec<String> {
    let template = app
        .create_template(
            "flood",
            json!({"steps": [
                {"id": "crunch", "type": "action", "config": {"action": "crunch_numbers"}}
            ]}),
        )
        .await;
    let mut ids = Vec::new();
    for _ in 0..count {
        ids.push(app.start_instance(&template, json!({})).await);
    }
    ids
}

async fn statuses(app: &TestApp, ids: &[String]) -> Vec<String> {
    let mut statuses = Vec::new();
    for id in ids {
        let (_, instance) = app.get(&format!("/api/v1/instances/{id}")).await;
        statuses.push(instance["status"].as_str().unwrap_or_default().to_owned());
    }
    statuses
}

async fn log_once(app: &TestApp) -> String {
    let quick = app
        .create_template(
            "quick",
            json!({"steps": [{"id": "log", "type": "action", "config": {"action": "log_message", "message": "hi"}}]}),
        )
        .await;
    app.start_instance(&quick, json!({})).await
}

async fn one_tenants_flood_leaves_another_tenant_room(backend: Backend) {
    let mut app = TestApp::spawn_with(
        backend,
        Options {
            vars: vec![
                ("MAX_CONCURRENT_WORKFLOWS", "10".to_owned()),
                ("TENANT_MAX_CONCURRENT_WORKFLOWS", "2".to_owned()),
            ],
            ..Options::default()
        },
    )
    .await;
    let flooded = flood(&app, 5).await;

    let tenant_a = std::mem::replace(&mut app.token, token_for("bea", "tenant-b", "admin"));
    let id = log_once(&app).await;
    let instance = app.wait_finished(&id).await;
    assert_eq!(instance["status"], "completed", "{instance}");

    app.token = tenant_a;
    assert_eq!(
        statuses(&app, &flooded).await,
        ["running", "running", "pending", "pending", "pending"]
    );
}
on_both_backends!(one_tenants_flood_leaves_another_tenant_room);

/// The global cap is full and tenant A's waiting starts are older than tenant B's: a slot B
/// frees goes to B's start, since A is at its own cap.
async fn a_tenant_at_its_cap_does_not_block_older_in_line(backend: Backend) {
    let gate = gate().await;
    let mut app = TestApp::spawn_with(
        backend,
        Options {
            vars: vec![
                ("MAX_CONCURRENT_WORKFLOWS", "3".to_owned()),
                ("TENANT_MAX_CONCURRENT_WORKFLOWS", "2".to_owned()),
            ],
            ..Options::default()
        },
    )
    .await;
    let flooded = flood(&app, 4).await;

    let tenant_a = std::mem::replace(&mut app.token, token_for("bea", "tenant-b", "admin"));
    let url = format!("http://127.0.0.1:{}/hold", gate.port);
    let gated = app
        .create_template(
            "gated",
            json!({"steps": [
                {"id": "hold", "type": "action", "config": {"action": "http_request", "url": url}}
            ]}),
        )
        .await;
    let holder = app.start_instance(&gated, json!({})).await;
    app.wait_status(&holder, &["running"]).await;
    let waiting = log_once(&app).await;
    assert_eq!(
        statuses(&app, std::slice::from_ref(&waiting)).await,
        ["pending"]
    );

    gate.release.add_permits(1);
    for id in [&holder, &waiting] {
        let instance = app.wait_finished(id).await;
        assert_eq!(instance["status"], "completed", "{instance}");
    }

    app.token = tenant_a;
    assert_eq!(
        statuses(&app, &flooded).await,
        ["running", "running", "pending", "pending"]
    );
}
on_both_backends!(a_tenant_at_its_cap_does_not_block_older_in_line);
