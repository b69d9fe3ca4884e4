use std::net::IpAddr;

/// Everything the gateway needs to start; the binary resolves it from the environment.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// `0.0.0.0` in production, `127.0.0.1` in tests.
    pub host: IpAddr,
    /// `PORT` (8081); 0 picks a free port (tests).
    pub port: u16,
    /// How bearer tokens are checked (`JWT_*`).
    pub tokens: identity::TokenRules,
    /// `GRPC_TLS_*`: the TLS the scheduler channel uses for `https://` URLs.
    pub tls: Option<proto::ClientTls>,
    /// `SCHEDULER_URL`, comma-separated: calls are balanced over them.
    pub scheduler_urls: Vec<String>,
    /// The embedded mode: the scheduler's API in this process, used instead of
    /// `scheduler_urls` (no socket between the two).
    pub in_process_scheduler: Option<proto::SchedulerTransport>,
    /// Largest request body accepted (413 above).
    pub body_limit_bytes: usize,
    /// Limits on parts of a body, and the per-tenant request rate.
    pub limits: RequestLimits,
}

/// What one request may carry and how often a tenant may ask.
#[derive(Debug, Clone)]
pub struct RequestLimits {
    /// `MAX_EVENT_BYTES`: the largest event `data`, as JSON (413 above).
    pub max_event_bytes: usize,
    /// `MAX_VARIABLES_BYTES`: the largest `variables` of a new instance (413 above).
    pub max_variables_bytes: usize,
    /// `TENANT_RATE_LIMIT` / `TENANT_RATE_BURST`; `None` switches the limit off.
    pub rate: Option<crate::rate_limit::RateSettings>,
    /// `EVENT_STREAM_MAX_SECONDS`: how long one event stream response lasts before it ends and
    /// the client reconnects with `Last-Event-ID`.
    pub stream_lifetime: std::time::Duration,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            max_event_bytes: 256 * 1024,
            max_variables_bytes: 1024 * 1024,
            rate: None,
            stream_lifetime: std::time::Duration::from_secs(3600),
        }
    }
}

impl GatewaySettings {
    /// The default body limit, 1 MiB.
    pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

    /// Splits `SCHEDULER_URL` (comma-separated) into its endpoints.
    pub fn split_urls(raw: &str) -> Vec<String> {
        raw.split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_string)
            .collect()
    }
}
