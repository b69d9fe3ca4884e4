use std::collections::BTreeMap;
use std::time::Duration;

use model::StepError;
use model::actions::{HttpMethod, HttpRequestConfig};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Client, Method, StatusCode, redirect};
use serde_json::{Map, Value, json};
use tracing::Instrument;

use super::address_guard::{self, ForbiddenAddress, GuardedResolver};
use super::{ActionResult, invalid_config, parse_config};
use crate::WorkerError;

const MAX_REDIRECTS: usize = 10;
/// A step output lives in the instance's state; a larger response would bloat every decision.
const MAX_RESPONSE_BYTES: usize = 10 * 1024 * 1024;

/// The `http_request` action: one client (one connection pool) for all jobs.
pub(crate) struct HttpRequest {
    client: Client,
    guarded: bool,
}

impl HttpRequest {
    pub(crate) fn new(allow_private: bool) -> Result<Self, WorkerError> {
        // A proxy would resolve names itself, out of the guard's reach.
        let builder = Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!(
                "chorus-workflow-engine/",
                env!("CARGO_PKG_VERSION")
            ));
        let builder = if allow_private {
            builder.redirect(redirect::Policy::limited(MAX_REDIRECTS))
        } else {
            builder
                .dns_resolver(std::sync::Arc::new(GuardedResolver))
                .redirect(redirect::Policy::custom(|attempt| {
                    if attempt.previous().len() >= MAX_REDIRECTS {
                        return attempt.error("too many redirects");
                    }
                    match address_guard::check_url(attempt.url()) {
                        Ok(()) => attempt.follow(),
                        Err(forbidden) => attempt.error(forbidden),
                    }
                }))
        };
        Ok(Self {
            client: builder.build()?,
            guarded: !allow_private,
        })
    }

    pub(crate) async fn run(&self, input: &Value) -> ActionResult {
        let config: HttpRequestConfig = parse_config("http_request", input)?;
        let mut request = self.request(&config)?;
        // The host only: a URL's path and query may carry tokens.
        let span = tracing::info_span!(
            target: proto::trace::SPAN_TARGET,
            "http_client",
            otel.kind = "client",
            http.request.method = %request.method(),
            server.address = request.url().host_str().unwrap_or_default(),
            http.response.status_code = tracing::field::Empty,
        );
        proto::trace::inject_headers(&span, request.headers_mut());
        let response = self
            .client
            .execute(request)
            .instrument(span.clone())
            .await
            .map_err(send_error)?;
        let status = response.status();
        span.record("http.response.status_code", status.as_u16());
        let headers = response_headers(response.headers());
        let is_json = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.contains("json"));
        let bytes = read_body(response).await?;
        let body = if is_json {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        } else {
            Value::String(String::from_utf8_lossy(&bytes).into_owned())
        };
        let expected = match &config.expected_status {
            Some(codes) => codes.contains(status.as_u16()),
            None => status.is_success(),
        };
        if !expected {
            return Err(status_error(status, &body));
        }
        Ok(json!({"status": status.as_u16(), "headers": headers, "body": body}))
    }

    fn request(&self, config: &HttpRequestConfig) -> Result<reqwest::Request, StepError> {
        let method = config
            .method
            .as_ref()
            .map_or("GET", HttpMethod::as_str)
            .to_ascii_uppercase();
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|_| invalid_config(format!("http_request: invalid method {method:?}")))?;
        let mut url = reqwest::Url::parse(&config.url)
            .map_err(|err| invalid_config(format!("http_request: invalid url: {err}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid_config("http_request: url must be http or https"));
        }
        if self.guarded {
            address_guard::check_url(&url).map_err(forbidden)?;
        }
        if let Some(query) = &config.query {
            let pairs = query_pairs(query)?;
            if !pairs.is_empty() {
                url.query_pairs_mut().extend_pairs(pairs);
            }
        }
        let mut builder = self.client.request(method, url);
        if let Some(headers) = &config.headers {
            builder = builder.headers(request_headers(headers)?);
        }
        if let Some(seconds) = config.timeout_seconds {
            let timeout = Duration::try_from_secs_f64(seconds)
                .ok()
                .filter(|t| !t.is_zero())
                .ok_or_else(|| invalid_config("http_request: timeout_seconds must be positive"))?;
            builder = builder.timeout(timeout);
        }
        builder = match &config.body {
            None | Some(Value::Null) => builder,
            Some(Value::String(text)) => builder.body(text.clone()),
            Some(json) => builder.json(json),
        };
        builder
            .build()
            .map_err(|err| invalid_config(format!("http_request: {err}")))
    }
}

