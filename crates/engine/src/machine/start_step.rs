//! Arrivals and starting steps: a new execution of a step, its render scope, and starting
//! an action, condition, wait, parallel or subflow step.

use chrono::DateTime;
use model::actions::BuiltinAction;
use model::{EventType, InstanceStatus, Job, StepError, StepStatus};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{Machine, evaluate_condition, invalid_config, seconds, template_error};
use crate::api::Command;
use crate::definition::{ActionDef, StepDef, StepKind, WaitDef};
use crate::duration::parse_duration;
use crate::state::{Branch, BranchStatus, Exec, Phase};
use crate::template::{Budget, render_value_within};

impl Machine<'_> {
    pub(super) fn new_id(&mut self) -> Uuid {
        self.rng.uuid_v7(self.now)
    }

    pub(super) fn step_def(&self, step_id: &str) -> Option<&StepDef> {
        self.def.index.get(step_id).map(|&i| &self.def.steps[i])
    }

    pub(super) fn position(&self, id: Uuid) -> Option<usize> {
        self.st.active.iter().position(|e| e.id == id)
    }

    /// Counts a new execution; fails the instance past the limit.
    pub(super) fn count_execution(&mut self) -> bool {
        if self.st.executions >= self.settings.max_executions {
            self.fail_instance(StepError::new(
                "step_limit_exceeded",
                format!(
                    "instance exceeded {} step executions",
                    self.settings.max_executions
                ),
                false,
            ));
            return false;
        }
        self.st.executions += 1;
        true
    }

    /// A new execution of step `index`, started when the instance runs.
    pub(super) fn arrive(&mut self, index: usize) {
        if self.st.status.is_terminal() || !self.count_execution() {
            return;
        }
        let exec = Exec {
            id: self.new_id(),
            step: self.def.steps[index].id.clone(),
            attempt: 1,
            status: StepStatus::Pending,
            phase: Phase::Due,
            created_at: self.now,
            started_at: None,
            input: None,
            timer: None,
        };
        if self.st.status != InstanceStatus::Running {
            self.save(&exec, None, None, false);
        }
        self.st.active.push(exec);
    }

    /// The byte budget of one step render (`MAX_RENDER_BYTES`).
    pub(super) fn budget(&self) -> Budget {
        Budget::new(self.settings.max_render_bytes)
    }

    pub(super) fn scope(&self) -> Value {
        let steps: Map<String, Value> = self
            .st
            .results
            .iter()
            .map(|(id, r)| (id.clone(), json!({ "output": r.output, "error": r.error })))
            .collect();
        let meta = &self.st.meta;
        json!({
            "variables": self.st.variables,
            "steps": steps,
            "instance": {
                "id": meta.id,
                "template_id": meta.template_id,
                "template_version": meta.template_version,
                "parent_instance_id": meta.parent_instance_id,
            },
        })
    }

    pub(super) fn start_step(&mut self, pos: usize) {
        let Some(step) = self.step_def(&self.st.active[pos].step) else {
            let id = self.st.active[pos].step.clone();
            self.fail_instance(StepError::new(
                "internal",
                format!("step '{id}' is not in the definition"),
                false,
            ));
            return;
        };
        let step = step.clone();
        match &step.kind {
            StepKind::Action(action) => self.start_action(pos, &step, action),
            StepKind::Condition(cond) => {
                let scope = self.scope();
                match evaluate_condition(cond, &scope, &mut self.budget()) {
                    Ok((result, input)) => {
                        self.st.active[pos].input = Some(input);
                        let next: Vec<usize> = if result {
                            step.next.first().copied().into_iter().collect()
                        } else {
                            step.next.get(1).copied().into_iter().collect()
                        };
                        self.complete_exec(pos, json!({ "result": result }), &next);
                    }
                    Err(error) => self.fail_exec(pos, error),
                }
            }
            StepKind::Parallel(par) => {
                let scope = self.scope();
                let mut budget = self.budget();
                let mut branches = Vec::with_capacity(par.branches.len());
                for branch in &par.branches {
                    match render_value_within(&branch.config, &scope, &mut budget) {
                        Ok(input) => branches.push(Branch {
                            job: Uuid::nil(),
                            attempt: 1,
                            status: BranchStatus::Pending,
                            input,
                            output: Value::Null,
                            error: None,
                            timer: None,
                        }),
                        Err(e) => return self.fail_exec(pos, template_error(e)),
                    }
                }
                let exec = &mut self.st.active[pos];
                exec.input = Some(Value::Array(
                    branches.iter().map(|b| b.input.clone()).collect(),
                ));
                exec.phase = Phase::Parallel { branches };
                exec.status = StepStatus::Queued;
                let exec = exec.clone();
                self.save(&exec, None, None, false);
                self.emit_step(EventType::StepQueued, &exec, Value::Null);
                self.after_branch_change(pos);
            }
            StepKind::Wait(wait) => self.start_wait(pos, wait),
            StepKind::Subflow(sub) => {
                if self.st.meta.depth + 1 > self.settings.max_subflow_depth {
                    return self.fail_exec(
                        pos,
                        StepError::new(
                            "subflow_depth_exceeded",
                            format!(
                                "subflows nest deeper than {} levels",
                                self.settings.max_subflow_depth
                            ),
                            false,
                        ),
                    );
                }
                let scope = self.scope();
                let target = match render_value_within(&sub.target, &scope, &mut self.budget()) {
                    Ok(Value::String(t)) if !t.trim().is_empty() => t,
                    Ok(_) => {
                        return self.fail_exec(
                            pos,
                            invalid_config("subflow_id must render to a template id or name"),
                        );
                    }
                    Err(e) => return self.fail_exec(pos, template_error(e)),
                };
                let variables = match &sub.variables {
                    None => self.st.variables.clone(),
                    Some(v) => match render_value_within(v, &scope, &mut self.budget()) {
                        Ok(v @ Value::Object(_)) => v,
                        Ok(_) => {
                            return self.fail_exec(
                                pos,
                                invalid_config("subflow variables must be an object"),
                            );
                        }
                        Err(e) => return self.fail_exec(pos, template_error(e)),
                    },
                };
                let child = self.new_id();
                let timer = step.timeout_seconds.map(|secs| {
                    let id = self.new_id();
                    self.cmds.push(Command::SetTimer {
                        id,
                        due_at: self.now + seconds(secs),
                    });
                    id
                });
                let depth = self.st.meta.depth + 1;
                let exec = &mut self.st.active[pos];
                exec.input = Some(
                    json!({ "subflow_id": target, "version": sub.version, "variables": variables }),
                );
                exec.phase = Phase::Child { child };
                exec.status = StepStatus::Waiting;
                exec.started_at = Some(self.now);
                exec.timer = timer;
                let exec = exec.clone();
                self.cmds.push(Command::SpawnChild {
                    execution_id: exec.id,
                    child_instance_id: child,
                    subflow: target,
                    version: sub.version,
                    variables,
                    depth,
                });
                self.save(&exec, None, None, false);
                self.emit_step(
                    EventType::StepWaiting,
                    &exec,
                    json!({ "child_instance_id": child }),
                );
            }
        }
    }

    pub(super) fn step_timeout(&self, step: &StepDef) -> f64 {
        step.timeout_seconds
            .unwrap_or(self.settings.step_timeout_seconds)
    }

    pub(super) fn start_action(&mut self, pos: usize, step: &StepDef, action: &ActionDef) {
        let scope = self.scope();
        let rendered = match render_value_within(&action.config, &scope, &mut self.budget()) {
            Ok(r) => r,
            Err(e) => return self.fail_exec(pos, template_error(e)),
        };
        self.st.active[pos].input = Some(rendered.clone());
        if action.builtin == Some(BuiltinAction::SetVariable) {
            self.st.active[pos].started_at = Some(self.now);
            match self.set_variables(&rendered) {
                Ok(output) => self.complete_exec(pos, output, &step.next),
                Err(error) => self.fail_exec(pos, error),
            }
            return;
        }
        let timeout = self.step_timeout(step);
        let timer = self.new_id();
        let due = self.now + seconds(timeout);
        self.cmds.push(Command::SetTimer {
            id: timer,
            due_at: due,
        });
        let exec = &mut self.st.active[pos];
        exec.phase = Phase::Job;
        exec.status = StepStatus::Queued;
        exec.timer = Some(timer);
        let exec = exec.clone();
        self.cmds.push(Command::Dispatch(Job {
            execution_id: exec.id,
            attempt: exec.attempt,
            instance_id: self.st.meta.id,
            tenant: self.st.meta.tenant.clone(),
            step_id: exec.step.clone(),
            branch: None,
            queue: model::job_queue(&self.st.meta.tenant, action.queue()),
            action: action.action.clone(),
            input: rendered,
            deadline: due,
            traceparent: None,
            lease_token: String::new(),
            timeout_timer: Some(timer),
        }));
        self.save(&exec, None, None, false);
        self.emit_step(EventType::StepQueued, &exec, Value::Null);
    }

    pub(super) fn start_wait(&mut self, pos: usize, wait: &WaitDef) {
        let scope = self.scope();
        let due = match wait {
            WaitDef::Duration(spec) => {
                let secs = match render_value_within(spec, &scope, &mut self.budget()) {
                    Ok(Value::Number(n)) => n.as_f64().filter(|f| *f >= 0.0),
                    Ok(Value::String(s)) => parse_duration(&s),
                    Ok(_) => None,
                    Err(e) => return self.fail_exec(pos, template_error(e)),
                };
                let Some(secs) = secs else {
                    return self.fail_exec(pos, invalid_config("wait duration does not parse"));
                };
                let due = self.now + seconds(secs);
                self.st.active[pos].input =
                    Some(json!({ "wait_type": "duration", "seconds": secs, "until": due }));
                due
            }
            WaitDef::Until(spec) => {
                let until = match render_value_within(spec, &scope, &mut self.budget()) {
                    Ok(Value::String(s)) => DateTime::parse_from_rfc3339(s.trim())
                        .ok()
                        .map(|t| t.to_utc()),
                    Ok(_) => None,
                    Err(e) => return self.fail_exec(pos, template_error(e)),
                };
                let Some(until) = until else {
                    return self
                        .fail_exec(pos, invalid_config("wait until is not an RFC 3339 time"));
                };
                self.st.active[pos].input = Some(json!({ "wait_type": "until", "until": until }));
                until
            }
            WaitDef::Event { name, timeout } => {
                self.st.active[pos].input = Some(
                    json!({ "wait_type": "event", "event": name, "timeout_seconds": timeout }),
                );
                self.st.active[pos].started_at = Some(self.now);
                if let Some(i) = self.st.events.iter().position(|e| e.name == *name) {
                    let event = self
                        .st
                        .events
                        .remove(i)
                        .map(|e| e.data)
                        .unwrap_or(Value::Null);
                    let next = self.next_of(pos);
                    return self.complete_exec(pos, event, &next);
                }
                let timer = timeout.map(|secs| {
                    let id = self.new_id();
                    self.cmds.push(Command::SetTimer {
                        id,
                        due_at: self.now + seconds(secs),
                    });
                    id
                });
                let exec = &mut self.st.active[pos];
                exec.phase = Phase::Event { name: name.clone() };
                exec.status = StepStatus::Waiting;
                exec.timer = timer;
                let exec = exec.clone();
                self.save(&exec, None, None, false);
                self.emit_step(EventType::StepWaiting, &exec, json!({ "event": name }));
                return;
            }
        };
        self.st.active[pos].started_at = Some(self.now);
        if due <= self.now {
            let next = self.next_of(pos);
            return self.complete_exec(pos, json!({ "waited_until": due }), &next);
        }
        let id = self.new_id();
        self.cmds.push(Command::SetTimer { id, due_at: due });
        let exec = &mut self.st.active[pos];
        exec.phase = Phase::Sleep;
        exec.status = StepStatus::Waiting;
        exec.timer = Some(id);
        let exec = exec.clone();
        self.save(&exec, None, None, false);
        self.emit_step(EventType::StepWaiting, &exec, json!({ "until": due }));
    }

    pub(super) fn next_of(&self, pos: usize) -> Vec<usize> {
        self.step_def(&self.st.active[pos].step)
            .map(|s| s.next.clone())
            .unwrap_or_default()
    }
}
