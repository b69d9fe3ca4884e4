//! The standard gRPC health service. Service `""` is the scheduler itself; service `database`
//! follows the database, checked every few seconds (the gateway's `/health` reads both).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

pub(crate) const DATABASE_SERVICE: &str = "database";
const CHECK_EVERY: Duration = Duration::from_secs(2);

pub(crate) async fn watch_database(
    store: Arc<dyn store::Store>,
    reporter: HealthReporter,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let status = match store.ping().await {
            Ok(()) => ServingStatus::Serving,
            Err(error) => {
                tracing::warn!(error = %error, "database health check failed");
                ServingStatus::NotServing
            }
        };
        reporter.set_service_status(DATABASE_SERVICE, status).await;
        tokio::select! {
            _ = tokio::time::sleep(CHECK_EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}
