//! Instance lifecycle (pause, resume, cancel, refused transitions) and definition validation,
//! end to end through the REST API on both backends.

mod common;
mod language_support;

use std::time::Duration;

use common::{Backend, TestApp};
use language_support::{
    HttpServer, Reply, executions_of, instance, lifecycle, only, send_event, wait_step,
};
use serde_json::{Value, json};

async fn create_pending(app: &TestApp, template: &str) -> String {
    let (status, body) = app
        .post("/api/v1/instances", &json!({"template_id": template}))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "pending");
    body["id"].as_str().unwrap().to_owned()
}

/// Asserts a refused transition: 409, naming the current status.
fn assert_conflict(answer: &(u16, Value), current: &str) {
    let (status, body) = answer;
    assert_eq!(*status, 409, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains(current),
        "the answer names the current status {current}: {body}"
    );
}

async fn pause_holds_a_wait_and_resume_releases_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let template = app
        .create_template(
            "pausable-wait",
            json!({"steps": [
                {"id": "nap", "type": "wait", "config": {"wait_type": "duration", "seconds": 0.4},
                 "next_steps": ["after"]},
                {"id": "after", "type": "action", "config": {"action": "noop"}}
            ]}),
        )
        .await;
    let id = app.start_instance(&template, json!({})).await;
    wait_step(&app, &id, "nap", "waiting").await;

    let (status, body) = lifecycle(&app, &id, "pause").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "paused");
    // Past the wait's due time the timer is held: nothing moves while paused.
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(instance(&app, &id).await["status"], "paused");
    let steps = app.steps(&id).await;
    assert_eq!(only(&steps, "nap")["status"], "waiting", "{steps:#?}");
    assert!(executions_of(&steps, "after").is_empty(), "{steps:#?}");

    let (status, body) = lifecycle(&app, &id, "resume").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "running");
    let finished = app.wait_finished(&id).await;
    assert_eq!(finished["status"], "completed", "{finished}");
    let steps = app.steps(&id).await;
    assert_eq!(only(&steps, "nap")["status"], "completed");
    assert_eq!(only(&steps, "after")["status"], "completed");
}
on_both_backends!(pause_holds_a_wait_and_resume_releases_it);

async fn pause_lets_a_running_step_finish_but_starts_nothing(backend: Backend) {
    let server = HttpServer::start(|_, _| {
        Reply::json(200, &json!({"done": true})).after(Duration::from_millis(600))
    })
    .await;
    let app = TestApp::spawn(backend).await;
    let template = app
        .create_template(
            "pausable-job",
            json!({"steps": [
                {"id": "slow", "type": "action", "config": {"action": "http_request", "url": server.url("/")},
                 "next_steps": ["after"]},
                {"id": "after", "type": "action", "config": {"action": "noop"}}
            ]}),
        )
        .await;
    let id = app.start_instance(&template, json!({})).await;
    wait_step(&app, &id, "slow", "running").await;
    let (status, body) = lifecycle(&app, &id, "pause").await;
    assert_eq!(status, 200, "{body}");

    wait_step(&app, &id, "slow", "completed").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(instance(&app, &id).await["status"], "paused");
    let steps = app.steps(&id).await;
    assert!(
        executions_of(&steps, "after")
            .iter()
            .all(|s| s["status"] == "pending"),
        "nothing new starts while paused: {steps:#?}"
    );
    assert_eq!(server.requests().len(), 1);

    let (status, _) = lifecycle(&app, &id, "resume").await;
    assert_eq!(status, 200);
    let finished = app.wait_finished(&id).await;
    assert_eq!(finished["status"], "completed", "{finished}");
    assert_eq!(only(&app.steps(&id).await, "after")["status"], "completed");
}
on_both_backends!(pause_lets_a_running_step_finish_but_starts_nothing);

