use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::StepError;

/// The unit of work handed to a worker: one attempt of one action. It is a row in the database
/// (written with the decision that made it) before it is ever a message on a queue, so a queue
/// that forgets it loses nothing: the sweeper hands it out again when its lease runs out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// The step execution this job carries out; with `attempt`, the job's identity. A result for
    /// an attempt that is no longer current is ignored.
    pub execution_id: Uuid,
    pub attempt: i32,
    pub instance_id: Uuid,
    pub tenant: String,
    pub step_id: String,
    /// Index of the parallel branch this job runs, for a `parallel` step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<u32>,
    /// The queue it goes to: `default` for built-in actions, the action's name for custom ones.
    pub queue: String,
    pub action: String,
    /// The action's config, rendered.
    pub input: serde_json::Value,
    /// When the worker must give up on it.
    pub deadline: DateTime<Utc>,
    /// W3C trace context of the decision that made the job, so one trace follows an instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// Proof of this delivery, set by the scheduler as the job leaves for its queue:
    /// `Heartbeat` and `CompleteJob` are refused without it. Empty in the job's own row.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub lease_token: String,
    /// The engine's timer for this job's timeout, due at `deadline`. The job's row carries it,
    /// so a step needs no timer row of its own: the sweeper fires it from the row (issue 9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_timer: Option<Uuid>,
}

/// What a worker reports for one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResult {
    pub execution_id: Uuid,
    pub attempt: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<u32>,
    pub outcome: JobOutcome,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "value")]
pub enum JobOutcome {
    Completed(serde_json::Value),
    Failed(StepError),
}
