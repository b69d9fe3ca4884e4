//! Building and running the scheduler (zero-to-production style: `build` binds, `run_until_stopped`
//! serves until the shutdown signal).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

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
use crate::service::{TriggerApi, WorkerApi, WorkflowApi};
use crate::{SchedulerError, SchedulerSettings, health, schedules, sweeper};

pub struct Scheduler {
    listener: TcpListener,
    port: u16,
    core: Arc<Core>,
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
            settings,
            sweeper_wake: Notify::new(),
            sweeper_next_wake: Mutex::new(None),
            admission: tokio::sync::Mutex::new(()),
        });
        Ok(Self {
            listener,
            port,
            core,
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

        let result = tonic::transport::Server::builder()
            // One span per call, carrying the gateway's request id into every log line of it.
            .trace_fn(|request| {
                let request_id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or_default();
                tracing::info_span!("grpc", method = %request.uri().path(), request_id = %request_id)
            })
            .add_service(health_service)
            .add_service(reflection)
            .add_service(reflection_alpha)
            .add_service(WorkflowServiceServer::new(WorkflowApi::new(
                self.core.clone(),
            )))
            .add_service(TriggerServiceServer::new(TriggerApi::new(
                self.core.clone(),
                self.core.settings.trigger_key.clone(),
                schedules_wake,
            )))
            .add_service(WorkerServiceServer::new(WorkerApi::new(
                self.core.clone(),
                committer,
            )))
            .serve_with_incoming_shutdown(TcpListenerStream::new(self.listener), shutdown)
            .await;
        let _ = stop_sender.send(true);
        let _ = sweeper.await;
        let _ = schedules.await;
        let _ = health.await;
        result.map_err(SchedulerError::from)
    }
}
