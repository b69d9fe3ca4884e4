//! `{{ }}` templates in step configs, rendered by minijinja in a sandbox: no filesystem, no
//! environment, a fuel limit against runaway loops, and undefined values as errors (a missing
//! variable fails the step instead of rendering as an empty string).

use std::sync::OnceLock;

use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;

/// Instructions one rendering may run before it is stopped.
const FUEL: u64 = 200_000;

/// Fuel counts instructions, not bytes: `'x' * 12000000` is one instruction. A budget of bytes
/// per step render (the rendered config as JSON) bounds what one step can make a scheduler hold
/// and store, whatever the expression.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum TemplateError {
    #[error("{0}")]
    Invalid(String),
    #[error("the rendered config is larger than {limit} bytes")]
    TooLarge { limit: usize },
}

impl TemplateError {
    fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }
}

/// Bytes a render may still produce, counted as JSON.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: usize,
    used: usize,
}

impl Budget {
    pub(crate) fn new(limit: usize) -> Self {
        Self { limit, used: 0 }
    }

    fn spend(&mut self, bytes: usize) -> Result<(), TemplateError> {
        self.used = self.used.saturating_add(bytes);
        if self.used > self.limit {
            return Err(TemplateError::TooLarge { limit: self.limit });
        }
        Ok(())
    }

    fn left(&self) -> usize {
        self.limit.saturating_sub(self.used)
    }

    /// Charges the JSON size of `value`, stopping the serializer once past the budget rather
    /// than building the whole text first.
    fn spend_json(&mut self, value: &impl serde::Serialize) -> Result<(), TemplateError> {
        let mut counter = Capped::new(self.left());
        match serde_json::to_writer(&mut counter, value) {
            Ok(()) => self.spend(counter.written),
            Err(_) if counter.overflowed => Err(TemplateError::TooLarge { limit: self.limit }),
            Err(e) => Err(TemplateError::invalid(e.to_string())),
        }
    }
}

/// A writer that keeps at most `cap` bytes and fails past them.
struct Capped {
    cap: usize,
    written: usize,
    overflowed: bool,
    text: Option<Vec<u8>>,
}

impl Capped {
    fn new(cap: usize) -> Self {
        Self {
            cap,
            written: 0,
            overflowed: false,
            text: None,
        }
    }