fn request_headers(headers: &Map<String, Value>) -> Result<HeaderMap, StepError> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| invalid_config(format!("http_request: invalid header name {name:?}")))?;
        let text = scalar_text(value).ok_or_else(|| {
            invalid_config(format!("http_request: header {name} must be a string"))
        })?;
        let value = HeaderValue::from_str(&text).map_err(|_| {
            invalid_config(format!("http_request: invalid value for header {name}"))
        })?;
        map.append(name, value);
    }
    Ok(map)
}

/// Arrays become repeated parameters (`?tag=a&tag=b`), as most APIs read them.
fn query_pairs(query: &Map<String, Value>) -> Result<Vec<(String, String)>, StepError> {
    let mut pairs = Vec::new();
    for (name, value) in query {
        let values = match value {
            Value::Array(items) => items.iter().collect(),
            Value::Null => Vec::new(),
            single => vec![single],
        };
        for value in values {
            let text = scalar_text(value).ok_or_else(|| {
                invalid_config(format!(
                    "http_request: query parameter {name} must be a scalar"
                ))
            })?;
            pairs.push((name.clone(), text));
        }
    }
    Ok(pairs)
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn response_headers(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        map.entry(name.as_str().to_owned())
            .and_modify(|existing| {
                existing.push_str(", ");
                existing.push_str(&value);
            })
            .or_insert(value);
    }
    map
}

