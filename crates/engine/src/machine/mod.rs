//! The state machine: one input in, the new state and the commands that carry it out. Each
//! submodule adds the methods of one concern to [`Machine`].

mod lifecycle;
mod parallel;
mod records;
mod results;
mod start_step;
mod timers;
mod variables;

use chrono::{DateTime, Duration, Utc};
use model::{EventType, InstanceStatus, StepError};
use serde_json::{Value, json};

use crate::api::{Command, Context, Decision, Input, Rejection, Settings};
use crate::condition;
use crate::definition::{ConditionDef, Definition, ParsedDefinition};
use crate::ids::Rng;
use crate::state::{InstanceState, StateData};
use crate::template::{Budget, TemplateError, render_str_within, render_value_within};

/// Events kept for wait steps that have not asked for them yet; the oldest go first beyond it.
const MAX_BUFFERED_EVENTS: usize = 1000;

/// The state machine. Returns `Ok(None)` when the input changes nothing (a stale attempt's
/// result, a timer already cleared, a duplicate delivery): callers then write nothing.
pub fn decide(
    definition: &Definition,
    state: &InstanceState,
    input: &Input,
    context: &Context,
    settings: &Settings,
) -> Result<Option<Decision>, Rejection> {
    let mut m = Machine {
        def: &definition.inner,
        st: state.inner.clone(),
        cmds: Vec::new(),
        now: context.now,
        settings,
        rng: Rng::new(context.seed),
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

fn invalid_config(message: &str) -> StepError {
    StepError::new("invalid_config", message, false)
}

/// Evaluates a condition step; returns the result and the rendered clauses (the execution's
/// input).
fn evaluate_condition(
    cond: &ConditionDef,
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
