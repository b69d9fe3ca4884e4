//! Bounded under abuse: the issue's reproductions, end to end. A 12 MB render fails its step
//! and is never stored; an oversized result fails its step and another tenant's job still
//! runs on the same (one-slot) worker; a replayed signed webhook starts one instance; one
//! tenant's request flood is answered 429 while another tenant's instance runs; a circuit
//! breaker opens on a failing host and closes after a good probe.

mod common;
mod language_support;

use chrono::Utc;
use common::{Backend, Options, TestApp, token_for};
use language_support::{HttpServer, Reply};
use serde_json::{Value, json};

async fn spawn(backend: Backend, vars: Vec<(&'static str, String)>) -> TestApp {
    TestApp::spawn_with(
        backend,
        Options {
            vars,
            ..Options::default()
        },
    )
    .await
}

/// Calls as another tenant: `token` instead of the app's own.
async fn call(token: &str, request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request
        .bearer_auth(token)
        .send()
        .await
        .expect("request failed");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Creates a one-step log template and starts an instance of it as `token`'s tenant.
async fn start_logging(app: &TestApp, token: &str, name: &str) -> String {
    let definition = json!({"steps": [{"id": "log", "type": "action",
        "config": {"action": "log_message", "message": "still served"}}]});
    let (status, template) = call(
        token,
        app.client
            .post(app.url("/api/v1/templates"))
            .json(&json!({"name": name, "definition": definition})),
    )
    .await;
    assert_eq!(status, 201, "{template}");
    let (status, instance) = call(
        token,
        app.client
            .post(app.url("/api/v1/instances"))
            .json(&json!({"template_id": template["id"], "variables": {}, "start": true})),
    )
    .await;
    assert_eq!(status, 201, "{instance}");
    instance["id"].as_str().unwrap().to_owned()
}

/// Polls `token`'s instance until it is final; `pause` between polls keeps a rate-limited
/// tenant inside its budget.
async fn wait_final(app: &TestApp, token: &str, id: &str, pause: std::time::Duration) -> Value {
    let mut last = Value::Null;
    for _ in 0..600 {
        let (status, body) = call(
            token,
            app.client.get(app.url(&format!("/api/v1/instances/{id}"))),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        if ["completed", "failed", "cancelled"].contains(&body["status"].as_str().unwrap_or("")) {
            return body;
        }
        last = body;
        tokio::time::sleep(pause).await;
    }
    panic!("instance {id} never finished: {last}");
}

fn failed_step(steps: &[Value], step_id: &str) -> Value {
    steps
        .iter()
        .find(|s| s["step_id"] == step_id && s["status"] == "failed")
        .cloned()
        .unwrap_or_else(|| panic!("no failed {step_id}: {steps:#?}"))
}

async fn a_twelve_megabyte_render_fails_its_step_and_is_never_stored(backend: Backend) {
    let app = spawn(backend, Vec::new()).await;
    let template = app
        .create_template(
            "big-render",
            json!({"steps": [{"id": "big", "type": "action",
                "config": {"action": "log_message", "message": "{{ 'x' * 12000000 }}"}}]}),
        )
        .await;
    let id = app.start_instance(&template, json!({})).await;
    let instance = app.wait_finished(&id).await;
    assert_eq!(instance["status"], "failed", "{instance}");
    assert_eq!(instance["error"]["type"], "input_too_large", "{instance}");
    let step = failed_step(&app.steps(&id).await, "big");
    assert_eq!(step["error"]["type"], "input_too_large");
    assert_eq!(step["error"]["retryable"], false);
    assert_eq!(step["attempt"], 1, "not retried");
    // Nothing of the 12 MB reached the instance, its steps or the listing.
    let (status, listed) = app.get("/api/v1/instances").await;
    assert_eq!(status, 200);
    assert!(listed.to_string().len() < 64 * 1024);
    assert!(
        app.steps(&id)
            .await
            .iter()
            .all(|s| s.to_string().len() < 64 * 1024)
    );
}
on_both_backends!(a_twelve_megabyte_render_fails_its_step_and_is_never_stored);

async fn an_oversized_result_fails_its_step_and_another_tenants_job_still_runs(backend: Backend) {
    // 2 MiB of JSON answered, above the 1 MiB output limit (and once above tonic's 4 MiB
    // limit this was retried forever). One run slot: a wedged worker would run nothing else.
    let server =
        HttpServer::start(|_, _| Reply::json(200, &json!({"pad": "p".repeat(2 << 20)}))).await;
    let app = spawn(backend, vec![("WORKER_CONCURRENCY", "1".to_owned())]).await;
    let big = app
        .create_template(
            "big-result",
            json!({"steps": [{"id": "fetch", "type": "action",
                "config": {"action": "http_request", "url": server.url("/big")}}]}),
        )
        .await;
    let big_id = app.start_instance(&big, json!({})).await;
    let instance = app.wait_finished(&big_id).await;
    assert_eq!(instance["status"], "failed", "{instance}");
    assert_eq!(instance["error"]["type"], "output_too_large", "{instance}");
    let step = failed_step(&app.steps(&big_id).await, "fetch");
    assert_eq!(step["error"]["retryable"], false);

    let other = token_for("other", "other-tenant", "operator");
    let small_id = start_logging(&app, &other, "small").await;
    let instance = wait_final(
        &app,
        &other,
        &small_id,
        std::time::Duration::from_millis(20),
    )
    .await;
    assert_eq!(instance["status"], "completed", "{instance}");
}
on_both_backends!(an_oversized_result_fails_its_step_and_another_tenants_job_still_runs);

async fn a_replayed_signed_webhook_starts_one_instance(backend: Backend) {
    let app = spawn(backend, Vec::new()).await;
    let template = app
        .create_template(
            "hooked",
            json!({"steps": [{"id": "log", "type": "action",
                "config": {"action": "log_message", "message": "order {{ variables.order }}"}}]}),
        )
        .await;
    let secret = "replay-test-webhook-secret-01";
    let (status, trigger) = app
        .post(
            "/api/v1/triggers",
            &json!({"template_id": template, "type": "webhook", "config": {"secret": secret}}),
        )
        .await;
    assert_eq!(status, 201, "{trigger}");
    let body = r#"{"order": 7}"#;
    let timestamp = Utc::now().timestamp().to_string();
    let signature = scheduler::sign_webhook(secret.as_bytes(), &timestamp, body.as_bytes());
    let mut answered = Vec::new();
    for _ in 0..3 {
        let response = app
            .client
            .post(app.url(&format!("/api/v1/triggers/webhook/{template}")))
            .header("content-type", "application/json")
            .header("x-signature", &signature)
            .header("x-signature-timestamp", &timestamp)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        let accepted: Value = response.json().await.unwrap();
        answered.push(accepted["instance_id"].clone());
    }
    assert!(answered.iter().all(|id| *id == answered[0]), "{answered:?}");
    let (status, listed) = app
        .get(&format!("/api/v1/instances?template_id={template}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
    // A new call (another timestamp, so another signature) is a new instance.
    let later = (Utc::now().timestamp() + 1).to_string();
    let signature = scheduler::sign_webhook(secret.as_bytes(), &later, body.as_bytes());
    let response = app
        .client
        .post(app.url(&format!("/api/v1/triggers/webhook/{template}")))
        .header("content-type", "application/json")
        .header("x-signature", &signature)
        .header("x-signature-timestamp", &later)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    assert_ne!(accepted["instance_id"], answered[0]);
}
on_both_backends!(a_replayed_signed_webhook_starts_one_instance);

async fn one_tenants_flood_leaves_another_tenants_instance_running(backend: Backend) {
    let app = spawn(
        backend,
        vec![
            ("TENANT_RATE_LIMIT", "1".to_owned()),
            ("TENANT_RATE_BURST", "10".to_owned()),
        ],
    )
    .await;
    let noisy = token_for("noisy", "noisy", "operator");
    let mut refused = 0;
    for _ in 0..60 {
        let response = app
            .client
            .get(app.url("/api/v1/instances"))
            .bearer_auth(&noisy)
            .send()
            .await
            .unwrap();
        if response.status() == 429 {
            assert!(response.headers().contains_key("retry-after"));
            refused += 1;
        }
    }
    assert!(refused >= 1, "none of 60 refused");
    // The quiet tenant's requests still pass: a template, an instance, and polls for it
    // spaced to stay inside its own budget.
    let quiet = token_for("quiet", "quiet", "operator");
    let id = start_logging(&app, &quiet, "quiet").await;
    let instance = wait_final(&app, &quiet, &id, std::time::Duration::from_millis(1100)).await;
    assert_eq!(instance["status"], "completed", "{instance}");
}
on_both_backends!(one_tenants_flood_leaves_another_tenants_instance_running);

async fn a_breaker_opens_on_a_failing_host_and_closes_after_a_good_probe(backend: Backend) {
    // The first two requests fail (500), every later one succeeds.
    let server = HttpServer::start(|_, n| {
        if n < 2 {
            Reply::text(500, "down")
        } else {
            Reply::json(200, &json!({"ok": true}))
        }
    })
    .await;
    let app = spawn(
        backend,
        vec![
            ("CIRCUIT_BREAKER_FAILURES", "2".to_owned()),
            ("CIRCUIT_BREAKER_COOLDOWN", "1".to_owned()),
        ],
    )
    .await;
    let template = app
        .create_template(
            "fetch-once",
            json!({"steps": [{"id": "fetch", "type": "action",
                "config": {"action": "http_request", "url": server.url("/x")},
                "retry": {"max_attempts": 1}}]}),
        )
        .await;
    let mut kinds = Vec::new();
    for _ in 0..3 {
        let id = app.start_instance(&template, json!({})).await;
        let instance = app.wait_finished(&id).await;
        kinds.push(instance["error"]["type"].clone());
    }
    // Two failures open the breaker; the third call fails fast without reaching the host.
    assert_eq!(
        kinds,
        [json!("http_5xx"), json!("http_5xx"), json!("circuit_open")]
    );
    assert_eq!(server.requests().len(), 2);
    // Past the cool-down one probe goes through, succeeds, and closes the breaker.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    for _ in 0..2 {
        let id = app.start_instance(&template, json!({})).await;
        let instance = app.wait_finished(&id).await;
        assert_eq!(instance["status"], "completed", "{instance}");
    }
    assert_eq!(server.requests().len(), 4);
}
on_both_backends!(a_breaker_opens_on_a_failing_host_and_closes_after_a_good_probe);

async fn finished_instances_past_the_retention_are_purged(backend: Backend) {
    // A retention of about 0.9 s; the task runs that often.
    let app = spawn(backend, vec![("RETENTION_DAYS", "0.00001".to_owned())]).await;
    let template = app
        .create_template(
            "short-lived",
            json!({"steps": [{"id": "log", "type": "action",
                "config": {"action": "log_message", "message": "bye"}}]}),
        )
        .await;
    let id = app.start_instance(&template, json!({})).await;
    assert_eq!(app.wait_finished(&id).await["status"], "completed");
    // A waiting instance is not finished: it stays whatever its age.
    let waiting = app
        .create_template(
            "waiting",
            json!({"steps": [{"id": "w", "type": "wait",
                "config": {"wait_type": "event", "event": "never"}}]}),
        )
        .await;
    let kept = app.start_instance(&waiting, json!({})).await;
    let mut gone = false;
    for _ in 0..300 {
        let (status, _) = app.get(&format!("/api/v1/instances/{id}")).await;
        if status == 404 {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(gone, "the finished instance was never purged");
    let (status, steps) = app.get(&format!("/api/v1/instances/{id}/steps")).await;
    assert!(
        status == 404 || steps["items"] == json!([]),
        "{status} {steps}"
    );
    let (status, body) = app.get(&format!("/api/v1/instances/{kept}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "running");
}
on_both_backends!(finished_instances_past_the_retention_are_purged);
