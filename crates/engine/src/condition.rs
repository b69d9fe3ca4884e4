//! Condition operators and field lookup for `condition` steps.

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

/// Longest compiled regular expression accepted by `matches` (bytes of automaton).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operator {
    Equals,
    NotEquals,
    Contains,
    NotContains,
    StartsWith,
    EndsWith,
    GreaterThan,
    GreaterThanOrEqual,
    LessThan,
    LessThanOrEqual,
    In,
    NotIn,
    Exists,
    NotExists,
    IsEmpty,
    Matches,
}

impl Operator {
    pub(crate) const NAMES: [&'static str; 16] = [
        "equals",
        "not_equals",
        "contains",
        "not_contains",
        "starts_with",
        "ends_with",
        "greater_than",
        "greater_than_or_equal",
        "less_than",
        "less_than_or_equal",
        "in",
        "not_in",
        "exists",
        "not_exists",
        "is_empty",
        "matches",
    ];

    pub(crate) fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "equals" => Self::Equals,
            "not_equals" => Self::NotEquals,
            "contains" => Self::Contains,
            "not_contains" => Self::NotContains,
            "starts_with" => Self::StartsWith,
            "ends_with" => Self::EndsWith,
            "greater_than" => Self::GreaterThan,
            "greater_than_or_equal" => Self::GreaterThanOrEqual,
            "less_than" => Self::LessThan,
            "less_than_or_equal" => Self::LessThanOrEqual,
            "in" => Self::In,
            "not_in" => Self::NotIn,
            "exists" => Self::Exists,
            "not_exists" => Self::NotExists,
            "is_empty" => Self::IsEmpty,
            "matches" => Self::Matches,
            _ => return None,
        })
    }

    /// Operators that look at the field only.
    pub(crate) fn takes_value(self) -> bool {
        !matches!(self, Self::Exists | Self::NotExists | Self::IsEmpty)
    }
}

/// Compiles a `matches` pattern (linear-time engine, bounded size).
pub(crate) fn compile_regex(pattern: &str) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| e.to_string())
}

/// Resolves a field path against the template scope: a bare name (`email`, `user.city`) is
/// under `variables`; `variables.`, `steps.` and `instance.` paths are taken as written.
pub(crate) fn lookup<'a>(scope: &'a Value, field: &str) -> Option<&'a Value> {
    let field = field.trim();
    let mut parts = field.split('.').peekable();
    let first = parts.peek().copied()?;
    let mut current = if matches!(first, "variables" | "steps" | "instance") {
        scope
    } else {
        scope.get("variables")?
    };
    for part in parts {
        current = match current {
            Value::Object(map) => map.get(part)?,
            Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}

/// Evaluates one clause. `field` is `None` when the path does not exist.
pub(crate) fn evaluate(
    operator: Operator,
    field: Option<&Value>,
    value: &Value,
) -> Result<bool, String> {
    let Some(field) = field else {
        return Ok(matches!(
            operator,
            Operator::NotExists
                | Operator::NotEquals
                | Operator::NotIn
                | Operator::NotContains
                | Operator::IsEmpty
        ));
    };
    Ok(match operator {
        Operator::Equals => loose_equals(field, value),
        Operator::NotEquals => !loose_equals(field, value),
        Operator::Contains => contains(field, value),
        Operator::NotContains => !contains(field, value),
        Operator::StartsWith => match (field, scalar_text(value)) {
            (Value::String(s), Some(v)) => s.starts_with(&v),
            _ => false,
        },
        Operator::EndsWith => match (field, scalar_text(value)) {
            (Value::String(s), Some(v)) => s.ends_with(&v),
            _ => false,
        },
        Operator::GreaterThan => compare(field, value).is_some_and(|o| o.is_gt()),
        Operator::GreaterThanOrEqual => compare(field, value).is_some_and(|o| o.is_ge()),
        Operator::LessThan => compare(field, value).is_some_and(|o| o.is_lt()),
        Operator::LessThanOrEqual => compare(field, value).is_some_and(|o| o.is_le()),
        Operator::In => in_list(field, value)?,
        Operator::NotIn => !in_list(field, value)?,
        Operator::Exists => !field.is_null(),
        Operator::NotExists => field.is_null(),
        Operator::IsEmpty => match field {
            Value::Null => true,
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            _ => false,
        },
        Operator::Matches => {
            let Value::String(pattern) = value else {
                return Err("matches needs a string pattern".to_owned());
            };
            let regex = compile_regex(pattern)?;
            match field {
                Value::String(s) => regex.is_match(s),
                Value::Number(n) => regex.is_match(&n.to_string()),
                Value::Bool(b) => regex.is_match(&b.to_string()),
                _ => false,
            }
        }
    })
}

/// JSON equality where numbers compare by value (`1 == 1.0`).
fn loose_equals(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| loose_equals(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| loose_equals(v, w)))
        }
        _ => a == b,
    }
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn contains(field: &Value, value: &Value) -> bool {
    match field {
        Value::String(s) => scalar_text(value).is_some_and(|v| s.contains(&v)),
        Value::Array(items) => items.iter().any(|item| loose_equals(item, value)),
        Value::Object(map) => value.as_str().is_some_and(|k| map.contains_key(k)),
        _ => false,
    }
}

