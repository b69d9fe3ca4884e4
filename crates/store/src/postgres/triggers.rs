//! Triggers over Postgres.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{PostgresStore, apply_writes};
use crate::batch::{WriteSet, micros, micros_opt, page_limit};
use crate::rows::trigger_from_row;
use crate::trigger::{SCHEDULE, ScheduleFiring, TriggerFilter, TriggerRecord, WEBHOOK};
use crate::{StoreError, TriggerStore};

fn not_found() -> StoreError {
    StoreError::NotFound { entity: "trigger" }
}

#[async_trait]
impl TriggerStore for PostgresStore {
    async fn insert_trigger(&self, trigger: &TriggerRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO workflow.triggers (id, tenant, template_id, type, enabled, config, \
             secret_ciphertext, next_fire_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(trigger.id)
        .bind(&trigger.tenant)
        .bind(trigger.template_id)
        .bind(&trigger.kind)
        .bind(trigger.enabled)
        .bind(&trigger.config)
        .bind(&trigger.secret_ciphertext)
        .bind(micros_opt(trigger.next_fire_at))
        .bind(micros(trigger.created_at))
        .bind(micros(trigger.updated_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_trigger(&self, tenant: &str, id: Uuid) -> Result<TriggerRecord, StoreError> {
        let row = sqlx::query("SELECT * FROM workflow.triggers WHERE tenant = $1 AND id = $2")
            .bind(tenant)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        trigger_from_row(&row.ok_or_else(not_found)?)
    }

    async fn list_triggers(
        &self,
        tenant: &str,
        filter: &TriggerFilter,
    ) -> Result<Vec<TriggerRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM workflow.triggers WHERE tenant = $1 \
             AND ($2::uuid IS NULL OR template_id = $2) AND ($3::text IS NULL OR type = $3) \
             AND ($4::uuid IS NULL OR id < $4) ORDER BY id DESC LIMIT $5",
        )
        .bind(tenant)
        .bind(filter.template_id)
        .bind(&filter.kind)
        .bind(filter.page.cursor)
        .bind(page_limit(filter.page.limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(trigger_from_row).collect()
    }

    async fn delete_trigger(&self, tenant: &str, id: Uuid) -> Result<(), StoreError> {
        let deleted = sqlx::query("DELETE FROM workflow.triggers WHERE tenant = $1 AND id = $2")
            .bind(tenant)
            .bind(id)
            .execute(&self.pool)
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(not_found());
        }
        Ok(())
    }

    async fn webhook_triggers(&self, template_id: Uuid) -> Result<Vec<TriggerRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM workflow.triggers \
             WHERE template_id = $1 AND type = $2 AND enabled ORDER BY id",
        )
        .bind(template_id)
        .bind(WEBHOOK)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(trigger_from_row).collect()
    }

    async fn due_schedules(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<TriggerRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM workflow.triggers \
             WHERE next_fire_at IS NOT NULL AND enabled AND next_fire_at <= $1 AND type = $2 \
             ORDER BY next_fire_at, id LIMIT $3",
        )
        .bind(micros(now))
        .bind(SCHEDULE)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(trigger_from_row).collect()
    }

    async fn next_schedule_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let due: Option<DateTime<Utc>> = sqlx::query_scalar(
            "SELECT min(next_fire_at) FROM workflow.triggers \
             WHERE next_fire_at IS NOT NULL AND enabled AND type = $1",
        )
        .bind(SCHEDULE)
        .fetch_one(&self.pool)
        .await?;
        Ok(due)
    }

    async fn fire_schedule(&self, firing: &ScheduleFiring) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        // A racing scheduler's UPDATE waits on this row's lock, then finds `next_fire_at` moved
        // and updates nothing: one claim per tick.
        let claimed = sqlx::query(
            "UPDATE workflow.triggers SET next_fire_at = $3 \
             WHERE id = $1 AND next_fire_at = $2 AND enabled",
        )
        .bind(firing.trigger_id)
        .bind(micros(firing.seen))
        .bind(micros_opt(firing.next))
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() == 0 {
            return Ok(false);
        }
        if let Some(instance) = &firing.instance {
            let mut writes = WriteSet::default();
            writes.add_new_instance(instance);
            apply_writes(&mut *tx, &writes).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}
