use axum::Json;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Method, StatusCode};
use proto::v1;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::caller::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiQuery, IdPath, JsonBody, optional_uuid, page_limit};
use crate::idempotency;
use crate::mapping::{
    Accepted, CreateInstanceBody, InstanceDto, Items, Page, SendEventBody, StepExecutionDto,
    check_version, convert_all,
};
use crate::search;
use crate::state::AppState;

/// Variables must be a JSON object: anything else is invalid content at `path`.
pub(crate) fn variables_json(
    value: Option<serde_json::Value>,
    path: &str,
) -> Result<String, ApiError> {
    match value {
        None | Some(serde_json::Value::Null) => Ok("{}".to_string()),
        Some(v @ serde_json::Value::Object(_)) => Ok(v.to_string()),
        Some(_) => Err(ApiError::invalid(path, "variables must be a json object")),
    }
}

/// A JSON text over `limit` bytes answers 413 located at `path`: every decision of the
/// instance reads and writes it again.
pub(crate) fn within(text: String, limit: usize, path: &str) -> Result<String, ApiError> {
    if text.len() > limit {
        return Err(ApiError::too_large(
            path,
            format!("{} bytes, more than the limit of {limit}", text.len()),
        ));
    }
    Ok(text)
}

#[utoipa::path(post, path = "/api/v1/instances", tag = "instances", operation_id = "create_instance", request_body = CreateInstanceBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "answers the same instance (200) for a retry with the same body")),
    responses((status = 201, body = InstanceDto, description = "the new instance"), (status = 200, body = InstanceDto, description = "an earlier instance with this idempotency key"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "no such template, or no such version of it"),
        (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: JsonBody<CreateInstanceBody>,
) -> Result<(StatusCode, Json<InstanceDto>), ApiError> {
    let idem = idempotency::from_request(&headers, &method, uri.path(), &body.raw)?;
    let b = body.value;
    check_version(b.version, "/version")?;
    let request = v1::CreateInstanceRequest {
        template_id: b.template_id.to_string(),
        version: b.version,
        variables_json: within(
            variables_json(b.variables, "/variables")?,
            state.limits.max_variables_bytes,
            "/variables",
        )?,
        start: b.start.unwrap_or(false),
        idempotency_key: idem.as_ref().map(|i| i.key.clone()),
        idempotency_fingerprint: idem.map(|i| i.fingerprint),
    };
    let created = state
        .scheduler
        .call(&caller, request, |mut c, r| async move {
            c.create_instance(r).await
        })
        .await?;
    let instance = created.instance.ok_or_else(|| {
        tracing::error!("scheduler answered create_instance without an instance");
        ApiError::internal()
    })?;
    let status = if created.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(instance.try_into()?)))
}

fn instance_status_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(model::InstanceStatus::ALL.map(|s| s.as_str())))
        .build()
}

