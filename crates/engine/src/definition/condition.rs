//! Condition steps: their clauses and operators.

use serde_json::{Map, Value};

use super::checker::{Checker, check_templates};
use super::{Clause, ConditionDef};
use crate::condition::{Operator, compile_regex};
use crate::template::is_template;

pub(super) fn parse_condition(
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

pub(super) fn parse_clause(ck: &mut Checker, value: &Value, path: &str) -> Option<Clause> {
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
