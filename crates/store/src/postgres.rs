//! [`Store`] over Postgres (schema `workflow`): the pool, migrations, and this dialect's lock
//! and bulk write for the transition loop; each aggregate's statements are in the file named
//! after it below.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgExecutor, PgPool};
use std::str::FromStr;
use std::sync::Arc;
use uuid::Uuid;

use crate::batch::{InstanceWrite, WriteSet, initial_lease, micros, micros_opt};
use crate::codec::{self, corrupt};
use crate::instance_cache::{InstanceCache, Versioned};
use crate::transition::Dialect;
use crate::{Store, StoreError};

use crate::rows::versioned_from_row;

mod instances;
mod jobs;
mod search;
mod templates;
mod timers;
mod triggers;

/// Taken around migrations so that replicas starting together apply them once.
const MIGRATION_LOCK_KEY: i64 = 0x0063_686f_7275_7301; // "chorus" + 1

#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    cache: Arc<InstanceCache>,
}

/// How long a call waits for a connection. Short: with Postgres down every new connection is
/// refused at once and sqlx keeps retrying until this runs out, so it is how long a client
/// waits for its 503 (was 10 s, then 2 s, which with the gRPC hop came to just over the 2 s
/// the outage test allows). A pool busy under load hands connections over in milliseconds,
/// far inside it.
const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

