//! Instance lifecycle: start, resume, cancel, settle, and finishing the instance.

use model::{EventType, InstanceStatus, JobOutcome, StepError, StepStatus};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Machine, seconds};
use crate::api::Command;
use crate::state::{BranchStatus, Exec, Phase};

impl Machine<'_> {
    pub(super) fn start(&mut self) {
        self.st.status = InstanceStatus::Running;
        self.st.started_at = Some(self.now);
        self.emit_instance(EventType::InstanceStarted, Value::Null);
        if let Some(secs) = self.def.timeout_seconds {
            let id = self.new_id();
            self.st.deadline_timer = Some(id);
            self.cmds.push(Command::SetTimer {
                id,
                due_at: self.now + seconds(secs),
            });
        }
        self.arrive(self.def.start);
    }

    pub(super) fn resume(&mut self) {
        self.st.status = InstanceStatus::Running;
        self.emit_instance(EventType::InstanceResumed, Value::Null);
        for id in std::mem::take(&mut self.st.held_timers) {
            if self.st.status != InstanceStatus::Running {
                break;
            }
            self.fire_timer(id);
        }
        let ids: Vec<Uuid> = self.st.active.iter().map(|e| e.id).collect();
        for id in ids {
            if let Some(pos) = self.position(id) {
                self.after_branch_change(pos);
            }
        }
    }

    pub(super) fn cancel(&mut self) {
        self.stop_all();
        self.st.status = InstanceStatus::Cancelled;
        self.st.completed_at = Some(self.now);
        self.emit_instance(EventType::InstanceCancelled, Value::Null);
        self.notify_parent(JobOutcome::Failed(StepError::new(
            "cancelled",
            "subflow instance was cancelled",
            false,
        )));
    }

    /// Launches what is due and completes the instance when nothing is left.
    pub(super) fn settle(&mut self) {
        while self.st.status == InstanceStatus::Running {
            let Some(pos) = self.st.active.iter().position(|e| e.phase == Phase::Due) else {
                break;
            };
            self.start_step(pos);
        }
        if self.st.status == InstanceStatus::Running && self.st.active.is_empty() {
            self.complete_instance();
        }
    }

    pub(super) fn complete_instance(&mut self) {
        self.clear_deadline();
        self.st.status = InstanceStatus::Completed;
        self.st.output = Some(self.st.variables.clone());
        self.st.completed_at = Some(self.now);
        self.emit_instance(
            EventType::InstanceCompleted,
            json!({ "output": self.st.variables }),
        );
        self.notify_parent(JobOutcome::Completed(self.st.variables.clone()));
    }

    pub(super) fn fail_instance(&mut self, error: StepError) {
        if self.st.status.is_terminal() {
            return;
        }
        self.stop_all();
        self.st.status = InstanceStatus::Failed;
        self.st.completed_at = Some(self.now);
        self.emit_instance(EventType::InstanceFailed, json!({ "error": error }));
        self.st.error = Some(error.clone());
        self.notify_parent(JobOutcome::Failed(error));
    }

    pub(super) fn notify_parent(&mut self, outcome: JobOutcome) {
        if let (Some(parent), Some(execution)) = (
            self.st.meta.parent_instance_id,
            self.st.meta.parent_execution_id,
        ) {
            self.cmds.push(Command::NotifyParent {
                parent_instance_id: parent,
                execution_id: execution,
                outcome,
            });
        }
    }

    pub(super) fn clear_deadline(&mut self) {
        if let Some(id) = self.st.deadline_timer.take() {
            self.cmds.push(Command::ClearTimer { id });
        }
    }

    /// Cancels everything still active: jobs, children, timers.
    pub(super) fn stop_all(&mut self) {
        self.clear_deadline();
        self.st.held_timers.clear();
        for mut exec in std::mem::take(&mut self.st.active) {
            self.release(&mut exec, true);
            exec.status = StepStatus::Cancelled;
            self.save(&exec, None, None, true);
            self.emit_step(EventType::StepCancelled, &exec, Value::Null);
        }
    }

    /// Gives up what an execution holds. `cancel`: its work is abandoned (jobs cancelled,
    /// child cancelled); otherwise its job's result was recorded.
    pub(super) fn release(&mut self, exec: &mut Exec, cancel: bool) {
        if let Some(id) = exec.timer.take() {
            self.cmds.push(Command::ClearTimer { id });
        }
        match &mut exec.phase {
            Phase::Job => {
                if cancel {
                    self.cmds.push(Command::CancelJob {
                        execution_id: exec.id,
                        attempt: exec.attempt,
                    });
                } else {
                    self.cmds.push(Command::FinishJob {
                        execution_id: exec.id,
                    });
                }
            }
            Phase::Parallel { branches } => {
                for b in branches.iter_mut() {
                    if let Some(id) = b.timer.take() {
                        self.cmds.push(Command::ClearTimer { id });
                    }
                    if matches!(b.status, BranchStatus::Queued | BranchStatus::Running) {
                        self.cmds.push(Command::CancelJob {
                            execution_id: b.job,
                            attempt: b.attempt,
                        });
                    }
                    if !b.status.is_terminal() {
                        b.status = BranchStatus::Cancelled;
                    }
                }
            }
            Phase::Child { child } => {
                if cancel {
                    self.cmds.push(Command::CancelChild {
                        child_instance_id: *child,
                    });
                }
            }
            Phase::Due | Phase::Backoff | Phase::Event { .. } | Phase::Sleep => {}
        }
    }
}
