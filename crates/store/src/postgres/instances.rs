//! Instances over Postgres: creating (with idempotency keys), reading, searching, the
//! transition batch (the shared loop over this dialect's lock and bulk write), and the counts
//! admission and the gauges read.

use async_trait::async_trait;
use chrono::Utc;
use model::{Instance, InstanceStatus, StepExecution};
use sqlx::Row;
use uuid::Uuid;

use super::{PostgresStore, apply_writes, search};
use crate::batch::{WriteSet, micros};
use crate::rows::{self, execution_from_row, instance_from_row};
use crate::transition;
use crate::{
    IdempotencyKey, InstanceFilter, InstanceStore, NewInstance, SlotHolders, StoreError,
    Transition, TransitionRequest,
};

#[async_trait]
impl InstanceStore for PostgresStore {
    async fn insert_instance(
        &self,
        new: &NewInstance,
        idempotency: Option<&IdempotencyKey>,
    ) -> Result<(Instance, bool), StoreError> {
        let tenant = &new.instance.tenant;
        let mut writes = WriteSet::default();
        writes.add_new_instance(new);
        let Some(key) = idempotency else {
            // One statement, its own transaction: one round trip for the instance and its
            // start timer.
            apply_writes(&self.pool, &writes).await?;
            return Ok((self.cache.keep_created(writes)?, true));
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "DELETE FROM workflow.idempotency_keys \
             WHERE tenant = $1 AND key = $2 AND expires_at <= $3",
        )
        .bind(tenant)
        .bind(&key.key)
        .bind(micros(Utc::now()))
        .execute(&mut *tx)
        .await?;
        // A concurrent request with the same key waits here for ours to commit, then sees
        // its row and answers the same instance.
        let inserted = sqlx::query(
            "INSERT INTO workflow.idempotency_keys (tenant, key, fingerprint, instance_id, \
             expires_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant, key) DO NOTHING",
        )
        .bind(tenant)
        .bind(&key.key)
        .bind(&key.fingerprint)
        .bind(new.instance.id)
        .bind(micros(key.expires_at))
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            let row = sqlx::query(
                "SELECT fingerprint, instance_id FROM workflow.idempotency_keys \
                 WHERE tenant = $1 AND key = $2",
            )
            .bind(tenant)
            .bind(&key.key)
            .fetch_one(&mut *tx)
            .await?;
            let fingerprint: String = row.try_get("fingerprint")?;
            if fingerprint != key.fingerprint {
                return Err(StoreError::Conflict(
                    "idempotency key already used for a different request".to_owned(),
                ));
            }
            let instance_id: Uuid = row.try_get("instance_id")?;
            drop(tx);
            return Ok((self.get_instance(tenant, instance_id).await?, false));
        }
        apply_writes(&mut *tx, &writes).await?;
        tx.commit().await?;
        Ok((self.cache.keep_created(writes)?, true))
    }

    async fn get_instance(&self, tenant: &str, id: Uuid) -> Result<Instance, StoreError> {
        let row = sqlx::query(
            "SELECT id, tenant, template_id, template_version, status, variables, output, error, \
             parent_instance_id, created_at, started_at, completed_at, updated_at, traceparent \
             FROM workflow.instances WHERE tenant = $1 AND id = $2",
        )
        .bind(tenant)
        .bind(id)
        .fetch_optional(&self.pool)
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
        let rows = sqlx::query(
            "SELECT * FROM workflow.steps WHERE instance_id = $1 ORDER BY created_at, id",
        )
        .bind(instance_id)
        .fetch_all(&self.pool)
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
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT tenant, count(DISTINCT instance_id) FROM workflow.jobs GROUP BY tenant",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows::slot_holders(rows))
    }

    async fn instances_by_status(&self) -> Result<Vec<(InstanceStatus, u64)>, StoreError> {
        // Tenant-free on purpose: it feeds a Prometheus series, whose labels never name a
        // tenant or an instance.
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, count(*) FROM workflow.instances GROUP BY status")
                .fetch_all(&self.pool)
                .await?;
        rows::status_counts(rows)
    }
}
