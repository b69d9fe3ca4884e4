//! Byte and size limits: a render budget per step, a cap on step outputs and on buffered
//! events, and definition limits (steps, parallel branches, size).

mod common;

use common::Sim;
use engine::{Input, MAX_PARALLEL_BRANCHES, MAX_STEPS};
use model::{InstanceStatus, JobOutcome};
use serde_json::{Value, json};

fn one_action(config: Value) -> Value {
    json!({"steps": [{"id": "big", "type": "action", "config": config}]})
}

fn error_of(sim: &Sim, step: &str) -> model::StepError {
    let row = sim.rows.values().find(|r| r.step_id == step).unwrap();
    row.error.clone().expect("the step failed")
}

#[test]
fn a_twelve_megabyte_render_fails_the_step_and_is_not_kept() {
    // The reproduction: one expression, 12 MB.
    let mut sim = Sim::new(
        one_action(json!({"action": "log_message", "message": "{{ 'x' * 12000000 }}"})),
        json!({}),
    );
    sim.start();
    assert_eq!(sim.status(), InstanceStatus::Failed);
    let error = error_of(&sim, "big");
    assert_eq!(error.kind, "input_too_large");
    assert!(!error.retryable, "rendering again gives the same bytes");
    assert!(sim.dispatched.is_empty(), "nothing was handed to a worker");
    let state = serde_json::to_string(&sim.state).unwrap();
    assert!(state.len() < 64 * 1024, "state holds {} bytes", state.len());
}

#[test]
fn sixty_values_that_fit_one_by_one_share_one_budget() {
    let mut config = serde_json::Map::new();
    config.insert("action".into(), json!("log_message"));
    config.insert("message".into(), json!("x"));
    for i in 0..60 {
        config.insert(format!("v{i}"), json!("{{ 'x' * 100000 }}"));
    }
    let mut sim = Sim::new(one_action(Value::Object(config)), json!({}));
    sim.settings.max_render_bytes = 1 << 20;
    sim.start();
    assert_eq!(error_of(&sim, "big").kind, "input_too_large");
}

#[test]
fn a_render_inside_the_budget_runs() {
    let mut sim = Sim::new(
        one_action(json!({"action": "log_message", "message": "{{ 'x' * 1000 }}"})),
        json!({}),
    );
    sim.start();
    assert_eq!(sim.dispatched.len(), 1);
    assert_eq!(
        sim.dispatched[0].input["message"].as_str().unwrap().len(),
        1000
    );
}

#[test]
fn an_output_over_the_cap_fails_its_step_for_good() {
    let mut sim = Sim::new(one_action(json!({"action": "noop"})), json!({}));
    sim.settings.max_step_output_bytes = 1000;
    sim.start();
    sim.finish_next(|_| JobOutcome::Completed(json!({"body": "y".repeat(2000)})));
    assert_eq!(sim.status(), InstanceStatus::Failed);
    let error = error_of(&sim, "big");
    assert_eq!(error.kind, "output_too_large");
    assert!(!error.retryable);
    assert_eq!(sim.dispatched.len(), 1, "not retried");
}

#[test]
fn buffered_events_are_bounded_in_bytes() {
    let def = json!({"steps": [
        {"id": "w", "type": "wait", "config": {"wait_type": "event", "event": "never"}}
    ]});
    let mut sim = Sim::new(def, json!({}));
    sim.settings.max_buffered_event_bytes = 10_000;
    sim.start();
    for i in 0..40 {
        sim.input(Input::Event {
            name: "go".into(),
            data: json!({"i": i, "pad": "z".repeat(900)}),
        })
        .unwrap();
    }
    let state = serde_json::to_value(&sim.state).unwrap();
    let events = state["events"].as_array().unwrap();
    assert!(events.len() < 40 && !events.is_empty(), "{}", events.len());
    assert!(serde_json::to_string(events).unwrap().len() <= 10_000);
    // The newest are kept, the oldest dropped.
    assert_eq!(events.last().unwrap()["data"]["i"], json!(39));
}

fn problems(def: &Value) -> Vec<(String, String)> {
    match engine::validate(def) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.into_iter().map(|e| (e.path, e.message)).collect(),
    }
}

#[test]
fn a_parallel_step_has_at_most_a_thousand_branches() {
    let branches = |n: usize| vec![json!({"action": "noop"}); n];
    let def = |n| json!({"steps": [{"id": "p", "type": "parallel", "config": {"parallel_steps": branches(n)}}]});
    assert!(problems(&def(MAX_PARALLEL_BRANCHES)).is_empty());
    let errors = problems(&def(20_000));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, "/steps/0/config/parallel_steps");
}

#[test]
fn parallel_branches_without_max_concurrency_get_the_default() {
    let def = json!({"steps": [{"id": "p", "type": "parallel",
        "config": {"parallel_steps": vec![json!({"action": "noop"}); 300]}}]});
    let mut sim = Sim::new(def, json!({}));
    sim.start();
    assert_eq!(
        sim.jobs.len(),
        engine::DEFAULT_MAX_CONCURRENCY as usize,
        "at most the default number of branches in flight"
    );
}

#[test]
fn definitions_are_bounded_in_steps_and_bytes() {
    let steps: Vec<Value> = (0..=MAX_STEPS)
        .map(|i| json!({"id": format!("s{i}"), "type": "action", "config": {"action": "noop"}}))
        .collect();
    let errors = problems(&json!({ "steps": steps }));
    assert_eq!(errors[0].0, "/steps", "{errors:?}");
    let huge = json!({"steps": [{"id": "a", "type": "action",
        "config": {"action": "log_message", "message": "m".repeat(engine::MAX_DEFINITION_BYTES)}}]});
    let errors = problems(&huge);
    assert_eq!(errors[0].0, "", "{errors:?}");
    assert!(errors[0].1.contains("larger than"), "{errors:?}");
}

#[test]
fn variables_may_not_grow_past_their_limit_step_by_step() {
    // Each output fits; the third one stored in the variables would not.
    let step = |id: &str, next: &[&str]| {
        json!({"id": id, "type": "action",
            "config": {"action": "noop", "output_variable": id}, "next_steps": next})
    };
    let def = json!({"steps": [step("a", &["b"]), step("b", &["c"]), step("c", &[])]});
    let mut sim = Sim::new(def, json!({}));
    sim.settings.max_variables_bytes = 2500;
    sim.start();
    for _ in 0..3 {
        sim.finish_next(|_| JobOutcome::Completed(json!("v".repeat(1000))));
    }
    assert_eq!(sim.status(), InstanceStatus::Failed);
    assert_eq!(error_of(&sim, "c").kind, "output_too_large");
    assert!(sim.state.variables().get("c").is_none());
    let set = json!({"steps": [{"id": "s", "type": "action",
        "config": {"action": "set_variable", "name": "big", "value": "{{ 'x' * 3000 }}"}}]});
    let mut sim = Sim::new(set, json!({}));
    sim.settings.max_variables_bytes = 2500;
    sim.start();
    assert_eq!(error_of(&sim, "s").kind, "output_too_large");
}
