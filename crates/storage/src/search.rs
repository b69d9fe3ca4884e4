//! Equality filters on an instance's variables (`GET /instances?variables.<path>=<value>`):
//! parsed and checked once here, then turned into what each database can serve from an index or
//! a JSON function. Postgres gets one containment document (`variables @> $n`, served by the
//! `jsonb_path_ops` GIN index); SQLite gets `json_type`/`json_extract` tests. Both compare the
//! same way: a path is a list of object keys, and a value is a JSON scalar compared by type and
//! value (a string never equals a number).

use serde_json::{Map, Value};

/// At most this many keys deep; deeper documents are not what a search box is for.
pub const MAX_DEPTH: usize = 8;
/// At most this many variable filters in one query.
pub const MAX_FILTERS: usize = 16;
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

    /// SQLite's JSON path of the variable: every key quoted, so `-` needs no escaping; the
    /// segments were checked to hold no quote.
    pub(crate) fn sqlite_path(&self) -> String {
        let mut out = String::from("$");
        for segment in &self.path {
            out.push_str(".\"");
            out.push_str(segment);
            out.push('"');
        }
        out
    }
}

/// The filters merged into one document for `variables @> doc`: equality on every path at once.
/// Two filters on the same path, or one path inside another (`a` and `a.b`), cannot both be
/// one containment and are refused, naming the later one.
pub fn containment(filters: &[VariableFilter]) -> Result<Option<Value>, SearchError> {
    if filters.is_empty() {
        return Ok(None);
    }
    check_disjoint(filters)?;
    let mut root = Map::new();
    for filter in filters {
        let (last, parents) = filter.path.split_last().expect("a path has a segment");
        let mut node = &mut root;
        for segment in parents {
            node = node
                .entry(segment.clone())
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
                .expect("disjoint paths leave objects on the way");
        }
        node.insert(last.clone(), filter.value.clone());
    }
    Ok(Some(Value::Object(root)))
}

/// Refuses more than [`MAX_FILTERS`] filters and paths that overlap.
pub fn check_disjoint(filters: &[VariableFilter]) -> Result<(), SearchError> {
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

/// A filter the gateway let through but the store cannot serve: the checks are the same in
/// both places, this is the backstop for other callers of the scheduler.
pub(crate) fn rejected(error: SearchError) -> crate::StorageError {
    crate::StorageError::Rejected {
        code: model::ErrorCode::Invalid,
        message: error.to_string(),
    }
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
        let f = VariableFilter::parse("a-b.c_d", "x").unwrap();
        assert_eq!(f.sqlite_path(), "$.\"a-b\".\"c_d\"");
    }

    #[test]
    fn filters_merge_into_one_document_unless_they_overlap() {
        let a = VariableFilter::parse("user.email", "x").unwrap();
        let b = VariableFilter::parse("user.age", "3").unwrap();
        let c = VariableFilter::parse("plan", "gold").unwrap();
        assert_eq!(
            containment(&[a.clone(), b, c]).unwrap(),
            Some(json!({"user": {"email": "x", "age": 3}, "plan": "gold"}))
        );
        let inner = VariableFilter::parse("user", "x").unwrap();
        let err = containment(&[a.clone(), inner]).unwrap_err();
        assert_eq!(err.parameter, "variables.user");
        assert!(containment(&[a.clone(), a]).is_err());
        assert_eq!(containment(&[]).unwrap(), None);
    }
}
