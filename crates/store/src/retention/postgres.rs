//! Retention over Postgres.

use chrono::{DateTime, Utc};

use super::Purged;
use crate::StoreError;
use crate::batch::micros;

pub(crate) async fn purge(
    pool: &sqlx::PgPool,
    finished_before: DateTime<Utc>,
    now: DateTime<Utc>,
    limit: u32,
) -> Result<Purged, StoreError> {
    let mut tx = pool.begin().await?;
    // SKIP LOCKED: an instance some transaction holds is left for the next run.
    let doomed: Vec<uuid::Uuid> = sqlx::query_scalar(
        "SELECT id FROM workflow.instances \
         WHERE completed_at < $1 AND status IN ('completed', 'failed', 'cancelled') \
         ORDER BY completed_at LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(micros(finished_before))
    .bind(i64::from(limit))
    .fetch_all(&mut *tx)
    .await?;
    for query in [
        "DELETE FROM workflow.steps WHERE instance_id = ANY($1)",
        "DELETE FROM workflow.timers WHERE instance_id = ANY($1)",
        "DELETE FROM workflow.jobs WHERE instance_id = ANY($1)",
        "DELETE FROM workflow.idempotency_keys WHERE instance_id = ANY($1)",
    ] {
        sqlx::query(query).bind(&doomed).execute(&mut *tx).await?;
    }
    let instances = sqlx::query("DELETE FROM workflow.instances WHERE id = ANY($1)")
        .bind(&doomed)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let idempotency_keys = sqlx::query(
        "DELETE FROM workflow.idempotency_keys WHERE (tenant, key) IN \
         (SELECT tenant, key FROM workflow.idempotency_keys WHERE expires_at <= $1 \
          LIMIT $2 FOR UPDATE SKIP LOCKED)",
    )
    .bind(micros(now))
    .bind(i64::from(limit))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(Purged {
        instances,
        idempotency_keys,
    })
}
