//! Definitions are rejected with every problem and its JSON path, when saved.

use serde_json::{Value, json};

fn errors(def: Value) -> Vec<(String, String)> {
    match engine::validate(&def) {
        Ok(_) => panic!("accepted: {def}"),
        Err(errors) => errors.into_iter().map(|e| (e.path, e.message)).collect(),
    }
}

fn paths(def: Value) -> Vec<String> {
    errors(def).into_iter().map(|(p, _)| p).collect()
}

fn noop(id: &str) -> Value {
    json!({"id": id, "type": "action", "config": {"action": "noop"}})
}

#[test]
fn the_shape_of_the_definition_is_checked() {
    assert_eq!(paths(json!([])), [""]);
    assert_eq!(paths(json!({})), ["/steps"]);
    assert_eq!(paths(json!({"steps": []})), ["/steps"]);
    assert_eq!(paths(json!({"steps": {}})), ["/steps"]);
    assert_eq!(paths(json!({"steps": [1]})), ["/steps/0"]);
    assert_eq!(
        paths(json!({"steps": [noop("a")], "timeout_seconds": -1})),
        ["/timeout_seconds"]
    );
}

#[test]
fn ids_must_be_unique_and_well_formed() {
    assert_eq!(
        paths(json!({"steps": [noop("a"), noop("a")]})),
        ["/steps/1/id"]
    );
    assert_eq!(paths(json!({"steps": [noop("a b")]})), ["/steps/0/id"]);
    assert_eq!(
        paths(json!({"steps": [noop(&"x".repeat(65))]})),
        ["/steps/0/id"]
    );
    assert_eq!(
        paths(json!({"steps": [{"type": "action", "config": {"action": "noop"}}]})),
        ["/steps/0/id"]
    );
    assert!(engine::validate(&json!({"steps": [noop(&"x".repeat(64)), noop("A_b-9")]})).is_ok());
}

#[test]
fn references_must_name_existing_steps() {
    let mut a = noop("a");
    a["next_steps"] = json!(["b", "zzz"]);
    a["on_error"] = json!("nope");
    let def = json!({"start_at": "missing", "steps": [a, noop("b")]});
    let mut got = paths(def);
    got.sort();
    assert_eq!(
        got,
        ["/start_at", "/steps/0/next_steps/1", "/steps/0/on_error"]
    );
}

#[test]
fn types_and_built_in_action_configs_are_checked() {
    let def = json!({"steps": [
        {"id": "a", "type": "teleport"},
        {"id": "b", "type": "action", "config": {"action": "http_request"}},
        {"id": "c", "type": "action", "config": {"action": "send_email", "to": 5, "subject": "s"}},
        {"id": "d", "type": "action", "config": {"action": "log_message", "message": "m", "level": "loud"}},
        {"id": "e", "type": "action", "config": {"action": "set_variable"}},
        {"id": "f", "type": "action", "config": {}},
        {"id": "g", "type": "action", "config": {"action": "http_request", "url": "{{ variables.url }}", "method": "FETCH", "expected_status": [200, 99]}}
    ]});
    let got = paths(def);
    for expected in [
        "/steps/0/type",
        "/steps/1/config/url",
        "/steps/2/config/to",
        "/steps/2/config/body",
        "/steps/3/config/level",
        "/steps/4/config",
        "/steps/5/config/action",
        "/steps/6/config/method",
        "/steps/6/config/expected_status",
    ] {
        assert!(
            got.iter().any(|p| p == expected),
            "{expected} not in {got:?}"
        );
    }
}

