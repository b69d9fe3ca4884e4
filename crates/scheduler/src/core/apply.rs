//! One batch of inputs decided and written: grouped by instance, one [`InstanceDecision`] per
//! instance, all of them in one `InstanceStore::transition`, then each input answered from its
//! instance's outcome and what the commit leaves to do handed to [`AfterCommit`]. An instance
//! whose template version is not cached yet has its inputs run again once it is loaded.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use model::ErrorCode;
use store::{StoreError, TransitionRequest};
use uuid::Uuid;

use super::after_commit::AfterCommit;
use super::decision::{BatchContext, InstanceDecision, MissingDefinition, Outcome};
use super::{Admission, Applied, Core, Request};
use crate::SchedulerError;

/// How one input fared in one run of the batch.
// One short-lived value per request: boxing would cost an allocation for nothing.
#[allow(clippy::large_enum_variant)]
enum Attempt {
    Done(Result<Applied, SchedulerError>),
    MissingDefinition(MissingDefinition),
}

/// The positions in the batch of one instance's inputs, in arrival order.
struct Group {
    instance_id: Uuid,
    members: Vec<usize>,
}

impl Core {
    /// Decides `requests` as one batch (see [`Core::apply`]); under the admission lock when
    /// the batch is checked.
    pub(crate) async fn apply_with(
        self: &Arc<Self>,
        requests: Vec<Request>,
        admission: Admission,
    ) -> Vec<Result<Applied, SchedulerError>> {
        let _admitting = match admission {
            Admission::Checked => Some(self.admission.lock().await),
            Admission::Unchecked => None,
        };
        let mut results = self.apply_once(&requests, admission).await;
        // A definition missing from the cache is loaded and the affected requests run again.
        let retry: Vec<usize> = results
            .iter()
            .enumerate()
            .filter_map(|(index, result)| {
                matches!(result, Attempt::MissingDefinition(..)).then_some(index)
            })
            .collect();
        for index in &retry {
            if let Attempt::MissingDefinition(missing) = &results[*index]
                && let Err(error) = self
                    .definition(&missing.tenant, missing.template_id, missing.version)
                    .await
            {
                results[*index] = Attempt::Done(Err(error));
            }
        }
        let again: Vec<Request> = retry
            .iter()
            .filter(|index| matches!(results[**index], Attempt::MissingDefinition(..)))
            .map(|index| requests[*index].clone())
            .collect();
        if !again.is_empty() {
            let mut second = self.apply_once(&again, admission).await.into_iter();
            for index in &retry {
                if matches!(results[*index], Attempt::MissingDefinition(..)) {
                    results[*index] = second
                        .next()
                        .unwrap_or(Attempt::Done(Err(SchedulerError::NotFound("template"))));
                }
            }
        }
        results
            .into_iter()
            .map(|attempt| match attempt {
                Attempt::Done(result) => result,
                Attempt::MissingDefinition(..) => Err(SchedulerError::NotFound("template")),
            })
            .collect()
    }

