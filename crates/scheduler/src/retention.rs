//! Retention (`RETENTION_DAYS`): instances finished longer ago than the retention, with their
//! step executions, timers and idempotency keys, and expired idempotency keys, are deleted in
//! batches. Each batch is one short transaction that skips rows in use, with a pause between
//! batches, so purging a large backlog never holds the hot path up for long.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use store::{Purged, Store, StoreError};
use tokio::sync::watch;

const BATCH: u32 = 500;
/// Between two batches of one run: lets decisions in between.
const BATCH_PAUSE: Duration = Duration::from_millis(50);
/// A run at least this often, sooner for a retention shorter than it.
const EVERY: Duration = Duration::from_secs(3600);

pub(crate) async fn run(
    store: Arc<dyn Store>,
    retention: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let every = EVERY.min(retention).max(Duration::from_millis(100));
    loop {
        match purge(&*store, retention, &mut shutdown).await {
            Ok(purged) if purged != Purged::default() => tracing::info!(
                instances = purged.instances,
                idempotency_keys = purged.idempotency_keys,
                "retention purged"
            ),
            Ok(_) => {}
            Err(error) => tracing::warn!(error = %error, "retention failed; retrying later"),
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Batches until one comes back short (or the scheduler stops); answers the total.
async fn purge(
    store: &dyn Store,
    retention: Duration,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Purged, StoreError> {
    let retention = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
    let mut total = Purged::default();
    loop {
        let now = Utc::now();
        let before = now
            .checked_sub_signed(retention)
            .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC);
        let batch = store.purge(before, now, BATCH).await?;
        total.instances += batch.instances;
        total.idempotency_keys += batch.idempotency_keys;
        metrics::counter!("scheduler_retention_purged_instances_total").increment(batch.instances);
        if batch.instances < u64::from(BATCH) && batch.idempotency_keys < u64::from(BATCH) {
            return Ok(total);
        }
        if *shutdown.borrow() {
            return Ok(total);
        }
        tokio::time::sleep(BATCH_PAUSE).await;
    }
}