#[test]
fn built_in_action_errors_name_the_field_and_the_rule() {
    let def = json!({"steps": [
        {"id": "a", "type": "action", "config": {"action": "http_request", "url": 5, "method": "FETCH", "headers": [], "query": "q", "timeout_seconds": "5", "expected_status": [200, 600]}},
        {"id": "b", "type": "action", "config": {"action": "send_email", "to": [], "subject": "s", "cc": ["a@example.com", 1], "from": false, "html": 1}},
        {"id": "c", "type": "action", "config": {"action": "log_message", "level": "loud"}},
        {"id": "d", "type": "action", "config": {"action": "log_message", "message": ["m"], "level": 3}},
        {"id": "e", "type": "action", "config": {"action": "http_request", "url": "https://example.com", "method": 1}},
        {"id": "f", "type": "action", "config": {"action": "set_variable", "name": "x", "variables": 3}},
        {"id": "g", "type": "action", "config": {"action": "set_variable", "name": null, "variables": null}},
        {"id": "h", "type": "action", "config": {"action": "set_variable", "value": 1}}
    ]});
    let got = errors(def);
    let got: Vec<(&str, &str)> = got.iter().map(|(p, m)| (p.as_str(), m.as_str())).collect();
    assert_eq!(
        got,
        [
            ("/steps/0/config/url", "url must be a string"),
            ("/steps/0/config/method", "unknown http method 'FETCH'"),
            ("/steps/0/config/headers", "headers must be an object"),
            ("/steps/0/config/query", "query must be an object"),
            (
                "/steps/0/config/timeout_seconds",
                "timeout_seconds must be a number"
            ),
            (
                "/steps/0/config/expected_status",
                "expected_status must be an array of status codes"
            ),
            (
                "/steps/1/config/to",
                "to must be a string or an array of strings"
            ),
            ("/steps/1/config/body", "body is required"),
            (
                "/steps/1/config/cc",
                "cc must be a string or an array of strings"
            ),
            ("/steps/1/config/from", "from must be a string"),
            ("/steps/1/config/html", "html must be a boolean or a string"),
            ("/steps/2/config/message", "message is required"),
            (
                "/steps/2/config/level",
                "level must be one of trace, debug, info, warn, error"
            ),
            ("/steps/3/config/message", "message must be a string"),
            ("/steps/3/config/level", "level must be a string"),
            ("/steps/4/config/method", "method must be a string"),
            ("/steps/5/config/value", "value is required with name"),
            ("/steps/5/config/variables", "variables must be an object"),
            ("/steps/6/config/name", "name is required"),
            ("/steps/6/config/value", "value is required with name"),
            ("/steps/6/config/variables", "variables must be an object"),
            (
                "/steps/7/config",
                "set_variable needs name and value, or variables"
            ),
        ]
    );
}

#[test]
fn templates_and_nulls_pass_built_in_action_configs() {
    let def = json!({"steps": [
        {"id": "a", "type": "action", "config": {"action": "http_request", "url": "{{ variables.url }}", "method": "{{ variables.method }}", "headers": "{{ variables.headers }}", "query": null, "timeout_seconds": "{{ variables.t }}", "expected_status": "{{ variables.codes }}", "body": null}, "next_steps": ["b"]},
        {"id": "b", "type": "action", "config": {"action": "send_email", "to": "{{ variables.to }}", "subject": "Hi {{ variables.name }}", "body": "b", "cc": null, "bcc": "{{ variables.bcc }}", "html": "{{ variables.html }}", "from": null}, "next_steps": ["c"]},
        {"id": "c", "type": "action", "config": {"action": "log_message", "message": "{{ variables.m }}", "level": "{{ variables.level }}"}, "next_steps": ["d"]},
        {"id": "d", "type": "action", "config": {"action": "set_variable", "variables": "{{ variables.more }}"}, "next_steps": ["e"]},
        {"id": "e", "type": "action", "config": {"action": "set_variable", "name": "{{ variables.key }}", "value": null}, "next_steps": ["f"]},
        {"id": "f", "type": "action", "config": {"action": "send_email", "to": "a@example.com", "subject": "s", "body": "b", "html": "yes", "extra": 1}, "next_steps": ["g"]},
        {"id": "g", "type": "action", "config": {"action": "http_request", "url": "not checked until run time", "method": "options", "expected_status": [], "timeout_seconds": -1}}
    ]});
    let validated = engine::validate(&def).unwrap();
    assert!(validated.warnings.is_empty());
}

#[test]
fn conditions_are_checked() {
    let def = json!({"steps": [
        {"id": "a", "type": "condition", "config": {"field": "x", "operator": "like", "value": 1}},
        {"id": "b", "type": "condition", "config": {"field": "x", "operator": "equals", "value": 1}, "next_steps": ["a", "a", "a"]},
        {"id": "c", "type": "condition", "conditions": [{"field": "x", "operator": "matches", "value": "("}]},
        {"id": "d", "type": "condition", "config": {"field": "x", "operator": "in", "value": 3}},
        {"id": "e", "type": "condition", "config": {}},
        {"id": "f", "type": "condition", "config": {"field": "x", "operator": "equals"}}
    ]});
    let got = paths(def);
    assert_eq!(
        got,
        [
            "/steps/0/config/operator",
            "/steps/1/next_steps",
            "/steps/2/conditions/0/value",
            "/steps/3/config/value",
            "/steps/4/config",
            "/steps/5/config/value"
        ]
    );
}

