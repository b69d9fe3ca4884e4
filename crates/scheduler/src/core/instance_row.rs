//! The instance row (status, variables, output, timestamps) as the engine's state says it is:
//! what a decision writes beside the state document, and a new instance's first row and start.

use chrono::{DateTime, Utc};
use engine::{Input, InstanceState};
use model::Instance;
use store::{NewInstance, StateDocument, StoreError, TimerRecord};
use uuid::Uuid;

use crate::outbox::Outbox;

/// The instance row after a decision.
pub(super) fn instance_row(
    previous: &Instance,
    state: &InstanceState,
    now: DateTime<Utc>,
) -> Instance {
    Instance {
        status: state.status(),
        variables: state.variables().clone(),
        output: state.output().cloned(),
        error: state.error().cloned(),
        started_at: state.started_at(),
        completed_at: state.completed_at(),
        updated_at: now,
        ..previous.clone()
    }
}

/// A new instance's row, from its initial state.
pub(crate) fn new_instance_row(state: &InstanceState) -> Instance {
    let meta = state.meta();
    Instance {
        id: meta.id,
        tenant: meta.tenant.clone(),
        template_id: meta.template_id,
        template_version: meta.template_version,
        status: state.status(),
        variables: state.variables().clone(),
        output: state.output().cloned(),
        error: state.error().cloned(),
        parent_instance_id: meta.parent_instance_id,
        created_at: state.created_at(),
        started_at: state.started_at(),
        completed_at: state.completed_at(),
        updated_at: state.created_at(),
        traceparent: None,
    }
}

/// A child instance with its start timer, for a subflow step.
pub(super) fn child_instance(
    state: InstanceState,
    now: DateTime<Utc>,
) -> Result<NewInstance, StoreError> {
    let instance = new_instance_row(&state);
    Ok(NewInstance {
        timers: vec![start_timer(instance.id, now)],
        instance,
        state: StateDocument::encode(&state)?,
    })
}

/// What starts a new instance: a timer due now, written with it, so that a crash before the
/// start loses nothing.
pub(crate) fn start_timer(instance_id: Uuid, now: DateTime<Utc>) -> TimerRecord {
    TimerRecord {
        id: model::new_id(),
        instance_id,
        due_at: now,
        payload: Outbox::Input {
            input: Input::Start,
        }
        .to_json(),
    }
}
