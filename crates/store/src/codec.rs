//! Conversions between model values and column values shared by both databases.

use chrono::{DateTime, SecondsFormat, Utc};
use model::{InstanceStatus, StepError, StepStatus, Warning};
use uuid::Uuid;

use crate::StoreError;

pub(crate) fn corrupt(what: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {error}"))
}

pub(crate) fn instance_status(text: &str) -> Result<InstanceStatus, StoreError> {
    text.parse()
        .map_err(|error| corrupt("instance status", error))
}

pub(crate) fn step_status(text: &str) -> Result<StepStatus, StoreError> {
    text.parse().map_err(|error| corrupt("step status", error))
}

pub(crate) fn error_to_json(error: &Option<StepError>) -> Option<serde_json::Value> {
    error
        .as_ref()
        .map(|error| serde_json::to_value(error).unwrap_or(serde_json::Value::Null))
}

pub(crate) fn error_from_json(
    value: Option<serde_json::Value>,
) -> Result<Option<StepError>, StoreError> {
    value
        .map(serde_json::from_value)
        .transpose()
        .map_err(|error| corrupt("step error", error))
}

pub(crate) fn warnings_to_json(warnings: &[Warning]) -> serde_json::Value {
    serde_json::to_value(warnings).unwrap_or_else(|_| serde_json::Value::Array(Vec::new()))
}

pub(crate) fn warnings_from_json(value: serde_json::Value) -> Result<Vec<Warning>, StoreError> {
    serde_json::from_value(value).map_err(|error| corrupt("template warnings", error))
}

pub(crate) fn job_from_json(value: serde_json::Value) -> Result<model::Job, StoreError> {
    serde_json::from_value(value).map_err(|error| corrupt("job payload", error))
}

/// SQLite's text form of a time: fixed width, so that text order is time order.
pub(crate) fn time_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(crate) fn time_text_opt(at: Option<DateTime<Utc>>) -> Option<String> {
    at.map(time_text)
}

pub(crate) fn parse_time(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|error| corrupt("time", error))
}

pub(crate) fn parse_time_opt(text: Option<String>) -> Result<Option<DateTime<Utc>>, StoreError> {
    text.as_deref().map(parse_time).transpose()
}

pub(crate) fn parse_uuid(text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|error| corrupt("uuid", error))
}

pub(crate) fn parse_uuid_opt(text: Option<String>) -> Result<Option<Uuid>, StoreError> {
    text.as_deref().map(parse_uuid).transpose()
}

pub(crate) fn json_text(value: &serde_json::Value) -> String {
    value.to_string()
}

pub(crate) fn json_text_opt(value: &Option<serde_json::Value>) -> Option<String> {
    value.as_ref().map(json_text)
}

pub(crate) fn parse_json(text: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text).map_err(|error| corrupt("json column", error))
}

pub(crate) fn parse_json_opt(
    text: Option<String>,
) -> Result<Option<serde_json::Value>, StoreError> {
    text.as_deref().map(parse_json).transpose()
}

/// Maps a unique violation on templates to the conflict it means.
pub(crate) fn template_conflict(error: sqlx::Error, name: &str) -> StoreError {
    if let sqlx::Error::Database(db) = &error
        && db.is_unique_violation()
    {
        let on_name = db.constraint().is_some_and(|c| c.contains("name"))
            || db.message().contains("templates.name");
        if on_name {
            return StoreError::Conflict(format!("a template named '{name}' already exists"));
        }
        return StoreError::Conflict("this template version already exists".to_owned());
    }
    StoreError::Database(error)
}

pub(crate) fn instance_conflict(error: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &error
        && db.is_unique_violation()
    {
        return StoreError::Conflict("instance already exists".to_owned());
    }
    StoreError::Database(error)
}