#[test]
fn durations_templates_and_other_types_are_checked() {
    let def = json!({"steps": [
        {"id": "a", "type": "wait", "config": {"wait_type": "duration", "duration": "soon"}},
        {"id": "b", "type": "wait", "config": {"wait_type": "until", "until": "tomorrow"}},
        {"id": "c", "type": "wait", "config": {"wait_type": "event", "event": "x", "timeout": "5 parsecs"}},
        {"id": "d", "type": "wait", "config": {"wait_type": "never"}},
        {"id": "e", "type": "action", "config": {"action": "log_message", "message": "{{ unclosed"}},
        {"id": "f", "type": "parallel", "config": {"parallel_steps": []}},
        {"id": "g", "type": "parallel", "config": {"parallel_steps": [{"action": "set_variable", "name": "x", "value": 1}], "failure_mode": "panic"}},
        {"id": "h", "type": "subflow", "config": {}},
        {"id": "i", "type": "action", "config": {"action": "noop"}, "retry": {"max_attempts": 0, "backoff": "random", "jitter": "yes"}}
    ]});
    let got = paths(def);
    assert_eq!(
        got,
        [
            "/steps/0/config/duration",
            "/steps/1/config/until",
            "/steps/2/config/timeout",
            "/steps/3/config/wait_type",
            "/steps/4/config/message",
            "/steps/5/config/parallel_steps",
            "/steps/6/config/parallel_steps/0/action",
            "/steps/6/config/failure_mode",
            "/steps/7/config/subflow_id",
            "/steps/8/retry/max_attempts",
            "/steps/8/retry/backoff",
            "/steps/8/retry/jitter",
        ]
    );
}

#[test]
fn unreachable_steps_are_warnings() {
    let mut a = noop("a");
    a["next_steps"] = json!(["b"]);
    let validated = engine::validate(&json!({"steps": [a, noop("b"), noop("orphan")]})).unwrap();
    assert_eq!(validated.warnings.len(), 1);
    assert_eq!(validated.warnings[0].path, "/steps/2");
    let validated =
        engine::validate(&json!({"start_at": "b", "steps": [noop("a"), noop("b")]})).unwrap();
    assert_eq!(validated.warnings[0].path, "/steps/0");
}

#[test]
fn custom_actions_and_subflow_targets_are_listed() {
    let def = json!({"steps": [
        {"id": "a", "type": "action", "config": {"action": "resize_image"}, "next_steps": ["b", "c", "d"]},
        {"id": "b", "type": "parallel", "config": {"parallel_steps": [{"action": "process_data_1"}, {"action": "noop"}, {"action": "resize_image"}]}},
        {"id": "c", "type": "subflow", "config": {"subflow_id": "data_processing"}},
        {"id": "d", "type": "subflow", "config": {"subflow_id": "{{ variables.flow }}"}}
    ]});
    let validated = engine::validate(&def).unwrap();
    assert_eq!(
        engine::custom_actions(&validated.definition),
        ["process_data_1", "resize_image"]
    );
    assert_eq!(
        engine::subflow_targets(&validated.definition),
        [(
            "/steps/2/config/subflow_id".to_owned(),
            "data_processing".to_owned()
        )]
    );
}

#[test]
fn the_seed_snippets_validate_once_their_next_steps_exist() {
    let def = json!({"steps": [
        {"id": "send_email", "name": "Send Welcome Email", "type": "action",
         "config": {"action": "send_email", "to": "user@example.com", "subject": "Welcome!", "body": "Welcome to our platform!"},
         "next_steps": ["check_status"]},
        {"id": "check_status", "name": "Check User Status", "type": "condition",
         "config": {"field": "user_status", "operator": "equals", "value": "active"},
         "next_steps": ["parallel_processing", "wait_for_approval"]},
        {"id": "parallel_processing", "type": "parallel",
         "config": {"parallel_steps": [{"action": "process_data_1"}, {"action": "process_data_2"}, {"action": "process_data_3"}]}},
        {"id": "wait_for_approval", "type": "wait", "config": {"wait_type": "event", "event": "approval_received"}, "next_steps": ["execute_subflow"]},
        {"id": "execute_subflow", "type": "subflow", "config": {"subflow_id": "data_processing_template_id"}}
    ]});
    let validated = engine::validate(&def).unwrap();
    assert!(validated.warnings.is_empty());
}
