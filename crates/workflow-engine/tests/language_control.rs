//! Retries, error routes, timeouts and waits, end to end through the REST API on both
//! backends.

mod common;
mod language_support;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::{Backend, Options, TestApp};
use language_support::{
    HttpServer, Reply, executions_of, instance, only, run, send_event, step_ids, wait_step,
};
use serde_json::{Value, json};

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap_or_else(|| panic!("a time: {value}")))
        .unwrap()
        .to_utc()
}

fn seconds_between(from: &Value, to: &Value) -> f64 {
    (time(to) - time(from)).num_milliseconds() as f64 / 1000.0
}

async fn fixed_backoff_spaces_attempts_up_to_max_attempts(backend: Backend) {
    let server = HttpServer::start(|_, _| Reply::text(503, "down")).await;
    let app = TestApp::spawn(backend).await;
    let definition = json!({"steps": [
        {"id": "fetch", "type": "action", "config": {"action": "http_request", "url": server.url("/")},
         "retry": {"max_attempts": 3, "backoff": "fixed", "initial_interval_seconds": 0.3}}
    ]});
    let (id, instance) = run(&app, "backoff", definition, json!({})).await;

    assert_eq!(instance["status"], "failed", "{instance}");
    assert_eq!(instance["error"]["type"], "http_5xx", "{instance}");
    assert_eq!(server.requests().len(), 3);
    let steps = app.steps(&id).await;
    let attempts: Vec<i64> = steps
        .iter()
        .map(|s| s["attempt"].as_i64().unwrap())
        .collect();
    assert_eq!(attempts, [1, 2, 3], "{steps:#?}");
    assert!(
        steps
            .iter()
            .all(|s| s["status"] == "failed" && s["error"]["type"] == "http_5xx")
    );
    for pair in steps.windows(2) {
        let gap = seconds_between(&pair[0]["completed_at"], &pair[1]["started_at"]);
        assert!(
            gap >= 0.29,
            "attempts {gap}s apart, expected the 0.3 s backoff: {pair:#?}"
        );
    }
}
on_both_backends!(fixed_backoff_spaces_attempts_up_to_max_attempts);

async fn retry_on_narrows_what_is_retried(backend: Backend) {
    let server = HttpServer::start(|_, _| Reply::text(500, "boom")).await;
    let app = TestApp::spawn(backend).await;
    let definition = json!({"steps": [
        {"id": "fetch", "type": "action", "config": {"action": "http_request", "url": server.url("/")},
         "retry": {"max_attempts": 5, "backoff": "fixed", "initial_interval_seconds": 0.05,
                   "retry_on": ["timeout", "network"]}}
    ]});
    let (id, instance) = run(&app, "narrow", definition, json!({})).await;

    assert_eq!(instance["status"], "failed", "{instance}");
    assert_eq!(instance["error"]["type"], "http_5xx");
    assert_eq!(server.requests().len(), 1, "http_5xx is not in retry_on");
    assert_eq!(app.steps(&id).await.len(), 1);
}
on_both_backends!(retry_on_narrows_what_is_retried);

async fn on_error_routes_with_the_error_in_scope(backend: Backend) {
    let server = HttpServer::start(|_, _| Reply::json(403, &json!({"error": "nope"}))).await;
    let app = TestApp::spawn(backend).await;
    let definition = json!({"steps": [
        {"id": "fetch", "type": "action", "config": {"action": "http_request", "url": server.url("/")},
         "on_error": "report", "next_steps": ["happy"]},
        {"id": "happy", "type": "action", "config": {"action": "noop"}},
        {"id": "report", "type": "action",
         "config": {"action": "set_variable", "variables": {
             "error_type": "{{ steps.fetch.error.type }}",
             "error_message": "{{ steps.fetch.error.message }}",
             "retryable": "{{ steps.fetch.error.retryable }}",
             "fetch_output": "{{ steps.fetch.output }}"}},
         "next_steps": ["check"]},
        {"id": "check", "type": "condition",
         "config": {"field": "steps.fetch.error.type", "operator": "equals", "value": "http_4xx"},
         "next_steps": ["matched"]},
        {"id": "matched", "type": "action",
         "config": {"action": "set_variable", "name": "condition_saw_error", "value": true}}
    ]});
    let (id, instance) = run(&app, "on-error", definition, json!({})).await;

    assert_eq!(instance["status"], "completed", "{instance}");
    let output = &instance["output"];
    assert_eq!(output["error_type"], "http_4xx", "{output}");
    assert!(
        output["error_message"].as_str().unwrap().contains("403"),
        "{output}"
    );
    assert_eq!(output["retryable"], false);
    assert_eq!(output["fetch_output"], Value::Null);
    assert_eq!(output["condition_saw_error"], true);
    let steps = app.steps(&id).await;
    assert_eq!(
        step_ids(&steps),
        ["fetch", "report", "check", "matched"],
        "{steps:#?}"
    );
    assert_eq!(steps[0]["status"], "failed");
}
on_both_backends!(on_error_routes_with_the_error_in_scope);

