//! Building and running the scheduler (zero-to-production style: `build` binds, `run_until_stopped`
//! serves until the shutdown signal).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bus::{EventBus, JobQueue};
use identity::Verifier;
use proto::v1::event_service_server::EventServiceServer;
use proto::v1::trigger_service_server::TriggerServiceServer;
use proto::v1::worker_service_server::WorkerServiceServer;
use proto::v1::workflow_service_server::WorkflowServiceServer;
use store::Store;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::Routes;
use tonic_health::server::HealthReporter;
use tower_http::trace::TraceLayer;
use tower_http::validate_request::ValidateRequestHeaderLayer;

use crate::cache::DefinitionCache;
use crate::committer::{AdmittingCommitter, Committer};
use crate::core::Core;
use crate::grpc_metrics::GrpcMetricsLayer;
use crate::hand_off::HandOff;
use crate::lease::LeaseSigner;
use crate::service::{EventApi, GrpcAuth, TriggerApi, WorkerApi, WorkflowApi};
use crate::{SchedulerError, SchedulerSettings, health, retention, schedules, sweeper, tls};

pub struct Scheduler {
    listener: TcpListener,
    port: u16,
    core: Arc<Core>,
    auth: GrpcAuth,
    /// Every gRPC service of this scheduler, served on the listener and, in process, through
    /// [`Scheduler::in_process_transport`].
    routes: Routes,
    health: HealthReporter,
    schedules_wake: Arc<Notify>,
    /// Ends open watches as shutdown begins, or the server would wait for them forever.
    watches_stop: watch::Sender<bool>,
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
        let publisher = HandOff::start(queue.clone(), events.clone());
        let core = Arc::new_cyclic(|core| Core {
            store,
            queue,
            events,
            publisher,
            definitions: Arc::new(DefinitionCache::default()),
            sweeper_wake: Notify::new(),
            sweeper_next_wake: Mutex::new(None),
            admission: tokio::sync::Mutex::new(()),
            lease: LeaseSigner::new(&settings.tokens.secret),
            admitting: AdmittingCommitter::start(core.clone()),
            settings,
        });
        let (health, health_service) = tonic_health::server::health_reporter();
        // The migrations just reached the database; in-process callers may ask before the
        // first periodic check runs.
        health
            .set_service_status(
                health::DATABASE_SERVICE,
                tonic_health::ServingStatus::Serving,
            )
            .await;
        let schedules_wake = Arc::new(Notify::new());
        let (watches_stop, watches_stopped) = watch::channel(false);
        let mut routes = Routes::new(health_service)
            .add_service(WorkflowServiceServer::new(WorkflowApi::new(core.clone())))
            .add_service(TriggerServiceServer::new(TriggerApi::new(
                core.clone(),
                core.settings.trigger_key.clone(),
                schedules_wake.clone(),
            )))
            .add_service(EventServiceServer::new(EventApi::new(
                core.store.clone(),
                core.events.clone(),
                watches_stopped,
            )))
            .add_service(WorkerServiceServer::new(WorkerApi::new(
                core.clone(),
                Committer::start(core.clone()),
            )));
        if core.settings.reflection {
            // Both reflection versions: grpcurl and most stock clients still speak v1alpha.
            let reflection_error =
                |error| SchedulerError::Bind(std::io::Error::other(format!("reflection: {error}")));
            routes = routes
                .add_service(
                    tonic_reflection::server::Builder::configure()
                        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
                        .build_v1()
                        .map_err(reflection_error)?,
                )
                .add_service(
                    tonic_reflection::server::Builder::configure()
                        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
                        .build_v1alpha()
                        .map_err(reflection_error)?,
                );
        }
        Ok(Self {
            listener,
            port,
            core,
            auth: GrpcAuth::new(Arc::new(verifier)),
            routes,
            health,
            schedules_wake,
            watches_stop,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The gRPC API for callers in this process (the embedded mode's gateway and worker): the
    /// same services under the same authentication, metrics and spans as on the listener,
    /// called without a socket. Usable once the scheduler runs.
    pub fn in_process_transport(&self) -> proto::SchedulerTransport {
        let stack = tower::ServiceBuilder::new()
            .map_response(|response: http::Response<_>| response.map(tonic::body::Body::new))
            .layer(
                TraceLayer::new_for_grpc()
                    .make_span_with(call_span)
                    .on_request(())
                    .on_response(())
                    .on_body_chunk(())
                    .on_eos(())
                    .on_failure(()),
            )
            .layer(ValidateRequestHeaderLayer::custom(self.auth.clone()))
            .layer(GrpcMetricsLayer)
            .service(self.routes.clone());
        proto::in_process(stack)
    }

    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), SchedulerError> {
        let (stop_sender, stop) = watch::channel(false);
        let sweeper = tokio::spawn(sweeper::run(self.core.clone(), stop.clone()));
        let retention =
            self.core.settings.retention.map(|age| {
                tokio::spawn(retention::run(self.core.store.clone(), age, stop.clone()))
            });
        let health = tokio::spawn(health::watch_database(
            self.core.store.clone(),
            self.health,
            stop.clone(),
        ));
        let schedules = tokio::spawn(schedules::run(
            self.core.clone(),
            self.schedules_wake,
            stop.clone(),
        ));
        tracing::info!(port = self.port, "scheduler listening");

        let watches_stop = self.watches_stop;
        let shutdown = async move {
            shutdown.await;
            let _ = watches_stop.send(true);
        };
        let mut server = tonic::transport::Server::builder();
        if let Some(tls) = &self.core.settings.tls {
            server = server.tls_config(tls::server_config(tls)?)?;
        }
        let result = server
            .trace_fn(call_span)
            .layer(ValidateRequestHeaderLayer::custom(self.auth))
            .layer(GrpcMetricsLayer)
            .add_routes(self.routes)
            .serve_with_incoming_shutdown(TcpListenerStream::new(self.listener), shutdown)
            .await;
        let _ = stop_sender.send(true);
        let _ = sweeper.await;
        if let Some(retention) = retention {
            let _ = retention.await;
        }
        let _ = schedules.await;
        let _ = health.await;
        // What the last decisions committed reaches the queue and the watchers before exit.
        self.core.publisher.flush().await;
        result.map_err(SchedulerError::from)
    }
}

/// One span per call, carrying the gateway's request id into every log line of it, and
/// continuing the caller's trace.
fn call_span<B>(request: &http::Request<B>) -> tracing::Span {
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
}