    fn keeping(cap: usize) -> Self {
        Self {
            text: Some(Vec::new()),
            ..Self::new(cap)
        }
    }
}

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.written + buf.len() > self.cap {
            self.overflowed = true;
            return Err(std::io::Error::other("render budget exceeded"));
        }
        self.written += buf.len();
        if let Some(text) = &mut self.text {
            text.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

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
    result.map_err(|e| TemplateError::invalid(describe(&e)))
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

/// Renders one string against `scope`, without a byte budget (tests and callers that bound
/// their input otherwise).
#[cfg(test)]
pub(crate) fn render_str(text: &str, scope: &Value) -> Result<Value, TemplateError> {
    render_str_within(text, scope, &mut Budget::new(usize::MAX))
}

/// Renders one string against `scope`, charging its JSON size to `budget`.
pub(crate) fn render_str_within(
    text: &str,
    scope: &Value,
    budget: &mut Budget,
) -> Result<Value, TemplateError> {
    if !is_template(text) {
        budget.spend_json(&text)?;
        return Ok(Value::String(text.to_owned()));
    }
    let env = environment();
    let ctx = minijinja::Value::from(minijinja::value::Serde(scope));
    if let Some(expr) = sole_expression(text) {
        let compiled = env
            .compile_expression(expr)
            .map_err(|e| TemplateError::invalid(describe(&e)))?;
        let value = compiled
            .eval(ctx)
            .map_err(|e| TemplateError::invalid(describe(&e)))?;
        if value.is_undefined() {
            return Err(TemplateError::invalid(format!(
                "undefined value: {}",
                expr.trim()
            )));
        }
        // Charged before it becomes JSON, so an oversized value is never copied again.
        budget.spend_json(&value)?;
        return serde_json::to_value(&value).map_err(|e| TemplateError::invalid(e.to_string()));
    }
    let template = env
        .template_from_str(text)
        .map_err(|e| TemplateError::invalid(describe(&e)))?;
    // Text is written into a capped buffer: a loop that prints too much stops at the budget
    // instead of first building the whole string.
    let mut out = Capped::keeping(budget.left());
    if let Err(e) = template.render_captured_to(ctx, &mut out) {
        if out.overflowed {
            return Err(TemplateError::TooLarge {
                limit: budget.limit,
            });
        }
        return Err(TemplateError::invalid(describe(&e)));
    }
    let rendered = String::from_utf8(out.text.unwrap_or_default())
        .map_err(|e| TemplateError::invalid(e.to_string()))?;
    let value = Value::String(rendered);
    budget.spend_json(&value)?;
    Ok(value)
}

/// Renders every string in a JSON value without a byte budget.
#[cfg(test)]
pub(crate) fn render_value(value: &Value, scope: &Value) -> Result<Value, TemplateError> {
    render_value_within(value, scope, &mut Budget::new(usize::MAX))
}

/// Renders every string in a JSON value; keys are not templates. The result is never rendered
/// again, so `{{` inside substituted data stays text. Everything (keys, numbers, plain text)
/// counts against `budget`.
pub(crate) fn render_value_within(
    value: &Value,
    scope: &Value,
    budget: &mut Budget,
) -> Result<Value, TemplateError> {
    Ok(match value {
        Value::String(text) => render_str_within(text, scope, budget)?,
        Value::Array(items) => {
            budget.spend(items.len() + 1)?;
            Value::Array(
                items
                    .iter()
                    .map(|item| render_value_within(item, scope, budget))
                    .collect::<Result<_, _>>()?,
            )
        }
        Value::Object(map) => {
            budget.spend(map.len() + 1)?;
            Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        budget.spend_json(k)?;
                        Ok((k.clone(), render_value_within(v, scope, budget)?))
                    })
                    .collect::<Result<_, TemplateError>>()?,
            )
        }
        other => {
            budget.spend_json(other)?;
            other.clone()
        }
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
    fn one_expression_cannot_exceed_the_byte_budget() {
        // The reproduction: one instruction, 12 MB.
        let mut budget = Budget::new(1 << 20);
        let err = render_str_within("{{ 'x' * 12000000 }}", &scope(), &mut budget).unwrap_err();
        assert_eq!(err, TemplateError::TooLarge { limit: 1 << 20 });
        let mut budget = Budget::new(1 << 20);
        let err = render_str_within("a{{ 'x' * 12000000 }}b", &scope(), &mut budget).unwrap_err();
        assert_eq!(err, TemplateError::TooLarge { limit: 1 << 20 });
    }

    #[test]
    fn the_budget_is_shared_by_every_string_of_one_config() {
        // Each value fits on its own; together they do not.
        let config = json!({"a": "{{ 'x' * 600 }}", "b": "{{ 'y' * 600 }}"});
        let err = render_value_within(&config, &scope(), &mut Budget::new(1000)).unwrap_err();
        assert_eq!(err, TemplateError::TooLarge { limit: 1000 });
        let fits = render_value_within(&config, &scope(), &mut Budget::new(2000)).unwrap();
        assert_eq!(fits["a"].as_str().unwrap().len(), 600);
    }

    #[test]
    fn loops_that_print_too_much_stop_at_the_budget() {
        let text = "{% for a in range(5000) %}xxxxxxxxxx{% endfor %}";
        let err = render_str_within(text, &scope(), &mut Budget::new(10_000)).unwrap_err();
        assert_eq!(err, TemplateError::TooLarge { limit: 10_000 });
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
                Err(TemplateError::Invalid(message)) => {
                    prop_assert!(!message.is_empty());
                    if compiled.is_ok() {
                        prop_assert!(!message.contains("syntax error"), "{text}: {message}");
                    }
                }
                Err(TemplateError::TooLarge { .. }) => prop_assert!(false, "{text}: no budget was set"),
            }
        }

        #[test]
        fn any_unicode_never_panics(text in "\\PC{0,40}") {
            let _ = check(&text);
            let _ = render_str(&text, &json!({"variables": {}}));
        }
    }
}
