//! Timers: deadlines, step timeouts, retry backoff and wait steps.

use model::{InstanceStatus, JobOutcome, StepError};
use serde_json::json;
use uuid::Uuid;

use super::{Machine, TimerOwner};
use crate::api::Command;
use crate::state::{BranchStatus, Phase};

impl Machine<'_> {
    pub(super) fn find_timer(&self, id: Uuid) -> Option<TimerOwner> {
        if self.st.deadline_timer == Some(id) {
            return Some(TimerOwner::Deadline);
        }
        for (pos, exec) in self.st.active.iter().enumerate() {
            if exec.timer == Some(id) {
                return Some(TimerOwner::Exec(pos));
            }
            if let Phase::Parallel { branches } = &exec.phase
                && let Some(i) = branches.iter().position(|b| b.timer == Some(id))
            {
                return Some(TimerOwner::Branch(pos, i));
            }
        }
        None
    }

    pub(super) fn timer(&mut self, id: Uuid) -> bool {
        if self.find_timer(id).is_none() {
            return false;
        }
        // A timer is delivered once: its row goes, and a held one lives on in the state.
        self.cmds.push(Command::ClearTimer { id });
        if self.st.status == InstanceStatus::Paused {
            if !self.st.held_timers.contains(&id) {
                self.st.held_timers.push(id);
            }
            return true;
        }
        if self.st.status != InstanceStatus::Running {
            return false;
        }
        self.fire_timer(id);
        true
    }

    pub(super) fn fire_timer(&mut self, id: Uuid) {
        match self.find_timer(id) {
            None => {}
            Some(TimerOwner::Deadline) => {
                self.st.deadline_timer = None;
                self.fail_instance(StepError::new(
                    "timeout",
                    "instance exceeded its timeout_seconds",
                    false,
                ));
            }
            Some(TimerOwner::Exec(pos)) => {
                self.st.active[pos].timer = None;
                let exec = &self.st.active[pos];
                match &exec.phase {
                    Phase::Backoff => self.st.active[pos].phase = Phase::Due,
                    Phase::Job => {
                        self.cmds.push(Command::CancelJob {
                            execution_id: exec.id,
                            attempt: exec.attempt,
                        });
                        // The job row is gone with the cancel: not finished a second time.
                        self.st.active[pos].phase = Phase::Due;
                        self.fail_exec(
                            pos,
                            StepError::new("timeout", "step exceeded its timeout_seconds", true),
                        );
                    }
                    Phase::Sleep => {
                        // The time the step waited for, not the (later) moment the timer fired.
                        let until = exec
                            .input
                            .as_ref()
                            .and_then(|input| input.get("until"))
                            .cloned()
                            .unwrap_or_else(|| json!(self.now));
                        let next = self.next_of(pos);
                        self.complete_exec(pos, json!({ "waited_until": until }), &next);
                    }
                    Phase::Event { name } => {
                        let message = format!("no '{name}' event arrived in time");
                        self.fail_exec(pos, StepError::new("timeout", message, false));
                    }
                    Phase::Child { child } => {
                        self.cmds.push(Command::CancelChild {
                            child_instance_id: *child,
                        });
                        self.st.active[pos].phase = Phase::Due;
                        self.fail_exec(
                            pos,
                            StepError::new(
                                "timeout",
                                "subflow exceeded the step's timeout_seconds",
                                true,
                            ),
                        );
                    }
                    Phase::Due | Phase::Parallel { .. } => {}
                }
            }
            Some(TimerOwner::Branch(pos, index)) => {
                let status = match &self.st.active[pos].phase {
                    Phase::Parallel { branches } => branches[index].status,
                    _ => return,
                };
                match status {
                    BranchStatus::Backoff => {
                        if let Phase::Parallel { branches } = &mut self.st.active[pos].phase {
                            branches[index].timer = None;
                            branches[index].status = BranchStatus::Pending;
                        }
                        self.after_branch_change(pos);
                    }
                    BranchStatus::Queued | BranchStatus::Running => {
                        let error = StepError::new(
                            "timeout",
                            "branch exceeded the step's timeout_seconds",
                            true,
                        );
                        self.branch_finished(pos, index, JobOutcome::Failed(error), true);
                    }
                    _ => {}
                }
            }
        }
    }
}
