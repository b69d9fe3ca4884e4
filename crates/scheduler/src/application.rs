//! Building and running the scheduler (zero-to-production style: `build` binds, `run_until_stopped`
//! serves until the shutdown signal).

use crate::grpc_metrics::GrpcMetricsLayer;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use proto::v1::event_service_server::EventServiceServer;
use proto::v1::trigger_service_server::TriggerServiceServer;
use proto::v1::worker_service_server::WorkerServiceServer;
use proto::v1::workflow_service_server::WorkflowServiceServer;
use storage::{EventBus, JobQueue, Store};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio_stream::wrappers::TcpListenerStream;

use crate::cache::DefinitionCache;
use crate::committer::Committer;
use crate::core::Core;
use crate::lease::LeaseSigner;
use crate::service::{EventApi, GrpcAuth, TriggerApi, WorkerApi, WorkflowApi};
use crate::{SchedulerError, SchedulerSettings, health, retention, schedules, sweeper, tls};
use identity::Verifier;
use tower_http::validate_request::ValidateRequestHeaderLayer;

pub struct Scheduler {
    listener: TcpListener,
    port: u16,
    core: Arc<Core>,
    auth: GrpcAuth,
}

impl Scheduler {
    /// Applies the migrations (under the store's lock) and binds the gRPC listener.
    pub async fn build(
        settings: SchedulerSettings,
        store: Arc<dyn Store>,
        queue: Arc<dyn JobQueue>,
        events: Arc<dyn EventBus>,
    ) -> Result<Self, SchedulerError> {
        store.migrate().await?;
        let verifier = Verifier::new(&settings.tokens)
            .map_err(|error| SchedulerError::Config(format!("JWT_SECRET: {error}")))?;
        let address = SocketAddr::new(settings.host, settings.grpc_port);
        let listener = TcpListener::bind(address)
            .await
            .map_err(SchedulerError::Bind)?;
        let port = listener.local_addr().map_err(SchedulerError::Bind)?.port();
        let core = Arc::new(Core {
            store,
            queue,
            events,
            definitions: Arc::new(DefinitionCache::default()),
            sweeper_wake: Notify::new(),
            sweeper_next_wake: Mutex::new(None),
            admission: tokio::sync::Mutex::new(()),
            lease: LeaseSigner::new(&settings.tokens.secret),
            settings,
        });
        Ok(Self {
            listener,
            port,
            core,
            auth: GrpcAuth::new(Arc::new(verifier)),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), SchedulerError> {
        let (stop_sender, stop) = watch::channel(false);
        let (reporter, health_service) = tonic_health::server::health_reporter();
        // Both reflection versions: grpcurl and most stock clients still speak v1alpha.
        let reflection_error =
            |error| SchedulerError::Bind(std::io::Error::other(format!("reflection: {error}")));
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
            .build_v1()
            .map_err(reflection_error)?;
        let reflection_alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
            .build_v1alpha()
            .map_err(reflection_error)?;

        let sweeper = tokio::spawn(sweeper::run(self.core.clone(), stop.clone()));
        let retention =
            self.core.settings.retention.map(|age| {
                tokio::spawn(retention::run(self.core.store.clone(), age, stop.clone()))
            });
        let health = tokio::spawn(health::watch_database(
            self.core.store.clone(),
            reporter,
            stop.clone(),
        ));
        let schedules_wake = Arc::new(Notify::new());
        let schedules = tokio::spawn(schedules::run(
            self.core.clone(),
            schedules_wake.clone(),
            stop.clone(),
        ));
        let committer = Committer::start(self.core.clone());
        tracing::info!(port = self.port, "scheduler listening");

        // Open watches end as shutdown begins, or the server would wait for them forever.
        let (watches_stop, watches_stopped) = watch::channel(false);
        let shutdown = async move {
            shutdown.await;
            let _ = watches_stop.send(true);
        };
        let mut server = tonic::transport::Server::builder();
        if let Some(tls) = &self.core.settings.tls {
            server = server.tls_config(tls::server_config(tls)?)?;
        }
        let reflection = self.core.settings.reflection.then_some(reflection);
        let reflection_alpha = self.core.settings.reflection.then_some(reflection_alpha);
        let result = server
            // One span per call, carrying the gateway's request id into every log line of it.
            .trace_fn(|request| {
                let request_id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or_default();
                let span = tracing::info_span!(
                    "grpc",
                    otel.kind = "server",
                    method = %request.uri().path(),
                    request_id = %request_id,
                );
                proto::trace::continue_from(&span, request.headers());
                span
            })
            .layer(ValidateRequestHeaderLayer::custom(self.auth))
            .layer(GrpcMetricsLayer)
            .add_service(health_service)
            .add_optional_service(reflection)
            .add_optional_service(reflection_alpha)
            .add_service(WorkflowServiceServer::new(WorkflowApi::new(
                self.core.clone(),
            )))
            .add_service(TriggerServiceServer::new(TriggerApi::new(
                self.core.clone(),
                self.core.settings.trigger_key.clone(),
                schedules_wake,
            )))
            .add_service(EventServiceServer::new(EventApi::new(
                self.core.store.clone(),
                self.core.events.clone(),
                watches_stopped,
            )))
            .add_service(WorkerServiceServer::new(WorkerApi::new(
                self.core.clone(),
                committer,
            )))
            .serve_with_incoming_shutdown(TcpListenerStream::new(self.listener), shutdown)
            .await;
        let _ = stop_sender.send(true);
        let _ = sweeper.await;
        if let Some(retention) = retention {
            let _ = retention.await;
        }
        let _ = schedules.await;
        let _ = health.await;
        result.map_err(SchedulerError::from)
    }
}