async fn cancel_from_pending_running_and_paused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let template = app
        .create_template(
            "cancellable",
            json!({"steps": [
                {"id": "hold", "type": "wait", "config": {"wait_type": "event", "event": "go"},
                 "next_steps": ["after"]},
                {"id": "after", "type": "action", "config": {"action": "noop"}}
            ]}),
        )
        .await;

    let pending = create_pending(&app, &template).await;
    let (status, body) = lifecycle(&app, &pending, "cancel").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "cancelled");
    assert!(app.steps(&pending).await.is_empty());

    let running = app.start_instance(&template, json!({})).await;
    wait_step(&app, &running, "hold", "waiting").await;
    let (status, body) = lifecycle(&app, &running, "cancel").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "cancelled");
    assert_eq!(
        only(&app.steps(&running).await, "hold")["status"],
        "cancelled"
    );
    let (status, _) = send_event(&app, &running, "go", json!({})).await;
    assert_eq!(status, 409, "an event to a cancelled instance is refused");

    let paused = app.start_instance(&template, json!({})).await;
    wait_step(&app, &paused, "hold", "waiting").await;
    assert_eq!(lifecycle(&app, &paused, "pause").await.0, 200);
    let (status, body) = lifecycle(&app, &paused, "cancel").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "cancelled");
    let steps = app.steps(&paused).await;
    assert_eq!(only(&steps, "hold")["status"], "cancelled");
    assert!(executions_of(&steps, "after").is_empty());
}
on_both_backends!(cancel_from_pending_running_and_paused);

async fn invalid_transitions_are_refused_with_the_current_status(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let quick = app
        .create_template(
            "quick",
            json!({"steps": [{"id": "only", "type": "action", "config": {"action": "noop"}}]}),
        )
        .await;
    let holding = app
        .create_template(
            "holding",
            json!({"steps": [{"id": "hold", "type": "wait", "config": {"wait_type": "event", "event": "go"}}]}),
        )
        .await;

    let pending = create_pending(&app, &holding).await;
    assert_conflict(&lifecycle(&app, &pending, "pause").await, "pending");
    assert_conflict(&lifecycle(&app, &pending, "resume").await, "pending");

    let running = app.start_instance(&holding, json!({})).await;
    assert_conflict(&lifecycle(&app, &running, "start").await, "running");
    assert_conflict(&lifecycle(&app, &running, "resume").await, "running");
    assert_eq!(lifecycle(&app, &running, "pause").await.0, 200);
    assert_conflict(&lifecycle(&app, &running, "pause").await, "paused");
    assert_conflict(&lifecycle(&app, &running, "start").await, "paused");
    assert_eq!(lifecycle(&app, &running, "resume").await.0, 200);

    let done = app.start_instance(&quick, json!({})).await;
    assert_eq!(app.wait_finished(&done).await["status"], "completed");
    for action in ["start", "pause", "resume", "cancel"] {
        assert_conflict(&lifecycle(&app, &done, action).await, "completed");
    }
    let answer = send_event(&app, &done, "go", json!({})).await;
    assert_conflict(&answer, "completed");
    assert_eq!(instance(&app, &done).await["status"], "completed");

    assert_eq!(lifecycle(&app, &running, "cancel").await.0, 200);
    assert_conflict(&lifecycle(&app, &running, "cancel").await, "cancelled");
    assert_conflict(&lifecycle(&app, &running, "resume").await, "cancelled");
}
on_both_backends!(invalid_transitions_are_refused_with_the_current_status);