    async fn apply_once(
        self: &Arc<Self>,
        requests: &[Request],
        admission: Admission,
    ) -> Vec<Attempt> {
        let allowance = match self.allowance(admission).await {
            Ok(allowance) => allowance,
            Err(error) => return every_one_failed(requests, &error),
        };
        let batch = BatchContext {
            now: Utc::now(),
            job_lease: chrono::Duration::from_std(self.settings.job_lease)
                .unwrap_or(chrono::Duration::seconds(30)),
            definitions: &self.definitions,
            engine: &self.settings.engine,
            allowance: &allowance,
        };
        let groups = by_instance(requests);
        let mut decisions: Vec<InstanceDecision<'_>> = groups
            .iter()
            .map(|group| {
                let inputs = group.members.iter().map(|index| &requests[*index]);
                InstanceDecision::new(inputs.collect(), &batch)
            })
            .collect();
        let transition_requests: Vec<TransitionRequest<'_>> = groups
            .iter()
            .zip(&mut decisions)
            .map(|(group, decision)| TransitionRequest {
                instance_id: group.instance_id,
                decide: Box::new(move |loaded| decision.decide(loaded)),
            })
            .collect();
        let written = match self.store.transition(transition_requests).await {
            Ok(written) => written,
            Err(error) => return every_one_failed(requests, &error),
        };

        let mut attempts: Vec<Option<Attempt>> = (0..requests.len()).map(|_| None).collect();
        let mut after = AfterCommit::default();
        for ((group, decision), written) in groups.iter().zip(decisions).zip(written) {
            let mut eager = None;
            match written {
                Err(error) => {
                    for index in &group.members {
                        attempts[*index] = Some(Attempt::Done(Err(group_failed(&error))));
                    }
                    continue;
                }
                Ok(Some(mut transition)) => {
                    crate::metrics::record_finished(&transition);
                    after.watch_timeouts(&transition.jobs);
                    let members = group
                        .members
                        .iter()
                        .map(|index| (*index, &requests[*index]));
                    eager = self.take_eager(members, &mut transition.jobs);
                    after.add(transition, batch.now);
                }
                Ok(None) => {}
            }
            let outcome = decision.into_outcome();
            after.release(outcome.released);
            answer(group, outcome, eager, &mut attempts);
        }

        self.follow_up(after).await;
        attempts
            .into_iter()
            .map(|attempt| {
                attempt.unwrap_or(Attempt::Done(Err(SchedulerError::NotFound("instance"))))
            })
            .collect()
    }
}

/// The batch's instances, each with its inputs, in the order they first appear.
fn by_instance(requests: &[Request]) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut group_of: HashMap<Uuid, usize> = HashMap::new();
    for (index, request) in requests.iter().enumerate() {
        let group = *group_of.entry(request.instance_id).or_insert_with(|| {
            groups.push(Group {
                instance_id: request.instance_id,
                members: Vec::new(),
            });
            groups.len() - 1
        });
        groups[group].members.push(index);
    }
    groups
}

/// Answers a committed group's inputs from its decision's outcome; `eager` is the job handed
/// to the input (by its position in the batch) that asked for one.
fn answer(
    group: &Group,
    mut outcome: Outcome,
    mut eager: Option<(usize, model::Job)>,
    attempts: &mut [Option<Attempt>],
) {
    if let Some(missing) = outcome.missing_definition.take() {
        for index in &group.members {
            attempts[*index] = Some(Attempt::MissingDefinition(missing.clone()));
        }
        return;
    }
    for (position, index) in group.members.iter().enumerate() {
        let result = match outcome.results.get_mut(position).and_then(Option::take) {
            Some(Ok(accepted)) => match &outcome.instance {
                Some(instance) => Ok(Applied {
                    instance: instance.clone(),
                    accepted,
                    next_job: eager
                        .take_if(|(member, _)| member == index)
                        .map(|(_, job)| job),
                }),
                None => Err(SchedulerError::NotFound("instance")),
            },
            Some(Err(error)) => Err(error),
            None => Err(SchedulerError::NotFound("instance")),
        };
        attempts[*index] = Some(Attempt::Done(result));
    }
}

/// The error of every input of a batch the store could not run.
fn every_one_failed(requests: &[Request], error: &StoreError) -> Vec<Attempt> {
    requests
        .iter()
        .map(|_| Attempt::Done(Err(rejected(error))))
        .collect()
}

/// The error of every input of one instance whose decision the store refused.
fn group_failed(error: &StoreError) -> SchedulerError {
    match error.code() {
        ErrorCode::NotFound => SchedulerError::NotFound("instance"),
        _ => rejected(error),
    }
}

/// A store error for one of the callers it reached (the error itself is not `Clone`).
fn rejected(error: &StoreError) -> SchedulerError {
    SchedulerError::Storage(StoreError::Rejected {
        code: error.code(),
        message: error.to_string(),
    })
}
