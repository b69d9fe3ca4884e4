use std::net::IpAddr;
use std::time::Duration;

/// What the scheduler takes from configuration.
#[derive(Debug, Clone)]
pub struct SchedulerSettings {
    pub host: IpAddr,
    /// `GRPC_PORT`; 0 picks a free port (tests).
    pub grpc_port: u16,
    /// `WORKFLOW_CHECK_INTERVAL`: the longest the sweeper sleeps between looks for expired job
    /// leases; timers wake it sooner.
    pub check_interval: Duration,
    /// How long a handed-off job may go unacknowledged and without heartbeat before the sweeper
    /// hands it out again.
    pub job_lease: Duration,
    /// `MAX_CONCURRENT_WORKFLOWS`.
    pub max_concurrent_workflows: u32,
    /// `TENANT_MAX_CONCURRENT_WORKFLOWS`: slots one tenant's instances may hold at once, under
    /// the global cap (equal to it when unset).
    pub tenant_max_concurrent_workflows: u32,
    pub engine: engine::Settings,
    /// `TRIGGER_SECRET_KEY`: encrypts webhook secrets at rest.
    pub trigger_key: crate::TriggerKey,
    /// How every gRPC caller's token is checked (`JWT_*`); its secret also keys the jobs'
    /// lease tokens.
    pub tokens: identity::TokenRules,
    /// `GRPC_TLS_*`: TLS on the gRPC port, when set.
    pub tls: Option<GrpcTls>,
    /// `GRPC_REFLECTION`: serve server reflection (to callers with a user token).
    pub reflection: bool,
    /// `RETENTION_DAYS`: finished instances older than this are purged; `None` keeps them.
    pub retention: Option<Duration>,
}

/// TLS on the gRPC port: PEM files read at start.
#[derive(Debug, Clone)]
pub struct GrpcTls {
    /// `GRPC_TLS_CERT`: the server's certificate chain.
    pub cert: std::path::PathBuf,
    /// `GRPC_TLS_KEY`: its private key.
    pub key: std::path::PathBuf,
    /// `GRPC_TLS_CLIENT_CA`: when set, callers must present a certificate it signed (mTLS).
    pub client_ca: Option<std::path::PathBuf>,
}
