//! Job leases over SQLite: claiming the jobs whose lease ran out, heartbeats, and the queues
//! with a job in flight.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use model::Job;
use uuid::Uuid;

use super::SqliteStore;
use crate::batch::micros;
use crate::codec::{self, parse_json, time_text};
use crate::{JobStore, StoreError};

#[async_trait]
impl JobStore for SqliteStore {
    async fn claim_expired_jobs(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        // One writer at a time: the update itself is the claim.
        let payloads: Vec<String> = sqlx::query_scalar(
            "UPDATE jobs SET lease_until = ?2 WHERE execution_id IN ( \
               SELECT execution_id FROM jobs WHERE lease_until <= ?1 \
               ORDER BY lease_until LIMIT ?3) \
             RETURNING payload",
        )
        .bind(time_text(micros(now)))
        .bind(time_text(micros(lease_until)))
        .bind(i64::from(limit))
        .fetch_all(&self.writer)
        .await?;
        payloads
            .iter()
            .map(|payload| codec::job_from_json(parse_json(payload)?))
            .collect()
    }

    async fn extend_lease(
        &self,
        execution_id: Uuid,
        attempt: i32,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE jobs SET lease_until = MAX(lease_until, ?3) \
             WHERE execution_id = ?1 AND attempt = ?2",
        )
        .bind(execution_id.to_string())
        .bind(attempt)
        .bind(time_text(micros(lease_until)))
        .execute(&self.writer)
        .await?;
        Ok(updated.rows_affected() > 0)
    }

    async fn job_queues(&self) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT DISTINCT queue FROM jobs ORDER BY queue")
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.into_iter().map(|(queue,)| queue).collect())
    }
}
