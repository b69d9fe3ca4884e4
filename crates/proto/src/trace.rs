//! W3C trace context across the services' boundaries: `traceparent` (and `tracestate`) in HTTP
//! headers and gRPC metadata, and the `traceparent` a job or an instance keeps, so that one
//! trace follows an instance from the call that started it to its last step.
//!
//! Everything here works on `tracing` spans through `tracing-opentelemetry`. When no
//! OpenTelemetry layer is installed (`OTEL_EXPORTER_OTLP_ENDPOINT` unset) a span has no trace
//! context: nothing is injected, nothing is parsed, and each helper returns after one check.

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tonic::metadata::{MetadataMap, MetadataValue};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The `tracing` target of spans that exist only for tracing (a decision, an outgoing request).
/// The log output leaves them out by default, so that without an exporter they cost nothing.
pub const SPAN_TARGET: &str = "chorus_trace";

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";

/// The trace context `span` belongs to, as a `traceparent` value; `None` without one.
pub fn traceparent(span: &Span) -> Option<String> {
    if span.is_disabled() {
        return None;
    }
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = Carrier::default();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.traceparent
}

/// The trace id (32 hex digits) of a `traceparent` value.
pub fn trace_id(traceparent: &str) -> Option<&str> {
    let mut parts = traceparent.split('-');
    let _version = parts.next()?;
    let id = parts.next()?;
    (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

/// Makes `span` a child of the context a stored `traceparent` names (a job's, an instance's).
/// Must be called before the span is first entered.
pub fn follow(span: &Span, traceparent: Option<&str>) {
    let Some(traceparent) = traceparent else {
        return;
    };
    if span.is_disabled() {
        return;
    }
    let carrier = Carrier {
        traceparent: Some(traceparent.to_owned()),
        tracestate: None,
    };
    set_parent(span, TraceContextPropagator::new().extract(&carrier));
}

/// Continues the trace an incoming request's `traceparent` header names, if any.
pub fn continue_from(span: &Span, headers: &http::HeaderMap) {
    if span.is_disabled() || !headers.contains_key(TRACEPARENT) {
        return;
    }
    set_parent(
        span,
        TraceContextPropagator::new().extract(&HeaderCarrier(headers)),
    );
}

/// Writes the current span's trace context into an outgoing gRPC call's metadata.
pub fn inject_metadata(metadata: &mut MetadataMap) {
    let span = Span::current();
    let Some(traceparent) = traceparent(&span) else {
        return;
    };
    if let Ok(value) = MetadataValue::try_from(traceparent.as_str()) {
        metadata.insert(TRACEPARENT, value);
    }
}

/// Writes `span`'s trace context into an outgoing HTTP request's headers.
pub fn inject_headers(span: &Span, headers: &mut http::HeaderMap) {
    let Some(traceparent) = traceparent(span) else {
        return;
    };
    if let Ok(value) = http::HeaderValue::try_from(traceparent) {
        headers.insert(TRACEPARENT, value);
    }
}

fn set_parent(span: &Span, parent: Context) {
    if parent.span().span_context().is_valid() {
        // Fails only when the span is disabled or already started: it then keeps its own parent.
        let _ = span.set_parent(parent);
    }
}

/// One trace context, as the two W3C header values.
#[derive(Default)]
struct Carrier {
    traceparent: Option<String>,
    tracestate: Option<String>,
}

impl Injector for Carrier {
    fn set(&mut self, key: &str, value: String) {
        match key {
            TRACEPARENT => self.traceparent = Some(value),
            TRACESTATE => self.tracestate = Some(value),
            _ => {}
        }
    }
}

impl Extractor for Carrier {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            TRACEPARENT => self.traceparent.as_deref(),
            TRACESTATE => self.tracestate.as_deref(),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec![TRACEPARENT, TRACESTATE]
    }
}

struct HeaderCarrier<'a>(&'a http::HeaderMap);

impl Extractor for HeaderCarrier<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_id_is_the_second_field_of_a_traceparent() {
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            trace_id(traceparent),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(trace_id("00-short-00f067aa0ba902b7-01"), None);
        assert_eq!(trace_id("garbage"), None);
    }

    #[test]
    fn without_an_opentelemetry_layer_nothing_is_injected() {
        let mut metadata = MetadataMap::new();
        let span = tracing::info_span!("call");
        let _entered = span.enter();
        inject_metadata(&mut metadata);
        assert!(metadata.get(TRACEPARENT).is_none());
        assert_eq!(traceparent(&span), None);
    }
}
