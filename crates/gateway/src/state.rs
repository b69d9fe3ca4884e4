use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use storage::EventBus;

use crate::scheduler::Scheduler;
use identity::Verifier;

use crate::routes::tickets::Tickets;

/// What every handler shares: no workflow state, only the ways to reach those who hold it.
#[derive(Clone)]
pub struct AppState {
    pub scheduler: Scheduler,
    pub events: Arc<dyn EventBus>,
    pub auth: Arc<Verifier>,
    pub tickets: Arc<Tickets>,
    pub metrics: PrometheusHandle,
    /// Turns true when the gateway shuts down; open event streams end then.
    pub streams_stopped: tokio::sync::watch::Receiver<bool>,
}
