//! Instances over SQLite: creating (with idempotency keys), reading, searching, the transition
//! batch (the shared loop over this dialect's lock and bulk write), and the counts admission
//! and the gauges read.

use async_trait::async_trait;
use chrono::Utc;
use model::{Instance, InstanceStatus, StepExecution};
use sqlx::Row;
use uuid::Uuid;

use super::{SqliteStore, apply_writes, search};
use crate::batch::{WriteSet, micros};
use crate::codec::{parse_uuid, time_text};
use crate::rows::{self, execution_from_row, instance_from_row};
use crate::transition;
use crate::{
    IdempotencyKey, InstanceFilter, InstanceStore, NewInstance, SlotHolders, StoreError,
    Transition, TransitionRequest,
};

#[async_trait]
impl InstanceStore for SqliteStore {
    async fn insert_instance(
        &self,
        new: &NewInstance,
        idempotency: Option<&IdempotencyKey>,
    ) -> Result<(Instance, bool), StoreError> {
        let tenant = &new.instance.tenant;
        let mut tx = self.begin_immediate().await?;
        if let Some(key) = idempotency {
            sqlx::query(
                "DELETE FROM idempotency_keys WHERE tenant = ?1 AND key = ?2 AND expires_at <= ?3",
            )
            .bind(tenant)
            .bind(&key.key)
            .bind(time_text(micros(Utc::now())))
            .execute(&mut *tx)
            .await?;
            let existing = sqlx::query(
                "SELECT fingerprint, instance_id FROM idempotency_keys \
                 WHERE tenant = ?1 AND key = ?2",
            )
            .bind(tenant)
            .bind(&key.key)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(row) = existing {
                let fingerprint: String = row.try_get("fingerprint")?;
                if fingerprint != key.fingerprint {
                    return Err(StoreError::Conflict(
                        "idempotency key already used for a different request".to_owned(),
                    ));
                }
                let instance_id = parse_uuid(row.try_get("instance_id")?)?;
                let row = sqlx::query("SELECT * FROM instances WHERE tenant = ?1 AND id = ?2")
                    .bind(tenant)
                    .bind(instance_id.to_string())
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or(StoreError::NotFound { entity: "instance" })?;
                return Ok((instance_from_row(&row)?, false));
            }
            sqlx::query(
                "INSERT INTO idempotency_keys (tenant, key, fingerprint, instance_id, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .bind(tenant)
            .bind(&key.key)
            .bind(&key.fingerprint)
            .bind(new.instance.id.to_string())
            .bind(time_text(micros(key.expires_at)))
            .execute(&mut *tx)
            .await?;
        }
        let mut writes = WriteSet::default();
        writes.add_new_instance(new);
        apply_writes(&mut tx, &writes).await?;
        tx.commit().await?;
        Ok((self.cache.keep_created(writes)?, true))
    }

    async fn get_instance(&self, tenant: &str, id: Uuid) -> Result<Instance, StoreError> {
        let row = sqlx::query("SELECT * FROM instances WHERE tenant = ?1 AND id = ?2")
            .bind(tenant)
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await?;
        let row = row.ok_or(StoreError::NotFound { entity: "instance" })?;
        instance_from_row(&row)
    }

    async fn list_instances(
        &self,
        tenant: &str,
        filter: &InstanceFilter,
    ) -> Result<Vec<Instance>, StoreError> {
        search::list(self, tenant, filter).await
    }

    async fn list_executions(&self, instance_id: Uuid) -> Result<Vec<StepExecution>, StoreError> {
        let rows =
            sqlx::query("SELECT * FROM steps WHERE instance_id = ?1 ORDER BY created_at, id")
                .bind(instance_id.to_string())
                .fetch_all(&self.reader)
                .await?;
        rows.iter().map(execution_from_row).collect()
    }

    async fn transition(
        &self,
        requests: Vec<TransitionRequest<'_>>,
    ) -> Result<Vec<Result<Option<Transition>, StoreError>>, StoreError> {
        transition::transition(self, &self.cache, requests).await
    }

    async fn slot_holders(&self) -> Result<SlotHolders, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT tenant, count(DISTINCT instance_id) FROM jobs GROUP BY tenant")
                .fetch_all(&self.reader)
                .await?;
        Ok(rows::slot_holders(rows))
    }

    async fn instances_by_status(&self) -> Result<Vec<(InstanceStatus, u64)>, StoreError> {
        // Tenant-free on purpose: it feeds a Prometheus series, whose labels never name a
        // tenant or an instance.
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, count(*) FROM instances GROUP BY status")
                .fetch_all(&self.reader)
                .await?;
        rows::status_counts(rows)
    }
}
