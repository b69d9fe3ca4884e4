//! The language's action steps, templates and conditions, end to end through the REST API on
//! both backends: gateway → gRPC → scheduler → database and queue → worker → back.

mod common;
mod language_support;

use common::{Backend, TestApp};
use language_support::{HttpServer, Reply, executions_of, only, run, step_ids};
use serde_json::{Value, json};

async fn built_in_actions_and_output_variable(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let definition = json!({"steps": [
        {"id": "greet", "type": "action",
         "config": {"action": "set_variable", "name": "greeting", "value": "hello {{ variables.who }}"},
         "next_steps": ["many"]},
        {"id": "many", "type": "action",
         "config": {"action": "set_variable",
                    "variables": {"count": "{{ variables.n }}", "flag": true, "copy": "{{ variables.obj }}"}},
         "next_steps": ["log"]},
        {"id": "log", "type": "action",
         "config": {"action": "log_message", "message": "{{ variables.greeting }}!", "level": "warn",
                    "output_variable": "log_result"},
         "next_steps": ["nothing"]},
        {"id": "nothing", "type": "action",
         "config": {"action": "noop", "output_variable": "noop_result"}, "next_steps": ["who"]},
        {"id": "who", "type": "action",
         "config": {"action": "set_variable",
                    "variables": {"me": "{{ instance.id }}", "template": "{{ instance.template_id }}"}}}
    ]});
    let (id, instance) = run(
        &app,
        "actions",
        definition,
        json!({"who": "world", "n": 41, "obj": {"a": [1, 2]}}),
    )
    .await;

    assert_eq!(instance["status"], "completed", "{instance}");
    let output = &instance["output"];
    assert_eq!(output["greeting"], "hello world", "{output}");
    assert_eq!(
        output["count"],
        json!(41),
        "a lone {{{{ }}}} keeps the number: {output}"
    );
    assert_eq!(output["flag"], true);
    assert_eq!(
        output["copy"],
        json!({"a": [1, 2]}),
        "and the object: {output}"
    );
    assert_eq!(output["log_result"], json!({"logged": true}), "{output}");
    assert_eq!(output["noop_result"], json!({}), "{output}");
    assert_eq!(output["me"], id.as_str(), "{output}");
    assert_eq!(output["template"], instance["template_id"], "{output}");
    assert_eq!(instance["variables"], *output);

    let steps = app.steps(&id).await;
    assert_eq!(
        step_ids(&steps),
        ["greet", "many", "log", "nothing", "who"],
        "{steps:#?}"
    );
    assert!(
        steps
            .iter()
            .all(|s| s["status"] == "completed" && s["attempt"] == 1)
    );
    assert_eq!(steps[0]["output"], json!({"greeting": "hello world"}));
    assert_eq!(
        steps[1]["output"],
        json!({"count": 41, "flag": true, "copy": {"a": [1, 2]}})
    );
    assert_eq!(steps[2]["input"]["message"], "hello world!");
    assert_eq!(steps[2]["input"]["level"], "warn");
    assert_eq!(steps[2]["output"], json!({"logged": true}));
    assert_eq!(steps[3]["output"], json!({}));
}
on_both_backends!(built_in_actions_and_output_variable);

