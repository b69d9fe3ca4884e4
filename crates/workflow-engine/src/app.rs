//! Assembling services from settings: which backends, which services, on which ports.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use anyhow::{Context, bail};
use bus::{EventBus, JobQueue};
use gateway::{Gateway, GatewaySettings};
use scheduler::{Scheduler, SchedulerSettings};
use store::Store;
use tokio::sync::watch;
use worker::{Worker, WorkerSettings};

use crate::config::{ConfigError, Settings};
use crate::token;

/// Which services this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Gateway, scheduler and one worker in one process.
    Embedded,
    Gateway,
    Scheduler,
    Worker,
}

pub struct App {
    gateway: Option<Gateway>,
    scheduler: Option<Scheduler>,
    worker: Option<Worker>,
    gateway_port: Option<u16>,
    grpc_port: Option<u16>,
    metrics: Option<tokio::net::TcpListener>,
}

impl App {
    /// Connects the backends and binds the listeners; nothing is served until
    /// [`App::run_until_stopped`].
    pub async fn build(settings: &Settings, mode: Mode) -> anyhow::Result<Self> {
        if mode != Mode::Embedded && settings.redis_url.is_none() {
            bail!(
                "REDIS_URL: required when running one service per process (the services meet through Redis)"
            );
        }
        let (queue, events) = connect_bus(settings).await?;

        let mut app = App {
            gateway: None,
            scheduler: None,
            worker: None,
            gateway_port: None,
            grpc_port: None,
            metrics: None,
        };
        if let (Some(port), Mode::Scheduler | Mode::Worker) = (settings.metrics_port, mode) {
            let listener = tokio::net::TcpListener::bind((settings.host, port))
                .await
                .context("METRICS_PORT: cannot bind")?;
            app.metrics = Some(listener);
        }
        let scheduler_urls = settings.scheduler_urls.clone();
        // The embedded mode's gateway and worker call the scheduler in process.
        let mut in_process_scheduler = None;
        if matches!(mode, Mode::Embedded | Mode::Scheduler) {
            let store = connect_store(settings).await?;
            let host = if mode == Mode::Embedded {
                // The embedded gRPC API is for this machine's own callers.
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            } else {
                settings.host
            };
            let trigger_key = settings.trigger_key()?;
            let mut scheduler_settings = scheduler_settings(settings, host, trigger_key)?;
            if mode == Mode::Embedded {
                // Its port serves this machine's own gRPC callers over plain HTTP/2; the
                // gateway and worker beside it call it in process.
                scheduler_settings.tls = None;
            }
            let scheduler =
                Scheduler::build(scheduler_settings, store, queue.clone(), events.clone())
                    .await
                    .context("scheduler")?;
            if mode == Mode::Embedded {
                in_process_scheduler = Some(scheduler.in_process_transport());
            }
            app.grpc_port = Some(scheduler.port());
            app.scheduler = Some(scheduler);
        }
        if matches!(mode, Mode::Embedded | Mode::Worker) {
            let token = match (mode, &settings.worker_token) {
                (Mode::Embedded, _) => token::embedded_worker(&settings.token_rules()?)?,
                (_, Some(token)) => token.expose().clone(),
                (_, None) => bail!(
                    "WORKER_TOKEN: required (a token of role worker: workflow-engine token --role worker)"
                ),
            };
            let mut worker_settings = worker_settings(settings, scheduler_urls.clone(), token);
            worker_settings.in_process_scheduler = in_process_scheduler.clone();
            let worker = Worker::build(worker_settings, queue.clone())
                .await
                .context("worker")?;
            app.worker = Some(worker);
        }
        if matches!(mode, Mode::Embedded | Mode::Gateway) {
            let tls = (mode == Mode::Gateway).then(|| settings.client_tls());
            let gateway = Gateway::build(
                GatewaySettings {
                    host: settings.host,
                    port: settings.port,
                    tokens: settings.token_rules()?,
                    tls,
                    scheduler_urls,
                    in_process_scheduler,
                    body_limit_bytes: settings.body_limit_bytes,
                    limits: settings.limits.request_limits(),
                },
                events.clone(),
            )
            .await
            .context("gateway")?;
            app.gateway_port = Some(gateway.port());
            app.gateway = Some(gateway);
        }
        Ok(app)
    }

