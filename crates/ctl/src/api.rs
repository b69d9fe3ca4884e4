//! The API's resources as the client reads them, and the calls the commands make. Each call
//! also answers the raw JSON, which `--output json` prints as the API sent it.

use std::collections::HashMap;

use model::Warning;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::client::Client;
use crate::error::{CtlError, Result};

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Template {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub version: i32,
    #[serde(default)]
    pub definition: Value,
    pub updated_at: String,
    #[serde(default)]
    pub warnings: Vec<Warning>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ErrorInfo {
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Instance {
    pub id: String,
    pub template_id: String,
    pub template_version: i32,
    pub status: String,
    #[serde(default)]
    pub variables: Value,
    pub output: Option<Value>,
    pub error: Option<ErrorInfo>,
    pub parent_instance_id: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub updated_at: Option<String>,
}

impl Instance {
    pub(crate) fn is_finished(&self) -> bool {
        matches!(self.status.as_str(), "completed" | "failed" | "cancelled")
    }
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Step {
    pub id: String,
    pub step_id: String,
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    pub attempt: i32,
    pub error: Option<ErrorInfo>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
}

/// One page of a list.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// A typed view of an answer; an answer of another shape is the server's fault.
pub(crate) fn parse<T: DeserializeOwned>(client: &Client, path: &str, value: &Value) -> Result<T> {
    T::deserialize(value).map_err(|e| CtlError::BadAnswer {
        url: client
            .url(path, &[])
            .map_or_else(|_| path.to_owned(), |u| u.to_string()),
        detail: e.to_string(),
    })
}

/// Checks an id before it goes into a path: a typo gets a clear line, not a 400 from the API.
pub(crate) fn instance_path(id: &str, rest: &str) -> Result<String> {
    let id = id.trim();
    uuid::Uuid::parse_str(id)
        .map_err(|_| CtlError::Usage(format!("'{id}' is not an instance id (a UUID)")))?;
    Ok(format!("/instances/{id}{rest}"))
}

impl Client {
    pub(crate) async fn instance(&self, id: &str) -> Result<(Instance, Value)> {
        let path = instance_path(id, "")?;
        let raw = self.get(&path, &[]).await?;
        Ok((parse(self, &path, &raw)?, raw))
    }

    pub(crate) async fn steps(&self, id: &str) -> Result<(Vec<Step>, Value)> {
        let path = instance_path(id, "/steps")?;
        let raw = self.get(&path, &[]).await?;
        let page: Page<Step> = parse(self, &path, &raw)?;
        Ok((page.items, raw))
    }

    /// The template with exactly this name, if any.
    pub(crate) async fn template_named(&self, name: &str) -> Result<Option<Template>> {
        let raw = self
            .get(
                "/templates",
                &[("name", name.to_owned()), ("limit", "1".into())],
            )
            .await?;
        let page: Page<Template> = parse(self, "/templates", &raw)?;
        Ok(page.items.into_iter().find(|t| t.name == name))
    }

    /// A template given by id or by name: an id is tried as an id first (a name may look like
    /// one), then as a name.
    pub(crate) async fn resolve_template(&self, name_or_id: &str) -> Result<Template> {
        if uuid::Uuid::parse_str(name_or_id).is_ok() {
            let path = format!("/templates/{name_or_id}");
            match self.get(&path, &[]).await {
                Ok(raw) => return parse(self, &path, &raw),
                Err(CtlError::Problem(p)) if p.status == 404 => {}
                Err(e) => return Err(e),
            }
        }
        self.template_named(name_or_id)
            .await?
            .ok_or_else(|| CtlError::NoSuchTemplate(name_or_id.to_owned()))
    }

    /// Names of the caller's templates by id, for tables of instances (one page of the most
    /// recent 500; older ones show their id).
    pub(crate) async fn template_names(&self) -> Result<HashMap<String, String>> {
        let raw = self.get("/templates", &[("limit", "500".into())]).await?;
        let page: Page<Template> = parse(self, "/templates", &raw)?;
        Ok(page.items.into_iter().map(|t| (t.id, t.name)).collect())
    }
}
