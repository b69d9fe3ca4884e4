//! Whole-database counts the scheduler samples for its gauges. Tenant-free on purpose: they
//! feed Prometheus series, whose labels never name a tenant or an instance.

use model::InstanceStatus;

use super::PostgresStore;
use crate::StoreError;
use crate::codec;

pub(super) async fn instances_by_status(
    store: &PostgresStore,
) -> Result<Vec<(InstanceStatus, u64)>, StoreError> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM workflow.instances GROUP BY status")
            .fetch_all(&store.pool)
            .await?;
    rows.into_iter()
        .map(|(status, count)| Ok((codec::instance_status(&status)?, count.max(0) as u64)))
        .collect()
}

pub(super) async fn job_queues(store: &PostgresStore) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT DISTINCT queue FROM workflow.jobs ORDER BY queue")
            .fetch_all(&store.pool)
            .await?;
    Ok(rows.into_iter().map(|(queue,)| queue).collect())
}
