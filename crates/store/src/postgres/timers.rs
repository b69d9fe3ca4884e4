//! Timers over Postgres: due timers, job deadlines and inputs parked for a concurrency slot.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use model::Job;

use super::PostgresStore;
use crate::batch::micros;
use crate::codec;
use crate::rows::{released, timer_from_row};
use crate::{StoreError, TimerRecord, TimerStore};

#[async_trait]
impl TimerStore for PostgresStore {
    async fn due_timers(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<TimerRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, instance_id, due_at, payload FROM workflow.timers \
             WHERE due_at <= $1 ORDER BY due_at, id LIMIT $2",
        )
        .bind(micros(now))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(timer_from_row).collect()
    }

    async fn next_timer_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let due: Option<DateTime<Utc>> = sqlx::query_scalar(
            "SELECT min(at) FROM (SELECT min(due_at) AS at FROM workflow.timers \
             UNION ALL SELECT min(deadline) FROM workflow.jobs) AS due",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(due)
    }

    async fn claim_expired_deadlines(
        &self,
        now: DateTime<Utc>,
        retry_at: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        let payloads: Vec<serde_json::Value> = sqlx::query_scalar(
            "UPDATE workflow.jobs SET deadline = $2 WHERE execution_id IN ( \
               SELECT execution_id FROM workflow.jobs WHERE deadline <= $1 \
               ORDER BY deadline LIMIT $3 FOR UPDATE SKIP LOCKED) \
             RETURNING payload",
        )
        .bind(micros(now))
        .bind(micros(retry_at))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        payloads.into_iter().map(codec::job_from_json).collect()
    }

    async fn release_parked(
        &self,
        parked_at: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: u32,
        tenant_cap: Option<u32>,
    ) -> Result<Vec<TimerRecord>, StoreError> {
        let Some(tenant_cap) = tenant_cap else {
            // SKIP LOCKED: a concurrent release takes the next oldest instead of waiting.
            let rows = sqlx::query(
                "UPDATE workflow.timers SET due_at = $2 WHERE id IN ( \
                   SELECT id FROM workflow.timers WHERE due_at = $1 ORDER BY id LIMIT $3 \
                   FOR UPDATE SKIP LOCKED \
                 ) RETURNING id, instance_id, due_at, payload",
            )
            .bind(micros(parked_at))
            .bind(micros(now))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
            return released(&rows);
        };
        // Window functions rule out FOR UPDATE; the `due_at = $1` re-check makes a concurrent
        // release skip the rows another one already moved.
        let rows = sqlx::query(
            "WITH holders AS ( \
               SELECT tenant, count(DISTINCT instance_id) AS held FROM workflow.jobs \
               GROUP BY tenant \
             ), ranked AS ( \
               SELECT id, tenant, row_number() OVER (PARTITION BY tenant ORDER BY id) AS arrival \
               FROM workflow.timers WHERE due_at = $1 \
             ), chosen AS ( \
               SELECT ranked.id FROM ranked LEFT JOIN holders ON holders.tenant = ranked.tenant \
               WHERE ranked.arrival + coalesce(holders.held, 0) <= $4 \
               ORDER BY ranked.id LIMIT $3 \
             ) \
             UPDATE workflow.timers SET due_at = $2 \
             WHERE id IN (SELECT id FROM chosen) AND due_at = $1 \
             RETURNING id, instance_id, due_at, payload",
        )
        .bind(micros(parked_at))
        .bind(micros(now))
        .bind(i64::from(limit))
        .bind(i64::from(tenant_cap))
        .fetch_all(&self.pool)
        .await?;
        released(&rows)
    }
}
