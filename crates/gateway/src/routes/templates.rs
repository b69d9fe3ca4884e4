use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use proto::v1;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::caller::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiQuery, IdPath, JsonBody, optional_uuid, page_limit};
use crate::mapping::{
    CreateTemplateBody, Page, TemplateDto, UpdateTemplateBody, check_name, convert_all,
};
use crate::state::AppState;

#[utoipa::path(post, path = "/api/v1/templates", tag = "templates", operation_id = "create_template",
    request_body = CreateTemplateBody,
    responses((status = 201, body = TemplateDto, description = "the new template, version 1"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<CreateTemplateBody>,
) -> Result<(StatusCode, Json<TemplateDto>), ApiError> {
    let b = body.value;
    check_name(&b.name, "/name")?;
    let request = v1::CreateTemplateRequest {
        name: b.name,
        description: b.description,
        definition_json: b.definition.to_string(),
    };
    let template = state
        .scheduler
        .call(&caller, request, |mut c, r| async move {
            c.create_template(r).await
        })
        .await?;
    Ok((StatusCode::CREATED, Json(template.try_into()?)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListTemplatesQuery {
    /// Only the template with this name.
    pub name: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/templates", tag = "templates", operation_id = "list_templates",
    params(ListTemplatesQuery),
    responses((status = 200, body = Page<TemplateDto>, description = "one page of templates, newest first"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListTemplatesQuery>,
) -> Result<Json<Page<TemplateDto>>, ApiError> {
    let request = v1::ListTemplatesRequest {
        name: q.name,
        limit: page_limit(q.limit.as_deref())?,
        cursor: optional_uuid(q.cursor.as_deref(), "cursor")?.map(|u| u.to_string()),
    };
    let page = state
        .scheduler
        .call(&caller, request, |mut c, r| async move {
            c.list_templates(r).await
        })
        .await?;
    Ok(Json(Page {
        items: convert_all(page.items)?,
        next_cursor: page.next_cursor,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct GetTemplateQuery {
    /// An older version; the latest when absent.
    #[param(value_type = Option<i32>, minimum = 1)]
    pub version: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/templates/{id}", tag = "templates", operation_id = "get_template",
    params(("id" = uuid::Uuid, Path), GetTemplateQuery),
    responses((status = 200, body = TemplateDto, description = "the template"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
    ApiQuery(q): ApiQuery<GetTemplateQuery>,
) -> Result<Json<TemplateDto>, ApiError> {
    let version = match q.version.as_deref() {
        None => None,
        Some(v) => match v.parse::<i32>() {
            Ok(n) if n >= 1 => Some(n),
            _ => {
                return Err(ApiError::invalid(
                    "/version",
                    "version must be a positive integer",
                ));
            }
        },
    };
    let request = v1::GetTemplateRequest {
        id: id.to_string(),
        version,
    };
    let template = state
        .scheduler
        .call(&caller, request, |mut c, r| async move {
            c.get_template(r).await
        })
        .await?;
    Ok(Json(template.try_into()?))
}

#[utoipa::path(put, path = "/api/v1/templates/{id}", tag = "templates", operation_id = "update_template",
    params(("id" = uuid::Uuid, Path)), request_body = UpdateTemplateBody,
    responses((status = 200, body = TemplateDto, description = "the template, its version one more"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
    body: JsonBody<UpdateTemplateBody>,
) -> Result<Json<TemplateDto>, ApiError> {
    let b = body.value;
    if let Some(name) = &b.name {
        check_name(name, "/name")?;
    }
    let request = v1::UpdateTemplateRequest {
        id: id.to_string(),
        name: b.name,
        description: b.description,
        definition_json: b.definition.map(|d| d.to_string()),
    };
    let template = state
        .scheduler
        .call(&caller, request, |mut c, r| async move {
            c.update_template(r).await
        })
        .await?;
    Ok(Json(template.try_into()?))
}

#[utoipa::path(delete, path = "/api/v1/templates/{id}", tag = "templates", operation_id = "delete_template",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 204, description = "deleted; running instances keep their version"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    let request = v1::DeleteTemplateRequest { id: id.to_string() };
    state
        .scheduler
        .call(&caller, request, |mut c, r| async move {
            c.delete_template(r).await
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