async fn a_slow_step_times_out_and_the_retry_succeeds(backend: Backend) {
    let server = HttpServer::start(|_, n| {
        let reply = Reply::json(200, &json!({"call": n}));
        if n == 0 {
            reply.after(Duration::from_secs(10))
        } else {
            reply
        }
    })
    .await;
    let app = TestApp::spawn(backend).await;
    let definition = json!({"steps": [
        {"id": "slow", "type": "action",
         "config": {"action": "http_request", "url": server.url("/slow"), "output_variable": "reply"},
         "timeout_seconds": 0.5,
         "retry": {"max_attempts": 2, "backoff": "fixed", "initial_interval_seconds": 0.05}}
    ]});
    let started = Instant::now();
    let (id, instance) = run(&app, "step-timeout", definition, json!({})).await;

    let elapsed = started.elapsed();
    let steps = app.steps(&id).await;
    assert!(
        elapsed < Duration::from_secs(8),
        "the first attempt was abandoned: {elapsed:?} {steps:#?}"
    );
    assert_eq!(instance["status"], "completed", "{instance}");
    assert_eq!(instance["output"]["reply"]["body"], json!({"call": 1}));
    assert_eq!(steps.len(), 2, "{steps:#?}");
    assert_eq!(steps[0]["status"], "failed");
    assert_eq!(steps[0]["error"]["type"], "timeout");
    assert_eq!(steps[0]["error"]["retryable"], true);
    assert_eq!(steps[1]["status"], "completed");
    assert_eq!(steps[1]["attempt"], 2);
}
on_both_backends!(a_slow_step_times_out_and_the_retry_succeeds);

async fn a_step_timeout_fails_the_instance_when_no_retry_is_left(backend: Backend) {
    let server =
        HttpServer::start(|_, _| Reply::text(200, "late").after(Duration::from_secs(10))).await;
    let app = TestApp::spawn(backend).await;
    let definition = json!({"steps": [
        {"id": "slow", "type": "action", "config": {"action": "http_request", "url": server.url("/")},
         "timeout_seconds": 0.4, "retry": {"max_attempts": 1}}
    ]});
    let (id, instance) = run(&app, "step-timeout-final", definition, json!({})).await;

    assert_eq!(instance["status"], "failed", "{instance}");
    assert_eq!(instance["error"]["type"], "timeout", "{instance}");
    let step = only(&app.steps(&id).await, "slow").clone();
    assert_eq!(step["status"], "failed");
    assert_eq!(step["error"]["type"], "timeout");
}
on_both_backends!(a_step_timeout_fails_the_instance_when_no_retry_is_left);

async fn the_instance_timeout_fails_the_instance(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let definition = json!({"timeout_seconds": 0.5, "steps": [
        {"id": "first", "type": "action", "config": {"action": "noop"}, "next_steps": ["nap"]},
        {"id": "nap", "type": "wait", "config": {"wait_type": "duration", "duration": "1h"}}
    ]});
    let started = Instant::now();
    let (id, instance) = run(&app, "instance-timeout", definition, json!({})).await;

    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(instance["status"], "failed", "{instance}");
    assert_eq!(instance["error"]["type"], "timeout", "{instance}");
    let steps = app.steps(&id).await;
    assert_eq!(only(&steps, "first")["status"], "completed");
    assert_eq!(only(&steps, "nap")["status"], "cancelled", "{steps:#?}");
}
on_both_backends!(the_instance_timeout_fails_the_instance);

