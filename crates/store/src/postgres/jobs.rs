//! Job leases over Postgres: claiming the jobs whose lease ran out, heartbeats, and the queues
//! with a job in flight.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use model::Job;
use uuid::Uuid;

use super::PostgresStore;
use crate::batch::micros;
use crate::codec;
use crate::{JobStore, StoreError};

#[async_trait]
impl JobStore for PostgresStore {
    async fn claim_expired_jobs(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        let payloads: Vec<serde_json::Value> = sqlx::query_scalar(
            "UPDATE workflow.jobs SET lease_until = $2 WHERE execution_id IN ( \
               SELECT execution_id FROM workflow.jobs WHERE lease_until <= $1 \
               ORDER BY lease_until LIMIT $3 FOR UPDATE SKIP LOCKED) \
             RETURNING payload",
        )
        .bind(micros(now))
        .bind(micros(lease_until))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        payloads.into_iter().map(codec::job_from_json).collect()
    }

    async fn extend_lease(
        &self,
        execution_id: Uuid,
        attempt: i32,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE workflow.jobs SET lease_until = GREATEST(lease_until, $3) \
             WHERE execution_id = $1 AND attempt = $2",
        )
        .bind(execution_id)
        .bind(attempt)
        .bind(micros(lease_until))
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() > 0)
    }

    async fn job_queues(&self) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT DISTINCT queue FROM workflow.jobs ORDER BY queue")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|(queue,)| queue).collect())
    }
}
