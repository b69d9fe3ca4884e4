//! Retention over SQLite: one short write transaction per batch on the single writer.

use chrono::{DateTime, Utc};

use super::Purged;
use crate::StoreError;
use crate::batch::micros;
use crate::codec::time_text;

pub(crate) async fn purge(
    writer: &sqlx::SqlitePool,
    finished_before: DateTime<Utc>,
    now: DateTime<Utc>,
    limit: u32,
) -> Result<Purged, StoreError> {
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
    sqlx::query("CREATE TEMP TABLE IF NOT EXISTS retention_doomed (id TEXT PRIMARY KEY)")
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM retention_doomed")
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO retention_doomed (id) SELECT id FROM instances \
         WHERE completed_at < ?1 AND status IN ('completed', 'failed', 'cancelled') \
         ORDER BY completed_at LIMIT ?2",
    )
    .bind(time_text(micros(finished_before)))
    .bind(i64::from(limit))
    .execute(&mut *tx)
    .await?;
    for query in [
        "DELETE FROM steps WHERE instance_id IN (SELECT id FROM retention_doomed)",
        "DELETE FROM timers WHERE instance_id IN (SELECT id FROM retention_doomed)",
        "DELETE FROM jobs WHERE instance_id IN (SELECT id FROM retention_doomed)",
        "DELETE FROM idempotency_keys WHERE instance_id IN (SELECT id FROM retention_doomed)",
    ] {
        sqlx::query(query).execute(&mut *tx).await?;
    }
    let instances =
        sqlx::query("DELETE FROM instances WHERE id IN (SELECT id FROM retention_doomed)")
            .execute(&mut *tx)
            .await?
            .rows_affected();
    let idempotency_keys = sqlx::query(
        "DELETE FROM idempotency_keys WHERE rowid IN \
         (SELECT rowid FROM idempotency_keys WHERE expires_at <= ?1 LIMIT ?2)",
    )
    .bind(time_text(micros(now)))
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
