//! `TriggerService`: trigger configurations, and webhook calls authenticated by signature.
//!
//! Webhooks are verified here rather than in the gateway because the scheduler alone can read
//! the secrets (the gateway holds none and never touches the database): the gateway forwards
//! the signature headers and the raw body in one `FireWebhook` call, and the trigger whose
//! secret made the signature names the tenant the instance is created in.

use std::sync::Arc;

use chrono::Utc;
use proto::v1;
use proto::v1::trigger_service_server::TriggerService;
use store::{SCHEDULE, StoreError, TriggerFilter, TriggerRecord, WEBHOOK};
use tokio::sync::Notify;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::caller::{Caller, next_cursor, optional_id, page_limit};
use crate::core::Core;
use crate::create_instance::{self, CreateInstance};
use crate::secrets::{self, TriggerKey};
use crate::signature::{Refusal, Signed};
use crate::trigger_config::{Schedule, Webhook};
use crate::{SchedulerError, convert};

pub(crate) struct TriggerApi {
    core: Arc<Core>,
    key: TriggerKey,
    /// Wakes the schedule loop when a schedule is created or deleted.
    schedules_wake: Arc<Notify>,
}

impl TriggerApi {
    pub(crate) fn new(core: Arc<Core>, key: TriggerKey, schedules_wake: Arc<Notify>) -> Self {
        Self {
            core,
            key,
            schedules_wake,
        }
    }

    /// The tenant's trigger, or not found.
    async fn trigger(&self, caller: &Caller, id: &str) -> Result<TriggerRecord, SchedulerError> {
        let id = convert::id(id, "/id")?;
        self.core
            .store
            .get_trigger(&caller.tenant, id)
            .await
            .map_err(not_found)
    }

    /// The enabled webhook trigger of the template whose secret made the signature.
    async fn signer(
        &self,
        template_id: Uuid,
        signed: &Signed<'_>,
        body: &[u8],
    ) -> Result<TriggerRecord, Status> {
        let candidates = self
            .core
            .store
            .webhook_triggers(template_id)
            .await
            .map_err(SchedulerError::from)?;
        for trigger in candidates {
            let Some(sealed) = &trigger.secret_ciphertext else {
                continue;
            };
            let secret = match self.key.open(trigger.id, sealed) {
                Ok(secret) => secret,
                Err(error) => {
                    tracing::error!(trigger_id = %trigger.id, error = %error, "webhook secret unreadable");
                    continue;
                }
            };
            if signed.made_with(&secret, body) {
                return Ok(trigger);
            }
        }
        Err(refused(Refusal::Mismatch))
    }
}

/// A signature names one request (its timestamp and body, under one secret), so a signed call
/// without an `Idempotency-Key` is kept under its signature: sent again, inside the tolerance
/// window or not, it answers the instance the first call created, never a new one. The key
/// starts with a space, which no `Idempotency-Key` a caller sends may hold, so the two never
/// meet; idempotency keys outlive the 5-minute window by far, and past it the timestamp
/// check refuses the call anyway.
fn replay_key(template_id: Uuid, signature: &str) -> (String, String) {
    let signature = signature.trim().to_ascii_lowercase();
    (format!(" webhook:{template_id}:{signature}"), signature)
}

fn not_found(error: StoreError) -> SchedulerError {
    match error {
        StoreError::NotFound { .. } => SchedulerError::NotFound("trigger"),
        other => other.into(),
    }
}

fn refused(refusal: Refusal) -> Status {
    Status::unauthenticated(refusal.to_string())
}

/// The trigger as the API shows it: never a secret.
fn shown(trigger: &TriggerRecord) -> v1::Trigger {
    v1::Trigger {
        id: trigger.id.to_string(),
        template_id: trigger.template_id.to_string(),
        r#type: trigger.kind.clone(),
        enabled: trigger.enabled,
        config_json: trigger.config.to_string(),
        created_at: convert::time(trigger.created_at),
        updated_at: convert::time(trigger.updated_at),
        next_fire_at: trigger.next_fire_at.map(convert::time),
    }
}

