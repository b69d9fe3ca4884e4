use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What happened, for watchers (SSE, Redis stream and pub/sub).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "instance.created")]
    InstanceCreated,
    #[serde(rename = "instance.started")]
    InstanceStarted,
    #[serde(rename = "instance.paused")]
    InstancePaused,
    #[serde(rename = "instance.resumed")]
    InstanceResumed,
    #[serde(rename = "instance.completed")]
    InstanceCompleted,
    #[serde(rename = "instance.failed")]
    InstanceFailed,
    #[serde(rename = "instance.cancelled")]
    InstanceCancelled,
    #[serde(rename = "step.queued")]
    StepQueued,
    #[serde(rename = "step.started")]
    StepStarted,
    #[serde(rename = "step.completed")]
    StepCompleted,
    #[serde(rename = "step.failed")]
    StepFailed,
    #[serde(rename = "step.retrying")]
    StepRetrying,
    #[serde(rename = "step.waiting")]
    StepWaiting,
    #[serde(rename = "step.cancelled")]
    StepCancelled,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InstanceCreated => "instance.created",
            Self::InstanceStarted => "instance.started",
            Self::InstancePaused => "instance.paused",
            Self::InstanceResumed => "instance.resumed",
            Self::InstanceCompleted => "instance.completed",
            Self::InstanceFailed => "instance.failed",
            Self::InstanceCancelled => "instance.cancelled",
            Self::StepQueued => "step.queued",
            Self::StepStarted => "step.started",
            Self::StepCompleted => "step.completed",
            Self::StepFailed => "step.failed",
            Self::StepRetrying => "step.retrying",
            Self::StepWaiting => "step.waiting",
            Self::StepCancelled => "step.cancelled",
        }
    }
}

/// One event: `{type, instance_id, step_id?, status, at, data}` on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowEvent {
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub tenant: String,
    pub instance_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_id: Option<String>,
    pub status: String,
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub data: serde_json::Value,
}
