//! Results: executions that finish, fail or retry; job, child and event inputs.

use chrono::{DateTime, Utc};
use model::{EventType, JobOutcome, StepError, StepStatus};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{MAX_BUFFERED_EVENTS, Machine, seconds};
use crate::api::Command;
use crate::definition::StepKind;
use crate::json_size::json_fits;
use crate::state::{BranchStatus, BufferedEvent, Exec, Phase, StepResult};

impl Machine<'_> {
    /// An execution finished well: record it and start its successors.
    pub(super) fn complete_exec(&mut self, pos: usize, output: Value, next: &[usize]) {
        if let Some(StepKind::Action(action)) =
            self.step_def(&self.st.active[pos].step).map(|s| &s.kind)
            && let Some(name) = &action.output_variable
            && !self.variables_fit(std::iter::once((name.as_str(), &output)))
        {
            let error = self.variables_too_large();
            return self.fail_exec(pos, error);
        }
        let mut exec = self.st.active.remove(pos);
        self.release(&mut exec, false);
        exec.status = StepStatus::Completed;
        exec.started_at = exec.started_at.or(Some(self.now));
        self.save(&exec, Some(output.clone()), None, true);
        self.emit_step(EventType::StepCompleted, &exec, Value::Null);
        if let Some(StepKind::Action(action)) = self.step_def(&exec.step).map(|s| &s.kind)
            && let Some(name) = action.output_variable.clone()
        {
            self.set_variable(&name, output.clone());
        }
        self.st.results.insert(
            exec.step.clone(),
            StepResult {
                output,
                error: None,
            },
        );
        for &index in next {
            self.arrive(index);
        }
    }

    /// An execution failed: retry it, route to `on_error`, or fail the instance.
    pub(super) fn fail_exec(&mut self, pos: usize, error: StepError) {
        let mut exec = self.st.active.remove(pos);
        self.release(&mut exec, false);
        exec.status = StepStatus::Failed;
        exec.started_at = exec.started_at.or(Some(self.now));
        self.save(&exec, None, Some(error.clone()), true);
        self.emit_step(EventType::StepFailed, &exec, json!({ "error": error }));
        let Some(step) = self.step_def(&exec.step).cloned() else {
            return self.fail_instance(error);
        };
        if step
            .retry
            .should_retry(&error, exec.attempt, self.settings.step_retry_limit)
        {
            if !self.count_execution() {
                return;
            }
            let delay = step.retry.delay(exec.attempt, &mut self.rng);
            let timer = self.new_id();
            self.cmds.push(Command::SetTimer {
                id: timer,
                due_at: self.now + seconds(delay),
            });
            let retry = Exec {
                id: self.new_id(),
                step: exec.step.clone(),
                attempt: exec.attempt + 1,
                status: StepStatus::Pending,
                phase: Phase::Backoff,
                created_at: self.now,
                started_at: None,
                input: None,
                timer: Some(timer),
            };
            self.save(&retry, None, None, false);
            self.emit_step(
                EventType::StepRetrying,
                &retry,
                json!({ "attempt": retry.attempt, "delay_seconds": delay, "error": error }),
            );
            self.st.active.push(retry);
            return;
        }
        self.st.results.insert(
            exec.step.clone(),
            StepResult {
                output: Value::Null,
                error: Some(error.clone()),
            },
        );
        match step.on_error {
            Some(handler) => self.arrive(handler),
            None => {
                let message = format!("step '{}' failed: {}", exec.step, error.message);
                self.fail_instance(StepError::new(error.kind, message, error.retryable));
            }
        }
    }

    pub(super) fn job_started(&mut self, execution_id: Uuid, attempt: i32) -> bool {
        for pos in 0..self.st.active.len() {
            let now = self.now;
            let exec = &mut self.st.active[pos];
            match &mut exec.phase {
                Phase::Job if exec.id == execution_id && exec.attempt == attempt => {
                    if exec.status != StepStatus::Queued {
                        return false;
                    }
                    exec.status = StepStatus::Running;
                    exec.started_at = Some(now);
                    let exec = exec.clone();
                    self.save(&exec, None, None, false);
                    self.emit_step(EventType::StepStarted, &exec, Value::Null);
                    return true;
                }
                Phase::Parallel { branches } => {
                    let Some(b) = branches
                        .iter_mut()
                        .find(|b| b.job == execution_id && b.attempt == attempt)
                    else {
                        continue;
                    };
                    if b.status != BranchStatus::Queued {
                        return false;
                    }
                    b.status = BranchStatus::Running;
                    if exec.status == StepStatus::Queued {
                        exec.status = StepStatus::Running;
                        exec.started_at = Some(now);
                        let exec = exec.clone();
                        self.save(&exec, None, None, false);
                        self.emit_step(EventType::StepStarted, &exec, Value::Null);
                    }
                    return true;
                }
                _ => {}
            }
        }
        false
    }

    pub(super) fn job_finished(
        &mut self,
        execution_id: Uuid,
        attempt: i32,
        outcome: JobOutcome,
        started_at: Option<DateTime<Utc>>,
    ) -> bool {
        let outcome = self.bounded(outcome);
        for pos in 0..self.st.active.len() {
            let exec = &self.st.active[pos];
            match &exec.phase {
                Phase::Job if exec.id == execution_id && exec.attempt == attempt => {
                    // The worker's clock says when it began; a short job sent no heartbeat.
                    let exec = &mut self.st.active[pos];
                    exec.started_at = exec.started_at.or(started_at.filter(|at| *at <= self.now));
                    match outcome {
                        JobOutcome::Completed(output) => {
                            let next = self.next_of(pos);
                            self.complete_exec(pos, output, &next);
                        }
                        JobOutcome::Failed(error) => self.fail_exec(pos, error),
                    }
                    return true;
                }
                Phase::Parallel { branches } => {
                    let Some(index) = branches.iter().position(|b| {
                        b.job == execution_id
                            && b.attempt == attempt
                            && matches!(b.status, BranchStatus::Queued | BranchStatus::Running)
                    }) else {
                        continue;
                    };
                    self.branch_finished(pos, index, outcome, false);
                    return true;
                }
                _ => {}
            }
        }
        false
    }

    /// A result larger than `MAX_STEP_OUTPUT_BYTES` fails its step: an external worker may send
    /// one (ours cap it before sending), and storing it would grow every later decision of the
    /// instance. The same data would come back on a retry, so it is final.
    pub(super) fn bounded(&self, outcome: JobOutcome) -> JobOutcome {
        let limit = self.settings.max_step_output_bytes;
        match &outcome {
            JobOutcome::Completed(output) if !json_fits(output, limit) => {
                JobOutcome::Failed(StepError::new(
                    "output_too_large",
                    format!("the step output is larger than {limit} bytes"),
                    false,
                ))
            }
            _ => outcome,
        }
    }

    pub(super) fn child_finished(
        &mut self,
        execution_id: Uuid,
        child_id: Uuid,
        outcome: JobOutcome,
    ) -> bool {
        let Some(pos) = self
            .st
            .active
            .iter()
            .position(|e| e.id == execution_id && e.phase == Phase::Child { child: child_id })
        else {
            return false;
        };
        match outcome {
            JobOutcome::Completed(output) => {
                let next = self.next_of(pos);
                self.complete_exec(pos, output, &next);
            }
            JobOutcome::Failed(error) => {
                let message = format!("subflow failed: {}", error.message);
                self.fail_exec(pos, StepError::new(error.kind, message, error.retryable));
            }
        }
        true
    }

    pub(super) fn event(&mut self, name: &str, data: Value) {
        let waiting = self
            .st
            .active
            .iter()
            .position(|e| matches!(&e.phase, Phase::Event { name: n } if n == name));
        match waiting {
            Some(pos) => {
                let next = self.next_of(pos);
                self.complete_exec(pos, data, &next);
            }
            None => {
                self.st.events.push_back(BufferedEvent {
                    name: name.to_owned(),
                    data,
                });
                // Bounded by count and by bytes (`MAX_BUFFERED_EVENT_BYTES`): every decision
                // reads and writes the whole state, buffered events included.
                let limit = self.settings.max_buffered_event_bytes;
                while self.st.events.len() > MAX_BUFFERED_EVENTS
                    || !json_fits(&self.st.events, limit)
                {
                    self.st.events.pop_front();
                }
            }
        }
    }
}
