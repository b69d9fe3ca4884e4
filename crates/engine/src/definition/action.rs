//! Action steps (and parallel branches): the built-in actions' configs and custom actions.

use serde_json::Value;

use super::checker::{Checker, check_templates, field, is_string};
use super::{ActionDef, HTTP_METHODS, LOG_LEVELS, SET_VARIABLE};
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

pub(super) fn valid_queue_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}