/// The status filter: one of the statuses; anything else, the empty string too, is invalid.
fn instance_status(raw: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    match raw.parse::<model::InstanceStatus>() {
        Ok(status) => Ok(Some(status.as_str().to_string())),
        Err(_) => Err(ApiError::invalid(
            "/status",
            format!("unknown status '{raw}'"),
        )),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListInstancesQuery {
    /// Only instances in this status.
    #[param(schema_with = instance_status_schema)]
    pub status: Option<String>,
    #[param(value_type = Option<uuid::Uuid>)]
    pub template_id: Option<String>,
    #[param(value_type = Option<uuid::Uuid>)]
    pub parent_instance_id: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
    /// Only instances created strictly after this time (RFC 3339).
    #[param(value_type = Option<chrono::DateTime<chrono::Utc>>)]
    pub created_after: Option<String>,
    /// Only instances created strictly before this time (RFC 3339).
    #[param(value_type = Option<chrono::DateTime<chrono::Utc>>)]
    pub created_before: Option<String>,
    /// Only instances updated strictly after this time (RFC 3339).
    #[param(value_type = Option<chrono::DateTime<chrono::Utc>>)]
    pub updated_after: Option<String>,
}

/// One page of instances, newest first. Besides the parameters below, any number of
/// `variables.<path>=<value>` parameters keep the instances whose variables hold that value at
/// that path, all of them: `?variables.email=ann@example.com&variables.order.total=42`. A path is
/// object keys of `[A-Za-z0-9_-]` separated by dots (at most 8); a value that reads as a JSON
/// scalar (`42`, `true`, `null`, `"42"`) is compared as that scalar, any other text as a string.
/// A malformed or overlapping path, or a value that is an array or object, answers 422 with
/// `errors[0].path` `/variables.<path>`.
#[utoipa::path(get, path = "/api/v1/instances", tag = "instances", operation_id = "list_instances",
    params(ListInstancesQuery),
    responses((status = 200, body = Page<InstanceDto>, description = "one page of instances, newest first"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListInstancesQuery>,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> Result<Json<Page<InstanceDto>>, ApiError> {
    let request = v1::ListInstancesRequest {
        created_after: search::time(q.created_after, "created_after")?,
        created_before: search::time(q.created_before, "created_before")?,
        updated_after: search::time(q.updated_after, "updated_after")?,
        variables: search::variables(&pairs)?,
        status: instance_status(q.status)?,
        template_id: optional_uuid(q.template_id.as_deref(), "template_id")?.map(|u| u.to_string()),
        parent_instance_id: optional_uuid(q.parent_instance_id.as_deref(), "parent_instance_id")?
            .map(|u| u.to_string()),
        limit: page_limit(q.limit.as_deref())?,
        cursor: optional_uuid(q.cursor.as_deref(), "cursor")?.map(|u| u.to_string()),
    };
    let page = state
        .scheduler
        .call(&caller, request, |mut c, r| async move {
            c.list_instances(r).await
        })
        .await?;
    Ok(Json(Page {
        items: convert_all(page.items)?,
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(get, path = "/api/v1/instances/{id}", tag = "instances", operation_id = "get_instance",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = InstanceDto, description = "the instance"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<Json<InstanceDto>, ApiError> {
    on_instance(&state, &caller, id, |mut c, r| async move {
        c.get_instance(r).await
    })
    .await
}

#[utoipa::path(put, path = "/api/v1/instances/{id}/start", tag = "instances", operation_id = "start_instance",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = InstanceDto, description = "the instance, running"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn start(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<Json<InstanceDto>, ApiError> {
    on_instance(&state, &caller, id, |mut c, r| async move {
        c.start_instance(r).await
    })
    .await
}

#[utoipa::path(put, path = "/api/v1/instances/{id}/pause", tag = "instances", operation_id = "pause_instance",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = InstanceDto, description = "the instance, paused"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn pause(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<Json<InstanceDto>, ApiError> {
    on_instance(&state, &caller, id, |mut c, r| async move {
        c.pause_instance(r).await
    })
    .await
}

#[utoipa::path(put, path = "/api/v1/instances/{id}/resume", tag = "instances", operation_id = "resume_instance",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = InstanceDto, description = "the instance, running again"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn resume(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<Json<InstanceDto>, ApiError> {
    on_instance(&state, &caller, id, |mut c, r| async move {
        c.resume_instance(r).await
    })
    .await
}

#[utoipa::path(put, path = "/api/v1/instances/{id}/cancel", tag = "instances", operation_id = "cancel_instance",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = InstanceDto, description = "the instance, cancelled"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<Json<InstanceDto>, ApiError> {
    on_instance(&state, &caller, id, |mut c, r| async move {
        c.cancel_instance(r).await
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/instances/{id}/steps", tag = "instances", operation_id = "list_steps",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Items<StepExecutionDto>, description = "the step executions, oldest first"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn steps(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<Json<Items<StepExecutionDto>>, ApiError> {
    let request = v1::InstanceRef { id: id.to_string() };
    let steps = state
        .scheduler
        .call(
            &caller,
            request,
            |mut c, r| async move { c.list_steps(r).await },
        )
        .await?;
    Ok(Json(Items {
        items: convert_all(steps.items)?,
    }))
}

#[utoipa::path(post, path = "/api/v1/instances/{id}/events", tag = "instances", operation_id = "send_event",
    params(("id" = uuid::Uuid, Path)),
    request_body = SendEventBody,
    responses((status = 202, body = Accepted, description = "the event is queued for the instance"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn send_event(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
    body: JsonBody<SendEventBody>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let b = body.value;
    if b.event.trim().is_empty() {
        return Err(ApiError::invalid("/event", "event must not be empty"));
    }
    let request = v1::SendEventRequest {
        instance_id: id.to_string(),
        event: b.event,
        data_json: within(
            b.data.map(|d| d.to_string()).unwrap_or_default(),
            state.limits.max_event_bytes,
            "/data",
        )?,
    };
    let answer = state
        .scheduler
        .call(
            &caller,
            request,
            |mut c, r| async move { c.send_event(r).await },
        )
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            accepted: answer.accepted,
        }),
    ))
}

/// One instance id in, the instance out: the shape of `get` and of every lifecycle call.
async fn on_instance<F, Fut>(
    state: &AppState,
    caller: &Caller,
    id: uuid::Uuid,
    rpc: F,
) -> Result<Json<InstanceDto>, ApiError>
where
    F: Fn(
        v1::workflow_service_client::WorkflowServiceClient<proto::SchedulerTransport>,
        tonic::Request<v1::InstanceRef>,
    ) -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<v1::Instance>, tonic::Status>>,
{
    let request = v1::InstanceRef { id: id.to_string() };
    let instance = state.scheduler.call(caller, request, rpc).await?;
    Ok(Json(instance.try_into()?))
}