fn in_list(field: &Value, value: &Value) -> Result<bool, String> {
    match value {
        Value::Array(items) => Ok(items.iter().any(|item| loose_equals(field, item))),
        _ => Err("in/not_in need an array value".to_owned()),
    }
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

fn time(value: &Value) -> Option<DateTime<FixedOffset>> {
    value
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s.trim()).ok())
}

/// Orders two values as numbers, else as RFC 3339 times; `None` when neither applies.
fn compare(field: &Value, value: &Value) -> Option<std::cmp::Ordering> {
    if let (Some(a), Some(b)) = (number(field), number(value)) {
        return a.partial_cmp(&b);
    }
    if let (Some(a), Some(b)) = (time(field), time(value)) {
        return Some(a.cmp(&b));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(op: &str, field: Value, value: Value) -> bool {
        evaluate(Operator::parse(op).unwrap(), Some(&field), &value).unwrap()
    }

    #[test]
    fn every_operator_name_parses() {
        for name in Operator::NAMES {
            assert!(Operator::parse(name).is_some(), "{name}");
        }
        assert!(Operator::parse("eq").is_none());
    }

    #[test]
    fn operators_behave() {
        assert!(eval("equals", json!(1), json!(1.0)));
        assert!(eval("equals", json!("a"), json!("a")));
        assert!(!eval("equals", json!("1"), json!(1)));
        assert!(eval("not_equals", json!("a"), json!("b")));
        assert!(eval("contains", json!("a@b"), json!("@")));
        assert!(!eval("contains", json!("bad"), json!("@")));
        assert!(eval("contains", json!([1, 2]), json!(2)));
        assert!(eval("not_contains", json!([1, 2]), json!(3)));
        assert!(eval("starts_with", json!("hello"), json!("he")));
        assert!(eval("ends_with", json!("hello"), json!("lo")));
        assert!(eval("greater_than", json!(5), json!(3)));
        assert!(eval("greater_than", json!("10"), json!(9)));
        assert!(!eval("greater_than", json!(3), json!(3)));
        assert!(eval("greater_than_or_equal", json!(3), json!(3)));
        assert!(eval("less_than", json!(2.5), json!(3)));
        assert!(eval("less_than_or_equal", json!(3), json!(3)));
        assert!(eval(
            "less_than",
            json!("2026-01-01T00:00:00Z"),
            json!("2026-01-01T01:00:00+00:00")
        ));
        assert!(!eval("greater_than", json!("abc"), json!(1)));
        assert!(eval("in", json!("b"), json!(["a", "b"])));
        assert!(eval("not_in", json!("c"), json!(["a", "b"])));
        assert!(eval("exists", json!(0), json!(null)));
        assert!(!eval("exists", json!(null), json!(null)));
        assert!(eval("not_exists", json!(null), json!(null)));
        assert!(eval("is_empty", json!(""), json!(null)));
        assert!(eval("is_empty", json!([]), json!(null)));
        assert!(!eval("is_empty", json!("x"), json!(null)));
        assert!(eval("matches", json!("abc123"), json!("^[a-z]+\\d+$")));
        assert!(!eval("matches", json!("abc"), json!("^\\d+$")));
    }

    #[test]
    fn a_missing_field_is_false_except_for_negative_operators() {
        for name in Operator::NAMES {
            let op = Operator::parse(name).unwrap();
            let value = if matches!(op, Operator::In | Operator::NotIn) {
                json!([1])
            } else {
                json!("x")
            };
            let expected = matches!(
                name,
                "not_exists" | "not_equals" | "not_in" | "not_contains" | "is_empty"
            );
            assert_eq!(evaluate(op, None, &value).unwrap(), expected, "{name}");
        }
    }

    #[test]
    fn lookup_paths() {
        let scope = json!({"variables": {"email": "x", "user": {"tags": ["a", "b"]}},
                           "steps": {"check": {"output": {"status": 200}}}});
        assert_eq!(lookup(&scope, "email"), Some(&json!("x")));
        assert_eq!(lookup(&scope, "variables.email"), Some(&json!("x")));
        assert_eq!(lookup(&scope, "user.tags.1"), Some(&json!("b")));
        assert_eq!(
            lookup(&scope, "steps.check.output.status"),
            Some(&json!(200))
        );
        assert_eq!(lookup(&scope, "nope"), None);
        assert_eq!(lookup(&scope, "email.deeper"), None);
    }
}
