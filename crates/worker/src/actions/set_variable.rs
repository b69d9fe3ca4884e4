use model::actions::SetVariableConfig;
use serde_json::{Map, Value};

use super::{ActionResult, invalid_config, parse_config};

/// The engine applies `set_variable` itself without a job; a job for it (an external template
/// routed it to a worker) still yields the values, which the scheduler merges as usual.
pub(super) fn run(input: &Value) -> ActionResult {
    let config: SetVariableConfig = parse_config("set_variable", input)?;
    if let Some(variables) = config.variables {
        return Ok(Value::Object(variables));
    }
    let Some(name) = config.name else {
        return Err(invalid_config(
            "set_variable needs `name` and `value`, or `variables`",
        ));
    };
    let mut output = Map::new();
    output.insert(name, config.value.unwrap_or(Value::Null));
    Ok(Value::Object(output))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn name_and_value_become_one_entry() {
        let output = run(&json!({"name": "total", "value": 42})).unwrap();
        assert_eq!(output, json!({"total": 42}));
    }

    #[test]
    fn variables_are_returned_as_they_are() {
        let output = run(&json!({"variables": {"a": 1, "b": "two"}})).unwrap();
        assert_eq!(output, json!({"a": 1, "b": "two"}));
    }

    #[test]
    fn neither_form_is_invalid_config() {
        let err = run(&json!({"value": 1})).unwrap_err();
        assert_eq!(err.kind, "invalid_config");
        assert!(!err.retryable);
    }
}
