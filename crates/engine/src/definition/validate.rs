//! The whole definition: step ids, the start step, each step's common fields and its retry
//! policy, and the unreachable-step warnings.

use std::collections::HashMap;

use model::{FieldError, Warning};
use serde_json::{Map, Value};

use super::action::parse_action;
use super::checker::{Checker, positive_number, step_ref, valid_id};
use super::condition::parse_condition;
use super::parallel::parse_parallel;
use super::subflow::parse_subflow;
use super::wait::parse_wait;
use super::{
    Definition, MAX_DEFINITION_BYTES, MAX_STEPS, ParsedDefinition, StepDef, StepKind, Validated,
};
use crate::json_size::json_fits;
use crate::retry::{Backoff, RetryPolicy};

/// Parses and validates a definition (the JSON of a template's `definition`). Errors carry JSON
/// pointers relative to the definition (`/steps/2/next_steps/0`); callers prefix them.
pub fn validate(json: &Value) -> Result<Validated, Vec<FieldError>> {
    let mut ck = Checker { errors: Vec::new() };
    let Some(root) = json.as_object() else {
        return Err(vec![FieldError::new("", "definition must be an object")]);
    };
    let steps_json = match root.get("steps") {
        Some(Value::Array(steps)) if !steps.is_empty() => steps,
        Some(Value::Array(_)) => {
            return Err(vec![FieldError::new("/steps", "steps must not be empty")]);
        }
        Some(_) => return Err(vec![FieldError::new("/steps", "steps must be an array")]),
        None => return Err(vec![FieldError::new("/steps", "steps is required")]),
    };
    if !json_fits(json, MAX_DEFINITION_BYTES) {
        return Err(vec![FieldError::new(
            "",
            format!("definition is larger than {MAX_DEFINITION_BYTES} bytes"),
        )]);
    }
    if steps_json.len() > MAX_STEPS {
        return Err(vec![FieldError::new(
            "/steps",
            format!("a definition has at most {MAX_STEPS} steps"),
        )]);
    }

    let mut index = HashMap::new();
    for (i, step) in steps_json.iter().enumerate() {
        let path = format!("/steps/{i}");
        let Some(obj) = step.as_object() else {
            ck.error(path, "step must be an object");
            continue;
        };
        match obj.get("id") {
            Some(Value::String(id)) if valid_id(id) => {
                if index.insert(id.clone(), i).is_some() {
                    ck.error(format!("{path}/id"), format!("duplicate step id '{id}'"));
                }
            }
            Some(Value::String(_)) => ck.error(
                format!("{path}/id"),
                "step id must match [A-Za-z0-9_-]{1,64}",
            ),
            Some(_) => ck.error(format!("{path}/id"), "step id must be a string"),
            None => ck.error(format!("{path}/id"), "step id is required"),
        }
    }

    let start = match root.get("start_at") {
        None | Some(Value::Null) => 0,
        Some(Value::String(id)) => match index.get(id) {
            Some(&i) => i,
            None => {
                ck.error("/start_at", format!("start_at names unknown step '{id}'"));
                0
            }
        },
        Some(_) => {
            ck.error("/start_at", "start_at must be a string");
            0
        }
    };
    let timeout_seconds = positive_number(&mut ck, root.get("timeout_seconds"), "/timeout_seconds");

    let mut steps = Vec::with_capacity(steps_json.len());
    for (i, step) in steps_json.iter().enumerate() {
        let path = format!("/steps/{i}");
        let Some(obj) = step.as_object() else {
            continue;
        };
        if let Some(parsed) = parse_step(&mut ck, obj, &path, &index) {
            steps.push(parsed);
        }
    }
    if !ck.errors.is_empty() {
        return Err(ck.errors);
    }
    let parsed = ParsedDefinition {
        start,
        steps,
        index,
        timeout_seconds,
    };
    let warnings = unreachable_warnings(&parsed);
    Ok(Validated {
        definition: Definition { inner: parsed },
        warnings,
    })
}

pub(super) fn unreachable_warnings(def: &ParsedDefinition) -> Vec<Warning> {
    let mut seen = vec![false; def.steps.len()];
    let mut todo = vec![def.start];
    while let Some(i) = todo.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        let step = &def.steps[i];
        todo.extend(step.next.iter().copied());
        todo.extend(step.on_error);
    }
    seen.iter()
        .enumerate()
        .filter(|(_, s)| !**s)
        .map(|(i, _)| Warning {
            path: format!("/steps/{i}"),
            message: format!(
                "step '{}' is unreachable from the start step",
                def.steps[i].id
            ),
        })
        .collect()
}

