//! Timers over SQLite: due timers, job deadlines and inputs parked for a concurrency slot.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use model::Job;

use super::SqliteStore;
use crate::batch::micros;
use crate::codec::{self, parse_json, parse_time_opt, time_text};
use crate::rows::{released, timer_from_row};
use crate::{StoreError, TimerRecord, TimerStore};

#[async_trait]
impl TimerStore for SqliteStore {
    async fn due_timers(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<TimerRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, instance_id, due_at, payload FROM timers \
             WHERE due_at <= ?1 ORDER BY due_at, id LIMIT ?2",
        )
        .bind(time_text(micros(now)))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(timer_from_row).collect()
    }

    async fn next_timer_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let due: Option<String> = sqlx::query_scalar(
            "SELECT min(at) FROM (SELECT min(due_at) AS at FROM timers \
             UNION ALL SELECT min(deadline) FROM jobs)",
        )
        .fetch_one(&self.reader)
        .await?;
        parse_time_opt(due)
    }

    async fn claim_expired_deadlines(
        &self,
        now: DateTime<Utc>,
        retry_at: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        // One writer at a time: the update itself is the claim.
        let payloads: Vec<String> = sqlx::query_scalar(
            "UPDATE jobs SET deadline = ?2 WHERE execution_id IN ( \
               SELECT execution_id FROM jobs WHERE deadline <= ?1 \
               ORDER BY deadline LIMIT ?3) \
             RETURNING payload",
        )
        .bind(time_text(micros(now)))
        .bind(time_text(micros(retry_at)))
        .bind(i64::from(limit))
        .fetch_all(&self.writer)
        .await?;
        payloads
            .iter()
            .map(|payload| codec::job_from_json(parse_json(payload)?))
            .collect()
    }

    async fn release_parked(
        &self,
        parked_at: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: u32,
        tenant_cap: Option<u32>,
    ) -> Result<Vec<TimerRecord>, StoreError> {
        let Some(tenant_cap) = tenant_cap else {
            let rows = sqlx::query(
                "UPDATE timers SET due_at = ?2 WHERE id IN ( \
                   SELECT id FROM timers WHERE due_at = ?1 ORDER BY id LIMIT ?3 \
                 ) RETURNING id, instance_id, due_at, payload",
            )
            .bind(time_text(micros(parked_at)))
            .bind(time_text(micros(now)))
            .bind(i64::from(limit))
            .fetch_all(&self.writer)
            .await?;
            return released(&rows);
        };
        let rows = sqlx::query(
            "WITH holders AS ( \
               SELECT tenant, count(DISTINCT instance_id) AS held FROM jobs GROUP BY tenant \
             ), ranked AS ( \
               SELECT id, tenant, row_number() OVER (PARTITION BY tenant ORDER BY id) AS arrival \
               FROM timers WHERE due_at = ?1 \
             ), chosen AS ( \
               SELECT ranked.id FROM ranked LEFT JOIN holders ON holders.tenant = ranked.tenant \
               WHERE ranked.arrival + coalesce(holders.held, 0) <= ?4 \
               ORDER BY ranked.id LIMIT ?3 \
             ) \
             UPDATE timers SET due_at = ?2 \
             WHERE id IN (SELECT id FROM chosen) AND due_at = ?1 \
             RETURNING id, instance_id, due_at, payload",
        )
        .bind(time_text(micros(parked_at)))
        .bind(time_text(micros(now)))
        .bind(i64::from(limit))
        .bind(i64::from(tenant_cap))
        .fetch_all(&self.writer)
        .await?;
        released(&rows)
    }
}
