//! Parallel and subflow steps, end to end through the REST API on both backends.

mod common;
mod language_support;

use std::time::{Duration, Instant};

use common::{Backend, TestApp};
use language_support::{HttpServer, Reply, instance, lifecycle, only, run, wait_step};
use serde_json::{Value, json};

async fn parallel_outputs_come_in_branch_order(backend: Backend) {
    let server = HttpServer::start(|request, _| {
        Reply::json(200, &json!({"path": request.target})).after(Duration::from_millis(400))
    })
    .await;
    let app = TestApp::spawn(backend).await;
    let definition = json!({"steps": [
        {"id": "fan", "type": "parallel", "config": {"parallel_steps": [
            {"action": "http_request", "url": server.url("/slow/{{ variables.n }}"), "output_variable": "slow"},
            {"action": "log_message", "message": "fast {{ variables.n }}"},
            {"action": "noop", "output_variable": "nothing"}
         ]}, "next_steps": ["after"]},
        {"id": "after", "type": "action",
         "config": {"action": "set_variable", "name": "path", "value": "{{ steps.fan.output[0].body.path }}"}}
    ]});
    let (id, instance) = run(&app, "parallel", definition, json!({"n": 5})).await;

    assert_eq!(instance["status"], "completed", "{instance}");
    let steps = app.steps(&id).await;
    let fan = only(&steps, "fan");
    assert_eq!(fan["status"], "completed");
    let output = fan["output"].as_array().expect("a list");
    assert_eq!(output.len(), 3, "{fan}");
    assert_eq!(
        output[0]["body"],
        json!({"path": "/slow/5"}),
        "the slow one stays first: {fan}"
    );
    assert_eq!(output[1], json!({"logged": true}));
    assert_eq!(output[2], json!({}));
    assert_eq!(
        fan["input"][1]["message"], "fast 5",
        "branches are rendered: {fan}"
    );
    assert_eq!(instance["output"]["path"], "/slow/5");
    assert_eq!(instance["output"]["slow"]["status"], 200);
    assert_eq!(instance["output"]["nothing"], json!({}));
}
on_both_backends!(parallel_outputs_come_in_branch_order);

async fn fail_fast_cancels_the_other_branches(backend: Backend) {
    let server = HttpServer::start(|request, _| {
        if request.target == "/bad" {
            Reply::text(400, "bad")
        } else {
            Reply::text(200, "late").after(Duration::from_secs(5))
        }
    })
    .await;
    let app = TestApp::spawn(backend).await;
    let definition = json!({"steps": [
        {"id": "fan", "type": "parallel", "retry": {"max_attempts": 1},
         "config": {"parallel_steps": [
            {"action": "http_request", "url": server.url("/slow")},
            {"action": "http_request", "url": server.url("/bad")}
         ]}, "next_steps": ["after"]},
        {"id": "after", "type": "action", "config": {"action": "noop"}}
    ]});
    let started = Instant::now();
    let (id, instance) = run(&app, "fail-fast", definition, json!({})).await;

    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the slow branch was not awaited"
    );
    assert_eq!(instance["status"], "failed", "{instance}");
    assert_eq!(instance["error"]["type"], "http_4xx", "{instance}");
    let steps = app.steps(&id).await;
    let fan = only(&steps, "fan");
    assert_eq!(fan["status"], "failed");
    assert_eq!(fan["error"]["type"], "http_4xx");
    assert!(
        fan["error"]["message"]
            .as_str()
            .unwrap()
            .contains("branch 1"),
        "{fan}"
    );
    assert!(steps.iter().all(|s| s["step_id"] != "after"));
}
on_both_backends!(fail_fast_cancels_the_other_branches);