pub(super) fn parse_step(
    ck: &mut Checker,
    obj: &Map<String, Value>,
    path: &str,
    index: &HashMap<String, usize>,
) -> Option<StepDef> {
    let id = obj
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let name = match obj.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            ck.error(format!("{path}/name"), "name must be a string");
            None
        }
    };
    let mut next = Vec::new();
    match obj.get("next_steps") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (j, item) in items.iter().enumerate() {
                if let Some(i) = step_ref(ck, item, &format!("{path}/next_steps/{j}"), index) {
                    next.push(i);
                }
            }
        }
        Some(_) => ck.error(
            format!("{path}/next_steps"),
            "next_steps must be an array of step ids",
        ),
    }
    let on_error = match obj.get("on_error") {
        None | Some(Value::Null) => None,
        Some(v) => step_ref(ck, v, &format!("{path}/on_error"), index),
    };
    let retry = match obj.get("retry") {
        None | Some(Value::Null) => RetryPolicy::default(),
        Some(v) => parse_retry(ck, v, &format!("{path}/retry")),
    };
    let timeout_seconds = positive_number(
        ck,
        obj.get("timeout_seconds"),
        &format!("{path}/timeout_seconds"),
    );
    let empty = Value::Object(Map::new());
    let config = match obj.get("config") {
        None | Some(Value::Null) => &empty,
        Some(v @ Value::Object(_)) => v,
        Some(_) => {
            ck.error(format!("{path}/config"), "config must be an object");
            &empty
        }
    };
    let config_path = format!("{path}/config");
    let (type_name, kind) = match obj.get("type").and_then(Value::as_str) {
        Some("action") => (
            "action",
            parse_action(ck, config, &config_path, false).map(StepKind::Action),
        ),
        Some("condition") => {
            if next.len() > 2 {
                ck.error(
                    format!("{path}/next_steps"),
                    "a condition has at most two next_steps (true, false)",
                );
            }
            (
                "condition",
                parse_condition(ck, obj, config, path).map(StepKind::Condition),
            )
        }
        Some("parallel") => (
            "parallel",
            parse_parallel(ck, config, &config_path).map(StepKind::Parallel),
        ),
        Some("wait") => (
            "wait",
            parse_wait(ck, config, &config_path).map(StepKind::Wait),
        ),
        Some("subflow") => (
            "subflow",
            parse_subflow(ck, config, &config_path).map(StepKind::Subflow),
        ),
        Some(other) => {
            ck.error(
                format!("{path}/type"),
                format!("unknown step type '{other}' (expected action, condition, parallel, wait or subflow)"),
            );
            ("", None)
        }
        None => {
            ck.error(format!("{path}/type"), "type is required");
            ("", None)
        }
    };
    Some(StepDef {
        id,
        name,
        type_name,
        kind: kind?,
        next,
        retry,
        timeout_seconds,
        on_error,
    })
}

pub(super) fn parse_retry(ck: &mut Checker, value: &Value, path: &str) -> RetryPolicy {
    let mut policy = RetryPolicy::default();
    let Some(obj) = value.as_object() else {
        ck.error(path, "retry must be an object");
        return policy;
    };
    match obj.get("max_attempts") {
        None | Some(Value::Null) => {}
        Some(v) => match v.as_u64() {
            Some(n) if (1..=1000).contains(&n) => policy.max_attempts = u32::try_from(n).ok(),
            _ => ck.error(
                format!("{path}/max_attempts"),
                "max_attempts must be an integer from 1 to 1000",
            ),
        },
    }
    match obj.get("backoff") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s == "fixed" => policy.backoff = Backoff::Fixed,
        Some(Value::String(s)) if s == "linear" => policy.backoff = Backoff::Linear,
        Some(Value::String(s)) if s == "exponential" => policy.backoff = Backoff::Exponential,
        Some(_) => ck.error(
            format!("{path}/backoff"),
            "backoff must be fixed, linear or exponential",
        ),
    }
    for (key, slot) in [
        ("initial_interval_seconds", &mut policy.initial_interval),
        ("multiplier", &mut policy.multiplier),
        ("max_interval_seconds", &mut policy.max_interval),
    ] {
        match obj.get(key) {
            None | Some(Value::Null) => {}
            Some(v) => match v.as_f64() {
                Some(f) if f >= 0.0 && f.is_finite() => *slot = f,
                _ => ck.error(
                    format!("{path}/{key}"),
                    format!("{key} must be a non-negative number"),
                ),
            },
        }
    }
    match obj.get("jitter") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => policy.jitter = *b,
        Some(_) => ck.error(format!("{path}/jitter"), "jitter must be a boolean"),
    }
    match obj.get("retry_on") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            let mut kinds = Vec::new();
            for (j, item) in items.iter().enumerate() {
                match item.as_str() {
                    Some(s) => kinds.push(s.to_owned()),
                    None => ck.error(
                        format!("{path}/retry_on/{j}"),
                        "retry_on entries must be error types (strings)",
                    ),
                }
            }
            policy.retry_on = Some(kinds);
        }
        Some(_) => ck.error(
            format!("{path}/retry_on"),
            "retry_on must be an array of error types",
        ),
    }
    policy
}
