//! Creating an instance and starting it: one path for the API's `CreateInstance`, webhooks and
//! schedules. The start rides on a timer written with the instance, so an accepted start is
//! never lost to a crash between the two; it is carried out right after the write.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use engine::{Input, InstanceMeta, InstanceState};
use model::{EventType, Instance, Template, WorkflowEvent};
use store::{IdempotencyKey, NewInstance, StateDocument, StoreError, TimerRecord};
use uuid::Uuid;

use crate::SchedulerError;
use crate::core::{self, Core};

/// How long an `Idempotency-Key` answers the same instance.
pub(crate) const IDEMPOTENCY_WINDOW_HOURS: i64 = 24;

/// What to create.
#[derive(Debug, Clone)]
pub(crate) struct CreateInstance {
    pub tenant: String,
    pub template_id: Uuid,
    /// The latest version when `None`.
    pub version: Option<i32>,
    /// A JSON object.
    pub variables: serde_json::Value,
    pub start: bool,
    /// `Idempotency-Key` and the request's fingerprint.
    pub idempotency: Option<(String, String)>,
    /// Merged into the `instance.created` event's data (who started it: a trigger, a tick).
    pub origin: serde_json::Value,
}

/// An instance ready to be written, and its start timer when it is to start.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub new: NewInstance,
    pub start: Option<TimerRecord>,
    pub created_event: WorkflowEvent,
}

/// Creates (and starts, if asked) an instance. Answers it and whether it is new (`false` when
/// an idempotency key answered an earlier one).
pub(crate) async fn create_instance(
    core: &Arc<Core>,
    request: CreateInstance,
) -> Result<(Instance, bool), SchedulerError> {
    if !request.variables.is_object() {
        return Err(SchedulerError::invalid(
            "/variables",
            "must be a JSON object",
        ));
    }
    let template =
        load_template(core, &request.tenant, request.template_id, request.version).await?;
    let now = Utc::now();
    let prepared = prepare(
        &template,
        request.variables,
        request.start,
        now,
        request.origin,
    )?;
    let idempotency =
        request
            .idempotency
            .filter(|(key, _)| !key.is_empty())
            .map(|(key, fingerprint)| IdempotencyKey {
                key,
                fingerprint,
                expires_at: now + chrono::Duration::hours(IDEMPOTENCY_WINDOW_HOURS),
            });
    let (instance, created) = core
        .store
        .insert_instance(&prepared.new, idempotency.as_ref())
        .await?;
    if !created {
        return Ok((instance, false));
    }
    let instance = after_insert(core, instance, prepared).await?;
    Ok((instance, true))
}

/// A live template version of the tenant, its definition parsed and cached before anything is
/// written.
pub(crate) async fn load_template(
    core: &Arc<Core>,
    tenant: &str,
    template_id: Uuid,
    version: Option<i32>,
) -> Result<Template, SchedulerError> {
    let template = core
        .store
        .get_template(tenant, template_id, version, false)
        .await
        .map_err(|error| match error {
            StoreError::NotFound { .. } => SchedulerError::NotFound("template"),
            other => other.into(),
        })?;
    core.definition(tenant, template.id, template.version)
        .await?;
    Ok(template)
}

/// The rows of a new instance of `template`.
pub(crate) fn prepare(
    template: &Template,
    variables: serde_json::Value,
    start: bool,
    now: DateTime<Utc>,
    origin: serde_json::Value,
) -> Result<Prepared, SchedulerError> {
    let meta = InstanceMeta {
        id: model::new_id(),
        tenant: template.tenant.clone(),
        template_id: template.id,
        template_version: template.version,
        parent_instance_id: None,
        parent_execution_id: None,
        depth: 0,
    };
    let state = InstanceState::new(meta, variables, now);
    let mut instance = core::new_instance_row(&state);
    // The creating call's trace context (a gRPC span continuing the gateway's): the instance's
    // decisions and jobs join that trace.
    instance.traceparent = proto::trace::traceparent(&tracing::Span::current());
    let start = start.then(|| core::start_timer(instance.id, now));
    let mut data = serde_json::json!({ "template_id": instance.template_id });
    if let (Some(data), serde_json::Value::Object(origin)) = (data.as_object_mut(), origin) {
        data.extend(origin);
    }
    let created_event = WorkflowEvent {
        event_type: EventType::InstanceCreated,
        tenant: instance.tenant.clone(),
        instance_id: instance.id,
        step_id: None,
        status: instance.status.to_string(),
        at: now,
        data,
    };
    Ok(Prepared {
        new: NewInstance {
            instance,
            state: StateDocument::encode(&state)?,
            timers: start.iter().cloned().collect(),
        },
        start,
        created_event,
    })
}

/// After the instance's row is committed: announces it and carries out its start. A start that
/// fails here is not lost: its timer is in the database and the sweeper fires it.
pub(crate) async fn after_insert(
    core: &Arc<Core>,
    instance: Instance,
    prepared: Prepared,
) -> Result<Instance, SchedulerError> {
    core.hand_off(Vec::new(), vec![prepared.created_event])
        .await;
    let Some(start) = prepared.start else {
        return Ok(instance);
    };
    let started = core
        .apply(vec![core::Request {
            fired_timer: Some(start.id),
            ..core::Request::internal(instance.id, Input::Start)
        }])
        .await
        .pop()
        .unwrap_or(Err(SchedulerError::NotFound("instance")))?;
    Ok(started.instance)
}
