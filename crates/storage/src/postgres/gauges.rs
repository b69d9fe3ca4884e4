//! Whole-database counts the scheduler samples for its gauges. Tenant-free on purpose: they
//! feed Prometheus series, whose labels never name a tenant or an instance.

use model::InstanceStatus;

use super::PostgresStore;
use crate::StorageError;
use crate::codec;

pub(super) async fn instances_by_status(
    store: &PostgresStore,
) -> Result<Vec<(InstanceStatus, u64)>, StorageError> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM workflow.instances GROUP BY status")
            .fetch_all(&store.pool)
            .await?;
    rows.into_iter()
        .map(|(status, count)| Ok((codec::instance_status(&status)?, count.max(0) as u64)))
        .collect()
}
