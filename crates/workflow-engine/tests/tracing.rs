//! Traces end to end: the process's telemetry set up from `OTEL_*` variables exports to an
//! in-process OTLP receiver, and a webhook-started instance on the split services is one trace
//! from the caller's `traceparent` through gateway, scheduler and worker to the outgoing HTTP
//! call of its last step, while a schedule-started one is a trace from its cron tick. One test
//! per binary: the subscriber is process-wide.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use common::{Backend, Options, TestApp};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use serde_json::{Value, json};
use tokio_stream::wrappers::TcpListenerStream;
use workflow_engine::{Settings, telemetry};

/// One exported span, as the receiver got it.
#[derive(Debug, Clone)]
struct Received {
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    name: String,
    service: String,
    /// The span's string attributes.
    attributes: HashMap<String, String>,
}

#[derive(Clone, Default)]
struct Receiver {
    spans: Arc<Mutex<Vec<Received>>>,
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|resource| &resource.attributes)
                .find(|attribute| attribute.key == "service.name")
                .and_then(|attribute| attribute.value.as_ref())
                .map(|value| format!("{:?}", value.value))
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    let attributes = span
                        .attributes
                        .iter()
                        .filter_map(|attribute| match &attribute.value.as_ref()?.value {
                            Some(AnyValue::StringValue(text)) => {
                                Some((attribute.key.clone(), text.clone()))
                            }
                            _ => None,
                        })
                        .collect();
                    spans.push(Received {
                        attributes,
                        trace_id: hex::encode(&span.trace_id),
                        span_id: hex::encode(&span.span_id),
                        parent_span_id: hex::encode(&span.parent_span_id),
                        name: span.name,
                        service: service.clone(),
                    });
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

async fn start_receiver() -> (String, Receiver) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let receiver = Receiver::default();
    let service = TraceServiceServer::new(receiver.clone());
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(TcpListenerStream::new(listener))
            .await
    });
    (format!("http://{address}"), receiver)
}

