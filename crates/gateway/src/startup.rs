use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request, Response};
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use bus::EventBus;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::error::{ApiError, GatewayError};
use crate::metrics;
use crate::routes::tickets::{self, Tickets};
use crate::routes::{events, health, instances, ops, templates, trigger_configs, triggers};
use crate::scheduler::SchedulerClient;
use crate::settings::GatewaySettings;
use crate::state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A bound, not yet serving gateway.
pub struct Gateway {
    listener: TcpListener,
    port: u16,
    router: Router,
    stop_streams: watch::Sender<bool>,
}

impl Gateway {
    /// Binds the listener and prepares the scheduler channel (connected lazily: the scheduler
    /// may start later).
    pub async fn build(
        settings: GatewaySettings,
        events: Arc<dyn EventBus>,
    ) -> Result<Self, GatewayError> {
        let scheduler = match settings.in_process_scheduler.clone() {
            Some(transport) => SchedulerClient::in_process(transport),
            None => SchedulerClient::connect_lazy(&settings.scheduler_urls, settings.tls.as_ref())?,
        };
        let (stop_streams, streams_stopped) = watch::channel(false);
        let state = AppState {
            scheduler,
            events,
            auth: Arc::new(
                identity::Verifier::new(&settings.tokens).map_err(GatewayError::Tokens)?,
            ),
            tickets: Arc::new(Tickets::new(&settings.tokens)),
            metrics: metrics::handle(),
            limits: Arc::new(settings.limits.clone()),
            rate_limit: settings
                .limits
                .rate
                .map(|rate| Arc::new(crate::rate_limit::TenantRateLimit::new(rate))),
            streams_stopped,
        };
        let router = router(state, settings.body_limit_bytes);
        let addr = SocketAddr::new(settings.host, settings.port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| GatewayError::Bind { addr, source })?;
        let port = listener
            .local_addr()
            .map_err(|source| GatewayError::Bind { addr, source })?
            .port();
        Ok(Self {
            listener,
            port,
            router,
            stop_streams,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight. Open event
    /// streams are ended too, or they would hold the shutdown forever.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), GatewayError> {
        let stop_streams = self.stop_streams;
        let signal = async move {
            shutdown.await;
            tracing::info!("gateway shutting down");
            let _ = stop_streams.send(true);
        };
        tracing::info!(port = self.port, "gateway listening");
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(signal)
            .await
            .map_err(GatewayError::Serve)
    }
}

#[derive(Clone, Copy)]
struct MakeRequestUuidV7;

impl MakeRequestId for MakeRequestUuidV7 {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let id = uuid::Uuid::now_v7().to_string();
        id.parse().ok().map(RequestId::new)
    }
}

fn router(state: AppState, body_limit: usize) -> Router {
    let api = Router::new()
        .route("/templates", post(templates::create).get(templates::list))
        .route(
            "/templates/{id}",
            get(templates::get)
                .put(templates::update)
                .delete(templates::delete),
        )
        .route("/instances", post(instances::create).get(instances::list))
        .route("/instances/{id}", get(instances::get))
        .route("/instances/{id}/start", put(instances::start))
        .route("/instances/{id}/pause", put(instances::pause))
        .route("/instances/{id}/resume", put(instances::resume))
        .route("/instances/{id}/cancel", put(instances::cancel))
        .route("/instances/{id}/steps", get(instances::steps))
        .route("/instances/{id}/events", post(instances::send_event))
        .route("/instances/{id}/events/stream", get(events::instance))
        .route("/events/stream", get(events::all))
        .route("/events/tickets", post(tickets::create))
        .route(
            "/triggers",
            post(trigger_configs::create).get(trigger_configs::list),
        )
        .route(
            "/triggers/{id}",
            get(trigger_configs::get).delete(trigger_configs::delete),
        )
        .route("/triggers/webhook/{id}", post(triggers::webhook))
        .route("/openapi.json", get(ops::openapi_json));

    Router::new()
        .nest("/api/v1", api)
        .route("/health", get(health::ready))
        .route("/health/live", get(health::live))
        .route("/metrics", get(ops::metrics))
        .merge(ui::router())
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuidV7))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(make_span)
                        .on_response(on_response),
                )
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(CatchPanicLayer::custom(on_panic)),
        )
}

fn make_span<B>(request: &Request<B>) -> Span {
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let span = tracing::info_span!(
        "http_request",
        otel.kind = "server",
        method = %request.method(),
        path = request.uri().path(),
        request_id,
        tenant = tracing::field::Empty,
        subject = tracing::field::Empty,
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    );
    // A caller's `traceparent` is continued: its trace runs on through the scheduler.
    proto::trace::continue_from(&span, request.headers());
    span
}

fn on_response<B>(response: &Response<B>, latency: std::time::Duration, span: &Span) {
    span.record("status", response.status().as_u16());
    span.record("latency_ms", latency.as_millis() as u64);
    tracing::info!("request finished");
}

fn on_panic(_: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    tracing::error!("handler panicked");
    ApiError::internal().into_response()
}
