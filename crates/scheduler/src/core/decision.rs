//! The decision of one instance's inputs in a batch, what the store runs (as its
//! [`store::Decide`]) on the instance as it holds it: `engine::decide` on each input in order,
//! an input parked when it needs a concurrency slot the batch has none of, and the decisions
//! turned into the rows the transaction writes. It keeps what its last run found, for the batch
//! to read once the store has returned.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use engine::{Context, Decision, InstanceState};
use model::Instance;
use store::{LoadedInstance, StateDocument, StoreError, TimerRecord, Transition};
use uuid::Uuid;

use super::Request;
use super::carry_out::carry_out;
use super::instance_row::instance_row;
use super::slots::{Allowance, parked_at};
use crate::SchedulerError;
use crate::cache::DefinitionCache;
use crate::outbox::Outbox;

/// What every decision of one batch shares.
pub(super) struct BatchContext<'batch> {
    pub(super) now: DateTime<Utc>,
    /// How long the jobs a decision makes are leased before the sweeper hands them out again.
    pub(super) job_lease: chrono::Duration,
    pub(super) definitions: &'batch DefinitionCache,
    pub(super) engine: &'batch engine::Settings,
    pub(super) allowance: &'batch Allowance,
}

/// A template version that is not in the definition cache: the batch loads it and runs the
/// instance's inputs again.
#[derive(Debug, Clone)]
pub(super) struct MissingDefinition {
    pub(super) tenant: String,
    pub(super) template_id: Uuid,
    pub(super) version: i32,
}

/// What a decision's last run found.
#[derive(Default)]
pub(super) struct Outcome {
    /// One per input, in order: whether the engine accepted it, or why it was refused. `None`
    /// when the decision did not get to it.
    pub(super) results: Vec<Option<Result<bool, SchedulerError>>>,
    /// The instance row as the decision left it.
    pub(super) instance: Option<Instance>,
    pub(super) missing_definition: Option<MissingDefinition>,
    /// Slots this instance gave back (it had a job in flight and now has none).
    pub(super) released: u32,
    /// Slots this decision took from the batch's allowance: given back when it runs again, so
    /// that a rerun does not count them twice.
    taken: u32,
}

/// The inputs for one instance, decided together on one decoding of its state.
pub(super) struct InstanceDecision<'batch> {
    inputs: Vec<&'batch Request>,
    batch: &'batch BatchContext<'batch>,
    /// The engine's randomness (retry jitter), the same on every run of this decision.
    seed: u64,
    outcome: Outcome,
}

/// What the inputs decided so far have made of the instance.
struct Progress {
    state: InstanceState,
    transition: Transition,
    changed: bool,
}

impl<'batch> InstanceDecision<'batch> {
    pub(super) fn new(inputs: Vec<&'batch Request>, batch: &'batch BatchContext<'batch>) -> Self {
        Self {
            inputs,
            batch,
            seed: rand::random(),
            outcome: Outcome::default(),
        }
    }

    pub(super) fn into_outcome(self) -> Outcome {
        self.outcome
    }

    /// Decides every input on `loaded`, starting over: the store runs this again on a fresher
    /// copy when the one it had proved stale, and on a retried batch.
    pub(super) fn decide(
        &mut self,
        loaded: &LoadedInstance,
    ) -> Result<Option<Transition>, StoreError> {
        let instance = &loaded.instance;
        self.batch
            .allowance
            .give_back(&instance.tenant, self.outcome.taken);
        self.outcome = Outcome {
            results: self.inputs.iter().map(|_| None).collect(),
            instance: Some(instance.clone()),
            ..Outcome::default()
        };

        let Some(definition) = self
            .batch
            .definitions
            .get(instance.template_id, instance.template_version)
        else {
            self.outcome.missing_definition = Some(MissingDefinition {
                tenant: instance.tenant.clone(),
                template_id: instance.template_id,
                version: instance.template_version,
            });
            return Ok(None);
        };
        // Joins the trace the instance started in; disabled (free) without an exporter.
        let span = tracing::info_span!(
            target: proto::trace::SPAN_TARGET,
            "decide",
            instance_id = %instance.id,
            input = self.inputs.first().map(|request| request.input.kind()),
            batch_size = self.inputs.len(),
        );
        proto::trace::follow(&span, instance.traceparent.as_deref());
        let _decision = span.enter();

        let mut progress = Progress {
            state: loaded.state.decode()?,
            transition: Transition {
                job_lease_until: Some(self.batch.now + self.batch.job_lease),
                ..Transition::default()
            },
            changed: false,
        };
        for position in 0..self.inputs.len() {
            self.decide_input(&definition, instance, position, &mut progress);
        }
        let Progress {
            state,
            mut transition,
            changed,
        } = progress;
        transition.idle = !state.holds_slot();
        if !changed {
            if transition.cleared_timers.is_empty() && transition.timers.is_empty() {
                return Ok(None);
            }
            return Ok(Some(transition));
        }
        if let Some(traceparent) = proto::trace::traceparent(&span) {
            for job in &mut transition.jobs {
                job.traceparent = Some(traceparent.clone());
            }
        }
        let row = instance_row(instance, &state, self.batch.now);
        self.outcome.instance = Some(row.clone());
        transition.instance = Some(row);
        transition.state = Some(StateDocument::encode(&state)?);
        Ok(Some(transition))
    }

