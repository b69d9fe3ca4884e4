//! The engine's contract with the services. The scheduler codes against these types only.

use chrono::{DateTime, Utc};
use model::{InstanceStatus, Job, JobOutcome, StepExecution, WorkflowEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::state::InstanceState;

/// Limits and defaults that come from configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Default `retry.max_attempts` (`STEP_RETRY_LIMIT`).
    pub step_retry_limit: u32,
    /// Default step `timeout_seconds` (`STEP_TIMEOUT`).
    pub step_timeout_seconds: f64,
    /// Executions an instance may make before it fails with `step_limit_exceeded`.
    pub max_executions: u32,
    /// Deepest subflow nesting.
    pub max_subflow_depth: u32,
    /// Bytes one step render may produce, as JSON (`MAX_RENDER_BYTES`); beyond it the step
    /// fails with `input_too_large`.
    pub max_render_bytes: usize,
    /// Largest step output, as JSON (`MAX_STEP_OUTPUT_BYTES`); beyond it the step fails with
    /// `output_too_large`.
    pub max_step_output_bytes: usize,
    /// Bytes of events an instance keeps for wait steps that have not asked for them yet
    /// (`MAX_BUFFERED_EVENT_BYTES`); the oldest go first beyond it.
    pub max_buffered_event_bytes: usize,
    /// Largest variables of an instance, as JSON (`MAX_VARIABLES_BYTES`): a step whose
    /// `set_variable` or `output_variable` would grow them beyond fails with `output_too_large`.
    pub max_variables_bytes: usize,
}

/// One MiB, the default of the byte limits.
pub const MIB: usize = 1 << 20;

impl Default for Settings {
    fn default() -> Self {
        Self {
            step_retry_limit: 3,
            step_timeout_seconds: 300.0,
            max_executions: 10_000,
            max_subflow_depth: 32,
            max_render_bytes: MIB,
            max_step_output_bytes: MIB,
            max_buffered_event_bytes: MIB,
            max_variables_bytes: MIB,
        }
    }
}

/// What the engine receives from outside instead of reading a clock or a random source.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    pub now: DateTime<Utc>,
    /// Fresh randomness for this decision (new ids, retry jitter).
    pub seed: u64,
}

/// Something that happened to an instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "input")]
pub enum Input {
    Start,
    Pause,
    Resume,
    Cancel,
    /// A worker took a job (the execution becomes `running`).
    JobStarted {
        execution_id: Uuid,
        attempt: i32,
        branch: Option<u32>,
    },
    /// A worker's result.
    JobFinished {
        execution_id: Uuid,
        attempt: i32,
        branch: Option<u32>,
        outcome: JobOutcome,
        /// When the worker began the job, by its clock.
        #[serde(default)]
        started_at: Option<DateTime<Utc>>,
    },
    /// A timer the engine set is due.
    Timer {
        timer_id: Uuid,
    },
    /// An event sent to the instance (`POST /instances/:id/events`).
    Event {
        name: String,
        #[serde(default)]
        data: serde_json::Value,
    },
    /// A child instance (subflow) reached a final state.
    ChildFinished {
        execution_id: Uuid,
        child_instance_id: Uuid,
        outcome: JobOutcome,
    },
}

impl Input {
    /// The input's kind, as its serialised `input` tag says it (for spans and metrics).
    pub fn kind(&self) -> &'static str {
        match self {
            Input::Start => "start",
            Input::Pause => "pause",
            Input::Resume => "resume",
            Input::Cancel => "cancel",
            Input::JobStarted { .. } => "job_started",
            Input::JobFinished { .. } => "job_finished",
            Input::Timer { .. } => "timer",
            Input::Event { .. } => "event",
            Input::ChildFinished { .. } => "child_finished",
        }
    }
}

/// What the services must do to carry out a decision. The scheduler writes every persistent
/// effect in the same transaction as the new state.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Insert or update a step execution row.
    SaveExecution(StepExecution),
    /// Write a job row and hand the job to its queue.
    Dispatch(Job),
    /// The job of this execution is done with (its result was recorded): remove its row.
    /// `execution_id` is the job's `Job::execution_id`: a step execution's id, or for a
    /// parallel branch the branch job's own id (each branch attempt has a fresh one, so job
    /// rows never collide and need no foreign key to step executions).
    FinishJob {
        execution_id: Uuid,
    },
    /// Running work must stop (cancel, timeout): remove the job row and tell workers.
    /// `execution_id` as in `FinishJob`.
    CancelJob {
        execution_id: Uuid,
        attempt: i32,
    },
    /// Feed `Input::Timer { timer_id: id }` back at `due_at`. A timer the engine acts on is
    /// cleared by the same decision (`ClearTimer`); for a timer answered with `Ok(None)` the
    /// caller deletes the row itself.
    SetTimer {
        id: Uuid,
        due_at: DateTime<Utc>,
    },
    ClearTimer {
        id: Uuid,
    },
    /// Create and start a child instance for a subflow step. `subflow` is a template id or name;
    /// when it resolves to nothing the scheduler feeds back `ChildFinished` with a
    /// `subflow_not_found` error.
    SpawnChild {
        execution_id: Uuid,
        child_instance_id: Uuid,
        subflow: String,
        version: Option<i32>,
        variables: serde_json::Value,
        depth: u32,
    },
    /// Cancel a child instance (its parent was cancelled or failed).
    CancelChild {
        child_instance_id: Uuid,
    },
    /// Tell the parent that this instance finished (this instance is a subflow child).
    NotifyParent {
        parent_instance_id: Uuid,
        execution_id: Uuid,
        outcome: JobOutcome,
    },
    /// Publish an event to watchers.
    Emit(WorkflowEvent),
}

/// The outcome of one decision.
#[derive(Debug, Clone)]
pub struct Decision {
    pub state: InstanceState,
    pub commands: Vec<Command>,
}

/// Why an input was refused; nothing changes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Rejection {
    /// A lifecycle input (start, pause, resume, cancel) not allowed from this status (409).
    #[error("instance is {status}; cannot {action}")]
    InvalidTransition {
        status: InstanceStatus,
        action: &'static str,
    },
    /// An event sent to an instance that is finished (409).
    #[error("instance is {status}")]
    Finished { status: InstanceStatus },
}