    pub fn gateway_port(&self) -> Option<u16> {
        self.gateway_port
    }

    pub fn grpc_port(&self) -> Option<u16> {
        self.grpc_port
    }

    /// Serves until `shutdown` resolves, then stops every service gracefully.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop, stopped) = watch::channel(false);
        let signal = move || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            }
        };
        let mut tasks = tokio::task::JoinSet::new();
        if let Some(listener) = self.metrics {
            let shutdown = signal();
            tasks.spawn(async move { serve_metrics(listener, shutdown).await });
        }
        if let Some(scheduler) = self.scheduler {
            let shutdown = signal();
            tasks.spawn(async move {
                scheduler
                    .run_until_stopped(shutdown)
                    .await
                    .context("scheduler")
            });
        }
        if let Some(worker) = self.worker {
            let shutdown = signal();
            tasks.spawn(async move { worker.run_until_stopped(shutdown).await.context("worker") });
        }
        if let Some(gateway) = self.gateway {
            let shutdown = signal();
            tasks
                .spawn(async move { gateway.run_until_stopped(shutdown).await.context("gateway") });
        }
        tokio::select! {
            _ = shutdown => {}
            Some(finished) = tasks.join_next() => {
                // A service that ends by itself ends the process.
                let _ = stop.send(true);
                finished??;
                bail!("a service stopped unexpectedly");
            }
        }
        let _ = stop.send(true);
        while let Some(finished) = tasks.join_next().await {
            finished??;
        }
        Ok(())
    }
}

pub async fn connect_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    store::connect_store(
        settings.database_url.as_ref().map(|url| url.expose_str()),
        settings.database_max_connections,
    )
    .await
    .context("DATABASE_URL: cannot connect")
}

async fn connect_bus(
    settings: &Settings,
) -> anyhow::Result<(Arc<dyn JobQueue>, Arc<dyn EventBus>)> {
    bus::connect_bus(
        settings.redis_url.as_ref().map(|url| url.expose_str()),
        &settings.redis_prefix,
    )
    .await
    .context("REDIS_URL: cannot connect")
}

fn scheduler_settings(
    settings: &Settings,
    host: IpAddr,
    trigger_key: scheduler::TriggerKey,
) -> Result<SchedulerSettings, ConfigError> {
    Ok(SchedulerSettings {
        host,
        grpc_port: settings.grpc_port,
        check_interval: settings.workflow_check_interval,
        job_lease: settings.job_lease,
        max_concurrent_workflows: settings.max_concurrent_workflows,
        tenant_max_concurrent_workflows: settings.tenant_max_concurrent_workflows,
        engine: engine::Settings {
            step_retry_limit: settings.step_retry_limit,
            step_timeout_seconds: settings.step_timeout.as_secs_f64(),
            max_render_bytes: settings.limits.max_render_bytes,
            max_step_output_bytes: settings.limits.max_step_output_bytes,
            max_buffered_event_bytes: settings.limits.max_buffered_event_bytes,
            max_variables_bytes: settings.limits.max_variables_bytes,
            ..engine::Settings::default()
        },
        trigger_key,
        tokens: settings.token_rules()?,
        tls: settings.server_tls(),
        reflection: settings.grpc_reflection,
        retention: settings.limits.retention,
    })
}

fn worker_settings(
    settings: &Settings,
    scheduler_urls: Vec<String>,
    token: String,
) -> WorkerSettings {
    WorkerSettings {
        queues: settings.worker_queues.clone(),
        concurrency: settings.worker_concurrency,
        consumer_name: worker::default_consumer_name(),
        scheduler_urls,
        in_process_scheduler: None,
        smtp_url: settings.smtp_url.as_ref().map(|url| url.expose().clone()),
        allow_private_http: settings.http_action_allow_private,
        claim_after: settings.job_lease,
        token,
        tls: Some(settings.client_tls()),
        max_output_bytes: settings.limits.max_step_output_bytes,
        breaker: worker::BreakerSettings {
            failures: settings.limits.breaker_failures,
            cooldown: settings.limits.breaker_cooldown,
        },
    }
}

/// `/metrics` for a scheduler or worker process, from the process-wide Prometheus recorder.
async fn serve_metrics(
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let handle = gateway::metrics_handle();
    let router = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let handle = handle.clone();
            async move { handle.render() }
        }),
    );
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
        .context("metrics listener")
}
