//! The search filters of `GET /api/v1/instances` beyond status and template: time bounds and
//! `variables.<path>=<value>` equality. Checked here so a bad filter answers a problem naming its
//! query parameter before any call; the scheduler reads the same strings with the same parser.

use chrono::DateTime;
use proto::v1;

use crate::error::ApiError;

/// Query keys starting with this are variable filters.
pub(crate) const VARIABLES_PREFIX: &str = "variables.";

/// An RFC 3339 time parameter, passed on as sent once it parses (422 naming it otherwise).
pub(crate) fn time(raw: Option<String>, name: &str) -> Result<Option<String>, ApiError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    match DateTime::parse_from_rfc3339(&raw) {
        Ok(_) => Ok(Some(raw)),
        Err(_) => Err(ApiError::invalid(
            format!("/{name}"),
            format!("{name}: '{raw}' is not an RFC 3339 time (2026-12-01T09:30:00Z)"),
        )),
    }
}

/// Every `variables.<path>=<value>` pair of the query string, in order, checked.
pub(crate) fn variables(pairs: &[(String, String)]) -> Result<Vec<v1::VariableFilter>, ApiError> {
    let mut parsed = Vec::new();
    let mut filters = Vec::new();
    for (key, value) in pairs {
        let Some(path) = key.strip_prefix(VARIABLES_PREFIX) else {
            continue;
        };
        parsed.push(model::VariableFilter::parse(path, value).map_err(refused)?);
        filters.push(v1::VariableFilter {
            path: path.to_string(),
            value: value.clone(),
        });
    }
    model::check_variable_filters(&parsed).map_err(refused)?;
    Ok(filters)
}

fn refused(error: model::SearchError) -> ApiError {
    ApiError::invalid(format!("/{}", error.parameter), error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn variable_pairs_are_picked_and_checked() {
        let filters = variables(&pairs(&[
            ("status", "running"),
            ("variables.user.email", "ann@example.com"),
            ("variables.n", "3"),
        ]))
        .unwrap();
        assert_eq!(filters.len(), 2);
        assert_eq!(filters[0].path, "user.email");
        let err = variables(&pairs(&[("variables.a b", "x")])).unwrap_err();
        assert_eq!(err.errors()[0].path, "/variables.a b");
        let err = variables(&pairs(&[("variables.a", "1"), ("variables.a.b", "2")])).unwrap_err();
        assert_eq!(err.errors()[0].path, "/variables.a.b");
    }

    #[test]
    fn times_must_be_rfc_3339() {
        assert!(time(Some("2026-12-01T09:30:00Z".into()), "created_after").is_ok());
        assert!(time(Some("2026-12-01T09:30:00+02:00".into()), "created_after").is_ok());
        let err = time(Some("yesterday".into()), "created_after").unwrap_err();
        assert_eq!(err.errors()[0].path, "/created_after");
    }
}
