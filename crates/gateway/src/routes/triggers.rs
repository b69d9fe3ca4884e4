//! `POST /api/v1/triggers/webhook/:template_id`: a bearer token, or a webhook signature made
//! with a trigger's secret. The gateway holds no secrets: a signed call goes to the scheduler
//! as it came (`FireWebhook`: headers and raw body), and the scheduler checks the signature
//! and creates the instance in the tenant of the trigger whose secret made it.

use axum::Json;
use axum::extract::{FromRequestParts, OriginalUri, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use proto::v1;

use crate::caller::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::{IdPath, JsonBody};
use crate::idempotency::{self, Idempotency};
use crate::mapping::WebhookAccepted;
use crate::routes::instances::variables_json;
use crate::state::AppState;

const SIGNATURE: &str = "x-signature";
const SIGNATURE_TIMESTAMP: &str = "x-signature-timestamp";

/// Creates and starts an instance of the template whose variables are the body.
#[utoipa::path(post, path = "/api/v1/triggers/webhook/{template_id}", tag = "triggers", operation_id = "trigger_webhook",
    params(("template_id" = uuid::Uuid, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "a retry with the same body answers the same instance"),
        ("X-Signature" = Option<String>, Header, description = "instead of a token: sha256=<hex HMAC-SHA256 of \"<timestamp>.<raw body>\"> keyed by a webhook trigger's secret"),
        ("X-Signature-Timestamp" = Option<String>, Header, description = "with X-Signature: unix seconds, within 5 minutes of now")),
    request_body(content = Object, description = "the instance's variables"),
    responses((status = 202, body = WebhookAccepted, description = "the instance was created and started"), (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []), ()))]
pub(crate) async fn webhook(
    State(state): State<AppState>,
    mut parts: Parts,
    IdPath(template_id): IdPath,
    OriginalUri(uri): OriginalUri,
    body: JsonBody<serde_json::Value>,
) -> Result<(StatusCode, Json<WebhookAccepted>), ApiError> {
    let idem = idempotency::from_request(&parts.headers, &parts.method, uri.path(), &body.raw)?;
    let created = match signature(&parts.headers)? {
        Some((signature, timestamp)) => {
            let request = v1::FireWebhookRequest {
                template_id: template_id.to_string(),
                signature,
                timestamp,
                body: body.raw.to_vec(),
                idempotency_key: idem.as_ref().map(|i| i.key.clone()),
                idempotency_fingerprint: idem.map(|i| i.fingerprint),
            };
            // `FireWebhook` takes the tenant from the trigger the signature matches, never
            // from the caller; the signature is the call's only credential.
            let caller = Caller::signed_webhook(
                parts
                    .headers
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
            );
            state
                .scheduler
                .call_triggers(&caller, request, |mut c, r| async move {
                    c.fire_webhook(r).await
                })
                .await?
        }
        None => {
            let caller = Caller::from_request_parts(&mut parts, &state).await?;
            with_token(&state, &caller, template_id, body, idem).await?
        }
    };
    let instance = created.instance.ok_or_else(|| {
        tracing::error!("scheduler answered without an instance");
        ApiError::internal()
    })?;
    Ok((
        StatusCode::ACCEPTED,
        Json(WebhookAccepted {
            instance_id: instance.id,
        }),
    ))
}

async fn with_token(
    state: &AppState,
    caller: &Caller,
    template_id: uuid::Uuid,
    body: JsonBody<serde_json::Value>,
    idem: Option<Idempotency>,
) -> Result<v1::CreateInstanceResponse, ApiError> {
    let request = v1::CreateInstanceRequest {
        template_id: template_id.to_string(),
        version: None,
        variables_json: variables_json(Some(body.value), "")?,
        start: true,
        idempotency_key: idem.as_ref().map(|i| i.key.clone()),
        idempotency_fingerprint: idem.map(|i| i.fingerprint),
    };
    state
        .scheduler
        .call(caller, request, |mut c, r| async move {
            c.create_instance(r).await
        })
        .await
}

/// The signature headers, when the call is signed. One without the other is refused: the
/// caller meant to sign and got it wrong.
fn signature(headers: &HeaderMap) -> Result<Option<(String, String)>, ApiError> {
    let text = |name: &str| {
        headers
            .get(name)
            .map(|v| v.to_str().map(str::to_owned))
            .transpose()
            .map_err(|_| ApiError::unauthenticated(format!("malformed {name} header")))
    };
    match (text(SIGNATURE)?, text(SIGNATURE_TIMESTAMP)?) {
        (Some(signature), Some(timestamp)) => Ok(Some((signature, timestamp))),
        (None, None) => Ok(None),
        _ => Err(ApiError::unauthenticated(
            "a signed webhook call needs both X-Signature and X-Signature-Timestamp",
        )),
    }
}
