//! The search filters of `ListInstances` (times and variables), read from the request into the
//! store's filter. The gateway checks them first with the same parsers; these checks are for
//! every other gRPC caller.

use chrono::{DateTime, Utc};
use model::VariableFilter;
use proto::v1;

use crate::SchedulerError;

pub(super) fn time(
    text: Option<String>,
    field: &str,
) -> Result<Option<DateTime<Utc>>, SchedulerError> {
    text.filter(|text| !text.is_empty())
        .map(|text| {
            DateTime::parse_from_rfc3339(&text)
                .map(|at| at.with_timezone(&Utc))
                .map_err(|_| {
                    SchedulerError::invalid(field, format!("'{text}' is not an RFC 3339 time"))
                })
        })
        .transpose()
}

pub(super) fn variables(
    filters: Vec<v1::VariableFilter>,
) -> Result<Vec<VariableFilter>, SchedulerError> {
    let parsed = filters
        .iter()
        .map(|filter| VariableFilter::parse(&filter.path, &filter.value))
        .collect::<Result<Vec<_>, _>>()
        .map_err(refused)?;
    model::check_variable_filters(&parsed).map_err(refused)?;
    Ok(parsed)
}

fn refused(error: model::SearchError) -> SchedulerError {
    SchedulerError::invalid(&format!("/{}", error.parameter), error.message)
}
