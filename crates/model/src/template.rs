use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A stored workflow template, one version of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Template {
    pub id: Uuid,
    #[serde(skip_serializing, default)]
    pub tenant: String,
    pub name: String,
    pub description: Option<String>,
    pub version: i32,
    pub definition: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Problems that do not stop the template from running (unreachable steps, a subflow
    /// target that does not exist yet, a custom action no worker has announced).
    #[serde(default)]
    pub warnings: Vec<Warning>,
}

/// A non-fatal finding about a definition, located by a JSON pointer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    pub path: String,
    pub message: String,
}
