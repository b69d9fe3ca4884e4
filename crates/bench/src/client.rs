//! The REST calls the benchmark makes, as any client would make them.

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use workflow_engine::token::{TokenRequest, mint};

#[derive(Debug, Clone, Deserialize)]
pub struct Instance {
    pub id: String,
    pub status: String,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

impl Instance {
    pub fn is_finished(&self) -> bool {
        matches!(self.status.as_str(), "completed" | "failed" | "cancelled")
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct StepExecution {
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct Page<T> {
    items: Vec<T>,
    next_cursor: Option<String>,
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    /// Requests sent, to tell the engine's own database work from the benchmark's polling.
    pub requests: AtomicU64,
}

impl Client {
    pub fn new(base: &str, secret: &str) -> anyhow::Result<Client> {
        let rules = identity::TokenRules {
            secret: secret.to_owned(),
            issuer: None,
            audience: None,
            max_lifetime: std::time::Duration::from_secs(24 * 3600),
            max_worker_lifetime: std::time::Duration::from_secs(24 * 3600),
        };
        let token = mint(
            &rules,
            &TokenRequest {
                subject: "bench".into(),
                tenant: None,
                role: model::Role::Admin,
                ttl_hours: 24,
                queues: None,
            },
        )?;
        Ok(Client {
            http: reqwest::Client::new(),
            base: base.to_owned(),
            token,
            requests: AtomicU64::new(0),
        })
    }

    pub async fn wait_healthy(&self) -> anyhow::Result<()> {
        for _ in 0..400 {
            let response = self.http.get(format!("{}/health", self.base)).send().await;
            if response.is_ok_and(|r| r.status() == 200) {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        bail!("the engine never became healthy at {}", self.base)
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

    /// A template of `steps` `noop` actions in a chain; answers its id.
    pub async fn create_chain_template(&self, name: &str, steps: usize) -> anyhow::Result<String> {
        let steps: Vec<Value> = (0..steps)
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
            .collect();
        let body = json!({"name": name, "definition": {"steps": steps}});
        let created = self
            .send(
                self.http
                    .post(format!("{}/api/v1/templates", self.base))
                    .json(&body),
                201,
            )
            .await
            .context("creating the template")?;
        created["id"]
            .as_str()
            .map(str::to_owned)
            .context("the template has no id")
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

    /// Every instance of the template in `status`, all pages.
    pub async fn instances_in(
        &self,
        template_id: &str,
        status: &str,
    ) -> anyhow::Result<Vec<Instance>> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            // Every value is a status word, a UUID or a cursor the engine made: nothing to
            // escape.
            let mut url = format!(
                "{}/api/v1/instances?status={status}&template_id={template_id}&limit=500",
                self.base
            );
            if let Some(cursor) = &cursor {
                url.push_str("&cursor=");
                url.push_str(cursor);
            }
            let request = self.http.get(url);
            let page: Page<Instance> = serde_json::from_value(self.send(request, 200).await?)?;
            all.extend(page.items);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(all),
            }
        }
    }

    pub async fn steps(&self, instance_id: &str) -> anyhow::Result<Vec<StepExecution>> {
        let url = format!("{}/api/v1/instances/{instance_id}/steps", self.base);
        let page: Page<StepExecution> =
            serde_json::from_value(self.send(self.http.get(url), 200).await?)?;
        Ok(page.items)
    }
}
