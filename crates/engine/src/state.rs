//! The instance state document: compact on purpose, since it is stored with the instance and
//! handed back on every decision. Finished executions leave only their step's latest output
//! and error (for `{{steps.<id>...}}`); their full rows live in the step execution table.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Utc};
use model::{InstanceStatus, StepError, StepStatus};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// Who the instance is; fixed at creation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceMeta {
    pub id: Uuid,
    pub tenant: String,
    pub template_id: Uuid,
    pub template_version: i32,
    pub parent_instance_id: Option<Uuid>,
    /// The parent's step execution this child instance serves, if any.
    pub parent_execution_id: Option<Uuid>,
    /// Subflow nesting depth: 0 for a top-level instance.
    pub depth: u32,
}

/// Everything the engine knows about one instance; stored as a JSON document with the instance
/// row and handed back on every decision. Its fields are the implementation's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceState {
    #[serde(flatten)]
    pub(crate) inner: StateData,
}

impl InstanceState {
    /// A `pending` instance with its input variables.
    pub fn new(meta: InstanceMeta, variables: serde_json::Value, now: DateTime<Utc>) -> Self {
        new_state(meta, variables, now)
    }
    pub fn meta(&self) -> &InstanceMeta {
        &self.inner.meta
    }
    pub fn status(&self) -> InstanceStatus {
        self.inner.status
    }
    pub fn variables(&self) -> &serde_json::Value {
        &self.inner.variables
    }
    /// The final variables once `completed`.
    pub fn output(&self) -> Option<&serde_json::Value> {
        self.inner.output.as_ref()
    }
    pub fn error(&self) -> Option<&StepError> {
        self.inner.error.as_ref()
    }
    pub fn created_at(&self) -> DateTime<Utc> {
        self.inner.created_at
    }
    pub fn started_at(&self) -> Option<DateTime<Utc>> {
        self.inner.started_at
    }
    pub fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.inner.completed_at
    }
    /// The instance holds a concurrency slot: a step of it is queued or running.
    pub fn holds_slot(&self) -> bool {
        holds_slot(&self.inner)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StateData {
    pub(crate) meta: InstanceMeta,
    pub(crate) status: InstanceStatus,
    pub(crate) variables: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) output: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<StepError>,
    pub(crate) created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) completed_at: Option<DateTime<Utc>>,
    /// Step executions created so far (each attempt counts), for the execution limit.
    #[serde(default)]
    pub(crate) executions: u32,
    /// Executions not finished yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) active: Vec<Exec>,
    /// The latest result of each step that finished.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) results: BTreeMap<String, StepResult>,
    /// Events that arrived before a wait step asked for them, oldest first.
    #[serde(default, skip_serializing_if = "VecDeque::is_empty")]
    pub(crate) events: VecDeque<BufferedEvent>,
    /// The whole-instance deadline timer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) deadline_timer: Option<Uuid>,
    /// Timers that fired while paused, acted on at resume.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) held_timers: Vec<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StepResult {
    /// `null` for a step that failed (or returned `null`).
    #[serde(default)]
    pub(crate) output: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<StepError>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct BufferedEvent {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) data: Value,
}

/// One step execution (one attempt) that has not finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Exec {
    pub(crate) id: Uuid,
    pub(crate) step: String,
    pub(crate) attempt: i32,
    pub(crate) status: StepStatus,
    pub(crate) phase: Phase,
    pub(crate) created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) started_at: Option<DateTime<Utc>>,
    /// The config as rendered for this attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) input: Option<Value>,
    /// Step timeout, retry backoff, wait duration or event timeout, by phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) timer: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Phase {
    /// Arrived; started as soon as the instance is running.
    Due,
    /// A retry waiting for its backoff timer.
    Backoff,
    /// Its job is out with a worker.
    Job,
    Parallel {
        branches: Vec<Branch>,
    },
    /// A `wait` for an event.
    Event {
        name: String,
    },
    /// A `wait` for a time.
    Sleep,
    /// A subflow waiting for its child instance.
    Child {
        child: Uuid,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Branch {
    /// Id of the branch's current job (fresh per attempt, so job rows never collide).
    pub(crate) job: Uuid,
    pub(crate) attempt: i32,
    pub(crate) status: BranchStatus,
    pub(crate) input: Value,
    #[serde(default)]
    pub(crate) output: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<StepError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) timer: Option<Uuid>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum BranchStatus {
    Pending,
    Backoff,
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl BranchStatus {
    pub(crate) fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
    pub(crate) fn in_flight(self) -> bool {
        matches!(self, Self::Queued | Self::Running | Self::Backoff)
    }
}

/// Variables are always an object: `null` becomes `{}`, any other non-object input is kept
/// under `input`.
pub(crate) fn as_variables(value: Value) -> Value {
    match value {
        Value::Object(_) => value,
        Value::Null => Value::Object(Map::new()),
        other => {
            let mut map = Map::new();
            map.insert("input".to_owned(), other);
            Value::Object(map)
        }
    }
}

pub(crate) fn new_state(meta: InstanceMeta, variables: Value, now: DateTime<Utc>) -> InstanceState {
    InstanceState {
        inner: StateData {
            meta,
            status: InstanceStatus::Pending,
            variables: as_variables(variables),
            output: None,
            error: None,
            created_at: now,
            started_at: None,
            completed_at: None,
            executions: 0,
            active: Vec::new(),
            results: BTreeMap::new(),
            events: VecDeque::new(),
            deadline_timer: None,
            held_timers: Vec::new(),
        },
    }
}

pub(crate) fn holds_slot(state: &StateData) -> bool {
    state.status == InstanceStatus::Running
        && state
            .active
            .iter()
            .any(|e| matches!(e.status, StepStatus::Queued | StepStatus::Running))
}