async fn wait_all_runs_every_branch_and_lists_every_error(backend: Backend) {
    let server = HttpServer::start(|request, _| match request.target.as_str() {
        "/bad" => Reply::text(404, "missing"),
        "/broken" => Reply::text(500, "broken"),
        _ => Reply::text(200, "fine").after(Duration::from_millis(600)),
    })
    .await;
    let app = TestApp::spawn(backend).await;
    let definition = json!({"steps": [
        {"id": "fan", "type": "parallel", "retry": {"max_attempts": 1},
         "config": {"failure_mode": "wait_all", "parallel_steps": [
            {"action": "http_request", "url": server.url("/bad")},
            {"action": "http_request", "url": server.url("/slow")},
            {"action": "http_request", "url": server.url("/broken")}
         ]}}
    ]});
    let started = Instant::now();
    let (id, instance) = run(&app, "wait-all", definition, json!({})).await;

    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "the slow branch was awaited"
    );
    assert_eq!(instance["status"], "failed", "{instance}");
    assert_eq!(instance["error"]["type"], "parallel_failed", "{instance}");
    let fan = only(&app.steps(&id).await, "fan").clone();
    let message = fan["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("branch 0") && message.contains("http_4xx"),
        "{message}"
    );
    assert!(
        message.contains("branch 2") && message.contains("http_5xx"),
        "{message}"
    );
    assert!(!message.contains("branch 1"), "{message}");
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(paths.len(), 3, "{paths:?}");
}
on_both_backends!(wait_all_runs_every_branch_and_lists_every_error);

async fn max_concurrency_limits_branches_at_once(backend: Backend) {
    let server = HttpServer::start(|_, n| {
        Reply::json(200, &json!({"n": n})).after(Duration::from_millis(300))
    })
    .await;
    let app = TestApp::spawn(backend).await;
    let branch = json!({"action": "http_request", "url": server.url("/work")});
    let definition = json!({"steps": [
        {"id": "fan", "type": "parallel",
         "config": {"max_concurrency": 2, "parallel_steps": [branch, branch, branch, branch, branch]}}
    ]});
    let (id, instance) = run(&app, "bounded", definition, json!({})).await;

    assert_eq!(instance["status"], "completed", "{instance}");
    assert_eq!(server.requests().len(), 5);
    assert_eq!(
        server.most_at_once(),
        2,
        "never more than max_concurrency at once"
    );
    let fan = only(&app.steps(&id).await, "fan").clone();
    assert_eq!(fan["output"].as_array().unwrap().len(), 5);
}
on_both_backends!(max_concurrency_limits_branches_at_once);

async fn children_of(app: &TestApp, parent: &str) -> Vec<Value> {
    let (status, body) = app
        .get(&format!("/api/v1/instances?parent_instance_id={parent}"))
        .await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().cloned().unwrap_or_default()
}

