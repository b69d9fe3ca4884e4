use std::time::Duration;

/// How one worker process runs: which queues it serves, how much at once, where it reports.
/// The binary fills it from its typed configuration (the one place variables are parsed);
/// `Default` holds the documented defaults, for tests.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// `WORKER_QUEUES`: the queues this worker consumes (`default` carries the built-in actions).
    pub queues: Vec<String>,
    /// `WORKER_CONCURRENCY`: jobs running at once, over all queues.
    pub concurrency: usize,
    /// The consumer name in the queue's consumer group; unique per process.
    pub consumer_name: String,
    /// `SCHEDULER_URL`: one or more scheduler endpoints; results are balanced over them.
    pub scheduler_urls: Vec<String>,
    /// The embedded mode: the scheduler's API in this process, used instead of
    /// `scheduler_urls` (no socket between the two).
    pub in_process_scheduler: Option<proto::SchedulerTransport>,
    /// `SMTP_URL`: `smtp://host:port`, `smtps://user:pass@host`, `smtp://host?tls=required`.
    pub smtp_url: Option<String>,
    /// `HTTP_ACTION_ALLOW_PRIVATE`: let `http_request` reach loopback, private and link-local
    /// addresses.
    pub allow_private_http: bool,
    /// The lease after which another worker takes over a job this one has not acknowledged.
    pub claim_after: Duration,
    /// `WORKER_TOKEN`: this worker's credential on the scheduler (a JWT of role `worker`).
    pub token: String,
    /// `GRPC_TLS_*`: TLS for `https://` scheduler URLs.
    pub tls: Option<proto::ClientTls>,
    /// `MAX_STEP_OUTPUT_BYTES`: the largest output a step may report (1 MiB), well below the
    /// gRPC message limit, so a result always fits its report.
    pub max_output_bytes: usize,
    /// `CIRCUIT_BREAKER_FAILURES` / `CIRCUIT_BREAKER_COOLDOWN`: breakers per target host.
    pub breaker: crate::actions::BreakerSettings,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            queues: vec![model::DEFAULT_QUEUE.to_owned()],
            concurrency: 16,
            consumer_name: default_consumer_name(),
            scheduler_urls: vec!["http://127.0.0.1:50051".to_owned()],
            in_process_scheduler: None,
            smtp_url: None,
            allow_private_http: false,
            claim_after: Duration::from_secs(30),
            token: String::new(),
            tls: None,
            max_output_bytes: 1 << 20,
            breaker: crate::actions::BreakerSettings::default(),
        }
    }
}

/// Host name plus pid tells operators which process holds a job; the uuid keeps two workers
/// unique even when both run as pid 1 in containers with the same host name.
pub fn default_consumer_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".to_owned());
    let unique = uuid::Uuid::now_v7().simple().to_string();
    format!(
        "{host}-{}-{}",
        std::process::id(),
        &unique[unique.len() - 8..]
    )
}
