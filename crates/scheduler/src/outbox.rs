//! What a durable timer carries. Timers are the engine's own (a wait, a retry backoff, a step
//! deadline) and also the outbox for work between instances: starting a child, cancelling it,
//! telling a parent its child ended. Written in the transaction of the decision that made them,
//! they survive any crash between that decision and the work it asks for.

use engine::Input;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outbox {
    /// Feed this input to the timer's instance.
    Input { input: Input },
    /// Resolve a subflow's template and create its child instance (the timer's instance is the
    /// parent).
    SpawnChild {
        tenant: String,
        execution_id: Uuid,
        child_instance_id: Uuid,
        subflow: String,
        version: Option<i32>,
        variables: serde_json::Value,
        depth: u32,
    },
}

impl Outbox {
    /// The timer's payload. Never `null`: a payload that does not decode would be a timer that
    /// fires into nothing, so an outbox that could not encode must not be written at all.
    pub fn to_json(&self) -> serde_json::Value {
        // Infallible: every variant is a struct variant (as is every `Input`, so the internal
        // tags have a map to go in) and every map key is a string; the test below encodes each.
        serde_json::to_value(self).expect("an outbox entry encodes as JSON")
    }
}

use std::sync::Arc;

use chrono::Utc;
use engine::{InstanceMeta, InstanceState};
use model::{EventType, JobOutcome, StepError, WorkflowEvent};
use store::{StoreError, TimerRecord, Transition, TransitionRequest};

use crate::core::{Core, Request, child_instance};

impl Core {
    /// Carries out due timers: inputs to their instances in one batch, children spawned.
    ///
    /// Boxed because it recurses through [`Core::apply`] (a decision can make timers due now).
    pub fn fire_timers(
        self: Arc<Self>,
        timers: Vec<TimerRecord>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        Box::pin(async move { self.fire_timers_now(timers).await })
    }

    async fn fire_timers_now(self: Arc<Self>, timers: Vec<TimerRecord>) {
        let mut requests = Vec::new();
        for timer in timers {
            match serde_json::from_value::<Outbox>(timer.payload.clone()) {
                Ok(Outbox::Input { input }) => requests.push(Request {
                    fired_timer: Some(timer.id),
                    ..Request::internal(timer.instance_id, input)
                }),
                Ok(Outbox::SpawnChild {
                    tenant,
                    execution_id,
                    child_instance_id,
                    subflow,
                    version,
                    variables,
                    depth,
                }) => {
                    let spawn = Spawn {
                        timer: timer.id,
                        parent: timer.instance_id,
                        tenant,
                        execution_id,
                        child_instance_id,
                        subflow,
                        version,
                        variables,
                        depth,
                    };
                    let core = self.clone();
                    tokio::spawn(async move { core.spawn_child(spawn).await });
                }
                Err(error) => {
                    tracing::error!(timer_id = %timer.id, error = %error, "unreadable timer payload")
                }
            }
        }
        if requests.is_empty() {
            return;
        }
        for result in self.apply(requests).await {
            if let Err(error) = result {
                tracing::warn!(error = %error, "timer input failed");
            }
        }
    }

    async fn spawn_child(self: Arc<Self>, spawn: Spawn) {
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

struct Spawn {
    timer: Uuid,
    parent: Uuid,
    tenant: String,
    execution_id: Uuid,
    child_instance_id: Uuid,
    subflow: String,
    version: Option<i32>,
    variables: serde_json::Value,
    depth: u32,
}

#[cfg(test)]
mod tests {
    use model::JobOutcome;

    use super::*;

    #[test]
    fn every_outbox_entry_encodes_and_decodes() {
        let id = Uuid::from_u128(7);
        let inputs = [
            Input::Start,
            Input::Pause,
            Input::Resume,
            Input::Cancel,
            Input::JobStarted {
                execution_id: id,
                attempt: 1,
                branch: Some(2),
            },
            Input::JobFinished {
                execution_id: id,
                attempt: 1,
                branch: None,
                outcome: JobOutcome::Completed(serde_json::json!({"k": [1, "v"]})),
                started_at: None,
            },
            Input::Timer { timer_id: id },
            Input::Event {
                name: "approved".to_owned(),
                data: serde_json::json!({"by": "me"}),
            },
            Input::ChildFinished {
                execution_id: id,
                child_instance_id: id,
                outcome: JobOutcome::Completed(serde_json::Value::Null),
            },
        ];
        let mut entries: Vec<Outbox> = inputs
            .into_iter()
            .map(|input| Outbox::Input { input })
            .collect();
        entries.push(Outbox::SpawnChild {
            tenant: "acme".to_owned(),
            execution_id: id,
            child_instance_id: id,
            subflow: "child".to_owned(),
            version: Some(3),
            variables: serde_json::json!({"a": 1}),
            depth: 1,
        });
        for entry in entries {
            let json = entry.to_json();
            assert!(json.is_object(), "{json}");
            let back: Outbox = serde_json::from_value(json.clone()).unwrap();
            assert_eq!(back.to_json(), json);
        }
    }
}
