//! Parsing and validating definitions. Everything a step needs at run time is checked here,
//! when a template is saved, and kept in typed form so the state machine never re-parses.

use std::collections::{BTreeMap, HashMap};

use chrono::DateTime;
use model::{FieldError, Warning};
use serde_json::{Map, Value};

use crate::api::{Definition, Validated};
use crate::condition::{Operator, compile_regex};
use crate::duration::parse_duration;
use crate::retry::{Backoff, RetryPolicy};
use crate::template::{self, is_template};

/// Built-in actions that run on a worker of the default queue.
pub(crate) const WORKER_ACTIONS: [&str; 4] = ["http_request", "send_email", "log_message", "noop"];
/// The built-in action the engine applies itself.
pub(crate) const SET_VARIABLE: &str = "set_variable";
/// Language limits (docs/workflow-language.md#limits): a definition is parsed into every
/// scheduler's cache and walked by every decision, and each parallel branch is a job row.
pub const MAX_DEFINITION_BYTES: usize = 1 << 20;
pub const MAX_STEPS: usize = 1000;
pub const MAX_PARALLEL_BRANCHES: usize = 1000;
/// Branches of one parallel step queued or running at once when it sets no `max_concurrency`.
pub const DEFAULT_MAX_CONCURRENCY: u32 = 100;
const LOG_LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "warning", "error"];
const HTTP_METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

#[derive(Debug, Clone)]
pub(crate) struct ParsedDefinition {
    pub(crate) start: usize,
    pub(crate) steps: Vec<StepDef>,
    pub(crate) index: HashMap<String, usize>,
    pub(crate) timeout_seconds: Option<f64>,
}

#[derive(Debug, Clone)]
pub(crate) struct StepDef {
    pub(crate) id: String,
    pub(crate) name: Option<String>,
    pub(crate) type_name: &'static str,
    pub(crate) kind: StepKind,
    pub(crate) next: Vec<usize>,
    pub(crate) retry: RetryPolicy,
    pub(crate) timeout_seconds: Option<f64>,
    pub(crate) on_error: Option<usize>,
}

#[derive(Debug, Clone)]
pub(crate) enum StepKind {
    Action(ActionDef),
    Condition(ConditionDef),
    Parallel(ParallelDef),
    Wait(WaitDef),
    Subflow(SubflowDef),
}

#[derive(Debug, Clone)]
pub(crate) struct ActionDef {
    pub(crate) action: String,
    /// The whole config (templates unrendered), `action` included.
    pub(crate) config: Value,
    pub(crate) output_variable: Option<String>,
}

