//! The REST calls the benchmark makes, as any client would make them.

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Clone, Deserialize)]
pub struct Instance {
    pub id: String,
    pub status: String,
}

impl Instance {
    pub fn is_finished(&self) -> bool {
        matches!(self.status.as_str(), "completed" | "failed" | "cancelled")
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct StepExecution {
    pub created_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct Page<T> {
    items: Vec<T>,
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    /// Requests sent, to tell the engine's own database work from the benchmark's calls.
    pub requests: AtomicU64,
}

impl Client {
    pub fn new(base: &str, token: &str) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: base.to_owned(),
            token: token.to_owned(),
            requests: AtomicU64::new(0),
        }
    }

    /// Opens the event stream of the instance lifecycle's ends (Server-Sent Events), after
    /// `last_event_id` when resuming.
    pub async fn open_finish_stream(
        &self,
        last_event_id: Option<&str>,
    ) -> anyhow::Result<reqwest::Response> {
        let url = format!(
            "{}/api/v1/events/stream?type=instance.completed,instance.failed,instance.cancelled",
            self.base
        );
        let mut request = self
            .http
            .get(url)
            .bearer_auth(&self.token)
            .header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.context("opening the event stream")?;
        if response.status() != 200 {
            bail!("the event stream answered {}", response.status());
        }
        Ok(response)
    }

    async fn send(&self, request: reqwest::RequestBuilder, expect: u16) -> anyhow::Result<Value> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let response = request.bearer_auth(&self.token).send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        if status != expect {
            bail!("expected {expect}, got {status}: {text}");
        }
        Ok(serde_json::from_str(&text)?)
    }

    /// Saves a template; answers its id.
    pub async fn create_template(&self, name: &str, steps: Vec<Value>) -> anyhow::Result<String> {
        let body = json!({"name": name, "definition": {"steps": steps}});
        let created = self
            .send(
                self.http
                    .post(format!("{}/api/v1/templates", self.base))
                    .json(&body),
                201,
            )
            .await
            .with_context(|| format!("creating the template {name}"))?;
        created["id"]
            .as_str()
            .map(str::to_owned)
            .context("the template has no id")
    }

    /// Sends `event` to an instance (an empty `data`).
    pub async fn send_event(&self, instance_id: &str, event: &str) -> anyhow::Result<()> {
        let url = format!("{}/api/v1/instances/{instance_id}/events", self.base);
        self.send(
            self.http
                .post(url)
                .json(&json!({"event": event, "data": {}})),
            202,
        )
        .await
        .context("sending an event")?;
        Ok(())
    }

    /// Whether the template has an instance in `status` (one item asked for).
    pub async fn any_in(&self, template_id: &str, status: &str) -> anyhow::Result<bool> {
        let url = format!(
            "{}/api/v1/instances?status={status}&template_id={template_id}&limit=1",
            self.base
        );
        let page: Page<Instance> =
            serde_json::from_value(self.send(self.http.get(url), 200).await?)?;
        Ok(!page.items.is_empty())
    }

    /// Creates and starts an instance.
    pub async fn start_instance(&self, template_id: &str) -> anyhow::Result<Instance> {
        let body = json!({"template_id": template_id, "variables": {}, "start": true});
        let created = self
            .send(
                self.http
                    .post(format!("{}/api/v1/instances", self.base))
                    .json(&body),
                201,
            )
            .await
            .context("starting an instance")?;
        Ok(serde_json::from_value(created)?)
    }

    pub async fn instance(&self, id: &str) -> anyhow::Result<Instance> {
        let url = format!("{}/api/v1/instances/{id}", self.base);
        Ok(serde_json::from_value(
            self.send(self.http.get(url), 200).await?,
        )?)
    }

    pub async fn steps(&self, instance_id: &str) -> anyhow::Result<Vec<StepExecution>> {
        let url = format!("{}/api/v1/instances/{instance_id}/steps", self.base);
        let page: Page<StepExecution> =
            serde_json::from_value(self.send(self.http.get(url), 200).await?)?;
        Ok(page.items)
    }
}

/// A chain of `steps` `noop` actions.
pub fn chain(steps: usize) -> Vec<Value> {
    (0..steps)
        .map(|index| {
            let mut step = json!({
                "id": format!("step_{index}"),
                "type": "action",
                "config": {"action": "noop"},
            });
            if index + 1 < steps {
                step["next_steps"] = json!([format!("step_{}", index + 1)]);
            }
            step
        })
        .collect()
}

/// One `parallel` step of `branches` `noop` branches, at the engine's default width in flight.
pub fn parallel(branches: usize) -> Vec<Value> {
    let branch = json!({"action": "noop"});
    vec![json!({
        "id": "fan_out",
        "type": "parallel",
        "config": {"parallel_steps": vec![branch; branches]},
    })]
}

/// A wait for `event`, then a `noop` (so a released instance goes through a worker too).
pub fn wait_then_noop(event: &str) -> Vec<Value> {
    vec![
        json!({
            "id": "wait_for_it",
            "type": "wait",
            "config": {"wait_type": "event", "event": event},
            "next_steps": ["after"],
        }),
        json!({"id": "after", "type": "action", "config": {"action": "noop"}}),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_have_the_asked_shape() {
        let steps = chain(3);
        assert_eq!(steps.len(), 3);
        assert_eq!(steps[0]["next_steps"], json!(["step_1"]));
        assert!(steps[2].get("next_steps").is_none());
        let fan = parallel(4);
        assert_eq!(
            fan[0]["config"]["parallel_steps"].as_array().unwrap().len(),
            4
        );
        let wait = wait_then_noop("go");
        assert_eq!(wait[0]["config"]["event"], "go");
        assert_eq!(wait[0]["next_steps"], json!(["after"]));
    }
}
