//! `{{ }}` templates in step configs, rendered by minijinja in a sandbox: no filesystem, no
//! environment, a fuel limit against runaway loops, and undefined values as errors (a missing
//! variable fails the step instead of rendering as an empty string).

use std::sync::OnceLock;

use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;

/// Instructions one rendering may run before it is stopped.
const FUEL: u64 = 200_000;
/// Longest text one template may produce.
const MAX_OUTPUT: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct TemplateError(pub(crate) String);

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(FUEL));
        env.set_recursion_limit(100);
        env.set_formatter(json_formatter);
        env
    })
}

/// Objects, lists and `none` interpolated into text print as JSON (`{"ok": true}`), not in
/// Python's notation; everything else prints as usual.
fn json_formatter(
    out: &mut minijinja::Output,
    state: &mut minijinja::State,
    value: &minijinja::Value,
) -> Result<(), minijinja::Error> {
    use minijinja::value::ValueKind;
    match value.kind() {
        ValueKind::Map | ValueKind::Seq | ValueKind::None => {
            let text = serde_json::to_string(value).map_err(|e| {
                minijinja::Error::new(minijinja::ErrorKind::BadSerialization, e.to_string())
            })?;
            out.write_str(&text).map_err(minijinja::Error::from)
        }
        _ => minijinja::escape_formatter(out, state, value),
    }
}

/// Whether a string is a template at all; anything else is used verbatim.
pub(crate) fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

/// The expression of a string that is exactly one `{{ expr }}` (surrounding whitespace
/// allowed), which then keeps the JSON type of its value.
fn sole_expression(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    if inner.contains("{{") || inner.contains("}}") || inner.contains("{%") || inner.contains("{#")
    {
        return None;
    }
    let inner = inner.strip_prefix('-').unwrap_or(inner);
    let inner = inner.strip_suffix('-').unwrap_or(inner);
    Some(inner)
}

/// Checks that a string compiles, for validation.
pub(crate) fn check(text: &str) -> Result<(), TemplateError> {
    if !is_template(text) {
        return Ok(());
    }
    let env = environment();
    let result = match sole_expression(text) {
        Some(expr) => env.compile_expression(expr).map(|_| ()),
        None => env.template_from_str(text).map(|_| ()),
    };
    result.map_err(|e| TemplateError(describe(&e)))
}

/// Every template string in a JSON value, with its JSON pointer below `path`.
pub(crate) fn check_value(value: &Value, path: &str, errors: &mut Vec<(String, String)>) {
    match value {
        Value::String(text) => {
            if let Err(e) = check(text) {
                errors.push((path.to_owned(), format!("template does not compile: {e}")));
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check_value(item, &format!("{path}/{i}"), errors);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                check_value(item, &format!("{path}/{}", escape_pointer(key)), errors);
            }
        }
        _ => {}
    }
}

pub(crate) fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Renders one string against `scope`.
pub(crate) fn render_str(text: &str, scope: &Value) -> Result<Value, TemplateError> {
    if !is_template(text) {
        return Ok(Value::String(text.to_owned()));
    }
    let env = environment();
    let ctx = minijinja::Value::from(minijinja::value::Serde(scope));
    if let Some(expr) = sole_expression(text) {
        let compiled = env
            .compile_expression(expr)
            .map_err(|e| TemplateError(describe(&e)))?;
        let value = compiled
            .eval(ctx)
            .map_err(|e| TemplateError(describe(&e)))?;
        if value.is_undefined() {
            return Err(TemplateError(format!("undefined value: {}", expr.trim())));
        }
        return serde_json::to_value(&value).map_err(|e| TemplateError(e.to_string()));
    }
    let rendered = env
        .render_str(text, ctx)
        .map_err(|e| TemplateError(describe(&e)))?;
    if rendered.len() > MAX_OUTPUT {
        return Err(TemplateError("rendered text is too long".to_owned()));
    }
    Ok(Value::String(rendered))
}

/// Renders every string in a JSON value; keys are not templates. The result is never rendered
/// again, so `{{` inside substituted data stays text.
pub(crate) fn render_value(value: &Value, scope: &Value) -> Result<Value, TemplateError> {
    Ok(match value {
        Value::String(text) => render_str(text, scope)?,
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| render_value(item, scope))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), render_value(v, scope)?)))
                .collect::<Result<_, TemplateError>>()?,
        ),
        other => other.clone(),
    })
}