impl ActionDef {
    pub(crate) fn queue(&self) -> &str {
        if WORKER_ACTIONS.contains(&self.action.as_str()) {
            model::DEFAULT_QUEUE
        } else {
            &self.action
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ConditionDef {
    pub(crate) clauses: Vec<Clause>,
    pub(crate) any: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Clause {
    pub(crate) field: String,
    pub(crate) operator: Operator,
    /// May be a template.
    pub(crate) value: Value,
}

#[derive(Debug, Clone)]
pub(crate) struct ParallelDef {
    pub(crate) branches: Vec<ActionDef>,
    pub(crate) fail_fast: bool,
    pub(crate) max_concurrency: Option<u32>,
}

#[derive(Debug, Clone)]
pub(crate) enum WaitDef {
    /// Seconds, or a template string rendered and parsed at run time.
    Duration(Value),
    /// An RFC 3339 time, possibly a template.
    Until(Value),
    Event {
        name: String,
        timeout: Option<f64>,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct SubflowDef {
    pub(crate) target: Value,
    pub(crate) version: Option<i32>,
    pub(crate) variables: Option<Value>,
}

struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(path, message));
    }
}

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub(crate) fn validate(json: &Value) -> Result<Validated, Vec<FieldError>> {
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
    if !crate::machine::json_fits(json, MAX_DEFINITION_BYTES) {
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

fn unreachable_warnings(def: &ParsedDefinition) -> Vec<Warning> {
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

fn positive_number(ck: &mut Checker, value: Option<&Value>, path: &str) -> Option<f64> {
    match value {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) if f > 0.0 && f.is_finite() => Some(f),
            _ => {
                ck.error(path, "must be a positive number");
                None
            }
        },
        Some(_) => {
            ck.error(path, "must be a positive number");
            None
        }
    }
}

fn step_ref(
    ck: &mut Checker,
    value: &Value,
    path: &str,
    index: &HashMap<String, usize>,
) -> Option<usize> {
    match value {
        Value::String(id) => match index.get(id) {
            Some(&i) => Some(i),
            None => {
                ck.error(path, format!("unknown step '{id}'"));
                None
            }
        },
        _ => {
            ck.error(path, "must be a step id (string)");
            None
        }
    }
}

fn parse_step(
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

fn parse_retry(ck: &mut Checker, value: &Value, path: &str) -> RetryPolicy {
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

fn check_templates(ck: &mut Checker, value: &Value, path: &str) {
    let mut found = Vec::new();
    template::check_value(value, path, &mut found);
    for (p, m) in found {
        ck.error(p, m);
    }
}

fn is_string(v: &Value) -> bool {
    v.is_string()
}

/// Checks one field of a built-in action: `required`, and of an accepted shape. A template
/// string is accepted for any field, since its type is known only once rendered.
fn field(
    ck: &mut Checker,
    obj: &Map<String, Value>,
    path: &str,
    key: &str,
    required: bool,
    shape: (&str, fn(&Value) -> bool),
) {
    match obj.get(key) {
        None | Some(Value::Null) => {
            if required {
                ck.error(format!("{path}/{key}"), format!("{key} is required"));
            }
        }
        Some(Value::String(s)) if is_template(s) => {}
        Some(v) if (shape.1)(v) => {}
        Some(_) => ck.error(
            format!("{path}/{key}"),
            format!("{key} must be {}", shape.0),
        ),
    }
}

fn parse_action(ck: &mut Checker, config: &Value, path: &str, branch: bool) -> Option<ActionDef> {
    let Some(obj) = config.as_object() else {
        ck.error(path, "config must be an object");
        return None;
    };
    let action = match obj.get("action") {
        Some(Value::String(a)) if !a.trim().is_empty() && !is_template(a) => a.clone(),
        Some(Value::String(_)) => {
            ck.error(
                format!("{path}/action"),
                "action must be a non-empty name, not a template",
            );
            return None;
        }
        Some(_) => {
            ck.error(format!("{path}/action"), "action must be a string");
            return None;
        }
        None => {
            ck.error(format!("{path}/action"), "action is required");
            return None;
        }
    };
    let string = ("a string", is_string as fn(&Value) -> bool);
    let object = ("an object", Value::is_object as fn(&Value) -> bool);
    let number = ("a number", Value::is_number as fn(&Value) -> bool);
    match action.as_str() {
        "http_request" => {
            field(ck, obj, path, "url", true, string);
            field(ck, obj, path, "method", false, string);
            if let Some(Value::String(m)) = obj.get("method")
                && !is_template(m)
                && !HTTP_METHODS.contains(&m.to_ascii_uppercase().as_str())
            {
                ck.error(
                    format!("{path}/method"),
                    format!("unknown http method '{m}'"),
                );
            }
            field(ck, obj, path, "headers", false, object);
            field(ck, obj, path, "query", false, object);
            field(ck, obj, path, "timeout_seconds", false, number);
            field(
                ck,
                obj,
                path,
                "expected_status",
                false,
                ("an array of status codes", |v| {
                    v.as_array().is_some_and(|a| {
                        a.iter()
                            .all(|s| s.as_u64().is_some_and(|c| (100..=599).contains(&c)))
                    })
                }),
            );
        }
        "send_email" => {
            let recipients = (
                "a string or an array of strings",
                (|v: &Value| {
                    v.is_string()
                        || v.as_array()
                            .is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_string))
                }) as fn(&Value) -> bool,
            );
            field(ck, obj, path, "to", true, recipients);
            field(ck, obj, path, "subject", true, string);
            field(ck, obj, path, "body", true, string);
            field(ck, obj, path, "cc", false, recipients);
            field(ck, obj, path, "bcc", false, recipients);
            field(ck, obj, path, "from", false, string);
            field(
                ck,
                obj,
                path,
                "html",
                false,
                ("a boolean or a string", |v| v.is_boolean() || v.is_string()),
            );
        }
        "log_message" => {
            field(ck, obj, path, "message", true, string);
            field(ck, obj, path, "level", false, string);
            if let Some(Value::String(level)) = obj.get("level")
                && !is_template(level)
                && !LOG_LEVELS.contains(&level.to_ascii_lowercase().as_str())
            {
                ck.error(
                    format!("{path}/level"),
                    "level must be one of trace, debug, info, warn, error",
                );
            }
        }
        SET_VARIABLE => {
            if branch {
                ck.error(
                    format!("{path}/action"),
                    "set_variable cannot run as a parallel branch",
                );
            }
            let has_name = obj.contains_key("name");
            let has_vars = obj.contains_key("variables");
            if has_name {
                field(ck, obj, path, "name", true, string);
                if !obj.contains_key("value") {
                    ck.error(format!("{path}/value"), "value is required with name");
                }
            }
            if has_vars {
                match obj.get("variables") {
                    Some(Value::Object(_)) => {}
                    Some(Value::String(s)) if is_template(s) => {}
                    _ => ck.error(format!("{path}/variables"), "variables must be an object"),
                }
            }
            if !has_name && !has_vars {
                ck.error(path, "set_variable needs name and value, or variables");
            }
        }
        _ => {
            if !valid_queue_name(&action) {
                ck.error(
                    format!("{path}/action"),
                    "custom action names must match [A-Za-z0-9_.:-]{1,128}",
                );
            }
        }
    }
    let output_variable = match obj.get("output_variable") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) if !name.is_empty() && !is_template(name) => Some(name.clone()),
        Some(_) => {
            ck.error(
                format!("{path}/output_variable"),
                "output_variable must be a variable name",
            );
            None
        }
    };
    check_templates(ck, config, path);
    Some(ActionDef {
        action,
        config: config.clone(),
        output_variable,
    })
}

fn valid_queue_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

fn parse_condition(
    ck: &mut Checker,
    step: &Map<String, Value>,
    config: &Value,
    path: &str,
) -> Option<ConditionDef> {
    let any = match config.get("match") {
        None | Some(Value::Null) => false,
        Some(Value::String(m)) if m == "all" => false,
        Some(Value::String(m)) if m == "any" => true,
        Some(_) => {
            ck.error(format!("{path}/config/match"), "match must be all or any");
            false
        }
    };
    let mut clauses = Vec::new();
    let list = step
        .get("conditions")
        .map(|v| (v, format!("{path}/conditions")))
        .or_else(|| {
            config
                .get("conditions")
                .map(|v| (v, format!("{path}/config/conditions")))
        });
    match list {
        Some((Value::Array(items), list_path)) => {
            if items.is_empty() {
                ck.error(list_path.clone(), "conditions must not be empty");
            }
            for (j, item) in items.iter().enumerate() {
                if let Some(clause) = parse_clause(ck, item, &format!("{list_path}/{j}")) {
                    clauses.push(clause);
                }
            }
        }
        Some((_, list_path)) => ck.error(list_path, "conditions must be an array"),
        None => {
            if config.get("field").is_none() && config.get("operator").is_none() {
                ck.error(
                    format!("{path}/config"),
                    "a condition needs config.field and config.operator, or a conditions list",
                );
                return None;
            }
            if let Some(clause) = parse_clause(ck, config, &format!("{path}/config")) {
                clauses.push(clause);
            }
        }
    }
    Some(ConditionDef { clauses, any })
}

fn parse_clause(ck: &mut Checker, value: &Value, path: &str) -> Option<Clause> {
    let Some(obj) = value.as_object() else {
        ck.error(
            path,
            "a condition must be an object with field, operator and value",
        );
        return None;
    };
    let field = match obj.get("field") {
        Some(Value::String(f)) if !f.trim().is_empty() => f.trim().to_owned(),
        _ => {
            ck.error(
                format!("{path}/field"),
                "field is required (a variable path)",
            );
            return None;
        }
    };
    let operator = match obj.get("operator").and_then(Value::as_str) {
        Some(name) => match Operator::parse(name) {
            Some(op) => op,
            None => {
                ck.error(
                    format!("{path}/operator"),
                    format!(
                        "unknown operator '{name}' (expected one of {})",
                        Operator::NAMES.join(", ")
                    ),
                );
                return None;
            }
        },
        None => {
            ck.error(format!("{path}/operator"), "operator is required");
            return None;
        }
    };
    let value = obj.get("value").cloned().unwrap_or(Value::Null);
    let value_path = format!("{path}/value");
    if operator.takes_value() && !obj.contains_key("value") {
        ck.error(value_path.clone(), "value is required for this operator");
    }
    let templated = value.as_str().is_some_and(is_template);
    if matches!(operator, Operator::In | Operator::NotIn) && !value.is_array() && !templated {
        ck.error(value_path.clone(), "in/not_in need an array value");
    }
    if operator == Operator::Matches && !templated {
        match value.as_str() {
            Some(pattern) => {
                if let Err(e) = compile_regex(pattern) {
                    ck.error(
                        value_path.clone(),
                        format!("invalid regular expression: {e}"),
                    );
                }
            }
            None => ck.error(value_path.clone(), "matches needs a string pattern"),
        }
    }
    check_templates(ck, &value, &value_path);
    Some(Clause {
        field,
        operator,
        value,
    })
}

fn parse_parallel(ck: &mut Checker, config: &Value, path: &str) -> Option<ParallelDef> {
    let branches_json = match config.get("parallel_steps") {
        Some(Value::Array(items)) if items.len() > MAX_PARALLEL_BRANCHES => {
            ck.error(
                format!("{path}/parallel_steps"),
                format!("a parallel step has at most {MAX_PARALLEL_BRANCHES} branches"),
            );
            return None;
        }
        Some(Value::Array(items)) if !items.is_empty() => items,
        _ => {
            ck.error(
                format!("{path}/parallel_steps"),
                "parallel_steps must be a non-empty array of actions",
            );
            return None;
        }
    };
    let mut branches = Vec::new();
    for (j, item) in branches_json.iter().enumerate() {
        if let Some(action) = parse_action(ck, item, &format!("{path}/parallel_steps/{j}"), true) {
            branches.push(action);
        }
    }
    let fail_fast = match config.get("failure_mode") {
        None | Some(Value::Null) => true,
        Some(Value::String(m)) if m == "fail_fast" => true,
        Some(Value::String(m)) if m == "wait_all" => false,
        Some(_) => {
            ck.error(
                format!("{path}/failure_mode"),
                "failure_mode must be fail_fast or wait_all",
            );
            true
        }
    };
    let max_concurrency = match config.get("max_concurrency") {
        None | Some(Value::Null) => Some(DEFAULT_MAX_CONCURRENCY),
        Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) if n >= 1 => Some(n),
            _ => {
                ck.error(
                    format!("{path}/max_concurrency"),
                    "max_concurrency must be a positive integer",
                );
                None
            }
        },
    };
    Some(ParallelDef {
        branches,
        fail_fast,
        max_concurrency,
    })
}

