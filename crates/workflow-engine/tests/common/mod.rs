//! The test harness: spawns the engine in-process on port 0 with a fresh database, on either
//! backend, and talks to it over HTTP like any client.

#![allow(dead_code)]

pub mod smtp;

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use workflow_engine::token::{TokenRequest, mint};
use workflow_engine::{App, Mode, Settings};

pub const JWT_SECRET: &str = "integration-test-secret-0123456789";
pub const TRIGGER_SECRET_KEY: &str =
    "3b9e1c7a5d2f8e4b6a0c9d1e7f3a5b8c2d4e6f0a1b3c5d7e9f2a4b6c8d0e1f3a";

/// Where the engine keeps its state in a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Gateway, scheduler and worker as separate services over Postgres and Redis.
    Distributed,
    /// One process on SQLite and the in-memory queue.
    Embedded,
}

/// Runs one behaviour against both backends.
#[macro_export]
macro_rules! on_both_backends {
    ($behaviour:ident) => {
        mod $behaviour {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn distributed() {
                super::$behaviour(common::Backend::Distributed).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn embedded() {
                super::$behaviour(common::Backend::Embedded).await;
            }
        }
    };
}

pub struct TestApp {
    pub base: String,
    pub grpc_port: u16,
    pub client: reqwest::Client,
    pub token: String,
    pub database_url: String,
    stops: Vec<oneshot::Sender<()>>,
}

/// Extra configuration for a test's engine.
#[derive(Default, Clone)]
pub struct Options {
    pub smtp_url: Option<String>,
    pub vars: Vec<(&'static str, String)>,
    /// The database instead of a fresh one (a fresh one reached through a proxy, say).
    pub database_url: Option<String>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, Options::default()).await
    }

    pub async fn spawn_with(backend: Backend, options: Options) -> TestApp {
        Self::try_spawn(backend, options)
            .await
            .expect("the engine did not start")
    }

    async fn try_spawn(backend: Backend, options: Options) -> anyhow::Result<TestApp> {
        let mut vars: HashMap<String, String> = HashMap::new();
        vars.insert("HOST".into(), "127.0.0.1".into());
        vars.insert("PORT".into(), "0".into());
        vars.insert("GRPC_PORT".into(), "0".into());
        vars.insert("ENVIRONMENT".into(), "test".into());
        vars.insert("JWT_SECRET".into(), JWT_SECRET.into());
        vars.insert("TRIGGER_SECRET_KEY".into(), TRIGGER_SECRET_KEY.into());
        vars.insert("LOG_FORMAT".into(), "pretty".into());
        vars.insert("HTTP_ACTION_ALLOW_PRIVATE".into(), "true".into());
        vars.insert("WORKFLOW_CHECK_INTERVAL".into(), "1".into());
        if let Some(smtp) = &options.smtp_url {
            vars.insert("SMTP_URL".into(), smtp.clone());
        }
        let database_url = match (&options.database_url, backend) {
            (Some(url), _) => url.clone(),
            (None, Backend::Distributed) => testkit::fresh_postgres_url().await?,
            (None, Backend::Embedded) => testkit::fresh_sqlite_url(),
        };
        vars.insert("DATABASE_URL".into(), database_url.clone());
        if backend == Backend::Distributed {
            vars.insert("REDIS_URL".into(), testkit::redis_url());
            vars.insert("REDIS_PREFIX".into(), testkit::unique_prefix());
        }
        for (name, value) in &options.vars {
            vars.insert((*name).into(), value.clone());
        }

        let mut stops = Vec::new();
        let (gateway_port, grpc_port) = match backend {
            Backend::Embedded => {
                let settings = Settings::from_vars(&vars)?;
                let app = App::build(&settings, Mode::Embedded).await?;
                let ports = (app.gateway_port(), app.grpc_port());
                stops.push(run(app));
                (
                    ports.0.context("gateway port")?,
                    ports.1.context("grpc port")?,
                )
            }
            Backend::Distributed => {
                let settings = Settings::from_vars(&vars)?;
                let scheduler = App::build(&settings, Mode::Scheduler).await?;
                let grpc_port = scheduler.grpc_port().context("grpc port")?;
                stops.push(run(scheduler));
                vars.insert(
                    "SCHEDULER_URL".into(),
                    format!("http://127.0.0.1:{grpc_port}"),
                );
                vars.insert("WORKER_TOKEN".into(), worker_token(None, None));
                let settings = Settings::from_vars(&vars)?;
                let worker = App::build(&settings, Mode::Worker).await?;
                stops.push(run(worker));
                let gateway = App::build(&settings, Mode::Gateway).await?;
                let gateway_port = gateway.gateway_port().context("gateway port")?;
                stops.push(run(gateway));
                (gateway_port, grpc_port)
            }
        };
        let token = token_for("tester", "default", "admin");
        let app = TestApp {
            base: format!("http://127.0.0.1:{gateway_port}"),
            grpc_port,
            client: reqwest::Client::new(),
            token,
            database_url,
            stops,
        };
        app.wait_healthy().await?;
        Ok(app)
    }

    async fn wait_healthy(&self) -> anyhow::Result<()> {
        for _ in 0..200 {
            let answer = self
                .client
                .get(format!("{}/health", self.base))
                .send()
                .await;
            if answer.is_ok_and(|response| response.status() == 200) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        bail!("the engine never became healthy")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .client
            .post(self.url(path))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .expect("request failed");
        read(response).await
    }

    pub async fn put(&self, path: &str, body: Option<&Value>) -> (u16, Value) {
        let mut request = self.client.put(self.url(path)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        read(request.send().await.expect("request failed")).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("request failed");
        read(response).await
    }

    /// Creates a template and answers its id.
    pub async fn create_template(&self, name: &str, definition: Value) -> String {
        let (status, body) = self
            .post(
                "/api/v1/templates",
                &json!({"name": name, "definition": definition}),
            )
            .await;
        assert_eq!(status, 201, "template not created: {body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// Creates and starts an instance and answers its id.
    pub async fn start_instance(&self, template_id: &str, variables: Value) -> String {
        let (status, body) = self
            .post(
                "/api/v1/instances",
                &json!({"template_id": template_id, "variables": variables, "start": true}),
            )
            .await;
        assert_eq!(status, 201, "instance not created: {body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// Waits until the instance is in a final state and answers it.
    pub async fn wait_finished(&self, instance_id: &str) -> Value {
        self.wait_status(instance_id, &["completed", "failed", "cancelled"])
            .await
    }

    pub async fn wait_status(&self, instance_id: &str, statuses: &[&str]) -> Value {
        let path = format!("/api/v1/instances/{instance_id}");
        let mut last = Value::Null;
        for _ in 0..1500 {
            let (status, body) = self.get(&path).await;
            assert_eq!(status, 200, "{body}");
            if statuses.contains(&body["status"].as_str().unwrap_or_default()) {
                return body;
            }
            last = body;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("instance {instance_id} never reached {statuses:?}; last seen: {last}");
    }

    pub async fn steps(&self, instance_id: &str) -> Vec<Value> {
        let (status, body) = self
            .get(&format!("/api/v1/instances/{instance_id}/steps"))
            .await;
        assert_eq!(status, 200, "{body}");
        body["items"].as_array().cloned().unwrap_or_default()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
    }
}

fn run(app: App) -> oneshot::Sender<()> {
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        if let Err(error) = app.run_until_stopped(shutdown).await {
            eprintln!("service ended with an error: {error:#}");
        }
    });
    stop
}

pub fn rules() -> identity::TokenRules {
    identity::TokenRules {
        secret: JWT_SECRET.into(),
        issuer: None,
        audience: None,
        max_lifetime: Duration::from_secs(24 * 3600),
        max_worker_lifetime: Duration::from_secs(90 * 24 * 3600),
    }
}

pub fn token_for(subject: &str, tenant: &str, role: &str) -> String {
    mint(
        &rules(),
        &TokenRequest {
            subject: subject.into(),
            tenant: Some(tenant.into()),
            role: model::Role::parse(role).expect("a known role"),
            ttl_hours: 1,
            queues: None,
        },
    )
    .expect("token")
}

/// A token with any role text, signed but not checked on the way out (the services must refuse
/// what they do not know).
pub fn token_for_unchecked(subject: &str, tenant: &str, role: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    sign(&json!({"sub": subject, "tenant": tenant, "role": role, "iat": now, "exp": now + 600}))
}

/// `claims` signed with the test secret.
pub fn sign(claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .expect("token")
}

/// A worker token: `tenant` `None` is a platform worker (every tenant's `default` queue).
pub fn worker_token(tenant: Option<&str>, queues: Option<Vec<String>>) -> String {
    mint(
        &rules(),
        &TokenRequest {
            subject: "test-worker".into(),
            tenant: tenant.map(str::to_owned),
            role: model::Role::Worker,
            ttl_hours: 1,
            queues,
        },
    )
    .expect("token")
}

async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// A REST call as the test tenant's admin, to an engine not spawned through [`TestApp`] (a
/// process of the built binary).
pub async fn call(method: reqwest::Method, url: String, body: Option<Value>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, url)
        .bearer_auth(token_for("tester", "default", "admin"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Waits until the instance `id` at `base` is `wanted` and answers it, as [`call`] sees it.
pub async fn wait_for_status(base: &str, id: &str, wanted: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..1000 {
        let (_, body) = call(
            reqwest::Method::GET,
            format!("{base}/api/v1/instances/{id}"),
            None,
        )
        .await;
        if body["status"] == wanted {
            return body;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("instance {id} never became {wanted}: {last}");
}

/// Every sample of a Prometheus exposition at `url`, by its series (`name{labels}` as
/// rendered).
pub async fn scrape(client: &reqwest::Client, url: &str) -> HashMap<String, f64> {
    let text = client
        .get(url)
        .send()
        .await
        .expect("the metrics answer")
        .text()
        .await
        .expect("the metrics text");
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// The seed README's "Workflow Schema Example", exactly as written there.
pub fn seed_example() -> Value {
    serde_json::from_str(include_str!(
        "../../../../docs/examples/seed-workflow-schema-example.json"
    ))
    .expect("the seed example is JSON")
}