async fn duration_waits_hold_the_instance(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let definition = json!({"steps": [
        {"id": "short", "type": "wait", "config": {"wait_type": "duration", "seconds": 0.2},
         "next_steps": ["longer"]},
        {"id": "longer", "type": "wait", "config": {"wait_type": "duration", "duration": "500ms"},
         "next_steps": ["iso"]},
        {"id": "iso", "type": "wait", "config": {"wait_type": "duration", "duration": "PT0S"},
         "next_steps": ["done"]},
        {"id": "done", "type": "action", "config": {"action": "noop"}}
    ]});
    let template = app.create_template("waits", definition).await;
    let id = app.start_instance(&template, json!({})).await;
    let waiting = wait_step(&app, &id, "longer", "waiting").await;
    assert_eq!(instance(&app, &id).await["status"], "running");
    assert!(executions_of(&app.steps(&id).await, "done").is_empty());
    let finished = app.wait_finished(&id).await;

    assert_eq!(finished["status"], "completed", "{finished}");
    let steps = app.steps(&id).await;
    assert_eq!(
        step_ids(&steps),
        ["short", "longer", "iso", "done"],
        "{steps:#?}"
    );
    let short = &steps[0];
    let longer = &steps[1];
    assert!(
        seconds_between(&short["started_at"], &short["completed_at"]) >= 0.2,
        "{short}"
    );
    assert!(
        seconds_between(&longer["started_at"], &longer["completed_at"]) >= 0.5,
        "{longer}"
    );
    assert_eq!(longer["id"], waiting["id"]);
    assert_eq!(longer["input"]["seconds"], json!(0.5));
    assert!(time(&longer["output"]["waited_until"]) >= time(&longer["started_at"]));
}
on_both_backends!(duration_waits_hold_the_instance);

async fn an_until_wait_continues_at_its_time(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let definition = json!({"steps": [
        {"id": "until", "type": "wait", "config": {"wait_type": "until", "until": "{{ variables.at }}"},
         "next_steps": ["done"]},
        {"id": "done", "type": "action", "config": {"action": "noop"}}
    ]});
    let at = Utc::now() + chrono::Duration::milliseconds(700);
    let at_text = at.to_rfc3339();
    let (id, instance) = run(&app, "until", definition, json!({"at": at_text})).await;

    assert_eq!(instance["status"], "completed", "{instance}");
    let steps = app.steps(&id).await;
    let until = only(&steps, "until");
    assert!(time(&until["completed_at"]) >= at, "{until}");
    assert_eq!(time(&until["output"]["waited_until"]), at);
    assert!(time(&only(&steps, "done")["started_at"]) >= at);
}
on_both_backends!(an_until_wait_continues_at_its_time);

async fn an_event_resumes_its_wait_with_its_data(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let definition = json!({"steps": [
        {"id": "approval", "type": "wait", "config": {"wait_type": "event", "event": "approved"},
         "next_steps": ["decide"]},
        {"id": "decide", "type": "condition",
         "config": {"field": "steps.approval.output.ok", "operator": "equals", "value": true},
         "next_steps": ["yes", "no"]},
        {"id": "yes", "type": "action",
         "config": {"action": "set_variable", "name": "by", "value": "{{ steps.approval.output.by }}"}},
        {"id": "no", "type": "action", "config": {"action": "noop"}}
    ]});
    let template = app.create_template("event", definition).await;
    let id = app.start_instance(&template, json!({})).await;
    wait_step(&app, &id, "approval", "waiting").await;

    let (status, body) = send_event(&app, &id, "unrelated", json!({"ok": false})).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["accepted"], true);
    let (status, body) = send_event(&app, &id, "approved", json!({"ok": true, "by": "bob"})).await;
    assert_eq!(status, 202, "{body}");
    let finished = app.wait_finished(&id).await;

    assert_eq!(finished["status"], "completed", "{finished}");
    assert_eq!(finished["output"]["by"], "bob");
    let steps = app.steps(&id).await;
    assert_eq!(
        step_ids(&steps),
        ["approval", "decide", "yes"],
        "{steps:#?}"
    );
    assert_eq!(steps[0]["output"], json!({"ok": true, "by": "bob"}));
}
on_both_backends!(an_event_resumes_its_wait_with_its_data);