/// Posts a template and answers the 422's error paths.
async fn rejected_paths(app: &TestApp, definition: Value) -> Vec<String> {
    let (status, body) = app
        .post(
            "/api/v1/templates",
            &json!({"name": "invalid", "definition": definition}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("errors: {body}"));
    assert!(
        errors
            .iter()
            .all(|e| e["message"].as_str().is_some_and(|m| !m.is_empty())),
        "{body}"
    );
    errors
        .iter()
        .map(|e| e["path"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn invalid_definitions_are_rejected_with_json_paths(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let noop = json!({"action": "noop"});

    assert_eq!(
        rejected_paths(&app, json!({"steps": []})).await,
        ["/definition/steps"]
    );
    assert_eq!(rejected_paths(&app, json!([1, 2])).await, ["/definition"]);
    assert_eq!(
        rejected_paths(&app, json!({"start_at": "a"})).await,
        ["/definition/steps"]
    );

    // Every problem of one definition is listed, each with its own path.
    let paths = rejected_paths(
        &app,
        json!({"start_at": "nowhere", "steps": [
            {"id": "a", "type": "action", "config": noop, "next_steps": ["b", "ghost"]},
            {"id": "a", "type": "action", "config": noop},
            {"id": "bad id!", "type": "action", "config": noop},
            {"id": "b", "type": "teleport"},
            {"id": "c", "type": "condition",
             "config": {"field": "x", "operator": "roughly", "value": 1}},
            {"id": "d", "type": "wait", "config": {"wait_type": "duration", "duration": "soon"}},
            {"id": "e", "type": "action",
             "config": {"action": "log_message", "message": "{{ variables.name "}},
            {"id": "f", "type": "action", "config": {"action": "http_request"}, "on_error": "ghost"},
            {"id": "g", "type": "condition",
             "config": {"field": "x", "operator": "exists"}, "next_steps": ["a", "b", "c"]}
        ]}),
    )
    .await;
    for expected in [
        "/definition/start_at",
        "/definition/steps/0/next_steps/1",
        "/definition/steps/1/id",
        "/definition/steps/2/id",
        "/definition/steps/3/type",
        "/definition/steps/4/config/operator",
        "/definition/steps/5/config/duration",
        "/definition/steps/6/config/message",
        "/definition/steps/7/config/url",
        "/definition/steps/7/on_error",
        "/definition/steps/8/next_steps",
    ] {
        assert!(
            paths.iter().any(|p| p == expected),
            "{expected} missing from {paths:#?}"
        );
    }
    assert_eq!(paths.len(), 11, "{paths:#?}");

    let (status, listed) = app.get("/api/v1/templates").await;
    assert_eq!(status, 200);
    assert!(
        listed["items"].as_array().is_some_and(Vec::is_empty),
        "nothing was saved: {listed}"
    );
}
on_both_backends!(invalid_definitions_are_rejected_with_json_paths);

async fn unreachable_steps_are_warnings(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, created) = app
        .post(
            "/api/v1/templates",
            &json!({"name": "islands", "definition": {"steps": [
                {"id": "start", "type": "action", "config": {"action": "noop"},
                 "next_steps": ["next"], "on_error": "handler"},
                {"id": "next", "type": "action", "config": {"action": "noop"}},
                {"id": "handler", "type": "action", "config": {"action": "noop"}},
                {"id": "island", "type": "action", "config": {"action": "noop"}}
            ]}}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let warnings = created["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1, "{created}");
    assert_eq!(warnings[0]["path"], "/definition/steps/3", "{created}");
    assert!(
        warnings[0]["message"].as_str().unwrap().contains("island"),
        "{created}"
    );

    let id = app
        .start_instance(created["id"].as_str().unwrap(), json!({}))
        .await;
    assert_eq!(app.wait_finished(&id).await["status"], "completed");
    let steps = app.steps(&id).await;
    assert!(
        executions_of(&steps, "island").is_empty() && executions_of(&steps, "handler").is_empty()
    );
}
on_both_backends!(unreachable_steps_are_warnings);

async fn cancel_ignores_the_late_result_of_a_running_step(backend: Backend) {
    let server = HttpServer::start(|_, _| {
        Reply::json(200, &json!({"done": true})).after(Duration::from_millis(500))
    })
    .await;
    let app = TestApp::spawn(backend).await;
    let template = app
        .create_template(
            "cancel-running-job",
            json!({"steps": [
                {"id": "slow", "type": "action",
                 "config": {"action": "http_request", "url": server.url("/"), "output_variable": "reply"},
                 "next_steps": ["after"]},
                {"id": "after", "type": "action", "config": {"action": "noop"}}
            ]}),
        )
        .await;
    let id = app.start_instance(&template, json!({})).await;
    wait_step(&app, &id, "slow", "running").await;
    let (status, body) = lifecycle(&app, &id, "cancel").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "cancelled");

    // Past the moment the endpoint answers: the late result changes nothing.
    tokio::time::sleep(Duration::from_millis(900)).await;
    let cancelled = instance(&app, &id).await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert!(cancelled["variables"].get("reply").is_none(), "{cancelled}");
    let steps = app.steps(&id).await;
    assert_eq!(only(&steps, "slow")["status"], "cancelled", "{steps:#?}");
    assert!(executions_of(&steps, "after").is_empty(), "{steps:#?}");
}
on_both_backends!(cancel_ignores_the_late_result_of_a_running_step);
