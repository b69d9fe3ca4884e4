//! Trigger configurations (`/api/v1/triggers`): webhooks and cron schedules, mapped onto the
//! scheduler's `TriggerService`. A webhook's secret appears in the creation answer only.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use proto::v1;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::caller::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiQuery, IdPath, JsonBody, optional_uuid, page_limit};
use crate::mapping::Page;
use crate::state::AppState;

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TriggerType {
    Webhook,
    Schedule,
}

impl TriggerType {
    const ALL: [Self; 2] = [Self::Webhook, Self::Schedule];

    fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == raw)
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Schedule => "schedule",
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateTriggerBody {
    pub template_id: Uuid,
    #[serde(rename = "type")]
    pub kind: TriggerType,
    /// Default true.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// A webhook: `{secret?}` (made up when absent; at least 16 characters when given).
    /// A schedule: `{cron, timezone?, variables?}`: 5 cron fields, or 6 with seconds first; an
    /// IANA time zone (default UTC); the variables of each instance it starts.
    #[serde(default)]
    pub config: Option<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TriggerDto {
    pub id: String,
    pub template_id: String,
    /// `webhook` or `schedule`.
    #[serde(rename = "type")]
    pub kind: String,
    pub enabled: bool,
    /// A webhook's `secret` is here only in the answer to its creation.
    pub config: Value,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// A schedule's next tick.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub next_fire_at: Option<String>,
}

impl TryFrom<v1::Trigger> for TriggerDto {
    type Error = ApiError;

    fn try_from(t: v1::Trigger) -> Result<Self, ApiError> {
        let config = serde_json::from_str(&t.config_json).map_err(|e| {
            tracing::error!(field = "config_json", error = %e, "scheduler sent unreadable json");
            ApiError::internal()
        })?;
        Ok(Self {
            id: t.id,
            template_id: t.template_id,
            kind: t.r#type,
            enabled: t.enabled,
            config,
            created_at: t.created_at,
            updated_at: t.updated_at,
            next_fire_at: t.next_fire_at,
        })
    }
}

#[utoipa::path(post, path = "/api/v1/triggers", tag = "triggers", operation_id = "create_trigger",
    request_body = CreateTriggerBody,
    responses((status = 201, body = TriggerDto, description = "the new trigger; a webhook's secret is in `config`, this once"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "no such template"),
        (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<CreateTriggerBody>,
) -> Result<(StatusCode, Json<TriggerDto>), ApiError> {
    let b = body.value;
    let request = v1::CreateTriggerRequest {
        template_id: b.template_id.to_string(),
        r#type: b.kind.as_str().to_owned(),
        enabled: b.enabled,
        config_json: b.config.map(|c| c.to_string()).unwrap_or_default(),
    };
    let trigger = state
        .scheduler
        .call_triggers(&caller, request, |mut c, r| async move {
            c.create_trigger(r).await
        })
        .await?;
    Ok((StatusCode::CREATED, Json(trigger.try_into()?)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListTriggersQuery {
    /// Only this template's triggers.
    #[param(value_type = Option<uuid::Uuid>)]
    pub template_id: Option<String>,
    /// Only `webhook` or only `schedule` triggers.
    #[serde(rename = "type")]
    #[param(schema_with = trigger_type_schema)]
    pub kind: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
}

fn trigger_type_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(TriggerType::ALL.map(TriggerType::as_str)))
        .build()
}

/// The type filter: `webhook` or `schedule`; anything else, the empty string too, is invalid.
/// (The scheduler reads an empty `type` as none, as gRPC callers send it.)
fn trigger_type(raw: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    match TriggerType::parse(&raw) {
        Some(kind) => Ok(Some(kind.as_str().to_owned())),
        None => Err(ApiError::invalid(
            "/type",
            format!(
                "unknown trigger type '{raw}': {}",
                TriggerType::ALL.map(TriggerType::as_str).join(" or ")
            ),
        )),
    }
}

#[utoipa::path(get, path = "/api/v1/triggers", tag = "triggers", operation_id = "list_triggers",
    params(ListTriggersQuery),
    responses((status = 200, body = Page<TriggerDto>, description = "one page of triggers, newest first"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListTriggersQuery>,
) -> Result<Json<Page<TriggerDto>>, ApiError> {
    let request = v1::ListTriggersRequest {
        template_id: optional_uuid(q.template_id.as_deref(), "template_id")?
            .map(|id| id.to_string()),
        r#type: trigger_type(q.kind)?,
        limit: page_limit(q.limit.as_deref())?,
        cursor: optional_uuid(q.cursor.as_deref(), "cursor")?.map(|id| id.to_string()),
    };
    let page = state
        .scheduler
        .call_triggers(&caller, request, |mut c, r| async move {
            c.list_triggers(r).await
        })
        .await?;
    Ok(Json(Page {
        items: page
            .items
            .into_iter()
            .map(TriggerDto::try_from)
            .collect::<Result<_, _>>()?,
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(get, path = "/api/v1/triggers/{id}", tag = "triggers", operation_id = "get_trigger",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = TriggerDto, description = "the trigger, without a webhook's secret"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<Json<TriggerDto>, ApiError> {
    let request = v1::TriggerRef { id: id.to_string() };
    let trigger = state
        .scheduler
        .call_triggers(&caller, request, |mut c, r| async move {
            c.get_trigger(r).await
        })
        .await?;
    Ok(Json(trigger.try_into()?))
}

#[utoipa::path(delete, path = "/api/v1/triggers/{id}", tag = "triggers", operation_id = "delete_trigger",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 204, description = "deleted"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    let request = v1::TriggerRef { id: id.to_string() };
    state
        .scheduler
        .call_triggers(&caller, request, |mut c, r| async move {
            c.delete_trigger(r).await
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
