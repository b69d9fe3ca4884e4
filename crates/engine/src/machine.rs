//! The state machine: one input in, the new state and the commands that carry it out.

use chrono::{DateTime, Duration, Utc};
use model::{
    EventType, InstanceStatus, Job, JobOutcome, StepError, StepExecution, StepStatus, WorkflowEvent,
};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::api::{
    Command, Context, Decision, Definition, Input, InstanceState, Rejection, Settings,
};
use crate::condition;
use crate::definition::{ActionDef, ParsedDefinition, SET_VARIABLE, StepDef, StepKind, WaitDef};
use crate::duration::parse_duration;
use crate::ids::Rng;
use crate::state::{Branch, BranchStatus, BufferedEvent, Exec, Phase, StateData, StepResult};
use crate::template::{Budget, TemplateError, render_str_within, render_value_within};

/// Events kept for wait steps that have not asked for them yet; the oldest go first beyond it.
const MAX_BUFFERED_EVENTS: usize = 1000;

pub(crate) fn decide(
    definition: &Definition,
    state: &InstanceState,
    input: &Input,
    ctx: &Context,
    settings: &Settings,
) -> Result<Option<Decision>, Rejection> {
    let mut m = Machine {
        def: &definition.inner,
        st: state.inner.clone(),
        cmds: Vec::new(),
        now: ctx.now,
        settings,
        rng: Rng::new(ctx.seed),
    };
    let changed = m.handle(input)?;
    if !changed {
        return Ok(None);
    }
    m.settle();
    Ok(Some(Decision {
        state: InstanceState { inner: m.st },
        commands: m.cmds,
    }))
}

/// Where a timer belongs.
enum TimerOwner {
    Deadline,
    Exec(usize),
    Branch(usize, usize),
}

struct Machine<'a> {
    def: &'a ParsedDefinition,
    st: StateData,
    cmds: Vec<Command>,
    now: DateTime<Utc>,
    settings: &'a Settings,
    rng: Rng,
}

fn seconds(secs: f64) -> Duration {
    let millis = (secs.clamp(0.0, 1.0e11) * 1000.0).round() as i64;
    Duration::milliseconds(millis)
}

