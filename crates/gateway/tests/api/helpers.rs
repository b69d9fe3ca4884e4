use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bus::MemoryEventBus;
use gateway::{Gateway, GatewaySettings};
use identity::{Claims, TokenRules, Verifier};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use proto::v1::workflow_service_server::WorkflowServiceServer;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_stream::wrappers::TcpListenerStream;
use tonic_health::ServingStatus;

use crate::peer::Peer;

pub const SECRET: &str = "test-secret-that-is-long-enough-for-hs256";

pub struct TestApp {
    pub base: String,
    pub bus: Arc<MemoryEventBus>,
    pub peer: Arc<Peer>,
    pub http: reqwest::Client,
    pub health: tonic_health::server::HealthReporter,
    /// Sending (or dropping) stops the gateway.
    pub stop: Option<oneshot::Sender<()>>,
    pub server: tokio::task::JoinHandle<Result<(), gateway::GatewayError>>,
}

/// A scheduler peer with the standard health service, on a free port.
async fn spawn_peer() -> (String, Arc<Peer>, tonic_health::server::HealthReporter) {
    let peer = Arc::new(Peer::default());
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_service_status("", ServingStatus::Serving).await;
    health
        .set_service_status("database", ServingStatus::Serving)
        .await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let service = WorkflowServiceServer::from_arc(peer.clone());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(health_service)
            .add_service(service)
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    (url, peer, health)
}

pub async fn spawn_app() -> TestApp {
    let (url, peer, health) = spawn_peer().await;
    spawn_with(vec![url], peer, health, 1024 * 1024).await
}

/// The body limit and the per-request limits of a test gateway.
pub struct AppLimits {
    pub body_limit_bytes: usize,
    pub request: gateway::RequestLimits,
}

impl From<usize> for AppLimits {
    fn from(body_limit_bytes: usize) -> Self {
        Self {
            body_limit_bytes,
            request: gateway::RequestLimits::default(),
        }
    }
}

pub async fn spawn_app_with_limits(request: gateway::RequestLimits) -> TestApp {
    let (url, peer, health) = spawn_peer().await;
    let limits = AppLimits {
        body_limit_bytes: 1024 * 1024,
        request,
    };
    spawn_with(vec![url], peer, health, limits).await
}

pub async fn spawn_app_with_limit(limit: usize) -> TestApp {
    let (url, peer, health) = spawn_peer().await;
    spawn_with(vec![url], peer, health, limit).await
}

/// A gateway given two schedulers of which only the first answers.
pub async fn spawn_app_with_a_dead_replica() -> TestApp {
    let (url, peer, health) = spawn_peer().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    spawn_with(vec![dead, url], peer, health, 1024 * 1024).await
}

/// A gateway whose scheduler is down: its url points at a port nobody listens on.
pub async fn spawn_app_without_scheduler() -> TestApp {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let (health, _) = tonic_health::server::health_reporter();
    spawn_with(vec![url], Arc::new(Peer::default()), health, 1024 * 1024).await
}

async fn spawn_with(
    scheduler_urls: Vec<String>,
    peer: Arc<Peer>,
    health: tonic_health::server::HealthReporter,
    limits: impl Into<AppLimits>,
) -> TestApp {
    let AppLimits {
        body_limit_bytes,
        request,
    } = limits.into();
    let bus = Arc::new(MemoryEventBus::new());
    let settings = GatewaySettings {
        host: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 0,
        tokens: rules(),
        tls: None,
        scheduler_urls,
        in_process_scheduler: None,
        body_limit_bytes,
        limits: request,
    };
    let gateway = Gateway::build(settings, bus.clone()).await.unwrap();
    let base = format!("http://127.0.0.1:{}", gateway.port());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(gateway.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    TestApp {
        base,
        bus,
        peer,
        http: reqwest::Client::new(),
        health,
        stop: Some(stop),
        server,
    }
}

pub fn rules() -> TokenRules {
    TokenRules {
        secret: SECRET.into(),
        issuer: None,
        audience: None,
        max_lifetime: std::time::Duration::from_secs(24 * 3600),
        max_worker_lifetime: std::time::Duration::from_secs(24 * 3600),
    }
}

pub fn verifier() -> Verifier {
    Verifier::new(&rules()).unwrap()
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn token_for(tenant: &str, role: Option<&str>) -> String {
    let claims = Claims {
        sub: "tester".into(),
        exp: now() + 600,
        tenant: Some(tenant.into()),
        role: role.map(str::to_string),
        ..Claims::default()
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

pub fn token() -> String {
    token_for("acme", None)
}

/// A token with an arbitrary header and claims and a made-up signature, for algorithms the
/// gateway must refuse before it looks at the signature.
pub fn forged(header: Value, claims: Value, signature: &str) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        signature
    )
}

pub fn valid_claims() -> Value {
    json!({"sub": "tester", "exp": now() + 600, "tenant": "acme"})
}

pub fn definition() -> Value {
    json!({"steps": [{"id": "fetch", "type": "action", "action": "http_request"}]})
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post_json(&self, path: &str, body: &Value, token: &str) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn put(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .put(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// Creates a template for `tenant` and answers its id.
    pub async fn template(&self, name: &str, token: &str) -> String {
        let response = self
            .post_json(
                "/api/v1/templates",
                &json!({"name": name, "definition": definition()}),
                token,
            )
            .await;
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        body["id"].as_str().unwrap().to_string()
    }

    pub async fn instance(&self, template_id: &str, token: &str) -> String {
        let response = self
            .post_json(
                "/api/v1/instances",
                &json!({"template_id": template_id, "variables": {"n": 1}}),
                token,
            )
            .await;
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        body["id"].as_str().unwrap().to_string()
    }
}

/// Asserts a problem document with this status, and answers it.
pub async fn problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status, "status");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status, "{body}");
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:chorus:problem:"),
        "{body}"
    );
    assert!(body["title"].is_string(), "{body}");
    assert!(body["detail"].is_string(), "{body}");
    body
}
