//! A subflow's child instance: its template resolved, and the child created in its parent's
//! transaction (so the outbox timer that asked for it is cleared with it), then started. A
//! subflow that does not resolve fails the parent's step instead.

use std::sync::Arc;

use chrono::Utc;
use engine::{InstanceMeta, InstanceState};
use model::{EventType, JobOutcome, StepError, WorkflowEvent};
use store::{StoreError, Transition, TransitionRequest};
use uuid::Uuid;

use super::instance_row::child_instance;
use super::{Core, Request};

impl Core {
    pub(super) async fn spawn_child(self: Arc<Self>, spawn: Spawn) {
        let template = match self.resolve_subflow(&spawn).await {
            Ok(template) => template,
            Err(error) => {
                let outcome = JobOutcome::Failed(StepError::new(
                    "subflow_not_found",
                    format!("subflow '{}': {error}", spawn.subflow),
                    false,
                ));
                let request = Request {
                    fired_timer: Some(spawn.timer),
                    ..Request::internal(
                        spawn.parent,
                        engine::Input::ChildFinished {
                            execution_id: spawn.execution_id,
                            child_instance_id: spawn.child_instance_id,
                            outcome,
                        },
                    )
                };
                for result in self.apply(vec![request]).await {
                    if let Err(error) = result {
                        tracing::warn!(error = %error, "subflow failure not recorded");
                    }
                }
                return;
            }
        };
        let now = Utc::now();
        let meta = InstanceMeta {
            id: spawn.child_instance_id,
            tenant: spawn.tenant.clone(),
            template_id: template.id,
            template_version: template.version,
            parent_instance_id: Some(spawn.parent),
            parent_execution_id: Some(spawn.execution_id),
            depth: spawn.depth,
        };
        let child =
            match child_instance(InstanceState::new(meta, spawn.variables.clone(), now), now) {
                Ok(child) => child,
                Err(error) => {
                    tracing::warn!(error = %error, "subflow child not created");
                    return;
                }
            };
        let start_timers = child.timers.clone();
        let created = WorkflowEvent {
            event_type: EventType::InstanceCreated,
            tenant: spawn.tenant.clone(),
            instance_id: child.instance.id,
            step_id: None,
            status: child.instance.status.to_string(),
            at: now,
            data: serde_json::json!({ "parent_instance_id": spawn.parent }),
        };
        let timer = spawn.timer;
        let decide: store::Decide = Box::new(move |parent| {
            // A subflow runs in its parent's trace.
            let mut child = child.clone();
            child.instance.traceparent = parent.instance.traceparent.clone();
            Ok(Some(Transition {
                new_instances: vec![child],
                cleared_timers: vec![timer],
                events: vec![created.clone()],
                ..Transition::default()
            }))
        });
        let request = TransitionRequest {
            instance_id: spawn.parent,
            decide,
        };
        match self.store.transition(vec![request]).await {
            Ok(mut results) => match results.pop() {
                Some(Ok(Some(transition))) => {
                    self.hand_off(Vec::new(), transition.events).await;
                    self.clone().fire_timers(start_timers).await;
                }
                Some(Err(error)) => tracing::warn!(error = %error, "child instance not created"),
                _ => {}
            },
            Err(error) => tracing::warn!(error = %error, "child instance not created"),
        }
    }

    async fn resolve_subflow(&self, spawn: &Spawn) -> Result<model::Template, StoreError> {
        let id = match uuid::Uuid::parse_str(&spawn.subflow) {
            Ok(id) => id,
            Err(_) => {
                self.store
                    .find_template_by_name(&spawn.tenant, &spawn.subflow)
                    .await?
                    .id
            }
        };
        let template = self
            .store
            .get_template(&spawn.tenant, id, spawn.version, false)
            .await?;
        // Warm the cache; the child's first decision needs the definition.
        if engine::validate(&template.definition).is_err() {
            return Err(StoreError::Corrupt(format!(
                "template {id} does not validate"
            )));
        }
        Ok(template)
    }
}

/// What an `Outbox::SpawnChild` timer asks for, with the timer and its (parent) instance.
pub(super) struct Spawn {
    pub(super) timer: Uuid,
    pub(super) parent: Uuid,
    pub(super) tenant: String,
    pub(super) execution_id: Uuid,
    pub(super) child_instance_id: Uuid,
    pub(super) subflow: String,
    pub(super) version: Option<i32>,
    pub(super) variables: serde_json::Value,
    pub(super) depth: u32,
}