#[tonic::async_trait]
impl TriggerService for TriggerApi {
    async fn create_trigger(
        &self,
        request: Request<v1::CreateTriggerRequest>,
    ) -> Result<Response<v1::Trigger>, Status> {
        let caller = Caller::of(&request)?;
        caller.may_write()?;
        let body = request.into_inner();
        let template_id = convert::id(&body.template_id, "/template_id")?;
        let config = convert::document(&body.config_json, "/config", serde_json::json!({}))?;
        if body.r#type != WEBHOOK && body.r#type != SCHEDULE {
            return Err(SchedulerError::invalid(
                "/type",
                format!("'{}' is not one of webhook, schedule", body.r#type),
            )
            .into());
        }
        // Checked before the template, so a bad config answers 422 whatever the template.
        let webhook = (body.r#type == WEBHOOK)
            .then(|| Webhook::from_config(&config))
            .transpose()?;
        let schedule = (body.r#type == SCHEDULE)
            .then(|| Schedule::from_config(&config))
            .transpose()?;
        self.core
            .store
            .get_template(&caller.tenant, template_id, None, false)
            .await
            .map_err(|error| match error {
                StoreError::NotFound { .. } => SchedulerError::NotFound("template"),
                other => other.into(),
            })?;

        let now = Utc::now();
        let enabled = body.enabled.unwrap_or(true);
        let mut trigger = TriggerRecord {
            id: model::new_id(),
            tenant: caller.tenant.clone(),
            template_id,
            kind: body.r#type,
            enabled,
            config: serde_json::json!({}),
            secret_ciphertext: None,
            next_fire_at: None,
            created_at: now,
            updated_at: now,
        };
        let mut shown_config = serde_json::json!({});
        if let Some(webhook) = webhook {
            let secret = webhook.secret.unwrap_or_else(secrets::generate_secret);
            trigger.secret_ciphertext = Some(self.key.seal(trigger.id, secret.as_bytes()));
            shown_config = serde_json::json!({ "secret": secret });
        }
        if let Some(schedule) = &schedule {
            trigger.config = schedule.to_config();
            trigger.next_fire_at = enabled.then(|| schedule.next_after(now)).flatten();
            shown_config = trigger.config.clone();
        }
        self.core
            .store
            .insert_trigger(&trigger)
            .await
            .map_err(SchedulerError::from)?;
        if trigger.next_fire_at.is_some() {
            self.schedules_wake.notify_one();
        }
        tracing::info!(trigger_id = %trigger.id, kind = %trigger.kind, template_id = %template_id, "trigger created");
        Ok(Response::new(v1::Trigger {
            config_json: shown_config.to_string(),
            ..shown(&trigger)
        }))
    }

    async fn get_trigger(
        &self,
        request: Request<v1::TriggerRef>,
    ) -> Result<Response<v1::Trigger>, Status> {
        let caller = Caller::of(&request)?;
        let trigger = self.trigger(&caller, &request.get_ref().id).await?;
        Ok(Response::new(shown(&trigger)))
    }

    async fn list_triggers(
        &self,
        request: Request<v1::ListTriggersRequest>,
    ) -> Result<Response<v1::ListTriggersResponse>, Status> {
        let caller = Caller::of(&request)?;
        let body = request.into_inner();
        let limit = page_limit(body.limit);
        let kind = body.r#type.filter(|t| !t.is_empty());
        if let Some(kind) = &kind
            && kind != WEBHOOK
            && kind != SCHEDULE
        {
            return Err(SchedulerError::invalid(
                "/type",
                format!("'{kind}' is not one of webhook, schedule"),
            )
            .into());
        }
        let filter = TriggerFilter {
            template_id: optional_id(body.template_id, "/template_id")?,
            kind,
            page: store::Page {
                limit,
                cursor: optional_id(body.cursor, "/cursor")?,
            },
        };
        let triggers = self
            .core
            .store
            .list_triggers(&caller.tenant, &filter)
            .await
            .map_err(SchedulerError::from)?;
        let next_cursor = next_cursor(triggers.len(), limit, triggers.last().map(|item| item.id));
        Ok(Response::new(v1::ListTriggersResponse {
            items: triggers.iter().map(shown).collect(),
            next_cursor,
        }))
    }

    async fn delete_trigger(
        &self,
        request: Request<v1::TriggerRef>,
    ) -> Result<Response<()>, Status> {
        let caller = Caller::of(&request)?;
        caller.may_write()?;
        let id = convert::id(&request.get_ref().id, "/id")?;
        self.core
            .store
            .delete_trigger(&caller.tenant, id)
            .await
            .map_err(not_found)?;
        self.schedules_wake.notify_one();
        tracing::info!(trigger_id = %id, "trigger deleted");
        Ok(Response::new(()))
    }

    async fn fire_webhook(
        &self,
        request: Request<v1::FireWebhookRequest>,
    ) -> Result<Response<v1::CreateInstanceResponse>, Status> {
        let body = request.into_inner();
        let signed =
            Signed::parse(&body.signature, &body.timestamp, Utc::now()).map_err(refused)?;
        // An unreadable template id matches no trigger: refused like any other mismatch, so
        // that an unauthenticated caller learns nothing about ids.
        let template_id =
            Uuid::parse_str(&body.template_id).map_err(|_| refused(Refusal::Mismatch))?;
        let trigger = self.signer(template_id, &signed, &body.body).await?;
        let variables = if body.body.iter().all(u8::is_ascii_whitespace) {
            serde_json::json!({})
        } else {
            serde_json::from_slice(&body.body).map_err(|error| {
                SchedulerError::BadRequest(format!("the body is not valid JSON: {error}"))
            })?
        };
        let request = CreateInstance {
            tenant: trigger.tenant.clone(),
            template_id,
            version: None,
            variables,
            start: true,
            idempotency: Some(match body.idempotency_key {
                Some(key) => (key, body.idempotency_fingerprint.unwrap_or_default()),
                None => replay_key(template_id, &body.signature),
            }),
            origin: serde_json::json!({ "trigger_id": trigger.id }),
        };
        let (instance, created) = create_instance::create_instance(&self.core, request).await?;
        tracing::info!(trigger_id = %trigger.id, instance_id = %instance.id, created, "webhook fired");
        Ok(Response::new(v1::CreateInstanceResponse {
            instance: Some(convert::instance(&instance)),
            created,
        }))
    }
}
