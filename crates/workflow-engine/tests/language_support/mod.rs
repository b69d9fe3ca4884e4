//! Helpers shared by the `language_*` tests: a tiny scripted HTTP server for `http_request`
//! steps, and small readers of instances and step executions.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::TestApp;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The path with its query string.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the server answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    /// Wait this long before answering (a slow endpoint).
    pub delay: Duration,
}

impl Reply {
    pub fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            content_type: "application/json",
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }

    pub fn text(status: u16, body: &str) -> Self {
        Self {
            status,
            content_type: "text/plain",
            body: body.to_owned(),
            delay: Duration::ZERO,
        }
    }

    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

type Script = Arc<dyn Fn(&Request, usize) -> Reply + Send + Sync>;

/// An HTTP/1.1 server on 127.0.0.1 that answers every request with what `script` returns for
/// it (given the request and how many requests came before it) and records the requests.
pub struct HttpServer {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
    load: Arc<Mutex<Load>>,
}

/// Requests being answered now, and the most at once so far.
#[derive(Default)]
struct Load {
    now: usize,
    most: usize,
}

impl HttpServer {
    pub async fn start(script: impl Fn(&Request, usize) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let requests: Arc<Mutex<Vec<Request>>> = Arc::default();
        let script: Script = Arc::new(script);
        let load: Arc<Mutex<Load>> = Arc::default();
        let seen = requests.clone();
        let busy = load.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let script = script.clone();
                let seen = seen.clone();
                let busy = busy.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, script, seen, busy).await;
                });
            }
        });
        Self {
            port,
            requests,
            load,
        }
    }

    /// The most requests that were being answered at the same time.
    pub fn most_at_once(&self) -> usize {
        self.load.lock().unwrap().most
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

async fn serve(
    mut stream: TcpStream,
    script: Script,
    seen: Arc<Mutex<Vec<Request>>>,
    load: Arc<Mutex<Load>>,
) -> std::io::Result<()> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_owned();
    let target = first.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let request = Request {
        method,
        target,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let count = {
        let mut seen = seen.lock().unwrap();
        seen.push(request.clone());
        seen.len() - 1
    };
    let reply = script(&request, count);
    {
        let mut load = load.lock().unwrap();
        load.now += 1;
        load.most = load.most.max(load.now);
    }
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    load.lock().unwrap().now -= 1;
    let response = format!(
        "HTTP/1.1 {} Scripted\r\nContent-Type: {}\r\nContent-Length: {}\r\nX-Test: yes\r\nConnection: close\r\n\r\n{}",
        reply.status,
        reply.content_type,
        reply.body.len(),
        reply.body
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// The step ids of executions, in the order the API lists them.
pub fn step_ids(steps: &[Value]) -> Vec<String> {
    steps
        .iter()
        .map(|s| s["step_id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The executions of one step, oldest first.
pub fn executions_of<'a>(steps: &'a [Value], step_id: &str) -> Vec<&'a Value> {
    steps.iter().filter(|s| s["step_id"] == step_id).collect()
}

/// The only execution of one step.
pub fn only<'a>(steps: &'a [Value], step_id: &str) -> &'a Value {
    let found = executions_of(steps, step_id);
    assert_eq!(
        found.len(),
        1,
        "one execution of {step_id} expected: {steps:#?}"
    );
    found[0]
}

/// Starts an instance of a new template made of `definition` and waits for its end.
pub async fn run(
    app: &TestApp,
    name: &str,
    definition: Value,
    variables: Value,
) -> (String, Value) {
    let template = app.create_template(name, definition).await;
    let id = app.start_instance(&template, variables).await;
    let instance = app.wait_finished(&id).await;
    (id, instance)
}

/// Waits until an execution of `step_id` has `status`, and answers it.
pub async fn wait_step(app: &TestApp, instance_id: &str, step_id: &str, status: &str) -> Value {
    let mut last = Vec::new();
    for _ in 0..1500 {
        last = app.steps(instance_id).await;
        if let Some(step) = last
            .iter()
            .find(|s| s["step_id"] == step_id && s["status"] == status)
        {
            return step.clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{step_id} of {instance_id} never became {status}: {last:#?}");
}

pub async fn instance(app: &TestApp, id: &str) -> Value {
    let (status, body) = app.get(&format!("/api/v1/instances/{id}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Sends an event to an instance and answers the HTTP status and body.
pub async fn send_event(app: &TestApp, id: &str, event: &str, data: Value) -> (u16, Value) {
    app.post(
        &format!("/api/v1/instances/{id}/events"),
        &serde_json::json!({"event": event, "data": data}),
    )
    .await
}

/// A lifecycle request (`start`, `pause`, `resume`, `cancel`).
pub async fn lifecycle(app: &TestApp, id: &str, action: &str) -> (u16, Value) {
    app.put(&format!("/api/v1/instances/{id}/{action}"), None)
        .await
}
