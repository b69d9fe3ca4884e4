//! Parallel branches: dispatching within `max_concurrency` and finishing the step.

use model::{EventType, InstanceStatus, Job, JobOutcome, StepError};
use serde_json::{Value, json};

use super::{Machine, seconds};
use crate::api::Command;
use crate::definition::StepKind;
use crate::state::{BranchStatus, Phase};

impl Machine<'_> {
    /// Dispatches pending branches within `max_concurrency`, and finishes the step once every
    /// branch has finished.
    pub(super) fn after_branch_change(&mut self, pos: usize) {
        let Some(step) = self.step_def(&self.st.active[pos].step).cloned() else {
            return;
        };
        let StepKind::Parallel(par) = &step.kind else {
            return;
        };
        let Phase::Parallel { branches } = &self.st.active[pos].phase else {
            return;
        };
        if branches.iter().all(|b| b.status.is_terminal()) {
            let failed: Vec<(usize, StepError)> = branches
                .iter()
                .enumerate()
                .filter_map(|(i, b)| {
                    b.error
                        .clone()
                        .filter(|_| b.status == BranchStatus::Failed)
                        .map(|e| (i, e))
                })
                .collect();
            if failed.is_empty() {
                let outputs: Vec<Value> = branches.iter().map(|b| b.output.clone()).collect();
                let set = par
                    .branches
                    .iter()
                    .zip(&outputs)
                    .filter_map(|(action, output)| {
                        action.output_variable.as_deref().map(|name| (name, output))
                    });
                if !self.variables_fit(set) {
                    let error = self.variables_too_large();
                    return self.fail_exec(pos, error);
                }
                for (action, output) in par.branches.iter().zip(&outputs) {
                    if let Some(name) = &action.output_variable {
                        self.set_variable(name, output.clone());
                    }
                }
                return self.complete_exec(pos, Value::Array(outputs), &step.next);
            }
            let kind = if failed.len() == 1 {
                failed[0].1.kind.clone()
            } else {
                "parallel_failed".to_owned()
            };
            let message = failed
                .iter()
                .map(|(i, e)| format!("branch {i}: {} ({})", e.message, e.kind))
                .collect::<Vec<_>>()
                .join("; ");
            return self.fail_exec(pos, StepError::new(kind, message, false));
        }
        if self.st.status != InstanceStatus::Running {
            return;
        }
        let limit = par.max_concurrency.map_or(usize::MAX, |n| n as usize);
        let timeout = self.step_timeout(&step);
        let in_flight = branches.iter().filter(|b| b.status.in_flight()).count();
        let pending: Vec<usize> = branches
            .iter()
            .enumerate()
            .filter(|(_, b)| b.status == BranchStatus::Pending)
            .map(|(i, _)| i)
            .take(limit.saturating_sub(in_flight))
            .collect();
        for i in pending {
            let job = self.new_id();
            let timer = self.new_id();
            let due = self.now + seconds(timeout);
            self.cmds.push(Command::SetTimer {
                id: timer,
                due_at: due,
            });
            let exec = &mut self.st.active[pos];
            let Phase::Parallel { branches } = &mut exec.phase else {
                return;
            };
            let b = &mut branches[i];
            b.job = job;
            b.status = BranchStatus::Queued;
            b.timer = Some(timer);
            let action = &par.branches[i];
            self.cmds.push(Command::Dispatch(Job {
                execution_id: job,
                attempt: b.attempt,
                instance_id: self.st.meta.id,
                tenant: self.st.meta.tenant.clone(),
                step_id: exec.step.clone(),
                branch: u32::try_from(i).ok(),
                queue: model::job_queue(&self.st.meta.tenant, action.queue()),
                action: action.action.clone(),
                input: b.input.clone(),
                deadline: due,
                traceparent: None,
                lease_token: String::new(),
                timeout_timer: Some(timer),
            }));
        }
    }

    pub(super) fn branch_finished(
        &mut self,
        pos: usize,
        index: usize,
        outcome: JobOutcome,
        cancel: bool,
    ) {
        let Some(step) = self.step_def(&self.st.active[pos].step).cloned() else {
            return;
        };
        let StepKind::Parallel(par) = &step.kind else {
            return;
        };
        let delay_attempt;
        {
            let Phase::Parallel { branches } = &mut self.st.active[pos].phase else {
                return;
            };
            let b = &mut branches[index];
            if let Some(id) = b.timer.take() {
                self.cmds.push(Command::ClearTimer { id });
            }
            if cancel {
                self.cmds.push(Command::CancelJob {
                    execution_id: b.job,
                    attempt: b.attempt,
                });
            } else {
                self.cmds.push(Command::FinishJob {
                    execution_id: b.job,
                });
            }
            delay_attempt = b.attempt;
        }
        match outcome {
            JobOutcome::Completed(output) => {
                if let Phase::Parallel { branches } = &mut self.st.active[pos].phase {
                    branches[index].status = BranchStatus::Completed;
                    branches[index].output = output;
                }
            }
            JobOutcome::Failed(error) => {
                if step
                    .retry
                    .should_retry(&error, delay_attempt, self.settings.step_retry_limit)
                {
                    let delay = step.retry.delay(delay_attempt, &mut self.rng);
                    let timer = self.new_id();
                    self.cmds.push(Command::SetTimer {
                        id: timer,
                        due_at: self.now + seconds(delay),
                    });
                    if let Phase::Parallel { branches } = &mut self.st.active[pos].phase {
                        let b = &mut branches[index];
                        b.status = BranchStatus::Backoff;
                        b.attempt += 1;
                        b.timer = Some(timer);
                    }
                    let exec = self.st.active[pos].clone();
                    self.emit_step(
                        EventType::StepRetrying,
                        &exec,
                        json!({ "branch": index, "attempt": delay_attempt + 1, "delay_seconds": delay, "error": error }),
                    );
                } else {
                    if let Phase::Parallel { branches } = &mut self.st.active[pos].phase {
                        branches[index].status = BranchStatus::Failed;
                        branches[index].error = Some(error.clone());
                    }
                    if par.fail_fast {
                        let mut exec = self.st.active.remove(pos);
                        self.release(&mut exec, true);
                        let error = StepError::new(
                            error.kind,
                            format!("branch {index}: {}", error.message),
                            false,
                        );
                        self.st.active.insert(pos, exec);
                        return self.fail_exec(pos, error);
                    }
                }
            }
        }
        self.after_branch_change(pos);
    }
}
