//! Parsing and validating definitions. Everything a step needs at run time is checked here,
//! when a template is saved, and kept in typed form so the state machine never re-parses.

mod action;
mod checker;
mod condition;
mod parallel;
mod subflow;
mod validate;
mod wait;

use std::collections::{BTreeMap, HashMap};

use model::Warning;
use model::actions::BuiltinAction;
use serde_json::Value;

use crate::condition::Operator;
use crate::retry::RetryPolicy;
use crate::template::is_template;

pub use validate::validate;

/// Language limits (docs/workflow-language.md#limits): a definition is parsed into every
/// scheduler's cache and walked by every decision, and each parallel branch is a job row.
pub const MAX_DEFINITION_BYTES: usize = 1 << 20;
pub const MAX_STEPS: usize = 1000;
pub const MAX_PARALLEL_BRANCHES: usize = 1000;
/// Branches of one parallel step queued or running at once when it sets no `max_concurrency`.
pub const DEFAULT_MAX_CONCURRENCY: u32 = 100;

#[derive(Debug, Clone)]
pub(crate) struct ParsedDefinition {
    pub(crate) start: usize,
    pub(crate) steps: Vec<StepDef>,
    pub(crate) index: HashMap<String, usize>,
    pub(crate) timeout_seconds: Option<f64>,
}

#[derive(Debug, Clone)]
pub(crate) struct StepDef {
    pub(crate) id: String,
    pub(crate) name: Option<String>,
    pub(crate) type_name: &'static str,
    pub(crate) kind: StepKind,
    pub(crate) next: Vec<usize>,
    pub(crate) retry: RetryPolicy,
    pub(crate) timeout_seconds: Option<f64>,
    pub(crate) on_error: Option<usize>,
}

#[derive(Debug, Clone)]
pub(crate) enum StepKind {
    Action(ActionDef),
    Condition(ConditionDef),
    Parallel(ParallelDef),
    Wait(WaitDef),
    Subflow(SubflowDef),
}

#[derive(Debug, Clone)]
pub(crate) struct ActionDef {
    pub(crate) action: String,
    /// The built-in action `action` names; none for a custom action.
    pub(crate) builtin: Option<BuiltinAction>,
    /// The whole config (templates unrendered), `action` included.
    pub(crate) config: Value,
    pub(crate) output_variable: Option<String>,
}

impl ActionDef {
    pub(crate) fn queue(&self) -> &str {
        if self.builtin.is_some_and(BuiltinAction::runs_on_worker) {
            model::DEFAULT_QUEUE
        } else {
            &self.action
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ConditionDef {
    pub(crate) clauses: Vec<Clause>,
    pub(crate) any: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Clause {
    pub(crate) field: String,
    pub(crate) operator: Operator,
    /// May be a template.
    pub(crate) value: Value,
}

#[derive(Debug, Clone)]
pub(crate) struct ParallelDef {
    pub(crate) branches: Vec<ActionDef>,
    pub(crate) fail_fast: bool,
    pub(crate) max_concurrency: Option<u32>,
}

#[derive(Debug, Clone)]
pub(crate) enum WaitDef {
    /// Seconds, or a template string rendered and parsed at run time.
    Duration(Value),
    /// An RFC 3339 time, possibly a template.
    Until(Value),
    Event {
        name: String,
        timeout: Option<f64>,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct SubflowDef {
    pub(crate) target: Value,
    pub(crate) version: Option<i32>,
    pub(crate) variables: Option<Value>,
}

/// A parsed, validated definition. Immutable: the scheduler caches it per template version.
#[derive(Debug, Clone)]
pub struct Definition {
    // filled by the implementation
    pub(crate) inner: ParsedDefinition,
}

/// The result of validating a definition.
#[derive(Debug, Clone)]
pub struct Validated {
    pub definition: Definition,
    pub warnings: Vec<Warning>,
}

/// Names of the custom actions a definition uses (each is a queue), sorted, without repeats.
pub fn custom_actions(definition: &Definition) -> Vec<String> {
    let mut names = BTreeMap::new();
    for step in &definition.inner.steps {
        let actions: Vec<&ActionDef> = match &step.kind {
            StepKind::Action(a) => vec![a],
            StepKind::Parallel(p) => p.branches.iter().collect(),
            _ => continue,
        };
        for a in actions {
            if a.builtin.is_none() {
                names.insert(a.action.clone(), ());
            }
        }
    }
    names.into_keys().collect()
}

/// Every subflow target, with the JSON pointer of its `subflow_id`: `(path, target)`. Targets
/// that are templates are left out (they are known only at run time).
pub fn subflow_targets(definition: &Definition) -> Vec<(String, String)> {
    definition
        .inner
        .steps
        .iter()
        .enumerate()
        .filter_map(|(i, step)| match &step.kind {
            StepKind::Subflow(s) => match &s.target {
                Value::String(t) if !is_template(t) => {
                    Some((format!("/steps/{i}/config/subflow_id"), t.clone()))
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}
