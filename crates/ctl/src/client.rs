//! The HTTP side: requests to the REST API with the bearer token, answers read as JSON, error
//! answers as [`Problem`]s with a hint, transport failures as errors a person can act on.

use std::time::Duration;

use reqwest::header::{ACCEPT, HeaderMap, HeaderValue};
use reqwest::{Method, RequestBuilder, Response, Url};
use serde_json::Value;

use crate::error::{CtlError, Result};
use crate::problem::Problem;
use crate::token;

/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an ordinary call may take (event streams have no limit).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// A client of one engine's REST API.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    http: reqwest::Client,
    /// The engine's address with `/api/v1` appended, no trailing slash.
    api: String,
    token: Option<String>,
}

impl Client {
    pub(crate) fn new(url: &str, token: Option<String>) -> Result<Self> {
        let parsed = Url::parse(url)
            .map_err(|e| CtlError::Usage(format!("--url / WORKFLOW_URL '{url}': {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(CtlError::Usage(format!(
                "--url / WORKFLOW_URL '{url}': must be an http:// or https:// address"
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("workflow-engine-ctl/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CtlError::Usage(format!("cannot set up HTTP: {e}")))?;
        let token = token.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
        Ok(Self {
            http,
            api: format!("{}/api/v1", url.trim_end_matches('/')),
            token,
        })
    }

    /// The full URL of an API path (`/instances`) with its query.
    pub(crate) fn url(&self, path: &str, query: &[(&str, String)]) -> Result<Url> {
        let mut url = Url::parse(&format!("{}{path}", self.api))
            .map_err(|e| CtlError::Usage(format!("bad address {}{path}: {e}", self.api)))?;
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in query {
                pairs.append_pair(name, value);
            }
        }
        Ok(url)
    }

    fn request(&self, method: Method, url: Url) -> RequestBuilder {
        let request = self.http.request(method, url);
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    pub(crate) async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value> {
        let url = self.url(path, query)?;
        self.call(self.request(Method::GET, url.clone()), &url)
            .await
            .map(|(_, body)| body)
    }

    /// A POST with a JSON body; answers the status (201 or 200 tell apart a new instance from
    /// an idempotent retry) and the body.
    pub(crate) async fn post(
        &self,
        path: &str,
        body: &Value,
        headers: HeaderMap,
    ) -> Result<(u16, Value)> {
        let url = self.url(path, &[])?;
        let request = self
            .request(Method::POST, url.clone())
            .headers(headers)
            .json(body);
        self.call(request, &url).await
    }

    pub(crate) async fn put(&self, path: &str, body: Option<&Value>) -> Result<Value> {
        let url = self.url(path, &[])?;
        let mut request = self.request(Method::PUT, url.clone());
        if let Some(body) = body {
            request = request.json(body);
        }
        self.call(request, &url).await.map(|(_, body)| body)
    }

    /// Opens a server-sent event stream; the answer's body is read chunk by chunk.
    pub(crate) async fn stream(&self, path: &str, last_event_id: Option<&str>) -> Result<Response> {
        let url = self.url(path, &[])?;
        let mut request = self
            .request(Method::GET, url.clone())
            .header(ACCEPT, HeaderValue::from_static("text/event-stream"));
        if let Some(id) = last_event_id.and_then(|id| HeaderValue::from_str(id).ok()) {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.map_err(|e| transport(&url, &e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| transport(&url, &e))?;
        Err(self.problem(status, &body).into())
    }

    async fn call(&self, request: RequestBuilder, url: &Url) -> Result<(u16, Value)> {
        let response = request
            .timeout(CALL_TIMEOUT)
            .send()
            .await
            .map_err(|e| transport(url, &e))?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| transport(url, &e))?;
        if !(200..300).contains(&status) {
            return Err(self.problem(status, &body).into());
        }
        if body.is_empty() {
            return Ok((status, Value::Null));
        }
        let value = serde_json::from_slice(&body).map_err(|e| CtlError::BadAnswer {
            url: url.to_string(),
            detail: format!("not JSON ({e})"),
        })?;
        Ok((status, value))
    }

    /// The problem of an error answer, with what the client can add about it.
    fn problem(&self, status: u16, body: &[u8]) -> Problem {
        let mut problem = Problem::from_answer(status, body);
        problem.hint = match status {
            401 => Some(token::unauthenticated_hint(
                self.token.as_deref(),
                chrono::Utc::now(),
            )),
            403 => Some(token::forbidden_hint(self.token.as_deref())),
            404 if problem.kind.is_none() => Some(format!(
                "no such API at {}: is --url / WORKFLOW_URL the engine's address?",
                self.api
            )),
            429 | 503 => Some("the engine is busy or a part of it is down: retry shortly".into()),
            _ => None,
        };
        problem
    }
}

/// A transport failure as an error: a refused connection, a timeout, anything else.
fn transport(url: &Url, error: &reqwest::Error) -> CtlError {
    let base = format!(
        "{}://{}",
        url.scheme(),
        url.host_str()
            .map_or_else(String::new, |host| match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_owned(),
            })
    );
    if error.is_timeout() {
        return CtlError::Timeout { url: base };
    }
    let reason = root_cause(error);
    if error.is_connect() {
        return CtlError::Connect { url: base, reason };
    }
    CtlError::Transport {
        url: url.to_string(),
        reason,
    }
}

/// The innermost cause: "connection refused" rather than "error sending request".
fn root_cause(error: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = error;
    while let Some(next) = source.source() {
        if let Some(io) = next.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return "connection refused".to_owned();
        }
        source = next;
    }
    source.to_string()
}
