//! The engine under measurement: scheduler, worker and gateway as separate services over a fresh
//! Postgres database and a Redis prefix of their own, all in this process, the way the
//! integration tests spawn them, but with production settings (JSON logs, default intervals).

use std::collections::HashMap;

use anyhow::Context;
use tokio::sync::oneshot;
use workflow_engine::{App, Mode, Settings};

/// The secret the benchmark signs its bearer token with.
pub const JWT_SECRET: &str = "benchmark-secret-0123456789abcdef";

pub struct Engine {
    pub base_url: String,
    pub database_url: String,
    stops: Vec<oneshot::Sender<()>>,
}

impl Engine {
    /// Starts the three services; `overrides` are extra environment-style settings
    /// (`WORKER_CONCURRENCY=32`, ...).
    pub async fn start(overrides: &[(String, String)]) -> anyhow::Result<Engine> {
        let database_url = testkit::fresh_postgres_url().await?;
        let mut vars: HashMap<String, String> = HashMap::new();
        vars.insert("HOST".into(), "127.0.0.1".into());
        vars.insert("PORT".into(), "0".into());
        vars.insert("GRPC_PORT".into(), "0".into());
        vars.insert("ENVIRONMENT".into(), "production".into());
        vars.insert("JWT_SECRET".into(), JWT_SECRET.into());
        // A throwaway key for the benchmark's own webhook secrets (it makes none).
        vars.insert(
            "TRIGGER_SECRET_KEY".into(),
            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff".into(),
        );
        vars.insert("LOG_FORMAT".into(), "json".into());
        vars.insert("DATABASE_URL".into(), database_url.clone());
        vars.insert("REDIS_URL".into(), testkit::redis_url());
        vars.insert("REDIS_PREFIX".into(), testkit::fresh_redis_prefix().await?);
        for (name, value) in overrides {
            vars.insert(name.clone(), value.clone());
        }

        let mut stops = Vec::new();
        let settings = Settings::from_vars(&vars)?;
        let scheduler = App::build(&settings, Mode::Scheduler)
            .await
            .context("starting the scheduler")?;
        let grpc_port = scheduler
            .grpc_port()
            .context("the scheduler has no grpc port")?;
        stops.push(run(scheduler));
        vars.insert(
            "SCHEDULER_URL".into(),
            format!("http://127.0.0.1:{grpc_port}"),
        );
        let worker_token = workflow_engine::token::mint(
            &settings.token_rules()?,
            &workflow_engine::token::TokenRequest {
                subject: "bench-worker".into(),
                tenant: None,
                role: model::Role::Worker,
                ttl_hours: 24,
                queues: None,
            },
        )?;
        vars.insert("WORKER_TOKEN".into(), worker_token);
        let settings = Settings::from_vars(&vars)?;
        let worker = App::build(&settings, Mode::Worker)
            .await
            .context("starting the worker")?;
        stops.push(run(worker));
        let gateway = App::build(&settings, Mode::Gateway)
            .await
            .context("starting the gateway")?;
        let gateway_port = gateway.gateway_port().context("the gateway has no port")?;
        stops.push(run(gateway));
        Ok(Engine {
            base_url: format!("http://127.0.0.1:{gateway_port}"),
            database_url,
            stops,
        })
    }

    pub fn stop(mut self) {
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
            eprintln!("bench: a service ended with an error: {error:#}");
        }
    });
    stop
}
