//! Variable filters (checked in `model`, see [`VariableFilter`]) turned into what each database
//! can serve from an index or a JSON function. Postgres gets one containment document
//! (`variables @> $n`, served by the `jsonb_path_ops` GIN index); SQLite gets
//! `json_type`/`json_extract` tests on [`sqlite_path`]. Both compare the same way: a value is a
//! JSON scalar compared by type and value.

use model::{SearchError, VariableFilter, check_variable_filters};
use serde_json::{Map, Value};

/// SQLite's JSON path of the variable: every key quoted, so `-` needs no escaping; the
/// segments were checked to hold no quote.
pub(crate) fn sqlite_path(filter: &VariableFilter) -> String {
    let mut out = String::from("$");
    for segment in filter.path() {
        out.push_str(".\"");
        out.push_str(segment);
        out.push('"');
    }
    out
}

/// The filters merged into one document for `variables @> doc`: equality on every path at once.
/// Two filters on the same path, or one path inside another (`a` and `a.b`), cannot both be
/// one containment and are refused, naming the later one.
pub(crate) fn containment(filters: &[VariableFilter]) -> Result<Option<Value>, SearchError> {
    if filters.is_empty() {
        return Ok(None);
    }
    check_variable_filters(filters)?;
    let mut root = Map::new();
    for filter in filters {
        let (last, parents) = filter.path().split_last().expect("a path has a segment");
        let mut node = &mut root;
        for segment in parents {
            node = node
                .entry(segment.clone())
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
                .expect("disjoint paths leave objects on the way");
        }
        node.insert(last.clone(), filter.value().clone());
    }
    Ok(Some(Value::Object(root)))
}

/// A filter the gateway let through but the store cannot serve: the checks are the same in
/// both places, this is the backstop for other callers of the scheduler.
pub(crate) fn rejected(error: SearchError) -> crate::StoreError {
    crate::StoreError::Rejected {
        code: model::ErrorCode::Invalid,
        message: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sqlite_paths_quote_every_key() {
        let f = VariableFilter::parse("a-b.c_d", "x").unwrap();
        assert_eq!(sqlite_path(&f), "$.\"a-b\".\"c_d\"");
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