    /// Feeds the input at `position` to the instance as the earlier inputs left it.
    fn decide_input(
        &mut self,
        definition: &Arc<engine::Definition>,
        instance: &Instance,
        position: usize,
        progress: &mut Progress,
    ) {
        let request = self.inputs[position];
        if let Some(timer) = request.fired_timer {
            progress.transition.cleared_timers.push(timer);
        }
        if request
            .tenant
            .as_deref()
            .is_some_and(|tenant| tenant != instance.tenant)
        {
            self.outcome.results[position] = Some(Err(SchedulerError::NotFound("instance")));
            return;
        }
        let context = Context {
            now: self.batch.now,
            seed: self.seed.wrapping_add(position as u64),
        };
        let held = progress.state.holds_slot();
        let result = match engine::decide(
            definition,
            &progress.state,
            &request.input,
            &context,
            self.batch.engine,
        ) {
            Ok(Some(Decision {
                state: next,
                commands,
            })) => {
                let takes_slot = !held && next.holds_slot();
                if takes_slot && !self.batch.allowance.take_slot(&instance.tenant) {
                    // No slot: the input waits, unapplied, for one to free up.
                    progress.transition.timers.push(TimerRecord {
                        id: request.fired_timer.unwrap_or_else(model::new_id),
                        instance_id: instance.id,
                        due_at: parked_at(),
                        payload: Outbox::Input {
                            input: request.input.clone(),
                        }
                        .to_json(),
                    });
                    self.outcome.results[position] = Some(Ok(false));
                    return;
                }
                if takes_slot {
                    self.outcome.taken += 1;
                }
                if held && !next.holds_slot() {
                    self.outcome.released += 1;
                }
                carry_out(commands, &next, self.batch.now, &mut progress.transition);
                progress.state = next;
                progress.changed = true;
                Ok(true)
            }
            Ok(None) => Ok(false),
            Err(rejection) if request.tolerate_rejection => {
                tracing::debug!(instance_id = %instance.id, reason = %rejection, "input refused");
                Ok(false)
            }
            Err(rejection) => Err(SchedulerError::Conflict(rejection.to_string())),
        };
        self.outcome.results[position] = Some(result);
    }
}

#[cfg(test)]
mod tests {
    use engine::{Input, InstanceMeta};
    use store::SlotHolders;

    use super::*;
    use crate::core::new_instance_row;

    /// A fresh instance of a one-step template, as the store would hand it to a decision.
    fn loaded(template_id: Uuid, now: DateTime<Utc>) -> LoadedInstance {
        let meta = InstanceMeta {
            id: model::new_id(),
            tenant: "t1".to_owned(),
            template_id,
            template_version: 1,
            parent_instance_id: None,
            parent_execution_id: None,
            depth: 0,
        };
        let state = InstanceState::new(meta, serde_json::json!({}), now);
        LoadedInstance {
            instance: new_instance_row(&state),
            state: StateDocument::encode(&state).unwrap(),
        }
    }

    #[test]
    fn a_decision_run_again_takes_its_slot_once() {
        let now = Utc::now();
        let definitions = DefinitionCache::default();
        let template_id = model::new_id();
        let steps = serde_json::json!({"steps": [
            {"id": "a", "type": "action", "config": {"action": "noop"}}
        ]});
        let definition = engine::validate(&steps).unwrap().definition;
        definitions.insert(template_id, 1, Arc::new(definition));
        let engine = engine::Settings::default();
        let allowance = Allowance::checked(SlotHolders::default(), 1, 1);
        let batch = BatchContext {
            now,
            job_lease: chrono::Duration::seconds(30),
            definitions: &definitions,
            engine: &engine,
            allowance: &allowance,
        };
        let (first, second) = (loaded(template_id, now), loaded(template_id, now));
        let first_start = Request::internal(first.instance.id, Input::Start);
        let second_start = Request::internal(second.instance.id, Input::Start);

        // The store decides on a copy, finds it stale and decides again on the locked row.
        let mut decision = InstanceDecision::new(vec![&first_start], &batch);
        decision.decide(&first).unwrap();
        let rerun = decision.decide(&first).unwrap().unwrap();
        assert_eq!(rerun.jobs.len(), 1, "the rerun still has the only slot");
        assert!(matches!(
            decision.into_outcome().results[..],
            [Some(Ok(true))]
        ));

        let mut other = InstanceDecision::new(vec![&second_start], &batch);
        let parked = other.decide(&second).unwrap().unwrap();
        assert!(parked.jobs.is_empty());
        assert_eq!(parked.timers.len(), 1);
        assert_eq!(parked.timers[0].due_at, parked_at());
        assert!(matches!(
            other.into_outcome().results[..],
            [Some(Ok(false))]
        ));
    }
}
