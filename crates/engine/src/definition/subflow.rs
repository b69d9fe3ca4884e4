//! Subflow steps: the child template, its version and variables.

use serde_json::Value;

use super::SubflowDef;
use super::checker::{Checker, check_templates};
use crate::template::is_template;

pub(super) fn parse_subflow(ck: &mut Checker, config: &Value, path: &str) -> Option<SubflowDef> {
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
