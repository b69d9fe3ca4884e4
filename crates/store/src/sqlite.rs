//! [`Store`] over SQLite, for the embedded single-process mode. Writes go through one
//! connection (`BEGIN IMMEDIATE`), reads through a pool beside it (WAL lets them run while a
//! write is in progress). Here the pools, migrations, and this dialect's lock and bulk write for
//! the transition loop; each aggregate's statements are in the file named after it below.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqliteConnection, SqlitePool};
use uuid::Uuid;

use crate::batch::{WriteSet, initial_lease, micros};
use crate::codec::{self, corrupt, json_text, json_text_opt, time_text, time_text_opt};
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

#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    cache: std::sync::Arc<InstanceCache>,
}

/// Creates a missing database file readable by its owner only: it holds every instance's
/// variables. SQLite gives its `-wal` and `-shm` files the same mode.
fn create_private(path: &std::path::Path) -> Result<(), StoreError> {
    let name = path.to_string_lossy();
    if name.is_empty() || name == ":memory:" || name.starts_with("file:") || path.exists() {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(StoreError::Database(sqlx::Error::Io(error))),
    }
}

impl SqliteStore {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        create_private(options.get_filename())?;
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        let in_memory = options
            .get_filename()
            .to_string_lossy()
            .starts_with("file:sqlx-in-memory");
        // An in-memory database has no WAL: its readers would wait on the writer anyway.
        let reader = if in_memory {
            writer.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(max_connections.max(1))
                .connect_with(options)
                .await?
        };
        Ok(Self {
            writer,
            reader,
            cache: Default::default(),
        })
    }

    async fn begin_immediate(&self) -> Result<sqlx::Transaction<'static, Sqlite>, StoreError> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }
}

#[async_trait]
impl Dialect for SqliteStore {
    type Locked = sqlx::Transaction<'static, Sqlite>;

