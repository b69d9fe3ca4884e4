use std::sync::Arc;

use bus::EventBus;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::scheduler::SchedulerClient;
use identity::Verifier;

use crate::routes::tickets::Tickets;

/// What every handler shares: no workflow state, only the ways to reach those who hold it.
#[derive(Clone)]
pub(crate) struct AppState {
    pub scheduler: SchedulerClient,
    pub events: Arc<dyn EventBus>,
    pub auth: Arc<Verifier>,
    pub tickets: Arc<Tickets>,
    pub metrics: PrometheusHandle,
    /// Body part limits (`MAX_EVENT_BYTES`, `MAX_VARIABLES_BYTES`).
    pub limits: Arc<crate::settings::RequestLimits>,
    /// Requests per tenant; `None` when `TENANT_RATE_LIMIT` is 0.
    pub rate_limit: Option<Arc<crate::rate_limit::TenantRateLimit>>,
    /// Turns true when the gateway shuts down; open event streams end then.
    pub streams_stopped: tokio::sync::watch::Receiver<bool>,
}
