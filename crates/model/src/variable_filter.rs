//! Equality filters on an instance's variables (`GET /instances?variables.<path>=<value>`):
//! parsed and checked once here, so that the gateway refuses a bad filter without a round trip
//! and the store serves only filters that passed the same checks. How each database serves
//! them (a containment document, JSON functions) is the store's business. A path is a list of
//! object keys, and a value is a JSON scalar compared by type and value (a string never equals a
//! number).

use serde_json::Value;

/// At most this many keys deep; deeper documents are not what a search box is for.
const MAX_DEPTH: usize = 8;
/// At most this many variable filters in one query.
const MAX_FILTERS: usize = 16;
const MAX_SEGMENT: usize = 64;

/// Why a filter was refused; `parameter` is the query parameter as the caller wrote it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{parameter}: {message}")]
pub struct SearchError {
    pub parameter: String,
    pub message: String,
}

/// `variables.<path> = <value>`.
#[derive(Debug, Clone, PartialEq)]
pub struct VariableFilter {
    path: Vec<String>,
    value: Value,
}

impl VariableFilter {
    /// `path` is the dotted path after `variables.` (`user.email`); `raw` the value as sent. A
    /// value that reads as a JSON scalar (`42`, `true`, `null`, `"42"`) is that scalar; any other
    /// text is a plain string (`ann@example.com`), so that the common case needs no quotes.
    pub fn parse(path: &str, raw: &str) -> Result<Self, SearchError> {
        let refuse = |message: String| SearchError {
            parameter: format!("variables.{path}"),
            message,
        };
        let segments: Vec<String> = path.split('.').map(str::to_string).collect();
        if segments.len() > MAX_DEPTH {
            return Err(refuse(format!("a path has at most {MAX_DEPTH} segments")));
        }
        for segment in &segments {
            let valid = !segment.is_empty()
                && segment.len() <= MAX_SEGMENT
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !valid {
                return Err(refuse(format!(
                    "path segments are 1 to {MAX_SEGMENT} of [A-Za-z0-9_-], separated by dots"
                )));
            }
        }
        let value = match serde_json::from_str::<Value>(raw) {
            Ok(Value::Array(_) | Value::Object(_)) => {
                return Err(refuse(
                    "the value must be a string, number, boolean or null".to_string(),
                ));
            }
            Ok(scalar) => scalar,
            Err(_) => Value::String(raw.to_string()),
        };
        Ok(Self {
            path: segments,
            value,
        })
    }

    pub fn path(&self) -> &[String] {
        &self.path
    }

    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The dotted path, as it came (`user.email`).
    pub fn dotted(&self) -> String {
        self.path.join(".")
    }

    /// The value in the text form [`VariableFilter::parse`] reads back to the same scalar.
    pub fn raw_value(&self) -> String {
        match &self.value {
            Value::String(s) if serde_json::from_str::<Value>(s).is_err() => s.clone(),
            other => other.to_string(),
        }
    }
}

/// Refuses more than [`MAX_FILTERS`] filters and paths that overlap.
pub fn check_variable_filters(filters: &[VariableFilter]) -> Result<(), SearchError> {
    if filters.len() > MAX_FILTERS {
        return Err(SearchError {
            parameter: format!("variables.{}", filters[MAX_FILTERS].dotted()),
            message: format!("at most {MAX_FILTERS} variable filters"),
        });
    }
    for (i, later) in filters.iter().enumerate() {
        for earlier in &filters[..i] {
            let shorter = earlier.path.len().min(later.path.len());
            if earlier.path[..shorter] == later.path[..shorter] {
                return Err(SearchError {
                    parameter: format!("variables.{}", later.dotted()),
                    message: format!(
                        "overlaps the filter on variables.{}; filter each path once",
                        earlier.dotted()
                    ),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_scalars_and_bare_text_is_a_string() {
        let f = VariableFilter::parse("user.email", "ann@example.com").unwrap();
        assert_eq!(f.path(), ["user", "email"]);
        assert_eq!(f.value(), &json!("ann@example.com"));
        assert_eq!(f.raw_value(), "ann@example.com");
        assert_eq!(
            VariableFilter::parse("n", "42").unwrap().value(),
            &json!(42)
        );
        assert_eq!(
            VariableFilter::parse("n", "\"42\"").unwrap().value(),
            &json!("42")
        );
        assert_eq!(
            VariableFilter::parse("n", "\"42\"").unwrap().raw_value(),
            "\"42\""
        );
        assert_eq!(
            VariableFilter::parse("ok", "true").unwrap().value(),
            &json!(true)
        );
        assert!(VariableFilter::parse("n", "[1]").is_err());
        assert!(VariableFilter::parse("n", "{}").is_err());
    }

    #[test]
    fn paths_are_checked() {
        for bad in ["", "a..b", "a.b'", "a b", "a.$", &"k.".repeat(9)] {
            let err = VariableFilter::parse(bad, "x").unwrap_err();
            assert_eq!(err.parameter, format!("variables.{bad}"));
        }
        assert!(VariableFilter::parse("a-b.c_d", "x").is_ok());
    }
}
