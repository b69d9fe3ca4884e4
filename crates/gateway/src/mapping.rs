//! The JSON shapes of the REST API and their translation from the gRPC messages. `*_json`
//! fields are JSON text on the wire and embedded JSON values here.

use proto::v1;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiError;

/// A template name: 1 to 200 characters, not all whitespace (the scheduler's rule). The
/// character class is exactly Rust's `char::is_whitespace`, so the spec and the check agree on
/// every input. The annotations below repeat it (they take literals only); a test keeps them
/// equal.
#[cfg(test)]
pub(crate) const NAME_PATTERN: &str =
    r"[^\t\n\x0B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]";

/// The longest template name, in characters.
pub(crate) const MAX_NAME_LENGTH: usize = 200;

/// A name as `NAME_PATTERN` and the length limit describe it: checked here so that the
/// answer matches the spec whatever the scheduler's own (equal) rule says.
pub(crate) fn check_name(name: &str, path: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() {
        return Err(ApiError::invalid(path, "must not be empty"));
    }
    if name.chars().count() > MAX_NAME_LENGTH {
        return Err(ApiError::invalid(
            path,
            format!("must be at most {MAX_NAME_LENGTH} characters"),
        ));
    }
    Ok(())
}

/// An optional 32-bit integer. JSON has numbers, not integers: `2.0` is the integer 2 (as JSON
/// Schema, and so the spec, counts it), while serde would refuse it for an `i32`.
fn integral_i32<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    use serde::de::Error;
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    let out_of_range = || D::Error::custom(format!("{n} is not a 32-bit integer"));
    if let Some(i) = n.as_i64() {
        return i32::try_from(i).map(Some).map_err(|_| out_of_range());
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f >= f64::from(i32::MIN) && f <= f64::from(i32::MAX) => {
            Ok(Some(f as i32))
        }
        _ => Err(out_of_range()),
    }
}

/// A template version: 1 or more.
pub(crate) fn check_version(version: Option<i32>, path: &str) -> Result<(), ApiError> {
    match version {
        Some(v) if v < 1 => Err(ApiError::invalid(path, "version must be 1 or more")),
        _ => Ok(()),
    }
}

/// The outline of a workflow definition every valid one has: a non-empty list of steps, each
/// an object with an id and a type. What else a step needs, and what its references must name,
/// the scheduler checks (422 with the path of each problem).
fn definition_schema() -> utoipa::openapi::Object {
    outline("object")
}

/// An update's definition: absent or null keeps the current one.
fn optional_definition_schema() -> utoipa::openapi::Object {
    outline(serde_json::json!(["object", "null"]))
}

fn outline(kind: impl Into<Value>) -> utoipa::openapi::Object {
    let schema = serde_json::json!({
        "type": kind.into(),
        "description": "the workflow definition (see the workflow language)",
        "required": ["steps"],
        "properties": {
            "steps": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["id", "type"],
                    "properties": {
                        "id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
                        "type": {"type": "string", "enum": ["action", "condition", "parallel", "wait", "subflow"]},
                    },
                },
            },
        },
    });
    serde_json::from_value(schema).unwrap_or_default()
}

/// A workflow that waits for an `approved` event: instances of it stay running, so every
/// instance operation has something to act on.
fn example_definition() -> Value {
    serde_json::json!({"steps": [{"id": "approval", "type": "wait",
        "config": {"wait_type": "event", "event": "approved"}}]})
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "approval", "description": "waits for an approval",
    "definition": example_definition()}))]
