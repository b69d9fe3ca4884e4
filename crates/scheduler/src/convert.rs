//! Model types to and from their proto messages.

use chrono::{DateTime, SecondsFormat, Utc};
use model::{Instance, Job, StepError, StepExecution, Template};
use proto::v1;
use uuid::Uuid;

use crate::SchedulerError;

pub(crate) fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn json(value: &serde_json::Value) -> String {
    value.to_string()
}

pub(crate) fn template(template: &Template) -> v1::Template {
    v1::Template {
        id: template.id.to_string(),
        name: template.name.clone(),
        description: template.description.clone(),
        version: template.version,
        definition_json: json(&template.definition),
        created_at: time(template.created_at),
        updated_at: time(template.updated_at),
        warnings: template
            .warnings
            .iter()
            .map(|w| v1::Warning {
                path: w.path.clone(),
                message: w.message.clone(),
            })
            .collect(),
    }
}

pub(crate) fn step_error(error: &StepError) -> v1::StepError {
    v1::StepError {
        r#type: error.kind.clone(),
        message: error.message.clone(),
        retryable: error.retryable,
    }
}

pub(crate) fn instance(instance: &Instance) -> v1::Instance {
    v1::Instance {
        id: instance.id.to_string(),
        template_id: instance.template_id.to_string(),
        template_version: instance.template_version,
        status: instance.status.to_string(),
        variables_json: json(&instance.variables),
        output_json: instance.output.as_ref().map(json),
        error: instance.error.as_ref().map(step_error),
        parent_instance_id: instance.parent_instance_id.map(|id| id.to_string()),
        created_at: time(instance.created_at),
        started_at: instance.started_at.map(time),
        completed_at: instance.completed_at.map(time),
        updated_at: time(instance.updated_at),
        trace_id: instance
            .traceparent
            .as_deref()
            .and_then(proto::trace::trace_id)
            .map(str::to_owned),
    }
}

pub(crate) fn execution(execution: &StepExecution) -> v1::StepExecution {
    v1::StepExecution {
        id: execution.id.to_string(),
        step_id: execution.step_id.clone(),
        name: execution.name.clone(),
        r#type: execution.step_type.clone(),
        status: execution.status.to_string(),
        attempt: execution.attempt,
        input_json: execution.input.as_ref().map(json),
        output_json: execution.output.as_ref().map(json),
        error: execution.error.as_ref().map(step_error),
        created_at: time(execution.created_at),
        started_at: execution.started_at.map(time),
        completed_at: execution.completed_at.map(time),
    }
}

pub(crate) fn job(job: &Job) -> v1::Job {
    v1::Job {
        execution_id: job.execution_id.to_string(),
        attempt: job.attempt,
        instance_id: job.instance_id.to_string(),
        step_id: job.step_id.clone(),
        branch: job.branch,
        queue: job.queue.clone(),
        action: job.action.clone(),
        input_json: json(&job.input),
        deadline: time(job.deadline),
        traceparent: job.traceparent.clone(),
        lease_token: job.lease_token.clone(),
        tenant: job.tenant.clone(),
    }
}

/// An id from a request; a malformed one is a bad request naming the field.
pub(crate) fn id(text: &str, field: &str) -> Result<Uuid, SchedulerError> {
    Uuid::parse_str(text)
        .map_err(|_| SchedulerError::invalid(field, format!("'{text}' is not a UUID")))
}

/// A JSON document from a `*_json` field; empty text means `default`.
pub(crate) fn document(
    text: &str,
    field: &str,
    default: serde_json::Value,
) -> Result<serde_json::Value, SchedulerError> {
    if text.trim().is_empty() {
        return Ok(default);
    }
    serde_json::from_str(text)
        .map_err(|error| SchedulerError::invalid(field, format!("not valid JSON: {error}")))
}

pub(crate) fn step_error_from(error: v1::StepError) -> StepError {
    StepError {
        kind: error.r#type,
        message: error.message,
        retryable: error.retryable,
    }
}
