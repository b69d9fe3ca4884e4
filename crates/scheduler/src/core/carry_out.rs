//! Carrying out the engine's commands: each [`Command`] becomes rows the decision's
//! transaction writes (executions, jobs, timers) or events published after it. Work between
//! instances (a child's start, its cancellation, a parent's notification) becomes a timer due
//! now, so that it survives a crash between the decision and the work.

use chrono::{DateTime, Utc};
use engine::{Command, Input, InstanceState};
use store::{TimerRecord, Transition};

use crate::outbox::Outbox;

/// Translates the engine's commands into what the transaction writes.
pub(super) fn carry_out(
    commands: Vec<Command>,
    state: &InstanceState,
    now: DateTime<Utc>,
    transition: &mut Transition,
) {
    let instance_id = state.meta().id;
    for command in commands {
        match command {
            Command::SaveExecution(mut execution) => {
                execution.instance_id = instance_id;
                match transition
                    .executions
                    .iter_mut()
                    .find(|e| e.id == execution.id)
                {
                    Some(existing) => *existing = execution,
                    None => transition.executions.push(execution),
                }
            }
            Command::Dispatch(job) => transition.jobs.push(job),
            Command::FinishJob { execution_id } | Command::CancelJob { execution_id, .. } => {
                transition
                    .jobs
                    .retain(|job| job.execution_id != execution_id);
                transition.finished_jobs.push(execution_id);
            }
            Command::SetTimer { id, due_at } => transition.timers.push(TimerRecord {
                id,
                instance_id,
                due_at,
                payload: Outbox::Input {
                    input: Input::Timer { timer_id: id },
                }
                .to_json(),
            }),
            Command::ClearTimer { id } => {
                transition.timers.retain(|timer| timer.id != id);
                transition.cleared_timers.push(id);
            }
            Command::SpawnChild {
                execution_id,
                child_instance_id,
                subflow,
                version,
                variables,
                depth,
            } => transition.timers.push(TimerRecord {
                id: model::new_id(),
                instance_id,
                due_at: now,
                payload: Outbox::SpawnChild {
                    tenant: state.meta().tenant.clone(),
                    execution_id,
                    child_instance_id,
                    subflow,
                    version,
                    variables,
                    depth,
                }
                .to_json(),
            }),
            Command::CancelChild { child_instance_id } => transition.timers.push(TimerRecord {
                id: model::new_id(),
                instance_id: child_instance_id,
                due_at: now,
                payload: Outbox::Input {
                    input: Input::Cancel,
                }
                .to_json(),
            }),
            Command::NotifyParent {
                parent_instance_id,
                execution_id,
                outcome,
            } => transition.timers.push(TimerRecord {
                id: model::new_id(),
                instance_id: parent_instance_id,
                due_at: now,
                payload: Outbox::Input {
                    input: Input::ChildFinished {
                        execution_id,
                        child_instance_id: instance_id,
                        outcome,
                    },
                }
                .to_json(),
            }),
            Command::Emit(event) => transition.events.push(event),
        }
    }
    // A job's timeout timer rides on the job's row (its deadline), the sweeper fires it from
    // there: no timer row per step.
    let jobs = &transition.jobs;
    transition
        .timers
        .retain(|timer| !jobs.iter().any(|job| job.timeout_timer == Some(timer.id)));
}

#[cfg(test)]
mod tests {
    use model::Job;
    use uuid::Uuid;

    use super::*;

    #[test]
    fn a_jobs_timeout_rides_on_its_row_not_on_a_timer_row() {
        let now = Utc::now();
        let meta = engine::InstanceMeta {
            id: model::new_id(),
            tenant: "t1".to_owned(),
            template_id: model::new_id(),
            template_version: 1,
            parent_instance_id: None,
            parent_execution_id: None,
            depth: 0,
        };
        let state = InstanceState::new(meta, serde_json::json!({}), now);
        let timeout = model::new_id();
        let sleep = model::new_id();
        let deadline = now + chrono::Duration::seconds(30);
        let job = Job {
            execution_id: model::new_id(),
            attempt: 1,
            instance_id: state.meta().id,
            tenant: "t1".to_owned(),
            step_id: "a".to_owned(),
            branch: None,
            queue: model::DEFAULT_QUEUE.to_owned(),
            action: "noop".to_owned(),
            input: serde_json::json!({}),
            deadline,
            traceparent: None,
            lease_token: String::new(),
            timeout_timer: Some(timeout),
        };
        let commands = vec![
            Command::SetTimer {
                id: timeout,
                due_at: deadline,
            },
            Command::SetTimer {
                id: sleep,
                due_at: deadline,
            },
            Command::Dispatch(job.clone()),
        ];
        let mut transition = Transition::default();
        carry_out(commands, &state, now, &mut transition);
        let timers: Vec<Uuid> = transition.timers.iter().map(|timer| timer.id).collect();
        assert_eq!(timers, vec![sleep]);
        assert_eq!(transition.jobs, vec![job]);
    }
}
