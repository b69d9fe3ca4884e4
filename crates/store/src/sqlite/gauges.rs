//! Whole-database counts the scheduler samples for its gauges. Tenant-free on purpose: they
//! feed Prometheus series, whose labels never name a tenant or an instance.

use model::InstanceStatus;

use super::SqliteStore;
use crate::StoreError;
use crate::codec;

pub(super) async fn instances_by_status(
    store: &SqliteStore,
) -> Result<Vec<(InstanceStatus, u64)>, StoreError> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM instances GROUP BY status")
            .fetch_all(&store.reader)
            .await?;
    rows.into_iter()
        .map(|(status, count)| Ok((codec::instance_status(&status)?, count.max(0) as u64)))
        .collect()
}

pub(super) async fn job_queues(store: &SqliteStore) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> = sqlx::query_as("SELECT DISTINCT queue FROM jobs ORDER BY queue")
        .fetch_all(&store.reader)
        .await?;
    Ok(rows.into_iter().map(|(queue,)| queue).collect())
}