impl Machine<'_> {
    fn handle(&mut self, input: &Input) -> Result<bool, Rejection> {
        let status = self.st.status;
        match input {
            Input::Start => {
                if status != InstanceStatus::Pending {
                    return Err(Rejection::InvalidTransition {
                        status,
                        action: "start",
                    });
                }
                self.start();
                Ok(true)
            }
            Input::Pause => {
                if status != InstanceStatus::Running {
                    return Err(Rejection::InvalidTransition {
                        status,
                        action: "pause",
                    });
                }
                self.st.status = InstanceStatus::Paused;
                self.emit_instance(EventType::InstancePaused, Value::Null);
                Ok(true)
            }
            Input::Resume => {
                if status != InstanceStatus::Paused {
                    return Err(Rejection::InvalidTransition {
                        status,
                        action: "resume",
                    });
                }
                self.resume();
                Ok(true)
            }
            Input::Cancel => {
                if status.is_terminal() {
                    return Err(Rejection::InvalidTransition {
                        status,
                        action: "cancel",
                    });
                }
                self.cancel();
                Ok(true)
            }
            Input::Event { name, data } => {
                if status.is_terminal() {
                    return Err(Rejection::Finished { status });
                }
                self.event(name, data.clone());
                Ok(true)
            }
            Input::JobStarted {
                execution_id,
                attempt,
                branch: _,
            } => Ok(self.job_started(*execution_id, *attempt)),
            Input::JobFinished {
                execution_id,
                attempt,
                branch: _,
                outcome,
                started_at,
            } => Ok(self.job_finished(*execution_id, *attempt, outcome.clone(), *started_at)),
            Input::Timer { timer_id } => Ok(self.timer(*timer_id)),
            Input::ChildFinished {
                execution_id,
                child_instance_id,
                outcome,
            } => Ok(self.child_finished(*execution_id, *child_instance_id, outcome.clone())),
        }
    }

    // ----- lifecycle -----

    fn start(&mut self) {
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

    fn resume(&mut self) {
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

    fn cancel(&mut self) {
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
    fn settle(&mut self) {
        while self.st.status == InstanceStatus::Running {
            let Some(pos) = self.st.active.iter().position(|e| e.phase == Phase::Due) else {
                break;
            };
            self.launch(pos);
        }
        if self.st.status == InstanceStatus::Running && self.st.active.is_empty() {
            self.complete_instance();
        }
    }

    fn complete_instance(&mut self) {
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

    fn fail_instance(&mut self, error: StepError) {
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

    fn notify_parent(&mut self, outcome: JobOutcome) {
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

    fn clear_deadline(&mut self) {
        if let Some(id) = self.st.deadline_timer.take() {
            self.cmds.push(Command::ClearTimer { id });
        }
    }

    /// Cancels everything still active: jobs, children, timers.
    fn stop_all(&mut self) {
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
    fn release(&mut self, exec: &mut Exec, cancel: bool) {
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

    // ----- arrivals and launching -----

    fn new_id(&mut self) -> Uuid {
        self.rng.uuid_v7(self.now)
    }

    fn step_def(&self, step_id: &str) -> Option<&StepDef> {
        self.def.index.get(step_id).map(|&i| &self.def.steps[i])
    }

    fn position(&self, id: Uuid) -> Option<usize> {
        self.st.active.iter().position(|e| e.id == id)
    }

    /// Counts a new execution; fails the instance past the limit.
    fn count_execution(&mut self) -> bool {
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

    /// A new execution of step `index`, launched when the instance runs.
    fn arrive(&mut self, index: usize) {
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
    fn budget(&self) -> Budget {
        Budget::new(self.settings.max_render_bytes)
    }

    fn scope(&self) -> Value {
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

    fn launch(&mut self, pos: usize) {
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
            StepKind::Action(action) => self.launch_action(pos, &step, action),
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
            StepKind::Wait(wait) => self.launch_wait(pos, wait),
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

    fn step_timeout(&self, step: &StepDef) -> f64 {
        step.timeout_seconds
            .unwrap_or(self.settings.step_timeout_seconds)
    }

    fn launch_action(&mut self, pos: usize, step: &StepDef, action: &ActionDef) {
        let scope = self.scope();
        let rendered = match render_value_within(&action.config, &scope, &mut self.budget()) {
            Ok(r) => r,
            Err(e) => return self.fail_exec(pos, template_error(e)),
        };
        self.st.active[pos].input = Some(rendered.clone());
        if action.action == SET_VARIABLE {
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

    /// Applies a rendered `set_variable` config; its output is the values set.
    fn set_variables(&mut self, config: &Value) -> Result<Value, StepError> {
        let mut set = Map::new();
        if let Some(vars) = config.get("variables") {
            let Value::Object(vars) = vars else {
                return Err(invalid_config("set_variable variables must be an object"));
            };
            set.extend(vars.clone());
        }
        if let Some(name) = config.get("name") {
            let Value::String(name) = name else {
                return Err(invalid_config("set_variable name must be a string"));
            };
            set.insert(
                name.clone(),
                config.get("value").cloned().unwrap_or(Value::Null),
            );
        }
        if !self.variables_fit(set.iter().map(|(k, v)| (k.as_str(), v))) {
            return Err(self.variables_too_large());
        }
        for (k, v) in &set {
            self.set_variable(k, v.clone());
        }
        Ok(Value::Object(set))
    }

    /// Whether the variables with `set` applied stay within `MAX_VARIABLES_BYTES`: every
    /// decision, list and read carries them, so they may not grow step by step without end.
    fn variables_fit<'v>(&self, set: impl Iterator<Item = (&'v str, &'v Value)>) -> bool {
        let mut vars = match &self.st.variables {
            Value::Object(vars) => vars.clone(),
            _ => Map::new(),
        };
        let mut changed = false;
        for (name, value) in set {
            vars.insert(name.to_owned(), value.clone());
            changed = true;
        }
        !changed || json_fits(&vars, self.settings.max_variables_bytes)
    }

    fn variables_too_large(&self) -> StepError {
        StepError::new(
            "output_too_large",
            format!(
                "the instance's variables would be larger than {} bytes",
                self.settings.max_variables_bytes
            ),
            false,
        )
    }

    fn set_variable(&mut self, name: &str, value: Value) {
        if !self.st.variables.is_object() {
            self.st.variables = Value::Object(Map::new());
        }
        if let Value::Object(vars) = &mut self.st.variables {
            vars.insert(name.to_owned(), value);
        }
    }

    fn launch_wait(&mut self, pos: usize, wait: &WaitDef) {
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

    fn next_of(&self, pos: usize) -> Vec<usize> {
        self.step_def(&self.st.active[pos].step)
            .map(|s| s.next.clone())
            .unwrap_or_default()
    }

    // ----- parallel branches -----

    /// Dispatches pending branches within `max_concurrency`, and finishes the step once every
    /// branch has finished.
    fn after_branch_change(&mut self, pos: usize) {
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

    fn branch_finished(&mut self, pos: usize, index: usize, outcome: JobOutcome, cancel: bool) {
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

    // ----- results -----

    /// An execution finished well: record it and start its successors.
    fn complete_exec(&mut self, pos: usize, output: Value, next: &[usize]) {
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
    fn fail_exec(&mut self, pos: usize, error: StepError) {
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

    fn job_started(&mut self, execution_id: Uuid, attempt: i32) -> bool {
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

    fn job_finished(
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
    fn bounded(&self, outcome: JobOutcome) -> JobOutcome {
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

    fn child_finished(&mut self, execution_id: Uuid, child_id: Uuid, outcome: JobOutcome) -> bool {
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

    fn event(&mut self, name: &str, data: Value) {
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

    // ----- timers -----

    fn find_timer(&self, id: Uuid) -> Option<TimerOwner> {
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

    fn timer(&mut self, id: Uuid) -> bool {
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

    fn fire_timer(&mut self, id: Uuid) {
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

    // ----- records and events -----

    fn save(
        &mut self,
        exec: &Exec,
        output: Option<Value>,
        error: Option<StepError>,
        finished: bool,
    ) {
        let step = self.step_def(&exec.step);
        self.cmds.push(Command::SaveExecution(StepExecution {
            id: exec.id,
            instance_id: self.st.meta.id,
            step_id: exec.step.clone(),
            name: step.and_then(|s| s.name.clone()),
            step_type: step.map_or("action", |s| s.type_name).to_owned(),
            status: exec.status,
            attempt: exec.attempt,
            input: exec.input.clone(),
            output,
            error,
            created_at: exec.created_at,
            started_at: exec.started_at,
            completed_at: finished.then_some(self.now),
        }));
    }

    fn emit_instance(&mut self, event_type: EventType, data: Value) {
        self.cmds.push(Command::Emit(WorkflowEvent {
            event_type,
            tenant: self.st.meta.tenant.clone(),
            instance_id: self.st.meta.id,
            step_id: None,
            status: self.st.status.as_str().to_owned(),
            at: self.now,
            data,
        }));
    }

    fn emit_step(&mut self, event_type: EventType, exec: &Exec, extra: Value) {
        let mut data = json!({ "execution_id": exec.id, "attempt": exec.attempt });
        if let (Value::Object(d), Value::Object(e)) = (&mut data, extra) {
            d.extend(e);
        }
        self.cmds.push(Command::Emit(WorkflowEvent {
            event_type,
            tenant: self.st.meta.tenant.clone(),
            instance_id: self.st.meta.id,
            step_id: Some(exec.step.clone()),
            status: exec.status.as_str().to_owned(),
            at: self.now,
            data,
        }));
    }
}

fn template_error(e: TemplateError) -> StepError {
    match e {
        TemplateError::Invalid(message) => StepError::new("template_error", message, false),
        // Rendering again renders the same data: retrying cannot help.
        too_large @ TemplateError::TooLarge { .. } => {
            StepError::new("input_too_large", too_large.to_string(), false)
        }
    }
}

/// Whether `value` as JSON takes at most `limit` bytes, found without building the text.
pub(crate) fn json_fits(value: &impl serde::Serialize, limit: usize) -> bool {
    struct Count {
        left: usize,
    }
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.left = self
                .left
                .checked_sub(buf.len())
                .ok_or_else(|| std::io::Error::other("over the limit"))?;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    serde_json::to_writer(Count { left: limit }, value).is_ok()
}

fn invalid_config(message: &str) -> StepError {
    StepError::new("invalid_config", message, false)
}

/// Evaluates a condition step; returns the result and the rendered clauses (the execution's
/// input).
fn evaluate_condition(
    cond: &crate::definition::ConditionDef,
    scope: &Value,
    budget: &mut Budget,
) -> Result<(bool, Value), StepError> {
    let mut rendered = Vec::with_capacity(cond.clauses.len());
    let mut results = Vec::with_capacity(cond.clauses.len());
    for clause in &cond.clauses {
        let value = match &clause.value {
            Value::String(s) => render_str_within(s, scope, budget).map_err(template_error)?,
            other => render_value_within(other, scope, budget).map_err(template_error)?,
        };
        let field = condition::lookup(scope, &clause.field);
        let result =
            condition::evaluate(clause.operator, field, &value).map_err(|m| invalid_config(&m))?;
        rendered.push(json!({
            "field": clause.field,
            "operator": crate::condition::Operator::NAMES
                .iter()
                .find(|n| crate::condition::Operator::parse(n) == Some(clause.operator))
                .copied()
                .unwrap_or_default(),
            "value": value,
            "result": result,
        }));
        results.push(result);
    }
    let result = if cond.any {
        results.iter().any(|r| *r)
    } else {
        results.iter().all(|r| *r)
    };
    Ok((
        result,
        json!({ "conditions": rendered, "match": if cond.any { "any" } else { "all" } }),
    ))
}