async fn a_subflow_runs_a_child_instance(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let doubler = app.create_template(
        "doubler",
        json!({"steps": [
            {"id": "double", "type": "action",
             "config": {"action": "set_variable", "name": "doubled", "value": "{{ variables.x * 2 }}"}}
        ]}),
    )
    .await;
    let (status, created) = app
        .post(
            "/api/v1/templates",
            &json!({"name": "parent", "definition": {"steps": [
                {"id": "sub", "type": "subflow",
                 "config": {"subflow_id": "doubler", "variables": {"x": "{{ variables.n }}"}},
                 "next_steps": ["copy"]},
                {"id": "copy_all", "type": "subflow", "config": {"subflow_id": doubler}},
                {"id": "copy", "type": "action",
                 "config": {"action": "set_variable", "name": "result", "value": "{{ steps.sub.output.doubled }}"},
                 "next_steps": ["copy_all"]}
            ]}}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let template = created["id"].as_str().unwrap();
    let id = app.start_instance(template, json!({"n": 21, "x": 5})).await;
    let parent = app.wait_finished(&id).await;

    assert_eq!(parent["status"], "completed", "{parent}");
    assert_eq!(parent["output"]["result"], json!(42), "{parent}");
    let steps = app.steps(&id).await;
    let sub = only(&steps, "sub");
    assert_eq!(
        sub["output"],
        json!({"x": 21, "doubled": 42}),
        "the child's final variables"
    );
    let copy_all = only(&steps, "copy_all");
    assert_eq!(
        copy_all["output"]["doubled"],
        json!(10),
        "by template id: {copy_all}"
    );
    assert_eq!(
        copy_all["output"]["n"],
        json!(21),
        "a copy of the parent's variables"
    );

    let children = children_of(&app, &id).await;
    assert_eq!(children.len(), 2, "{children:#?}");
    for child in &children {
        assert_eq!(child["parent_instance_id"], id.as_str());
        assert_eq!(child["status"], "completed");
    }
    assert!(
        children
            .iter()
            .any(|c| c["variables"] == json!({"x": 21, "doubled": 42})),
        "{children:#?}"
    );
    let (_, top_level) = app
        .get("/api/v1/instances?parent_instance_id=00000000-0000-0000-0000-000000000000")
        .await;
    assert!(
        top_level["items"].as_array().is_none_or(Vec::is_empty),
        "{top_level}"
    );
}
on_both_backends!(a_subflow_runs_a_child_instance);

async fn a_failing_child_fails_the_subflow_step(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_template(
        "broken-child",
        json!({"steps": [
            {"id": "oops", "type": "action",
             "config": {"action": "log_message", "message": "{{ variables.missing }}"}}
        ]}),
    )
    .await;
    let definition = json!({"steps": [
        {"id": "sub", "type": "subflow", "config": {"subflow_id": "broken-child"},
         "on_error": "handle"},
        {"id": "handle", "type": "action",
         "config": {"action": "set_variable", "name": "why", "value": "{{ steps.sub.error.type }}"}}
    ]});
    let (id, parent) = run(&app, "parent-of-broken", definition, json!({})).await;

    assert_eq!(parent["status"], "completed", "{parent}");
    assert_eq!(parent["output"]["why"], "template_error", "{parent}");
    let steps = app.steps(&id).await;
    let sub = only(&steps, "sub");
    assert_eq!(sub["status"], "failed");
    assert!(
        sub["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("subflow failed:"),
        "{sub}"
    );
    let children = children_of(&app, &id).await;
    assert_eq!(children.len(), 1);
    assert_eq!(children[0]["status"], "failed");
}
on_both_backends!(a_failing_child_fails_the_subflow_step);

async fn cancelling_the_parent_cancels_the_child(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_template(
        "waiting-child",
        json!({"steps": [
            {"id": "hold", "type": "wait", "config": {"wait_type": "event", "event": "never"}}
        ]}),
    )
    .await;
    let template = app
        .create_template(
            "waiting-parent",
            json!({"steps": [{"id": "sub", "type": "subflow", "config": {"subflow_id": "waiting-child"}}]}),
        )
        .await;
    let id = app.start_instance(&template, json!({})).await;
    let sub = wait_step(&app, &id, "sub", "waiting").await;
    let mut children = Vec::new();
    for _ in 0..500 {
        children = children_of(&app, &id).await;
        if !children.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(children.len(), 1, "{sub}");
    let child = children[0]["id"].as_str().unwrap().to_owned();
    wait_step(&app, &child, "hold", "waiting").await;

    let (status, body) = lifecycle(&app, &id, "cancel").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "cancelled");
    let child_state = app.wait_finished(&child).await;
    assert_eq!(child_state["status"], "cancelled", "{child_state}");
    assert_eq!(only(&app.steps(&id).await, "sub")["status"], "cancelled");
    assert_eq!(instance(&app, &id).await["status"], "cancelled");
}
on_both_backends!(cancelling_the_parent_cancels_the_child);

async fn a_missing_subflow_target_fails_with_subflow_not_found(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, created) = app
        .post(
            "/api/v1/templates",
            &json!({"name": "orphan", "definition": {"steps": [
                {"id": "sub", "type": "subflow", "config": {"subflow_id": "does-not-exist"},
                 "retry": {"max_attempts": 3, "initial_interval_seconds": 0.05}}
            ]}}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let warnings = created["warnings"].as_array().expect("warnings");
    assert!(
        warnings
            .iter()
            .any(|w| w.to_string().contains("does-not-exist")),
        "a missing target is a warning: {created}"
    );
    let id = app
        .start_instance(created["id"].as_str().unwrap(), json!({}))
        .await;
    let parent = app.wait_finished(&id).await;

    assert_eq!(parent["status"], "failed", "{parent}");
    assert_eq!(parent["error"]["type"], "subflow_not_found", "{parent}");
    let steps = app.steps(&id).await;
    assert_eq!(steps.len(), 1, "not retried: {steps:#?}");
    assert_eq!(steps[0]["error"]["type"], "subflow_not_found");
    assert_eq!(steps[0]["error"]["retryable"], false);
}
on_both_backends!(a_missing_subflow_target_fails_with_subflow_not_found);

async fn recursion_deeper_than_32_levels_fails(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, created) = app
        .post(
            "/api/v1/templates",
            &json!({"name": "recursive", "definition": {"steps": [
                {"id": "again", "type": "subflow", "config": {"subflow_id": "recursive"}}
            ]}}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = app
        .start_instance(created["id"].as_str().unwrap(), json!({}))
        .await;
    let top = app.wait_finished(&id).await;

    assert_eq!(top["status"], "failed", "{top}");
    assert_eq!(top["error"]["type"], "subflow_depth_exceeded", "{top}");
    let mut depth = 0;
    let mut current = id.clone();
    loop {
        let children = children_of(&app, &current).await;
        if children.is_empty() {
            break;
        }
        assert_eq!(children.len(), 1, "{children:#?}");
        assert_eq!(children[0]["status"], "failed", "{children:#?}");
        current = children[0]["id"].as_str().unwrap().to_owned();
        depth += 1;
    }
    assert_eq!(depth, 32, "32 nested children, the 33rd refused");
    let deepest = only(&app.steps(&current).await, "again").clone();
    assert_eq!(
        deepest["error"]["type"], "subflow_depth_exceeded",
        "{deepest}"
    );
}
on_both_backends!(recursion_deeper_than_32_levels_fails);

async fn a_subflow_can_pin_a_template_version(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let version = |tag: &str| {
        json!({"steps": [{"id": "tag", "type": "action",
                          "config": {"action": "set_variable", "name": "tag", "value": tag}}]})
    };
    let child = app.create_template("versioned", version("one")).await;
    let (status, updated) = app
        .put(
            &format!("/api/v1/templates/{child}"),
            Some(&json!({"definition": version("two")})),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["version"], 2);
    let definition = json!({"steps": [
        {"id": "pinned", "type": "subflow", "config": {"subflow_id": "versioned", "version": 1},
         "next_steps": ["latest"]},
        {"id": "latest", "type": "subflow", "config": {"subflow_id": "versioned"}}
    ]});
    let (id, parent) = run(&app, "pinning", definition, json!({})).await;

    assert_eq!(parent["status"], "completed", "{parent}");
    let steps = app.steps(&id).await;
    assert_eq!(only(&steps, "pinned")["output"]["tag"], "one");
    assert_eq!(only(&steps, "latest")["output"]["tag"], "two");
}
on_both_backends!(a_subflow_can_pin_a_template_version);

async fn parallel_branches_retry_each_on_their_own(backend: Backend) {
    let server = HttpServer::start(|_, _| Reply::json(200, &json!({"steady": true}))).await;
    let healing = HttpServer::start(|_, n| {
        if n < 2 {
            Reply::text(503, "busy")
        } else {
            Reply::json(200, &json!({"healed": true}))
        }
    })
    .await;
    let app = TestApp::spawn(backend).await;
    let definition = json!({"steps": [
        {"id": "fan", "type": "parallel",
         "retry": {"max_attempts": 3, "backoff": "fixed", "initial_interval_seconds": 0.1},
         "config": {"parallel_steps": [
            {"action": "http_request", "url": server.url("/steady")},
            {"action": "http_request", "url": healing.url("/heals")}
         ]}}
    ]});
    let (id, instance) = run(&app, "branch-retry", definition, json!({})).await;

    assert_eq!(instance["status"], "completed", "{instance}");
    assert_eq!(server.requests().len(), 1, "the steady branch ran once");
    assert_eq!(
        healing.requests().len(),
        3,
        "the failing branch was retried alone"
    );
    let fan = only(&app.steps(&id).await, "fan").clone();
    assert_eq!(fan["output"][0]["body"], json!({"steady": true}), "{fan}");
    assert_eq!(fan["output"][1]["body"], json!({"healed": true}), "{fan}");
}
on_both_backends!(parallel_branches_retry_each_on_their_own);
