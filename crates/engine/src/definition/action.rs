//! Action steps (and parallel branches): the built-in actions' configs and custom actions.

use model::actions::BuiltinAction;
use serde_json::{Map, Value};

use super::ActionDef;
use super::checker::{Checker, check_field, check_present, check_templates};
use crate::template::is_template;

pub(super) fn parse_action(
    ck: &mut Checker,
    config: &Value,
    path: &str,
    branch: bool,
) -> Option<ActionDef> {
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
    let builtin = BuiltinAction::from_name(&action);
    match builtin {
        Some(BuiltinAction::SetVariable) => check_set_variable(ck, obj, path, branch),
        Some(other) => {
            for field in other.fields() {
                check_field(ck, obj, path, field);
            }
        }
        None => {
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
        builtin,
        config: config.clone(),
        output_variable,
    })
}

/// `set_variable`: `name` with `value`, or `variables`, or both. The engine applies it itself
/// (`machine/variables.rs`) and reads a key given as null as given, so a given key is checked
/// here even when null.
fn check_set_variable(ck: &mut Checker, obj: &Map<String, Value>, path: &str, branch: bool) {
    if branch {
        ck.error(
            format!("{path}/action"),
            "set_variable cannot run as a parallel branch",
        );
    }
    let has_name = obj.contains_key("name");
    for field in BuiltinAction::SetVariable.fields() {
        match obj.get(field.name) {
            // A name given as null names nothing.
            Some(Value::Null) if field.name == "name" => {
                ck.error(format!("{path}/name"), "name is required");
            }
            Some(value) => check_present(ck, value, path, field),
            // `value` may be null, but not left out, when `name` is given.
            None if field.name == "value" && has_name => {
                ck.error(format!("{path}/value"), "value is required with name");
            }
            None => {}
        }
    }
    if !has_name && !obj.contains_key("variables") {
        ck.error(path, "set_variable needs name and value, or variables");
    }
}

pub(super) fn valid_queue_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}