    async fn apply_unlocked(&self, writes: &WriteSet) -> Result<bool, StoreError> {
        let mut tx = self.begin_immediate().await?;
        // On a stale version the transaction is dropped, so rolled back.
        if !apply_writes(&mut tx, writes).await? {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// `BEGIN IMMEDIATE` holds the whole database, so reading the rows is enough.
    async fn lock(&self, ids: &[Uuid]) -> Result<(Self::Locked, Vec<Versioned>), StoreError> {
        let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        let ids = serde_json::Value::from(ids).to_string();
        let mut tx = self.begin_immediate().await?;
        let rows = sqlx::query(
            "SELECT * FROM instances WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY id",
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
        apply_writes(locked, writes).await
    }

    async fn commit(&self, locked: Self::Locked) -> Result<(), StoreError> {
        Ok(locked.commit().await?)
    }
}

/// SQLite runs in-process, so a statement per row costs microseconds: no need for the
/// array tricks of the Postgres side. Instance updates come first, each guarded by the version
/// the batch read: `false` as soon as one finds another version, and the caller rolls back.
async fn apply_writes(conn: &mut SqliteConnection, writes: &WriteSet) -> Result<bool, StoreError> {
    for write in writes.updated_instances() {
        let instance = &write.loaded.instance;
        let updated = sqlx::query(
            "UPDATE instances SET status = ?2, variables = ?3, output = ?4, error = ?5, \
             started_at = ?6, completed_at = ?7, updated_at = ?8, state = ?9, \
             version = version + 1 WHERE id = ?1 AND version = ?10",
        )
        .bind(instance.id.to_string())
        .bind(instance.status.as_str())
        .bind(json_text(&instance.variables))
        .bind(json_text_opt(&instance.output))
        .bind(json_text_opt(&codec::error_to_json(&instance.error)))
        .bind(time_text_opt(instance.started_at))
        .bind(time_text_opt(instance.completed_at))
        .bind(time_text(instance.updated_at))
        .bind(write.loaded.state.as_str())
        .bind(write.version)
        .execute(&mut *conn)
        .await?;
        if updated.rows_affected() != 1 {
            return Ok(false);
        }
    }
    for write in writes.created_instances() {
        let instance = &write.loaded.instance;
        sqlx::query(
            "INSERT INTO instances (id, tenant, template_id, template_version, status, variables, \
             output, error, parent_instance_id, state, created_at, started_at, completed_at, \
             updated_at, traceparent) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        )
        .bind(instance.id.to_string())
        .bind(&instance.tenant)
        .bind(instance.template_id.to_string())
        .bind(instance.template_version)
        .bind(instance.status.as_str())
        .bind(json_text(&instance.variables))
        .bind(json_text_opt(&instance.output))
        .bind(json_text_opt(&codec::error_to_json(&instance.error)))
        .bind(instance.parent_instance_id.map(|id| id.to_string()))
        .bind(write.loaded.state.as_str())
        .bind(time_text(instance.created_at))
        .bind(time_text_opt(instance.started_at))
        .bind(time_text_opt(instance.completed_at))
        .bind(time_text(instance.updated_at))
        .bind(&instance.traceparent)
        .execute(&mut *conn)
        .await
        .map_err(codec::instance_conflict)?;
    }
    for (tenant, execution) in writes.executions.values() {
        sqlx::query(
            "INSERT INTO steps (id, instance_id, tenant, step_id, name, type, status, attempt, \
             input, output, error, created_at, started_at, completed_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, type = excluded.type, \
             status = excluded.status, attempt = excluded.attempt, input = excluded.input, \
             output = excluded.output, error = excluded.error, started_at = excluded.started_at, \
             completed_at = excluded.completed_at",
        )
        .bind(execution.id.to_string())
        .bind(execution.instance_id.to_string())
        .bind(tenant)
        .bind(&execution.step_id)
        .bind(&execution.name)
        .bind(&execution.step_type)
        .bind(execution.status.as_str())
        .bind(execution.attempt)
        .bind(json_text_opt(&execution.input))
        .bind(json_text_opt(&execution.output))
        .bind(json_text_opt(&codec::error_to_json(&execution.error)))
        .bind(time_text(execution.created_at))
        .bind(time_text_opt(execution.started_at))
        .bind(time_text_opt(execution.completed_at))
        .execute(&mut *conn)
        .await?;
    }
    for job in writes.job_writes() {
        let payload = serde_json::to_string(job).map_err(|e| corrupt("job", e))?;
        sqlx::query(
            "INSERT INTO jobs (execution_id, attempt, instance_id, tenant, queue, payload, \
             lease_until, deadline) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
             ON CONFLICT (execution_id) DO UPDATE SET attempt = excluded.attempt, \
             instance_id = excluded.instance_id, tenant = excluded.tenant, queue = excluded.queue, \
             payload = excluded.payload, lease_until = excluded.lease_until, \
             deadline = excluded.deadline",
        )
        .bind(job.execution_id.to_string())
        .bind(job.attempt)
        .bind(job.instance_id.to_string())
        .bind(&job.tenant)
        .bind(&job.queue)
        .bind(payload)
        .bind(time_text(initial_lease(job, writes.job_lease_until)))
        .bind(job.timeout_timer.map(|_| time_text(micros(job.deadline))))
        .execute(&mut *conn)
        .await?;
    }
    for id in writes.job_removals() {
        sqlx::query("DELETE FROM jobs WHERE execution_id = ?1")
            .bind(id.to_string())
            .execute(&mut *conn)
            .await?;
    }
    for (tenant, timer) in writes.timer_writes() {
        sqlx::query(
            "INSERT INTO timers (id, instance_id, tenant, due_at, payload) \
             VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (id) DO UPDATE SET instance_id = excluded.instance_id, \
             tenant = excluded.tenant, due_at = excluded.due_at, payload = excluded.payload",
        )
        .bind(timer.id.to_string())
        .bind(timer.instance_id.to_string())
        .bind(tenant)
        .bind(time_text(timer.due_at))
        .bind(json_text(&timer.payload))
        .execute(&mut *conn)
        .await?;
    }
    for id in writes.timer_removals() {
        sqlx::query("DELETE FROM timers WHERE id = ?1")
            .bind(id.to_string())
            .execute(&mut *conn)
            .await?;
    }
    Ok(true)
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        // The writer pool has one connection, so concurrent calls in this process queue here.
        sqlx::migrate!("../../migrations/sqlite")
            .run(&self.writer)
            .await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn purge(
        &self,
        finished_before: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<crate::Purged, StoreError> {
        crate::retention::sqlite::purge(&self.writer, finished_before, now, limit).await
    }
}
