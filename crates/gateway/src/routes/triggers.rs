use axum::Json;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Method, StatusCode};
use proto::v1;

use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::{IdPath, JsonBody};
use crate::idempotency;
use crate::mapping::WebhookAccepted;
use crate::routes::instances::variables_json;
use crate::state::AppState;

/// Creates and starts an instance of the template whose variables are the body.
#[utoipa::path(post, path = "/api/v1/triggers/webhook/{template_id}", tag = "triggers",
    params(("template_id" = uuid::Uuid, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "a retry with the same body answers the same instance")),
    request_body(content = Object, description = "the instance's variables"),
    responses((status = 202, body = WebhookAccepted), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn webhook(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(template_id): IdPath,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: JsonBody<serde_json::Value>,
) -> Result<(StatusCode, Json<WebhookAccepted>), ApiError> {
    let idem = idempotency::from_request(&headers, &method, uri.path(), &body.raw)?;
    let request = v1::CreateInstanceRequest {
        template_id: template_id.to_string(),
        version: None,
        variables_json: variables_json(Some(body.value), "")?,
        start: true,
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
    Ok((
        StatusCode::ACCEPTED,
        Json(WebhookAccepted {
            instance_id: instance.id,
        }),
    ))
}
