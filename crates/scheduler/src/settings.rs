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
    pub engine: engine::Settings,
    /// `TRIGGER_SECRET_KEY`: encrypts webhook secrets at rest.
    pub trigger_key: crate::TriggerKey,
}