/// The target of the instance's HTTP step: remembers each call's `traceparent`.
async fn start_target() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorded = seen.clone();
    let router = axum::Router::new().route(
        "/notify",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let recorded = recorded.clone();
            async move {
                let traceparent = headers
                    .get("traceparent")
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                recorded.lock().unwrap().push(traceparent);
                axum::Json(json!({"ok": true}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://{address}"), seen)
}

fn otel_vars(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.to_owned()),
        ("OTEL_SERVICE_NAME", "chorus-under-test".to_owned()),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment=test".to_owned(),
        ),
        ("OTEL_TRACES_SAMPLER", "parentbased_always_on".to_owned()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_are_traced_across_the_services() {
    let (endpoint, receiver) = start_receiver().await;
    let vars: HashMap<String, String> = otel_vars(&endpoint)
        .into_iter()
        .chain([("ENVIRONMENT", "test".to_owned())])
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
    let settings = Settings::from_vars(&vars).expect("settings");
    let telemetry = Arc::new(telemetry::init(&settings, "test").expect("telemetry"));
    let app = TestApp::spawn_with(
        Backend::Distributed,
        Options {
            vars: otel_vars(&endpoint),
            ..Options::default()
        },
    )
    .await;
    let traced = Traced {
        app,
        receiver,
        telemetry,
    };
    a_webhook_started_instance_is_one_trace(&traced).await;
    a_scheduled_instance_is_a_trace_from_its_tick(&traced).await;
}

/// The engine under test and what its spans reach.
struct Traced {
    app: TestApp,
    receiver: Receiver,
    telemetry: Arc<telemetry::Telemetry>,
}

impl Traced {
    /// Flushes until the spans of `trace_id` include every name in `wanted`, at least `jobs`
    /// of them `job` spans, or gives up after a while; answers the trace's spans.
    async fn spans_of(&self, trace_id: &str, wanted: &[&str], jobs: usize) -> Vec<Received> {
        let mut in_trace: Vec<Received> = Vec::new();
        for _ in 0..100 {
            let flushing = self.telemetry.clone();
            tokio::task::spawn_blocking(move || flushing.flush())
                .await
                .unwrap();
            in_trace = self
                .receiver
                .spans
                .lock()
                .unwrap()
                .iter()
                .filter(|span| span.trace_id == trace_id)
                .cloned()
                .collect();
            let names: HashSet<&str> = in_trace.iter().map(|span| span.name.as_str()).collect();
            let job_spans = in_trace.iter().filter(|span| span.name == "job").count();
            if wanted.iter().all(|name| names.contains(name)) && job_spans >= jobs {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let names: HashSet<&str> = in_trace.iter().map(|span| span.name.as_str()).collect();
        for name in wanted {
            assert!(names.contains(name), "no {name} span in {in_trace:#?}");
        }
        in_trace
    }
}

async fn a_webhook_started_instance_is_one_trace(traced: &Traced) {
    let app = &traced.app;
    let (target, calls) = start_target().await;
    let template_id = app
        .create_template(
            "traced",
            json!({"steps": [
                {"id": "hello", "type": "action",
                 "config": {"action": "log_message", "message": "order {{ variables.order }}"},
                 "next_steps": ["notify"]},
                {"id": "notify", "type": "action",
                 "config": {"action": "http_request", "method": "POST",
                            "url": format!("{target}/notify"), "body": {"order": "{{ variables.order }}"}}}
            ]}),
        )
        .await;
    let (status, trigger) = app
        .post(
            "/api/v1/triggers",
            &json!({"template_id": template_id, "type": "webhook"}),
        )
        .await;
    assert_eq!(status, 201, "{trigger}");
    let secret = trigger["config"]["secret"].as_str().unwrap().to_owned();

    // The caller's trace: everything the call sets off must land in it.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let body = r#"{"order": 7}"#;
    let timestamp = Utc::now().timestamp().to_string();
    let signature = scheduler::sign_webhook(secret.as_bytes(), &timestamp, body.as_bytes());
    let response = app
        .client
        .post(app.url(&format!("/api/v1/triggers/webhook/{template_id}")))
        .header("content-type", "application/json")
        .header("x-signature", signature)
        .header("x-signature-timestamp", timestamp)
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    let instance_id = accepted["instance_id"].as_str().unwrap().to_owned();
    let instance = app.wait_finished(&instance_id).await;
    assert_eq!(instance["status"], "completed", "{instance}");
    assert_eq!(instance["trace_id"], trace_id, "{instance}");

    // The HTTP step carried the trace on to the service it called.
    let outgoing = calls.lock().unwrap().clone();
    assert_eq!(
        outgoing.len(),
        1,
        "{outgoing:?} {:#?}",
        app.steps(&instance_id).await
    );
    assert!(
        outgoing[0].starts_with(&format!("00-{trace_id}-")),
        "{outgoing:?}"
    );

    // Two jobs ran, so two job spans: the second one closes last.
    let in_trace = traced
        .spans_of(
            trace_id,
            &["http_request", "grpc", "decide", "job", "http_client"],
            2,
        )
        .await;
    assert!(
        in_trace
            .iter()
            .all(|span| span.service.contains("chorus-under-test")),
        "{in_trace:#?}"
    );
    // The gateway's span continues the caller's; the others hang below it, none is a root.
    let gateway = in_trace
        .iter()
        .find(|span| span.name == "http_request")
        .unwrap();
    assert_eq!(gateway.parent_span_id, caller_span);
    let known: HashSet<&str> = in_trace.iter().map(|span| span.span_id.as_str()).collect();
    for span in &in_trace {
        assert!(
            span.parent_span_id == caller_span || known.contains(span.parent_span_id.as_str()),
            "{span:?} hangs off a span outside the trace"
        );
    }
    // Both jobs' spans are children of a decision, which follows the webhook's gRPC call.
    for job in in_trace.iter().filter(|span| span.name == "job") {
        let parent = in_trace
            .iter()
            .find(|span| span.span_id == job.parent_span_id)
            .unwrap();
        assert_eq!(parent.name, "decide", "{job:?}");
    }
}

/// A cron tick is where its instance's trace starts: the instance's trace id is that of a root
/// `schedule_tick` span, with the instance's decisions and jobs below it.
async fn a_scheduled_instance_is_a_trace_from_its_tick(traced: &Traced) {
    let app = &traced.app;
    let template_id = app
        .create_template(
            "ticked",
            json!({"steps": [
                {"id": "hello", "type": "action",
                 "config": {"action": "log_message", "message": "tick"}}
            ]}),
        )
        .await;
    let (status, trigger) = app
        .post(
            "/api/v1/triggers",
            &json!({"template_id": template_id, "type": "schedule",
                    "config": {"cron": "* * * * * *"}}),
        )
        .await;
    assert_eq!(status, 201, "{trigger}");
    let mut first = None;
    for _ in 0..200 {
        let (status, listed) = app
            .get(&format!("/api/v1/instances?template_id={template_id}"))
            .await;
        assert_eq!(status, 200, "{listed}");
        first = listed["items"]
            .as_array()
            .and_then(|items| items.last())
            .and_then(|instance| instance["id"].as_str())
            .map(str::to_owned);
        if first.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let instance_id = first.expect("the schedule started an instance");
    let instance = app.wait_finished(&instance_id).await;
    assert_eq!(instance["status"], "completed", "{instance}");
    let trace_id = instance["trace_id"]
        .as_str()
        .unwrap_or_else(|| panic!("a scheduled instance has a trace: {instance}"));

    let in_trace = traced
        .spans_of(trace_id, &["schedule_tick", "decide", "job"], 1)
        .await;
    let ticks: Vec<&Received> = in_trace
        .iter()
        .filter(|span| span.name == "schedule_tick")
        .collect();
    assert_eq!(ticks.len(), 1, "{in_trace:#?}");
    assert_eq!(ticks[0].parent_span_id, "", "the tick starts the trace");
    assert!(
        ticks[0].attributes.get("trigger_id").map(String::as_str) == trigger["id"].as_str()
            && ticks[0].attributes.contains_key("scheduled_at")
            && ticks[0].attributes.get("instance_id").map(String::as_str)
                == Some(instance_id.as_str()),
        "{:?}",
        ticks[0]
    );
    let known: HashSet<&str> = in_trace.iter().map(|span| span.span_id.as_str()).collect();
    for span in in_trace.iter().filter(|span| span.name != "schedule_tick") {
        assert!(
            known.contains(span.parent_span_id.as_str()),
            "{span:?} hangs off a span outside the trace"
        );
    }
}
