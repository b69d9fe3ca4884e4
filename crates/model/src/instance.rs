use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{InstanceStatus, StepError, StepStatus};

/// One run of one template version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    pub id: Uuid,
    #[serde(skip_serializing, default)]
    pub tenant: String,
    pub template_id: Uuid,
    pub template_version: i32,
    pub status: InstanceStatus,
    pub variables: serde_json::Value,
    pub output: Option<serde_json::Value>,
    pub error: Option<StepError>,
    pub parent_instance_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// W3C trace context of the call that created the instance (when tracing was on): its
    /// decisions and jobs join that trace, and the API shows its trace id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

/// One execution (one attempt) of one step of an instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepExecution {
    pub id: Uuid,
    #[serde(skip_serializing, default)]
    pub instance_id: Uuid,
    pub step_id: String,
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub step_type: String,
    pub status: StepStatus,
    pub attempt: i32,
    /// The config as rendered for this attempt.
    pub input: Option<serde_json::Value>,
    pub output: Option<serde_json::Value>,
    pub error: Option<StepError>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}
