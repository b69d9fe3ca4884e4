//! Logging and tracing. Logs: structured JSON (or pretty for a terminal), filtered by
//! `RUST_LOG` (default info). Traces: when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, every span the
//! services make goes to that OTLP/gRPC collector through `tracing-opentelemetry`, in batches
//! from a background thread; when it is not, no OpenTelemetry layer is installed at all, and the
//! trace-only spans ([`proto::trace::SPAN_TARGET`]) are disabled at their call sites.

use anyhow::Context as _;
use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler as SdkSampler, SdkTracerProvider};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::{LogFormat, Sampler, Settings, Tracing};

const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn,tower_http=info,h2=warn,hyper=warn";
/// What goes to the collector: the services' spans, never the libraries' connection chatter.
const TRACE_FILTER: &str = "info,h2=off,hyper=off,hyper_util=off,tower=off,sqlx=off,tonic=off";

/// Keeps the trace pipeline alive; dropping it flushes and stops the exporter.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the spans finished so far (blocks until the collector answered or gave up).
    pub fn flush(&self) {
        if let Some(provider) = &self.provider
            && let Err(error) = provider.force_flush()
        {
            tracing::warn!(error = %error, "trace export flush failed");
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            let _ = provider.shutdown();
        }
    }
}

/// Installs the process's subscriber. `service` names the process in traces (`gateway`,
/// `scheduler`, `worker`, `embedded`) unless `OTEL_SERVICE_NAME` does. A second call in one
/// process (tests build several apps) keeps the first subscriber.
pub fn init(settings: &Settings, service: &str) -> anyhow::Result<Telemetry> {
    let provider = settings
        .tracing
        .as_ref()
        .map(|tracing| tracer_provider(tracing, service))
        .transpose()?;
    let trace_layer = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("workflow-engine"))
            .with_filter(EnvFilter::new(TRACE_FILTER))
    });
    let _ = tracing_subscriber::registry()
        .with(log_layer(settings.log_format))
        .with(trace_layer)
        .try_init();
    Ok(Telemetry { provider })
}

fn log_layer(format: LogFormat) -> Box<dyn Layer<Registry> + Send + Sync> {
    let directives = std::env::var("RUST_LOG").unwrap_or_else(|_| DEFAULT_LOG_FILTER.to_owned());
    let mut filter =
        EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    if !directives.contains(proto::trace::SPAN_TARGET) {
        // Trace-only spans stay out of the logs (and cost nothing without an exporter) unless
        // RUST_LOG asks for them by name.
        if let Ok(directive) = format!("{}=off", proto::trace::SPAN_TARGET).parse() {
            filter = filter.add_directive(directive);
        }
    }
    let builder = tracing_subscriber::fmt::layer();
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_filter(filter)
            .boxed(),
        LogFormat::Pretty => builder.compact().with_filter(filter).boxed(),
    }
}

fn tracer_provider(tracing: &Tracing, service: &str) -> anyhow::Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(tracing.endpoint.clone())
        .build()
        .context("OTEL_EXPORTER_OTLP_ENDPOINT: cannot build the exporter")?;
    let service_name = tracing
        .service_name
        .clone()
        .unwrap_or_else(|| format!("chorus-{service}"));
    let resource = Resource::builder_empty()
        .with_service_name(service_name)
        .with_attributes(
            tracing
                .resource_attributes
                .iter()
                .map(|(key, value)| KeyValue::new(key.clone(), value.clone())),
        )
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .with_sampler(sampler(tracing.sampler))
        .build())
}

fn sampler(sampler: Sampler) -> SdkSampler {
    match sampler {
        Sampler::AlwaysOn => SdkSampler::AlwaysOn,
        Sampler::AlwaysOff => SdkSampler::AlwaysOff,
        Sampler::TraceIdRatio(ratio) => SdkSampler::TraceIdRatioBased(ratio),
        Sampler::ParentBasedAlwaysOn => SdkSampler::ParentBased(Box::new(SdkSampler::AlwaysOn)),
        Sampler::ParentBasedAlwaysOff => SdkSampler::ParentBased(Box::new(SdkSampler::AlwaysOff)),
        Sampler::ParentBasedTraceIdRatio(ratio) => {
            SdkSampler::ParentBased(Box::new(SdkSampler::TraceIdRatioBased(ratio)))
        }
    }
}