async fn early_events_are_kept_and_consumed_in_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let definition = json!({"steps": [
        {"id": "first", "type": "wait", "config": {"wait_type": "event", "event": "go"},
         "next_steps": ["second"]},
        {"id": "second", "type": "wait", "config": {"wait_type": "event", "event": "go"},
         "next_steps": ["third"]},
        {"id": "third", "type": "wait", "config": {"wait_type": "event", "event": "go"}}
    ]});
    let template = app.create_template("early", definition).await;
    let (status, created) = app
        .post(
            "/api/v1/instances",
            &json!({"template_id": template, "variables": {}}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["status"], "pending");
    let id = created["id"].as_str().unwrap().to_owned();

    for n in [1, 2] {
        let (status, body) = send_event(&app, &id, "go", json!({"n": n})).await;
        assert_eq!(status, 202, "an event before the start is kept: {body}");
    }
    let (status, body) = app
        .put(&format!("/api/v1/instances/{id}/start"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    wait_step(&app, &id, "third", "waiting").await;
    let steps = app.steps(&id).await;
    assert_eq!(
        only(&steps, "first")["output"],
        json!({"n": 1}),
        "{steps:#?}"
    );
    assert_eq!(
        only(&steps, "second")["output"],
        json!({"n": 2}),
        "{steps:#?}"
    );

    let (status, _) = send_event(&app, &id, "go", json!({"n": 3})).await;
    assert_eq!(status, 202);
    let finished = app.wait_finished(&id).await;
    assert_eq!(finished["status"], "completed", "{finished}");
    assert_eq!(
        only(&app.steps(&id).await, "third")["output"],
        json!({"n": 3})
    );
}
on_both_backends!(early_events_are_kept_and_consumed_in_order);

async fn an_event_wait_times_out(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let definition = json!({"steps": [
        {"id": "approval", "type": "wait",
         "config": {"wait_type": "event", "event": "approved", "timeout": "300ms"},
         "retry": {"max_attempts": 3, "initial_interval_seconds": 0.05},
         "next_steps": ["after"]},
        {"id": "after", "type": "action", "config": {"action": "noop"}}
    ]});
    let (id, instance) = run(&app, "event-timeout", definition, json!({})).await;

    assert_eq!(instance["status"], "failed", "{instance}");
    assert_eq!(instance["error"]["type"], "timeout", "{instance}");
    let steps = app.steps(&id).await;
    assert_eq!(step_ids(&steps), ["approval"], "not retried: {steps:#?}");
    assert_eq!(steps[0]["status"], "failed");
    assert_eq!(steps[0]["error"]["type"], "timeout");
    assert_eq!(steps[0]["error"]["retryable"], false);
    assert!(seconds_between(&steps[0]["started_at"], &steps[0]["completed_at"]) >= 0.3);
}
on_both_backends!(an_event_wait_times_out);

async fn steps_without_retry_or_timeout_take_the_configured_defaults(backend: Backend) {
    let server =
        HttpServer::start(|_, _| Reply::text(200, "late").after(Duration::from_secs(10))).await;
    let app = TestApp::spawn_with(
        backend,
        Options {
            vars: vec![
                ("STEP_RETRY_LIMIT", "2".into()),
                ("STEP_TIMEOUT", "0.4".into()),
            ],
            ..Options::default()
        },
    )
    .await;
    let definition = json!({"steps": [
        {"id": "slow", "type": "action", "config": {"action": "http_request", "url": server.url("/")}}
    ]});
    let started = Instant::now();
    let (id, instance) = run(&app, "defaults", definition, json!({})).await;

    assert!(
        started.elapsed() < Duration::from_secs(8),
        "STEP_TIMEOUT applied"
    );
    assert_eq!(instance["status"], "failed", "{instance}");
    assert_eq!(instance["error"]["type"], "timeout", "{instance}");
    let steps = app.steps(&id).await;
    let attempts: Vec<(i64, &str)> = steps
        .iter()
        .map(|s| {
            (
                s["attempt"].as_i64().unwrap(),
                s["error"]["type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        [(1, "timeout"), (2, "timeout")],
        "STEP_RETRY_LIMIT attempts: {steps:#?}"
    );
    // The default backoff is exponential from 1 s.
    let gap = seconds_between(&steps[0]["completed_at"], &steps[1]["started_at"]);
    assert!(gap >= 0.99, "{gap}");
}
on_both_backends!(steps_without_retry_or_timeout_take_the_configured_defaults);

async fn the_first_waiter_gets_the_event(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let definition = json!({"steps": [
        {"id": "split", "type": "action", "config": {"action": "noop"},
         "next_steps": ["early_bird", "late_bird"]},
        {"id": "early_bird", "type": "wait", "config": {"wait_type": "event", "event": "seed"}},
        {"id": "late_bird", "type": "wait", "config": {"wait_type": "event", "event": "seed"}}
    ]});
    let template = app.create_template("two-waiters", definition).await;
    let id = app.start_instance(&template, json!({})).await;
    wait_step(&app, &id, "late_bird", "waiting").await;
    wait_step(&app, &id, "early_bird", "waiting").await;

    assert_eq!(send_event(&app, &id, "seed", json!({"n": 1})).await.0, 202);
    let first = wait_step(&app, &id, "early_bird", "completed").await;
    assert_eq!(first["output"], json!({"n": 1}));
    assert_eq!(
        only(&app.steps(&id).await, "late_bird")["status"],
        "waiting"
    );
    assert_eq!(send_event(&app, &id, "seed", json!({"n": 2})).await.0, 202);
    let finished = app.wait_finished(&id).await;
    assert_eq!(finished["status"], "completed", "{finished}");
    assert_eq!(
        only(&app.steps(&id).await, "late_bird")["output"],
        json!({"n": 2})
    );
}
on_both_backends!(the_first_waiter_gets_the_event);
