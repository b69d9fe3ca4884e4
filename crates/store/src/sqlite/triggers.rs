//! Triggers over SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{SqliteStore, apply_writes};
use crate::batch::{WriteSet, micros, page_limit};
use crate::codec::{json_text, parse_time_opt, time_text};
use crate::rows::trigger_from_row;
use crate::trigger::{SCHEDULE, ScheduleFiring, TriggerFilter, TriggerRecord, WEBHOOK};
use crate::{StoreError, TriggerStore};

fn not_found() -> StoreError {
    StoreError::NotFound { entity: "trigger" }
}

fn tick_text(at: DateTime<Utc>) -> String {
    time_text(micros(at))
}

#[async_trait]
impl TriggerStore for SqliteStore {
    async fn insert_trigger(&self, trigger: &TriggerRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO triggers (id, tenant, template_id, type, enabled, config, \
             secret_ciphertext, next_fire_at, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )
        .bind(trigger.id.to_string())
        .bind(&trigger.tenant)
        .bind(trigger.template_id.to_string())
        .bind(&trigger.kind)
        .bind(trigger.enabled)
        .bind(json_text(&trigger.config))
        .bind(&trigger.secret_ciphertext)
        .bind(trigger.next_fire_at.map(tick_text))
        .bind(tick_text(trigger.created_at))
        .bind(tick_text(trigger.updated_at))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn get_trigger(&self, tenant: &str, id: Uuid) -> Result<TriggerRecord, StoreError> {
        let row = sqlx::query("SELECT * FROM triggers WHERE tenant = ?1 AND id = ?2")
            .bind(tenant)
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await?;
        trigger_from_row(&row.ok_or_else(not_found)?)
    }

    async fn list_triggers(
        &self,
        tenant: &str,
        filter: &TriggerFilter,
    ) -> Result<Vec<TriggerRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM triggers WHERE tenant = ?1 \
             AND (?2 IS NULL OR template_id = ?2) AND (?3 IS NULL OR type = ?3) \
             AND (?4 IS NULL OR id < ?4) ORDER BY id DESC LIMIT ?5",
        )
        .bind(tenant)
        .bind(filter.template_id.map(|id| id.to_string()))
        .bind(&filter.kind)
        .bind(filter.page.cursor.map(|id| id.to_string()))
        .bind(page_limit(filter.page.limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(trigger_from_row).collect()
    }

    async fn delete_trigger(&self, tenant: &str, id: Uuid) -> Result<(), StoreError> {
        let deleted = sqlx::query("DELETE FROM triggers WHERE tenant = ?1 AND id = ?2")
            .bind(tenant)
            .bind(id.to_string())
            .execute(&self.writer)
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(not_found());
        }
        Ok(())
    }

    async fn webhook_triggers(&self, template_id: Uuid) -> Result<Vec<TriggerRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM triggers WHERE template_id = ?1 AND type = ?2 AND enabled = 1 ORDER BY id",
        )
        .bind(template_id.to_string())
        .bind(WEBHOOK)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(trigger_from_row).collect()
    }

    async fn due_schedules(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<TriggerRecord>, StoreError> {
        // Times are fixed-width text, so text order is time order.
        let rows = sqlx::query(
            "SELECT * FROM triggers \
             WHERE next_fire_at IS NOT NULL AND enabled = 1 AND next_fire_at <= ?1 AND type = ?2 \
             ORDER BY next_fire_at, id LIMIT ?3",
        )
        .bind(tick_text(now))
        .bind(SCHEDULE)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(trigger_from_row).collect()
    }

    async fn next_schedule_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let due: Option<String> = sqlx::query_scalar(
            "SELECT min(next_fire_at) FROM triggers \
             WHERE next_fire_at IS NOT NULL AND enabled = 1 AND type = ?1",
        )
        .bind(SCHEDULE)
        .fetch_one(&self.reader)
        .await?;
        parse_time_opt(due)
    }

    async fn fire_schedule(&self, firing: &ScheduleFiring) -> Result<bool, StoreError> {
        let mut tx = self.begin_immediate().await?;
        let claimed = sqlx::query(
            "UPDATE triggers SET next_fire_at = ?3 \
             WHERE id = ?1 AND next_fire_at = ?2 AND enabled = 1",
        )
        .bind(firing.trigger_id.to_string())
        .bind(tick_text(firing.seen))
        .bind(firing.next.map(tick_text))
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() == 0 {
            return Ok(false);
        }
        if let Some(instance) = &firing.instance {
            let mut writes = WriteSet::default();
            writes.add_new_instance(instance);
            apply_writes(&mut tx, &writes).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}