fn describe(error: &minijinja::Error) -> String {
    let mut text = error.to_string();
    if let Some(detail) = error.detail()
        && !text.contains(detail)
    {
        text = format!("{text}: {detail}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope() -> Value {
        json!({
            "variables": {"email": "a@b.c", "count": 3, "tags": ["x"], "raw": "{{ variables.email }}"},
            "steps": {"fetch": {"output": {"body": {"name": "Ann"}}}},
            "instance": {"id": "i-1"}
        })
    }

    #[test]
    fn sole_expressions_keep_their_json_type() {
        assert_eq!(
            render_str("{{variables.count}}", &scope()).unwrap(),
            json!(3)
        );
        assert_eq!(
            render_str(" {{ variables.tags }} ", &scope()).unwrap(),
            json!(["x"])
        );
        assert_eq!(
            render_str("{{steps.fetch.output.body.name}}", &scope()).unwrap(),
            json!("Ann")
        );
        assert_eq!(
            render_str("n={{variables.count}}", &scope()).unwrap(),
            json!("n=3")
        );
        assert_eq!(
            render_str("{{instance.id}}", &scope()).unwrap(),
            json!("i-1")
        );
        assert_eq!(
            render_str("{{ variables.email }} and {{ variables.count }}", &scope()).unwrap(),
            json!("a@b.c and 3")
        );
    }

    #[test]
    fn defaults_and_defined_tests_handle_missing_values() {
        assert_eq!(
            render_str("{{ variables.nope | default('x') }}", &scope()).unwrap(),
            json!("x")
        );
        assert_eq!(
            render_str(
                "{% if variables.nope is defined %}y{% else %}n{% endif %}",
                &scope()
            )
            .unwrap(),
            json!("n")
        );
        assert_eq!(
            render_str("{{ variables.count + 1 }}", &scope()).unwrap(),
            json!(4)
        );
        assert_eq!(
            render_str("{{ steps.fetch.output }}!", &scope()).unwrap(),
            json!("{\"body\":{\"name\":\"Ann\"}}!")
        );
    }

    #[test]
    fn missing_variables_are_errors() {
        assert!(render_str("{{variables.nope}}", &scope()).is_err());
        assert!(render_str("hi {{variables.nope}}", &scope()).is_err());
        assert!(render_str("{{variables.nope.deeper}}", &scope()).is_err());
    }

    #[test]
    fn substituted_values_are_not_rendered_again() {
        assert_eq!(
            render_str("{{variables.raw}}", &scope()).unwrap(),
            json!("{{ variables.email }}")
        );
        assert_eq!(
            render_str("x {{variables.raw}}", &scope()).unwrap(),
            json!("x {{ variables.email }}")
        );
    }

    #[test]
    fn plain_strings_and_non_strings_pass_through() {
        let config = json!({"a": "plain", "b": 1, "c": ["{{variables.count}}"], "d": null});
        assert_eq!(
            render_value(&config, &scope()).unwrap(),
            json!({"a": "plain", "b": 1, "c": [3], "d": null})
        );
    }

    #[test]
    fn compile_checks_catch_syntax_errors() {
        assert!(check("{{ variables.email }}").is_ok());
        assert!(check("{% if variables.x %}y{% endif %}").is_ok());
        assert!(check("{{ variables.email ").is_err());
        assert!(check("{% if %}").is_err());
        assert!(check("{{ }}").is_err());
    }

    #[test]
    fn runaway_loops_run_out_of_fuel() {
        let text =
            "{% for a in range(10000) %}{% for b in range(10000) %}x{% endfor %}{% endfor %}";
        assert!(render_str(text, &scope()).is_err());
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

        /// Whatever users write, rendering answers a value or a typed error, never a panic, and
        /// whatever compiles at validation renders without a compile error.
        #[test]
        fn arbitrary_text_renders_or_errors(text in "(\\{\\{|\\}\\}|\\{%|%\\}|\\{#|#\\}|variables|steps|\\.|\\||[a-z0-9 ()\\[\\]'\"+*/=<>!-]){0,24}") {
            let scope = json!({"variables": {"a": 1, "b": "x"}, "steps": {}, "instance": {"id": "i"}});
            let compiled = check(&text);
            match render_str(&text, &scope) {
                Ok(_) => {}
                Err(TemplateError(message)) => {
                    prop_assert!(!message.is_empty());
                    if compiled.is_ok() {
                        prop_assert!(!message.contains("syntax error"), "{text}: {message}");
                    }
                }
            }
        }

        #[test]
        fn any_unicode_never_panics(text in "\\PC{0,40}") {
            let _ = check(&text);
            let _ = render_str(&text, &json!({"variables": {}}));
        }
    }
}