async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, StepError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(send_error)? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(StepError::new(
                "response_too_large",
                format!("response body exceeds {MAX_RESPONSE_BYTES} bytes"),
                false,
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn status_error(status: StatusCode, body: &Value) -> StepError {
    let code = status.as_u16();
    let (kind, retryable) = match code {
        429 => ("http_429", true),
        408 => ("http_4xx", true),
        400..=499 => ("http_4xx", false),
        500..=599 => ("http_5xx", true),
        _ => ("unexpected_status", false),
    };
    let text = match body {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let snippet: String = text.chars().take(200).collect();
    StepError::new(kind, format!("http status {code}: {snippet}"), retryable)
}

fn forbidden(err: ForbiddenAddress) -> StepError {
    StepError::new(
        "forbidden_address",
        format!("{err} (set HTTP_ACTION_ALLOW_PRIVATE to allow)"),
        false,
    )
}

fn send_error(err: reqwest::Error) -> StepError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(current) = source {
        if let Some(refused) = current.downcast_ref::<ForbiddenAddress>() {
            return forbidden(ForbiddenAddress {
                host: refused.host.clone(),
                addr: refused.addr,
            });
        }
        source = current.source();
    }
    if err.is_timeout() {
        return StepError::new("timeout", format!("http request timed out: {err}"), true);
    }
    if err.is_redirect() {
        return StepError::new(
            "http_redirect",
            format!("http redirect refused: {err}"),
            false,
        );
    }
    if err.is_builder() {
        return invalid_config(format!("http_request: {err}"));
    }
    StepError::new(
        "network",
        format!("http request failed: {}", error_chain(&err)),
        true,
    )
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(current) = source {
        text.push_str(": ");
        text.push_str(&current.to_string());
        source = current.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use wiremock::matchers::{body_json, header, method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    fn open() -> HttpRequest {
        HttpRequest::new(true).unwrap()
    }

    fn guarded() -> HttpRequest {
        HttpRequest::new(false).unwrap()
    }

    #[tokio::test]
    async fn a_json_response_becomes_status_headers_and_parsed_body() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/users"))
            .and(query_param("tag", "a"))
            .and(header("x-api-key", "k1"))
            .and(body_json(json!({"name": "ada"})))
            .respond_with(
                ResponseTemplate::new(201)
                    .set_body_json(json!({"id": 7}))
                    .insert_header("x-request-id", "r-1"),
            )
            .expect(1)
            .mount(&server)
            .await;
        let output = open()
            .run(&json!({
                "method": "post",
                "url": format!("{}/users", server.uri()),
                "headers": {"x-api-key": "k1"},
                "query": {"tag": ["a"]},
                "body": {"name": "ada"},
            }))
            .await
            .unwrap();
        assert_eq!(output["status"], 201);
        assert_eq!(output["body"], json!({"id": 7}));
        assert_eq!(output["headers"]["x-request-id"], "r-1");
    }

    #[tokio::test]
    async fn a_text_response_stays_a_string_and_get_is_the_default() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_string("{not json"))
            .mount(&server)
            .await;
        let output = open().run(&json!({"url": server.uri()})).await.unwrap();
        assert_eq!(output["body"], "{not json");
    }

    #[tokio::test]
    async fn a_string_body_is_sent_as_is() {
        let server = MockServer::start().await;
        Mock::given(method("PUT"))
            .and(wiremock::matchers::body_string("plain text"))
            .respond_with(ResponseTemplate::new(204))
            .expect(1)
            .mount(&server)
            .await;
        open()
            .run(&json!({"method": "PUT", "url": server.uri(), "body": "plain text"}))
            .await
            .unwrap();
    }

    async fn failure_for(status: u16, config_extra: Value) -> StepError {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(status).set_body_string("nope"))
            .mount(&server)
            .await;
        let mut config = json!({"url": server.uri()});
        if let (Value::Object(map), Value::Object(extra)) = (&mut config, config_extra) {
            map.extend(extra);
        }
        open().run(&config).await.unwrap_err()
    }

    #[tokio::test]
    async fn statuses_map_to_typed_failures() {
        let err = failure_for(503, json!({})).await;
        assert_eq!((err.kind.as_str(), err.retryable), ("http_5xx", true));
        let err = failure_for(429, json!({})).await;
        assert_eq!((err.kind.as_str(), err.retryable), ("http_429", true));
        let err = failure_for(404, json!({})).await;
        assert_eq!((err.kind.as_str(), err.retryable), ("http_4xx", false));
        assert!(err.message.contains("404"), "{}", err.message);
        let err = failure_for(408, json!({})).await;
        assert_eq!((err.kind.as_str(), err.retryable), ("http_4xx", true));
    }

    #[tokio::test]
    async fn expected_status_replaces_the_2xx_default() {
        let err = failure_for(200, json!({"expected_status": [201]})).await;
        assert_eq!(err.kind, "unexpected_status");
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(404))
            .mount(&server)
            .await;
        let output = open()
            .run(&json!({"url": server.uri(), "expected_status": [404]}))
            .await
            .unwrap();
        assert_eq!(output["status"], 404);
    }

    #[tokio::test]
    async fn a_slow_server_is_a_retryable_timeout() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
            .mount(&server)
            .await;
        let err = open()
            .run(&json!({"url": server.uri(), "timeout_seconds": 0.2}))
            .await
            .unwrap_err();
        assert_eq!((err.kind.as_str(), err.retryable), ("timeout", true));
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_retryable_network_failure() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = open()
            .run(&json!({"url": format!("http://{addr}/")}))
            .await
            .unwrap_err();
        assert_eq!((err.kind.as_str(), err.retryable), ("network", true));
    }

    #[tokio::test]
    async fn bad_config_is_not_retryable() {
        for config in [
            json!({"url": "not a url"}),
            json!({"url": "ftp://example.com/"}),
            json!({"url": "http://example.com/", "method": "NOT A METHOD"}),
            json!({"method": "GET"}),
        ] {
            let err = open().run(&config).await.unwrap_err();
            assert_eq!(
                (err.kind.as_str(), err.retryable),
                ("invalid_config", false),
                "{config}"
            );
        }
    }

    #[tokio::test]
    async fn the_guard_refuses_private_addresses() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200))
            .expect(0)
            .mount(&server)
            .await;
        let port = server.address().port();
        for url in [
            format!("http://127.0.0.1:{port}/"),
            format!("http://localhost:{port}/"),
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            "http://10.0.0.1/".to_owned(),
            "http://[::1]/".to_owned(),
        ] {
            let err = guarded().run(&json!({"url": url})).await.unwrap_err();
            assert_eq!(
                (err.kind.as_str(), err.retryable),
                ("forbidden_address", false),
                "{url}: {}",
                err.message
            );
        }
    }

    #[tokio::test]
    async fn redirects_are_followed_when_allowed() {
        let server = MockServer::start().await;
        Mock::given(path("/old"))
            .respond_with(
                ResponseTemplate::new(302)
                    .insert_header("location", format!("{}/new", server.uri())),
            )
            .mount(&server)
            .await;
        Mock::given(path("/new"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"moved": true})))
            .mount(&server)
            .await;
        let output = open()
            .run(&json!({"url": format!("{}/old", server.uri())}))
            .await
            .unwrap();
        assert_eq!(output["body"], json!({"moved": true}));
    }
}