fn duration_value(ck: &mut Checker, value: &Value, path: &str) -> Option<Value> {
    match value {
        Value::Number(n) if n.as_f64().is_some_and(|f| f >= 0.0 && f.is_finite()) => {
            Some(value.clone())
        }
        Value::String(s) if is_template(s) => {
            check_templates(ck, value, path);
            Some(value.clone())
        }
        Value::String(s) if parse_duration(s).is_some() => Some(value.clone()),
        _ => {
            ck.error(
                path,
                "duration does not parse (use 90s, 5m, 2h, 1d, PT1M30S or seconds)",
            );
            None
        }
    }
}

fn parse_wait(ck: &mut Checker, config: &Value, path: &str) -> Option<WaitDef> {
    match config.get("wait_type").and_then(Value::as_str) {
        Some("duration") => {
            let (value, p) = match (config.get("duration"), config.get("seconds")) {
                (Some(v), _) => (v, format!("{path}/duration")),
                (None, Some(v)) => (v, format!("{path}/seconds")),
                (None, None) => {
                    ck.error(
                        format!("{path}/duration"),
                        "duration (or seconds) is required",
                    );
                    return None;
                }
            };
            duration_value(ck, value, &p).map(WaitDef::Duration)
        }
        Some("until") => match config.get("until") {
            Some(v @ Value::String(s)) if is_template(s) => {
                check_templates(ck, v, &format!("{path}/until"));
                Some(WaitDef::Until(v.clone()))
            }
            Some(v @ Value::String(s)) if DateTime::parse_from_rfc3339(s).is_ok() => {
                Some(WaitDef::Until(v.clone()))
            }
            _ => {
                ck.error(format!("{path}/until"), "until must be an RFC 3339 time");
                None
            }
        },
        Some("event") => {
            let name = match config.get("event") {
                Some(Value::String(e)) if !e.is_empty() && !is_template(e) => e.clone(),
                _ => {
                    ck.error(format!("{path}/event"), "event must be an event name");
                    return None;
                }
            };
            let timeout = match config.get("timeout") {
                None | Some(Value::Null) => None,
                Some(v) => match v {
                    Value::Number(n) => n.as_f64().filter(|f| *f >= 0.0 && f.is_finite()),
                    Value::String(s) => parse_duration(s),
                    _ => None,
                }
                .or_else(|| {
                    ck.error(
                        format!("{path}/timeout"),
                        "timeout does not parse as a duration",
                    );
                    None
                }),
            };
            Some(WaitDef::Event { name, timeout })
        }
        Some(other) => {
            ck.error(
                format!("{path}/wait_type"),
                format!("unknown wait_type '{other}' (expected duration, until or event)"),
            );
            None
        }
        None => {
            ck.error(
                format!("{path}/wait_type"),
                "wait_type is required (duration, until or event)",
            );
            None
        }
    }
}