impl PostgresStore {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        Ok(Self::from_pool(pool))
    }

    pub fn from_pool(pool: PgPool) -> Self {
        Self {
            pool,
            cache: Arc::default(),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

#[async_trait]
impl Dialect for PostgresStore {
    type Locked = sqlx::Transaction<'static, sqlx::Postgres>;

    async fn apply_unlocked(&self, writes: &WriteSet) -> Result<bool, StoreError> {
        // Autocommit: the statement is its own transaction, one round trip in all.
        apply_writes(&self.pool, writes).await
    }

    async fn lock(&self, ids: &[Uuid]) -> Result<(Self::Locked, Vec<Versioned>), StoreError> {
        let mut tx = self.pool.begin().await?;
        // One statement locks every instance of the batch, in id order (the sort runs below the
        // row locking), so that concurrent batches cannot deadlock on each other.
        let rows = sqlx::query(
            "SELECT id, tenant, template_id, template_version, status, variables, output, error, \
             parent_instance_id, state::text AS state, version, created_at, started_at, \
             completed_at, updated_at, traceparent \
             FROM workflow.instances WHERE id = ANY($1) ORDER BY id FOR UPDATE",
        )
        .bind(ids)
        .fetch_all(&mut *tx)
        .await?;
        let locked = rows
            .iter()
            .map(versioned_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((tx, locked))
    }

    async fn apply_locked(
        &self,
        locked: &mut Self::Locked,
        writes: &WriteSet,
    ) -> Result<bool, StoreError> {
        apply_writes(&mut **locked, writes).await
    }

    async fn commit(&self, locked: Self::Locked) -> Result<(), StoreError> {
        Ok(locked.commit().await?)
    }
}

/// Column arrays of instance rows, for `UNNEST`.
#[derive(Default)]
struct InstanceColumns {
    id: Vec<Uuid>,
    tenant: Vec<String>,
    template_id: Vec<Uuid>,
    template_version: Vec<i32>,
    status: Vec<String>,
    variables: Vec<serde_json::Value>,
    output: Vec<Option<serde_json::Value>>,
    error: Vec<Option<serde_json::Value>>,
    parent_instance_id: Vec<Option<Uuid>>,
    state: Vec<String>,
    version: Vec<i64>,
    created_at: Vec<DateTime<Utc>>,
    started_at: Vec<Option<DateTime<Utc>>>,
    completed_at: Vec<Option<DateTime<Utc>>>,
    updated_at: Vec<DateTime<Utc>>,
    traceparent: Vec<Option<String>>,
}

impl InstanceColumns {
    fn push(&mut self, write: &InstanceWrite) {
        let instance = &write.loaded.instance;
        self.id.push(instance.id);
        self.tenant.push(instance.tenant.clone());
        self.template_id.push(instance.template_id);
        self.template_version.push(instance.template_version);
        self.status.push(instance.status.as_str().to_owned());
        self.variables.push(instance.variables.clone());
        self.output.push(instance.output.clone());
        self.error.push(codec::error_to_json(&instance.error));
        self.parent_instance_id.push(instance.parent_instance_id);
        self.state.push(write.loaded.state.as_str().to_owned());
        self.version.push(write.version);
        self.created_at.push(micros(instance.created_at));
        self.started_at.push(micros_opt(instance.started_at));
        self.completed_at.push(micros_opt(instance.completed_at));
        self.updated_at.push(micros(instance.updated_at));
        self.traceparent.push(instance.traceparent.clone());
    }
}

/// Writes a batch's merged changes with one statement: each part is a data-modifying CTE over
/// `UNNEST`ed column arrays (empty arrays write nothing), so a batch costs one round trip
/// whatever it holds. Instance updates are guarded by the versions the batch read, and the
/// other parts write only if every guarded update did (`guard`), so that on a stale version
/// the statement writes nothing and answers `false`.
async fn apply_writes<'e>(
    executor: impl PgExecutor<'e>,
    writes: &WriteSet,
) -> Result<bool, StoreError> {
    let mut updated = InstanceColumns::default();
    writes.updated_instances().for_each(|w| updated.push(w));
    let mut created = InstanceColumns::default();
    writes.created_instances().for_each(|w| created.push(w));

    let mut step_id = Vec::new();
    let mut step_instance = Vec::new();
    let mut step_tenant = Vec::new();
    let mut step_step_id = Vec::new();
    let mut step_name: Vec<Option<String>> = Vec::new();
    let mut step_type = Vec::new();
    let mut step_status = Vec::new();
    let mut step_attempt = Vec::new();
    let mut step_input: Vec<Option<serde_json::Value>> = Vec::new();
    let mut step_output: Vec<Option<serde_json::Value>> = Vec::new();
    let mut step_error: Vec<Option<serde_json::Value>> = Vec::new();
    let mut step_created = Vec::new();
    let mut step_started: Vec<Option<DateTime<Utc>>> = Vec::new();
    let mut step_completed: Vec<Option<DateTime<Utc>>> = Vec::new();
    for (tenant, execution) in writes.executions.values() {
        step_id.push(execution.id);
        step_instance.push(execution.instance_id);
        step_tenant.push(tenant.clone());
        step_step_id.push(execution.step_id.clone());
        step_name.push(execution.name.clone());
        step_type.push(execution.step_type.clone());
        step_status.push(execution.status.as_str().to_owned());
        step_attempt.push(execution.attempt);
        step_input.push(execution.input.clone());
        step_output.push(execution.output.clone());
        step_error.push(codec::error_to_json(&execution.error));
        step_created.push(execution.created_at);
        step_started.push(execution.started_at);
        step_completed.push(execution.completed_at);
    }

    let mut job_id = Vec::new();
    let mut job_attempt = Vec::new();
    let mut job_instance = Vec::new();
    let mut job_tenant = Vec::new();
    let mut job_queue = Vec::new();
    let mut job_payload = Vec::new();
    let mut job_lease = Vec::new();
    let mut job_deadline: Vec<Option<DateTime<Utc>>> = Vec::new();
    for job in writes.job_writes() {
        job_id.push(job.execution_id);
        job_attempt.push(job.attempt);
        job_instance.push(job.instance_id);
        job_tenant.push(job.tenant.clone());
        job_queue.push(job.queue.clone());
        job_payload.push(serde_json::to_value(job).map_err(|e| corrupt("job", e))?);
        job_lease.push(initial_lease(job, writes.job_lease_until));
        job_deadline.push(job.timeout_timer.map(|_| micros(job.deadline)));
    }

    let mut timer_id = Vec::new();
    let mut timer_instance = Vec::new();
    let mut timer_tenant = Vec::new();
    let mut timer_due = Vec::new();
    let mut timer_payload = Vec::new();
    for (tenant, timer) in writes.timer_writes() {
        timer_id.push(timer.id);
        timer_instance.push(timer.instance_id);
        timer_tenant.push(tenant.clone());
        timer_due.push(timer.due_at);
        timer_payload.push(timer.payload.clone());
    }

    let guarded: Result<bool, sqlx::Error> = sqlx::query_scalar(
        "WITH updated AS ( \
           UPDATE workflow.instances AS i SET status = u.status, variables = u.variables, \
             output = u.output, error = u.error, started_at = u.started_at, \
             completed_at = u.completed_at, updated_at = u.updated_at, state = u.state::jsonb, \
             version = i.version + 1 \
           FROM UNNEST($1::uuid[], $2::text[], $3::jsonb[], $4::jsonb[], $5::jsonb[], \
             $6::timestamptz[], $7::timestamptz[], $8::timestamptz[], $9::text[], $10::int8[]) \
             AS u(id, status, variables, output, error, started_at, completed_at, updated_at, \
             state, version) \
           WHERE i.id = u.id AND i.version = u.version RETURNING 1 \
         ), guard AS ( \
           SELECT count(*) = cardinality($1::uuid[]) AS ok FROM updated \
         ), created AS ( \
           INSERT INTO workflow.instances (id, tenant, template_id, template_version, status, \
             variables, output, error, parent_instance_id, state, created_at, started_at, \
             completed_at, updated_at, traceparent) \
           SELECT c.id, c.tenant, c.template_id, c.template_version, c.status, c.variables, \
             c.output, c.error, c.parent_instance_id, c.state::jsonb, c.created_at, \
             c.started_at, c.completed_at, c.updated_at, c.traceparent \
           FROM UNNEST($11::uuid[], $12::text[], $13::uuid[], $14::int4[], $15::text[], \
             $16::jsonb[], $17::jsonb[], $18::jsonb[], $19::uuid[], $20::text[], \
             $21::timestamptz[], $22::timestamptz[], $23::timestamptz[], $24::timestamptz[], $54::text[]) \
             AS c(id, tenant, template_id, template_version, status, variables, output, error, \
             parent_instance_id, state, created_at, started_at, completed_at, updated_at, traceparent) \
           WHERE (SELECT ok FROM guard) \
           RETURNING 1 \
         ), steps AS ( \
           INSERT INTO workflow.steps (id, instance_id, tenant, step_id, name, type, status, \
             attempt, input, output, error, created_at, started_at, completed_at) \
           SELECT * FROM UNNEST($25::uuid[], $26::uuid[], $27::text[], $28::text[], $29::text[], \
             $30::text[], $31::text[], $32::int4[], $33::jsonb[], $34::jsonb[], $35::jsonb[], \
             $36::timestamptz[], $37::timestamptz[], $38::timestamptz[]) \
           WHERE (SELECT ok FROM guard) \
           ON CONFLICT (id) DO UPDATE SET name = excluded.name, type = excluded.type, \
             status = excluded.status, attempt = excluded.attempt, input = excluded.input, \
             output = excluded.output, error = excluded.error, started_at = excluded.started_at, \
             completed_at = excluded.completed_at \
           RETURNING 1 \
         ), jobs_written AS ( \
           INSERT INTO workflow.jobs (execution_id, attempt, instance_id, tenant, queue, payload, \
             lease_until, deadline) \
           SELECT * FROM UNNEST($39::uuid[], $40::int4[], $41::uuid[], $42::text[], $43::text[], \
             $44::jsonb[], $45::timestamptz[], $53::timestamptz[]) \
           WHERE (SELECT ok FROM guard) \
           ON CONFLICT (execution_id) DO UPDATE SET attempt = excluded.attempt, \
             instance_id = excluded.instance_id, tenant = excluded.tenant, queue = excluded.queue, \
             payload = excluded.payload, lease_until = excluded.lease_until, \
             deadline = excluded.deadline \
           RETURNING 1 \
         ), jobs_removed AS ( \
           DELETE FROM workflow.jobs WHERE execution_id = ANY($46::uuid[]) \
             AND (SELECT ok FROM guard) RETURNING 1 \
         ), timers_written AS ( \
           INSERT INTO workflow.timers (id, instance_id, tenant, due_at, payload) \
           SELECT * FROM UNNEST($47::uuid[], $48::uuid[], $49::text[], $50::timestamptz[], \
             $51::jsonb[]) \
           WHERE (SELECT ok FROM guard) \
           ON CONFLICT (id) DO UPDATE SET instance_id = excluded.instance_id, \
             tenant = excluded.tenant, due_at = excluded.due_at, payload = excluded.payload \
           RETURNING 1 \
         ), timers_removed AS ( \
           DELETE FROM workflow.timers WHERE id = ANY($52::uuid[]) \
             AND (SELECT ok FROM guard) RETURNING 1 \
         ) SELECT workflow.require_fresh_copies(ok) FROM guard",
    )
    .bind(&updated.id)
    .bind(&updated.status)
    .bind(&updated.variables)
    .bind(&updated.output)
    .bind(&updated.error)
    .bind(&updated.started_at)
    .bind(&updated.completed_at)
    .bind(&updated.updated_at)
    .bind(&updated.state)
    .bind(&updated.version)
    .bind(&created.id)
    .bind(&created.tenant)
    .bind(&created.template_id)
    .bind(&created.template_version)
    .bind(&created.status)
    .bind(&created.variables)
    .bind(&created.output)
    .bind(&created.error)
    .bind(&created.parent_instance_id)
    .bind(&created.state)
    .bind(&created.created_at)
    .bind(&created.started_at)
    .bind(&created.completed_at)
    .bind(&created.updated_at)
    .bind(&step_id)
    .bind(&step_instance)
    .bind(&step_tenant)
    .bind(&step_step_id)
    .bind(&step_name)
    .bind(&step_type)
    .bind(&step_status)
    .bind(&step_attempt)
    .bind(&step_input)
    .bind(&step_output)
    .bind(&step_error)
    .bind(&step_created)
    .bind(&step_started)
    .bind(&step_completed)
    .bind(&job_id)
    .bind(&job_attempt)
    .bind(&job_instance)
    .bind(&job_tenant)
    .bind(&job_queue)
    .bind(&job_payload)
    .bind(&job_lease)
    .bind(writes.job_removals())
    .bind(&timer_id)
    .bind(&timer_instance)
    .bind(&timer_tenant)
    .bind(&timer_due)
    .bind(&timer_payload)
    .bind(writes.timer_removals())
    .bind(&job_deadline)
    .bind(&created.traceparent)
    .fetch_one(executor)
    .await;
    match guarded {
        Ok(fresh) => Ok(fresh),
        // `workflow.require_fresh_copies` aborted the statement: nothing of it was written.
        Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some(STALE_COPY) => {
            Ok(false)
        }
        Err(error) => Err(codec::instance_conflict(error)),
    }
}

/// The SQLSTATE `workflow.require_fresh_copies` raises (migration 20261206100000).
const STALE_COPY: &str = "CHSTL";

#[async_trait]
impl Store for PostgresStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        let mut migrator = sqlx::migrate!("../../migrations/postgres");
        migrator.create_schema("workflow");
        migrator.dangerous_set_table_name("workflow._sqlx_migrations");
        // The lock below is ours; sqlx's own would be taken on the same session anyway.
        migrator.set_locking(false);
        let mut conn = self.pool.acquire().await?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(MIGRATION_LOCK_KEY)
            .execute(&mut *conn)
            .await?;
        let outcome = migrator.run_direct(None, &mut *conn, false).await;
        let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(MIGRATION_LOCK_KEY)
            .execute(&mut *conn)
            .await;
        outcome?;
        unlocked?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn purge(
        &self,
        finished_before: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<crate::Purged, StoreError> {
        crate::retention::postgres::purge(&self.pool, finished_before, now, limit).await
    }
}