pub(crate) struct CreateTemplateBody {
    /// Unique in the tenant; not all whitespace.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"[^\t\n\x0B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]"
    )]
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[schema(schema_with = definition_schema)]
    pub definition: Value,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateTemplateBody {
    /// A new name: unique in the tenant; not all whitespace.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"[^\t\n\x0B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]"
    )]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// A new definition: a new version.
    #[serde(default)]
    #[schema(schema_with = optional_definition_schema)]
    pub definition: Option<Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateInstanceBody {
    pub template_id: Uuid,
    /// A template version; the latest when absent.
    #[serde(default, deserialize_with = "integral_i32")]
    #[schema(minimum = 1)]
    pub version: Option<i32>,
    /// A JSON object; `{}` when absent.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub variables: Option<Value>,
    /// Start the instance at once (default false).
    #[serde(default)]
    pub start: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SendEventBody {
    /// The event's name; not all whitespace.
    #[schema(
        min_length = 1,
        pattern = r"[^\t\n\x0B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]"
    )]
    pub event: String,
    #[serde(default)]
    pub data: Option<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WarningDto {
    pub path: String,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TemplateDto {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub version: i32,
    pub definition: Value,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    pub warnings: Vec<WarningDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StepErrorDto {
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
    pub retryable: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InstanceDto {
    pub id: String,
    pub template_id: String,
    pub template_version: i32,
    /// `pending`, `running`, `paused`, `completed`, `failed` or `cancelled`.
    pub status: String,
    pub variables: Value,
    pub output: Option<Value>,
    pub error: Option<StepErrorDto>,
    pub parent_instance_id: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub started_at: Option<String>,
    #[schema(format = DateTime)]
    pub completed_at: Option<String>,
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// The OpenTelemetry trace id (32 hex digits) of the call that created the instance, when
    /// tracing is on: every decision and job of the instance is a span of that trace (paste it
    /// into Jaeger or Tempo).
    #[schema(pattern = "^[0-9a-f]{32}$")]
    pub trace_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StepExecutionDto {
    pub id: String,
    pub step_id: String,
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    pub attempt: i32,
    /// The step's configuration as rendered for this attempt.
    pub input: Option<Value>,
    pub output: Option<Value>,
    pub error: Option<StepErrorDto>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub started_at: Option<String>,
    #[schema(format = DateTime)]
    pub completed_at: Option<String>,
}

/// One page of a list, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; null on the last one.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Items<T> {
    pub items: Vec<T>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Accepted {
    pub accepted: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WebhookAccepted {
    pub instance_id: String,
}

/// JSON text from the scheduler. It validated what it stored, so unreadable text is a bug
/// there (500), not the caller's fault.
fn json_text(text: &str, field: &'static str) -> Result<Value, ApiError> {
    if text.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(text).map_err(|e| {
        tracing::error!(field, error = %e, "scheduler sent unreadable json");
        ApiError::internal()
    })
}

fn optional_json(text: Option<&str>, field: &'static str) -> Result<Option<Value>, ApiError> {
    text.map(|t| json_text(t, field)).transpose()
}

fn step_error(e: Option<v1::StepError>) -> Option<StepErrorDto> {
    e.map(|e| StepErrorDto {
        kind: e.r#type,
        message: e.message,
        retryable: e.retryable,
    })
}

impl TryFrom<v1::Template> for TemplateDto {
    type Error = ApiError;

    fn try_from(t: v1::Template) -> Result<Self, ApiError> {
        Ok(Self {
            definition: json_text(&t.definition_json, "definition_json")?,
            id: t.id,
            name: t.name,
            description: t.description,
            version: t.version,
            created_at: t.created_at,
            updated_at: t.updated_at,
            warnings: t
                .warnings
                .into_iter()
                .map(|w| WarningDto {
                    path: w.path,
                    message: w.message,
                })
                .collect(),
        })
    }
}

impl TryFrom<v1::Instance> for InstanceDto {
    type Error = ApiError;

    fn try_from(i: v1::Instance) -> Result<Self, ApiError> {
        let variables = match json_text(&i.variables_json, "variables_json")? {
            Value::Null => Value::Object(Default::default()),
            v => v,
        };
        Ok(Self {
            output: optional_json(i.output_json.as_deref(), "output_json")?,
            variables,
            id: i.id,
            template_id: i.template_id,
            template_version: i.template_version,
            status: i.status,
            error: step_error(i.error),
            parent_instance_id: i.parent_instance_id,
            created_at: i.created_at,
            started_at: i.started_at,
            completed_at: i.completed_at,
            updated_at: i.updated_at,
            trace_id: i.trace_id,
        })
    }
}

impl TryFrom<v1::StepExecution> for StepExecutionDto {
    type Error = ApiError;

    fn try_from(s: v1::StepExecution) -> Result<Self, ApiError> {
        Ok(Self {
            input: optional_json(s.input_json.as_deref(), "input_json")?,
            output: optional_json(s.output_json.as_deref(), "output_json")?,
            id: s.id,
            step_id: s.step_id,
            name: s.name,
            kind: s.r#type,
            status: s.status,
            attempt: s.attempt,
            error: step_error(s.error),
            created_at: s.created_at,
            started_at: s.started_at,
            completed_at: s.completed_at,
        })
    }
}

pub(crate) fn convert_all<P, D>(items: Vec<P>) -> Result<Vec<D>, ApiError>
where
    D: TryFrom<P, Error = ApiError>,
{
    items.into_iter().map(D::try_from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    fn version_of(body: &str) -> Result<Option<i32>, ApiError> {
        crate::extract::parse_json::<CreateInstanceBody>(body.as_bytes()).map(|b| b.version)
    }

    #[test]
    fn an_integral_number_is_an_integer_version() {
        let id = "0190b6f0-0000-7000-8000-000000000000";
        assert_eq!(
            version_of(&format!(r#"{{"template_id":"{id}","version":2.0}}"#)).unwrap(),
            Some(2)
        );
        assert_eq!(
            version_of(&format!(r#"{{"template_id":"{id}","version":3}}"#)).unwrap(),
            Some(3)
        );
        assert_eq!(
            version_of(&format!(r#"{{"template_id":"{id}","version":null}}"#)).unwrap(),
            None
        );
        assert_eq!(
            version_of(&format!(r#"{{"template_id":"{id}"}}"#)).unwrap(),
            None
        );
        for bad in ["2.5", "4294967296", "1e300", "\"2\""] {
            let err =
                version_of(&format!(r#"{{"template_id":"{id}","version":{bad}}}"#)).unwrap_err();
            assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
            assert_eq!(err.errors()[0].path, "/version", "{bad}");
        }
    }

    #[test]
    fn names_and_versions_are_checked_as_the_spec_states() {
        assert!(check_name("a", "/name").is_ok());
        assert!(check_name(&"é".repeat(MAX_NAME_LENGTH), "/name").is_ok());
        assert!(check_name(&"é".repeat(MAX_NAME_LENGTH + 1), "/name").is_err());
        // Every character NAME_PATTERN excludes is whitespace to `trim`, and so refused alone.
        for blank in [
            "",
            " ",
            "\t\n\u{b}\u{c}\r",
            "\u{85}\u{a0}\u{1680}\u{2000}\u{200a}",
            "\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}",
        ] {
            let err = check_name(blank, "/name").unwrap_err();
            assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY, "{blank:?}");
        }
        // Characters outside it are not, even those some regex engines call space.
        assert!(check_name("\u{1c}", "/name").is_ok());
        assert!(check_version(Some(1), "/version").is_ok());
        assert!(check_version(None, "/version").is_ok());
        assert!(check_version(Some(0), "/version").is_err());
    }
}