fn parse_subflow(ck: &mut Checker, config: &Value, path: &str) -> Option<SubflowDef> {
    let target = match config.get("subflow_id") {
        Some(v @ Value::String(s)) if !s.trim().is_empty() => {
            check_templates(ck, v, &format!("{path}/subflow_id"));
            v.clone()
        }
        _ => {
            ck.error(
                format!("{path}/subflow_id"),
                "subflow_id is required (a template id or name)",
            );
            return None;
        }
    };
    let version = match config.get("version") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_i64().and_then(|n| i32::try_from(n).ok()) {
            Some(n) if n >= 1 => Some(n),
            _ => {
                ck.error(
                    format!("{path}/version"),
                    "version must be a positive integer",
                );
                None
            }
        },
    };
    let variables = match config.get("variables") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) => {
            check_templates(ck, v, &format!("{path}/variables"));
            Some(v.clone())
        }
        Some(v @ Value::String(s)) if is_template(s) => {
            check_templates(ck, v, &format!("{path}/variables"));
            Some(v.clone())
        }
        Some(_) => {
            ck.error(format!("{path}/variables"), "variables must be an object");
            None
        }
    };
    Some(SubflowDef {
        target,
        version,
        variables,
    })
}

/// Names of the custom actions a definition uses (each is a queue), sorted, without repeats.
pub fn custom_actions(definition: &Definition) -> Vec<String> {
    let mut names = BTreeMap::new();
    for step in &definition.inner.steps {
        let actions: Vec<&ActionDef> = match &step.kind {
            StepKind::Action(a) => vec![a],
            StepKind::Parallel(p) => p.branches.iter().collect(),
            _ => continue,
        };
        for a in actions {
            if a.action != SET_VARIABLE && !WORKER_ACTIONS.contains(&a.action.as_str()) {
                names.insert(a.action.clone(), ());
            }
        }
    }
    names.into_keys().collect()
}

/// Every subflow target, with the JSON pointer of its `subflow_id`: `(path, target)`. Targets
/// that are templates are left out (they are known only at run time).
pub fn subflow_targets(definition: &Definition) -> Vec<(String, String)> {
    definition
        .inner
        .steps
        .iter()
        .enumerate()
        .filter_map(|(i, step)| match &step.kind {
            StepKind::Subflow(s) => match &s.target {
                Value::String(t) if !is_template(t) => {
                    Some((format!("/steps/{i}/config/subflow_id"), t.clone()))
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}