async fn several_next_steps_all_run(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let definition = json!({"steps": [
        {"id": "start", "type": "action", "config": {"action": "noop"},
         "next_steps": ["a", "b", "c", "gate"]},
        {"id": "gate", "type": "condition", "config": {"field": "nowhere", "operator": "exists"},
         "next_steps": ["never"]},
        {"id": "never", "type": "action", "config": {"action": "set_variable", "name": "never", "value": 1}},
        {"id": "a", "type": "action", "config": {"action": "log_message", "message": "a",
                                                 "output_variable": "a"}},
        {"id": "b", "type": "action", "config": {"action": "noop", "output_variable": "b"}},
        {"id": "c", "type": "action", "config": {"action": "set_variable", "name": "c", "value": 3}}
    ]});
    let (id, instance) = run(&app, "fan-out", definition, json!({})).await;

    assert_eq!(instance["status"], "completed", "{instance}");
    assert_eq!(instance["output"]["a"], json!({"logged": true}));
    assert_eq!(instance["output"]["b"], json!({}));
    assert_eq!(instance["output"]["c"], 3);
    assert!(instance["output"].get("never").is_none(), "{instance}");
    let steps = app.steps(&id).await;
    assert_eq!(
        steps.len(),
        5,
        "a false condition with one next step ends: {steps:#?}"
    );
    assert_eq!(steps[0]["step_id"], "start");
    for branch in ["a", "b", "c", "gate"] {
        assert_eq!(only(&steps, branch)["status"], "completed");
    }
    assert_eq!(only(&steps, "gate")["output"], json!({"result": false}));
}
on_both_backends!(several_next_steps_all_run);

async fn http_request_output_feeds_later_templates(backend: Backend) {
    let server = HttpServer::start(|request, _| {
        if request.target.starts_with("/users/7") {
            Reply::json(200, &json!({"name": "Ada", "age": 36, "tags": ["x", "y"]}))
        } else {
            Reply::text(201, "stored")
        }
    })
    .await;
    let app = TestApp::spawn(backend).await;
    let definition = json!({"steps": [
        {"id": "fetch", "type": "action",
         "config": {"action": "http_request", "url": "{{ variables.base }}/users/{{ variables.user_id }}",
                    "query": {"verbose": true}, "headers": {"X-Token": "{{ variables.token }}"}},
         "next_steps": ["store"]},
        {"id": "store", "type": "action",
         "config": {"action": "http_request", "method": "POST", "url": "{{ variables.base }}/store",
                    "body": {"user": "{{ variables.user_id }}", "name": "{{ steps.fetch.output.body.name }}"},
                    "expected_status": [201]},
         "next_steps": ["keep"]},
        {"id": "keep", "type": "action",
         "config": {"action": "set_variable", "variables": {
             "name": "{{ steps.fetch.output.body.name }}",
             "age": "{{ steps.fetch.output.body.age }}",
             "tags": "{{ steps.fetch.output.body.tags }}",
             "line": "{{ steps.fetch.output.body.name }} is {{ steps.fetch.output.body.age }}",
             "stored": "{{ steps.store.output.body }}",
             "status": "{{ steps.store.output.status }}"}}}
    ]});
    let (id, instance) = run(
        &app,
        "http",
        definition,
        json!({"base": server.url(""), "user_id": 7, "token": "t0k3n"}),
    )
    .await;

    assert_eq!(instance["status"], "completed", "{instance}");
    let output = &instance["output"];
    assert_eq!(output["name"], "Ada", "{output}");
    assert_eq!(output["age"], json!(36), "{output}");
    assert_eq!(output["tags"], json!(["x", "y"]), "{output}");
    assert_eq!(output["line"], "Ada is 36", "{output}");
    assert_eq!(
        output["stored"], "stored",
        "a text body stays text: {output}"
    );
    assert_eq!(output["status"], json!(201), "{output}");

    let steps = app.steps(&id).await;
    let fetch = only(&steps, "fetch");
    assert_eq!(fetch["output"]["status"], 200);
    assert_eq!(fetch["output"]["headers"]["x-test"], "yes", "{fetch}");
    assert_eq!(
        fetch["output"]["body"]["name"], "Ada",
        "JSON body parsed: {fetch}"
    );
    assert_eq!(fetch["input"]["url"], server.url("/users/7"));

    let requests = server.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].target, "/users/7?verbose=true");
    assert_eq!(requests[0].header("x-token"), Some("t0k3n"));
    assert_eq!(requests[1].method, "POST");
    assert_eq!(requests[1].target, "/store");
    let sent: Value = serde_json::from_str(&requests[1].body).expect("a JSON body");
    assert_eq!(sent, json!({"user": 7, "name": "Ada"}));
}
on_both_backends!(http_request_output_feeds_later_templates);

