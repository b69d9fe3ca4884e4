//! `workflow_grpc_request_duration_seconds{method,code}`: a tower layer around every gRPC
//! service, inside the auth layer, so that only authenticated calls are counted.
//!
//! The time is until the response head, and the code is the head's `grpc-status` (absent means
//! `Ok`): a unary call's error travels there, while a stream counts from its start, as `Ok`
//! unless it was refused. A path no service knows is labelled `unmatched`, as the gateway does
//! with routes, so that a caller cannot grow the label set.

use std::task::{Context, Poll};
use std::time::Instant;

use futures::future::BoxFuture;
use tonic::Code;
use tower::{Layer, Service};

pub(crate) const GRPC_DURATION: &str = "workflow_grpc_request_duration_seconds";

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct GrpcMetricsLayer;

impl<S> Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetrics { inner }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct GrpcMetrics<S> {
    inner: S,
}

impl<S, RequestBody, ResponseBody> Service<http::Request<RequestBody>> for GrpcMetrics<S>
where
    S: Service<http::Request<RequestBody>, Response = http::Response<ResponseBody>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<RequestBody>) -> Self::Future {
        let method = request.uri().path().to_owned();
        let started = Instant::now();
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await;
            let code = match &response {
                Ok(response) => response
                    .headers()
                    .get("grpc-status")
                    .map_or(Code::Ok, |status| Code::from_bytes(status.as_bytes())),
                Err(_) => Code::Unknown,
            };
            record(method, code, started);
            response
        })
    }
}

fn record(method: String, code: Code, started: Instant) {
    let method = if code == Code::Unimplemented {
        "unmatched".to_owned()
    } else {
        method
    };
    metrics::histogram!(
        GRPC_DURATION,
        "method" => method,
        "code" => format!("{code:?}")
    )
    .record(started.elapsed().as_secs_f64());
}
