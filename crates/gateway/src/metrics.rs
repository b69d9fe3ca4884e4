use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Instances wait on timers and people: minutes to days, not milliseconds.
const INSTANCE_BUCKETS: &[f64] = &[
    0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0, 604800.0,
];

/// How often histogram samples are folded into their buckets. The recorder keeps every sample
/// until then or until `/metrics` is scraped, so an engine nobody scraped grew with every request
/// and step it served: 3.2 MiB after 100 000 instances (heaptrack), without end.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's Prometheus recorder, installed on first use. Several gateways may live in one
/// process (tests) and another component may have installed a recorder first: then this
/// handle renders a private recorder, and the process-wide one keeps the figures.
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = || {
                PrometheusBuilder::new()
                    .set_buckets(LATENCY_BUCKETS)
                    .and_then(|builder| {
                        builder.set_buckets_for_metric(
                            Matcher::Full("workflow_instance_duration_seconds".to_owned()),
                            INSTANCE_BUCKETS,
                        )
                    })
                    .unwrap_or_else(|_| PrometheusBuilder::new())
            };
            let handle = match builder().install_recorder() {
                Ok(handle) => handle,
                Err(e) => {
                    tracing::warn!(error = %e, "a metrics recorder is already installed");
                    builder().build_recorder().handle()
                }
            };
            start_upkeep(handle.clone());
            handle
        })
        .clone()
}

/// Folds the samples in on the runtime that installed the recorder (the process's one runtime).
fn start_upkeep(handle: PrometheusHandle) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        let mut interval = tokio::time::interval(UPKEEP_INTERVAL);
        loop {
            interval.tick().await;
            handle.run_upkeep();
        }
    });
}

/// Counts requests and their latency by route template (never the raw path: ids would make
/// the label set unbounded).
pub(crate) async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = request.method().as_str().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}