async fn http_500_is_retried_until_it_succeeds(backend: Backend) {
    let server = HttpServer::start(|_, n| {
        if n < 2 {
            Reply::text(500, "try again")
        } else {
            Reply::json(200, &json!({"ok": true}))
        }
    })
    .await;
    let app = TestApp::spawn(backend).await;
    let definition = json!({"steps": [
        {"id": "fetch", "type": "action",
         "config": {"action": "http_request", "url": server.url("/flaky"), "output_variable": "result"},
         "retry": {"max_attempts": 3, "backoff": "fixed", "initial_interval_seconds": 0.1}}
    ]});
    let (id, instance) = run(&app, "flaky", definition, json!({})).await;

    assert_eq!(instance["status"], "completed", "{instance}");
    assert_eq!(instance["output"]["result"]["body"], json!({"ok": true}));
    assert_eq!(server.requests().len(), 3);
    let steps = app.steps(&id).await;
    let attempts: Vec<(i64, &str)> = steps
        .iter()
        .map(|s| {
            (
                s["attempt"].as_i64().unwrap(),
                s["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        [(1, "failed"), (2, "failed"), (3, "completed")],
        "{steps:#?}"
    );
    for failed in &steps[..2] {
        assert_eq!(failed["error"]["type"], "http_5xx", "{failed}");
        assert_eq!(failed["error"]["retryable"], true);
        assert!(failed["error"]["message"].as_str().unwrap().contains("500"));
    }
    let ids: Vec<&Value> = steps.iter().map(|s| &s["id"]).collect();
    assert!(
        ids[0] != ids[1] && ids[1] != ids[2],
        "one record per attempt: {ids:?}"
    );
}
on_both_backends!(http_500_is_retried_until_it_succeeds);

async fn http_404_is_not_retried(backend: Backend) {
    let server =
        HttpServer::start(|_, _| Reply::json(404, &json!({"error": "no such user"}))).await;
    let app = TestApp::spawn(backend).await;
    let definition = json!({"steps": [
        {"id": "fetch", "type": "action", "config": {"action": "http_request", "url": server.url("/u/1")},
         "retry": {"max_attempts": 3, "backoff": "fixed", "initial_interval_seconds": 0.1},
         "next_steps": ["after"]},
        {"id": "after", "type": "action", "config": {"action": "noop"}}
    ]});
    let (id, instance) = run(&app, "missing", definition, json!({})).await;

    assert_eq!(instance["status"], "failed", "{instance}");
    assert_eq!(instance["error"]["type"], "http_4xx", "{instance}");
    assert_eq!(instance["error"]["retryable"], false);
    let message = instance["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("step 'fetch' failed:"), "{message}");
    assert!(message.contains("404"), "{message}");
    assert_eq!(server.requests().len(), 1);
    let steps = app.steps(&id).await;
    assert_eq!(step_ids(&steps), ["fetch"], "{steps:#?}");
    assert_eq!(steps[0]["status"], "failed");
    assert_eq!(steps[0]["error"]["type"], "http_4xx");
}
on_both_backends!(http_404_is_not_retried);

async fn a_missing_variable_fails_the_step_with_template_error(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let definition = json!({"steps": [
        {"id": "first", "type": "action", "config": {"action": "noop"}, "next_steps": ["say"]},
        {"id": "say", "type": "action",
         "config": {"action": "log_message", "message": "hello {{ variables.nobody }}"},
         "retry": {"max_attempts": 3, "backoff": "fixed", "initial_interval_seconds": 0.1}}
    ]});
    let (id, instance) = run(&app, "missing-variable", definition, json!({"somebody": 1})).await;

    assert_eq!(instance["status"], "failed", "{instance}");
    assert_eq!(instance["error"]["type"], "template_error", "{instance}");
    let steps = app.steps(&id).await;
    assert_eq!(
        step_ids(&steps),
        ["first", "say"],
        "not retried: {steps:#?}"
    );
    assert_eq!(steps[1]["status"], "failed");
    assert_eq!(steps[1]["error"]["type"], "template_error");
    assert_eq!(steps[1]["error"]["retryable"], false);
    assert!(
        steps[1]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nobody"),
        "{}",
        steps[1]["error"]
    );
}
on_both_backends!(a_missing_variable_fails_the_step_with_template_error);

async fn template_syntax_inside_user_data_stays_inert(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let note = "{{ variables.secret }} {% for x in [1] %}loop{% endfor %}";
    let definition = json!({"steps": [
        {"id": "copy", "type": "action",
         "config": {"action": "set_variable", "name": "copy", "value": "{{ variables.note }}"},
         "next_steps": ["say"]},
        {"id": "say", "type": "action",
         "config": {"action": "log_message", "message": "note: {{ variables.copy }}",
                    "output_variable": "said"}}
    ]});
    let (id, instance) = run(
        &app,
        "inert",
        definition,
        json!({"note": note, "secret": "s3cr3t"}),
    )
    .await;

    assert_eq!(instance["status"], "completed", "{instance}");
    assert_eq!(instance["output"]["copy"], note);
    let steps = app.steps(&id).await;
    let said = only(&steps, "say");
    assert_eq!(said["input"]["message"], format!("note: {note}"), "{said}");
    assert!(!said["input"].to_string().contains("s3cr3t"));
}
on_both_backends!(template_syntax_inside_user_data_stays_inert);

/// One condition step per case, chained: each routes on to the next case only when its result
/// is the expected one, else to `wrong`, so the instance reaches `all_good` only if every case
/// held.
async fn condition_operators_and_forms(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cases: Vec<(Value, bool)> = vec![
        (
            json!({"config": {"field": "email", "operator": "equals", "value": "ada@example.com"}}),
            true,
        ),
        (
            json!({"config": {"field": "age", "operator": "equals", "value": "36"}}),
            false,
        ),
        (
            json!({"config": {"field": "age", "operator": "not_equals", "value": 37}}),
            true,
        ),
        (
            json!({"config": {"field": "tags", "operator": "contains", "value": "vip"}}),
            true,
        ),
        (
            json!({"config": {"field": "email", "operator": "contains", "value": "@"}}),
            true,
        ),
        (
            json!({"config": {"field": "email", "operator": "not_contains", "value": "zzz"}}),
            true,
        ),
        (
            json!({"config": {"field": "email", "operator": "starts_with", "value": "ada@"}}),
            true,
        ),
        (
            json!({"config": {"field": "email", "operator": "ends_with", "value": ".org"}}),
            false,
        ),
        (
            json!({"config": {"field": "age", "operator": "greater_than", "value": "{{ variables.limit }}"}}),
            true,
        ),
        (
            json!({"config": {"field": "age", "operator": "greater_than_or_equal", "value": 36}}),
            true,
        ),
        (
            json!({"config": {"field": "age", "operator": "less_than", "value": 36}}),
            false,
        ),
        (
            json!({"config": {"field": "age", "operator": "less_than_or_equal", "value": 35.5}}),
            false,
        ),
        (
            json!({"config": {"field": "joined", "operator": "less_than", "value": "2026-01-01T00:00:00Z"}}),
            true,
        ),
        (
            json!({"config": {"field": "user.address.city", "operator": "in", "value": ["Paris", "Rome"]}}),
            true,
        ),
        (
            json!({"config": {"field": "age", "operator": "not_in", "value": [1, 2]}}),
            true,
        ),
        (
            json!({"config": {"field": "user.address.city", "operator": "exists"}}),
            true,
        ),
        (
            json!({"config": {"field": "user.phone", "operator": "not_exists"}}),
            true,
        ),
        (
            json!({"config": {"field": "empty", "operator": "is_empty"}}),
            true,
        ),
        (
            json!({"config": {"field": "code", "operator": "matches", "value": "^[A-Z]{2}-\\d+$"}}),
            true,
        ),
        (
            json!({"config": {"field": "tags.0", "operator": "equals", "value": "new"}}),
            true,
        ),
        // A field that does not exist: false for most, true for the negative ones.
        (
            json!({"config": {"field": "nowhere.deep", "operator": "equals", "value": 1}}),
            false,
        ),
        (
            json!({"config": {"field": "nowhere", "operator": "greater_than", "value": 1}}),
            false,
        ),
        (
            json!({"config": {"field": "nowhere", "operator": "exists"}}),
            false,
        ),
        (
            json!({"config": {"field": "nowhere", "operator": "not_equals", "value": 1}}),
            true,
        ),
        (
            json!({"config": {"field": "nowhere", "operator": "not_in", "value": [1]}}),
            true,
        ),
        // The list form: all must hold, or one is enough with match: any.
        (
            json!({"conditions": [
            {"field": "age", "operator": "greater_than", "value": 30},
            {"field": "email", "operator": "contains", "value": "@"}]}),
            true,
        ),
        (
            json!({"conditions": [
            {"field": "age", "operator": "greater_than", "value": 30},
            {"field": "email", "operator": "contains", "value": "#"}]}),
            false,
        ),
        (
            json!({"config": {"match": "any"}, "conditions": [
            {"field": "age", "operator": "greater_than", "value": 99},
            {"field": "email", "operator": "contains", "value": "@"}]}),
            true,
        ),
        (
            json!({"config": {"match": "any"}, "conditions": [
            {"field": "age", "operator": "greater_than", "value": 99},
            {"field": "nowhere", "operator": "exists"}]}),
            false,
        ),
        // A path into an earlier step's output.
        (
            json!({"config": {"field": "steps.case_0.output.result", "operator": "equals", "value": true}}),
            true,
        ),
    ];
    let mut steps = Vec::new();
    for (i, (test, expected)) in cases.iter().enumerate() {
        let next = if i + 1 == cases.len() {
            "all_good".to_owned()
        } else {
            format!("case_{}", i + 1)
        };
        let mut step = json!({"id": format!("case_{i}"), "type": "condition"});
        for (key, value) in test.as_object().unwrap() {
            step[key] = value.clone();
        }
        step["next_steps"] = if *expected {
            json!([next, "wrong"])
        } else {
            json!(["wrong", next])
        };
        steps.push(step);
    }
    steps.push(json!({"id": "all_good", "type": "action",
                      "config": {"action": "set_variable", "name": "all_good", "value": true}}));
    steps.push(json!({"id": "wrong", "type": "action",
                      "config": {"action": "set_variable", "name": "all_good", "value": false}}));
    let variables = json!({
        "email": "ada@example.com", "age": 36, "limit": 30, "tags": ["new", "vip"],
        "joined": "2025-06-01T12:00:00+02:00", "user": {"address": {"city": "Paris"}},
        "empty": "", "code": "AB-123"
    });
    let (id, instance) = run(&app, "conditions", json!({"steps": steps}), variables).await;

    let executions = app.steps(&id).await;
    assert_eq!(instance["status"], "completed", "{instance}");
    assert_eq!(
        instance["output"]["all_good"],
        true,
        "a case routed wrongly; the last condition run: {:#?}",
        executions.iter().rev().nth(1)
    );
    assert_eq!(executions.len(), cases.len() + 1);
    for (i, (_, expected)) in cases.iter().enumerate() {
        let execution = only(&executions, &format!("case_{i}"));
        assert_eq!(
            execution["output"],
            json!({"result": expected}),
            "{execution}"
        );
    }
    let rendered = &only(&executions, "case_8")["input"]["conditions"][0];
    assert_eq!(
        rendered["value"],
        json!(30),
        "the value template kept its type: {rendered}"
    );
}
on_both_backends!(condition_operators_and_forms);

async fn a_condition_loops_back_until_done(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let definition = json!({"steps": [
        {"id": "init", "type": "action",
         "config": {"action": "set_variable", "name": "counter", "value": 0}, "next_steps": ["work"]},
        {"id": "work", "type": "action",
         "config": {"action": "log_message", "message": "round {{ variables.counter }}"},
         "next_steps": ["bump"]},
        {"id": "bump", "type": "action",
         "config": {"action": "set_variable", "name": "counter", "value": "{{ variables.counter + 1 }}"},
         "next_steps": ["again"]},
        {"id": "again", "type": "condition",
         "config": {"field": "counter", "operator": "less_than", "value": 4},
         "next_steps": ["work", "done"]},
        {"id": "done", "type": "action", "config": {"action": "noop"}}
    ]});
    let (id, instance) = run(&app, "loop", definition, json!({})).await;

    assert_eq!(instance["status"], "completed", "{instance}");
    assert_eq!(instance["output"]["counter"], json!(4));
    let steps = app.steps(&id).await;
    let work = executions_of(&steps, "work");
    assert_eq!(work.len(), 4, "{steps:#?}");
    let messages: Vec<&Value> = work.iter().map(|w| &w["input"]["message"]).collect();
    assert_eq!(messages, ["round 0", "round 1", "round 2", "round 3"]);
    assert_eq!(executions_of(&steps, "again").len(), 4);
    assert_eq!(only(&steps, "done")["status"], "completed");
    assert!(
        work.iter().all(|w| w["attempt"] == 1),
        "each arrival is a new execution"
    );
}
on_both_backends!(a_condition_loops_back_until_done);

async fn a_runaway_loop_hits_the_execution_limit(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Both steps run inside the engine (no worker), so the runaway loop is one decision.
    let definition = json!({"steps": [
        {"id": "bump", "type": "action",
         "config": {"action": "set_variable", "name": "n", "value": "{{ variables.n + 1 }}"},
         "next_steps": ["again"]},
        {"id": "again", "type": "condition",
         "config": {"field": "n", "operator": "greater_than", "value": 0},
         "next_steps": ["bump"]}
    ]});
    let (_, instance) = run(&app, "runaway", definition, json!({"n": 0})).await;

    assert_eq!(instance["status"], "failed", "{instance}");
    assert_eq!(
        instance["error"]["type"], "step_limit_exceeded",
        "{instance}"
    );
    assert_eq!(
        instance["variables"]["n"],
        json!(5000),
        "10 000 executions, half of them bumps"
    );
}
on_both_backends!(a_runaway_loop_hits_the_execution_limit);

async fn a_custom_action_nobody_serves_times_out(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, created) = app
        .post(
            "/api/v1/templates",
            &json!({"name": "custom", "definition": {"steps": [
                {"id": "crunch", "type": "action",
                 "config": {"action": "crunch_numbers", "size": "{{ variables.size }}"},
                 "timeout_seconds": 0.5, "retry": {"max_attempts": 1}}
            ]}}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let warnings = created["warnings"].to_string();
    assert!(
        warnings.contains("crunch_numbers"),
        "no worker announced it: {created}"
    );
    let id = app
        .start_instance(created["id"].as_str().unwrap(), json!({"size": 3}))
        .await;
    let instance = app.wait_finished(&id).await;

    assert_eq!(instance["status"], "failed", "{instance}");
    assert_eq!(instance["error"]["type"], "timeout", "{instance}");
    let crunch = only(&app.steps(&id).await, "crunch").clone();
    assert_eq!(
        crunch["input"],
        json!({"action": "crunch_numbers", "size": 3}),
        "{crunch}"
    );
    assert_eq!(crunch["error"]["type"], "timeout");
}
on_both_backends!(a_custom_action_nobody_serves_times_out);
