//! The JSON shapes of the REST API and their translation from the gRPC messages. `*_json`
//! fields are JSON text on the wire and embedded JSON values here.

use proto::v1;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiError;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTemplateBody {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The workflow definition (see the workflow language).
    pub definition: Value,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTemplateBody {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub definition: Option<Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInstanceBody {
    pub template_id: Uuid,
    /// A template version; the latest when absent.
    #[serde(default)]
    pub version: Option<i32>,
    /// A JSON object; `{}` when absent.
    #[serde(default)]
    pub variables: Option<Value>,
    /// Start the instance at once (default false).
    #[serde(default)]
    pub start: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendEventBody {
    pub event: String,
    #[serde(default)]
    pub data: Option<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WarningDto {
    pub path: String,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateDto {
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
pub struct StepErrorDto {
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
    pub retryable: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InstanceDto {
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
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StepExecutionDto {
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
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; null on the last one.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Items<T> {
    pub items: Vec<T>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    pub accepted: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAccepted {
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

pub fn convert_all<P, D>(items: Vec<P>) -> Result<Vec<D>, ApiError>
where
    D: TryFrom<P, Error = ApiError>,
{
    items.into_iter().map(D::try_from).collect()
}
