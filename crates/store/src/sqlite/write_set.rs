//! A batch's writes as few commands to SQLite's connection thread. Each command sqlx sends
//! there costs two thread wake-ups (that thread's and the waiting task's); a lone step's write
//! set used to be seven commands (`BEGIN`, `UPDATE`, two step upserts, a job upsert, a job
//! delete, `COMMIT`) and its wake-ups were most of the embedded mode's time per step. Here the
//! statements follow each other in one SQL text of several statements, their values bound in
//! order (anonymous `?` parameters run on across the statements), so a lone step, with its
//! `BEGIN IMMEDIATE` and `COMMIT`, is one command.
//!
//! Instance updates come first, each guarded by the version the batch read and followed by an
//! insert of `changes()` into the `version_guard` view, whose trigger aborts the statement when
//! the update changed no row (migrations/sqlite). The error stops the command before anything
//! after it, its `COMMIT` included, and the batch is rolled back. Every other statement changes
//! its row unconditionally.

use sqlx::pool::PoolConnection;
use sqlx::query::Query;
use sqlx::sqlite::{Sqlite, SqliteArguments};
use sqlx::{Executor, SqliteConnection};
use uuid::Uuid;

use crate::StoreError;
use crate::TimerRecord;
use crate::batch::{InstanceWrite, WriteSet, initial_lease, micros};
use crate::codec::{self, corrupt, json_text, json_text_opt, time_text, time_text_opt};

/// Statements sent in one command. The connection keeps its last 100 prepared commands (sqlx's
/// statement cache), and a command's text depends on how many rows of each kind it writes, so a
/// loaded engine fills that cache. A prepared upsert holds about 3.5 KiB: at 32 statements per
/// command the cache grew to 12 MiB, the largest part of the embedded process's growth under
/// load (heaptrack); at 16 it holds about 5 MiB and S2 kept its speed; at 8 S1 was slower (0.32
/// against 0.29 ms). A smaller cache cost S2 a sixth of its speed, in preparing again. SQLite's own
/// limit is 32 766 bound values (a command here binds at most 240).
const STATEMENTS_PER_COMMAND: usize = 16;

const BEGIN: &str = "BEGIN IMMEDIATE;";

const COMMIT: &str = "COMMIT;";

const UPDATE_INSTANCE: &str = "UPDATE instances SET status = ?, variables = ?, output = ?, \
     error = ?, started_at = ?, completed_at = ?, updated_at = ?, state = ?, \
     version = version + 1 WHERE id = ? AND version = ?;";

/// Follows each `UPDATE_INSTANCE`; the view's trigger raises [`STALE_VERSION`].
const GUARD_VERSION: &str = "INSERT INTO version_guard (changed) VALUES (changes());";

/// The message of the `version_guard` trigger (migrations/sqlite).
const STALE_VERSION: &str = "stale instance version";

const INSERT_INSTANCE: &str = "INSERT INTO instances (id, tenant, template_id, template_version, \
     status, variables, output, error, parent_instance_id, state, created_at, started_at, \
     completed_at, updated_at, traceparent) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);";

const UPSERT_EXECUTION: &str = "INSERT INTO steps (id, instance_id, tenant, step_id, name, type, \
     status, attempt, input, output, error, created_at, started_at, completed_at) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
     ON CONFLICT (id) DO UPDATE SET name = excluded.name, type = excluded.type, \
     status = excluded.status, attempt = excluded.attempt, input = excluded.input, \
     output = excluded.output, error = excluded.error, started_at = excluded.started_at, \
     completed_at = excluded.completed_at;";

const UPSERT_JOB: &str = "INSERT INTO jobs (execution_id, attempt, instance_id, tenant, queue, \
     payload, lease_until, deadline) VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
     ON CONFLICT (execution_id) DO UPDATE SET attempt = excluded.attempt, \
     instance_id = excluded.instance_id, tenant = excluded.tenant, queue = excluded.queue, \
     payload = excluded.payload, lease_until = excluded.lease_until, \
     deadline = excluded.deadline;";

const DELETE_JOB: &str = "DELETE FROM jobs WHERE execution_id = ?;";

const UPSERT_TIMER: &str = "INSERT INTO timers (id, instance_id, tenant, due_at, payload) \
     VALUES (?, ?, ?, ?, ?) \
     ON CONFLICT (id) DO UPDATE SET instance_id = excluded.instance_id, \
     tenant = excluded.tenant, due_at = excluded.due_at, payload = excluded.payload;";

const DELETE_TIMER: &str = "DELETE FROM timers WHERE id = ?;";

type SqliteQuery<'q> = Query<'q, Sqlite, SqliteArguments>;

/// One statement of the write set's commands.
enum Statement<'w> {
    Begin,
    UpdateInstance(&'w InstanceWrite),
    GuardVersion,
    InsertInstance(&'w InstanceWrite),
    UpsertExecution(&'w str, &'w model::StepExecution),
    UpsertJob(&'w model::Job),
    DeleteJob(Uuid),
    UpsertTimer(&'w str, &'w TimerRecord),
    DeleteTimer(Uuid),
    Commit,
}

/// Writes and commits the batch in a transaction of its own: `false` when a version guard
/// failed, and then nothing is written.
pub(super) async fn commit_writes(
    conn: PoolConnection<Sqlite>,
    writes: &WriteSet,
) -> Result<bool, StoreError> {
    let statements: Vec<Statement<'_>> = std::iter::once(Statement::Begin)
        .chain(statements(writes))
        .chain(std::iter::once(Statement::Commit))
        .collect();
    let mut open = OpenTransaction { conn, ended: false };
    let written = run(&mut open.conn, &statements, writes).await;
    if written.as_ref().is_ok_and(|committed| *committed) {
        open.end();
        return written;
    }
    // A guard or a statement failed part-way, and the transaction may still be open. When even
    // the rollback fails (the failure came before `BEGIN` took effect, say), the connection is
    // closed instead, which rolls back whatever it held.
    if open.conn.execute("ROLLBACK").await.is_ok() {
        open.end();
    }
    written
}

/// Writes the batch inside the caller's transaction: `false` when a version guard failed, and
/// then the caller must roll back (some of the batch may be written).
pub(super) async fn apply_writes(
    conn: &mut SqliteConnection,
    writes: &WriteSet,
) -> Result<bool, StoreError> {
    let statements: Vec<Statement<'_>> = statements(writes).collect();
    run(conn, &statements, writes).await
}

/// The writer's connection while a transaction begun by [`commit_writes`] may be open on it.
/// Dropped before [`OpenTransaction::end`] (the caller's future was cancelled between commands,
/// or the rollback failed), the connection is closed rather than returned to the pool, and
/// closing it rolls the transaction back; the pool opens a new one. (An in-memory database lives
/// only as long as its one connection, so there the close also ends the database: it happens
/// only at a cancellation mid-batch, which in the engine means shutdown.)
struct OpenTransaction {
    conn: PoolConnection<Sqlite>,
    ended: bool,
}

impl OpenTransaction {
    /// Returns the connection to the pool: its transaction has ended.
    fn end(mut self) {
        self.ended = true;
    }
}

impl Drop for OpenTransaction {
    fn drop(&mut self) {
        if !self.ended {
            self.conn.close_on_drop();
        }
    }
}

/// The row changes, guarded updates first, then the rest in the order the tables were always
/// written.
fn statements(writes: &WriteSet) -> impl Iterator<Item = Statement<'_>> {
    let updates = writes
        .updated_instances()
        .flat_map(|write| [Statement::UpdateInstance(write), Statement::GuardVersion]);
    let created = writes.created_instances().map(Statement::InsertInstance);
    let executions = writes
        .executions
        .values()
        .map(|(tenant, execution)| Statement::UpsertExecution(tenant, execution));
    let jobs = writes.job_writes().map(Statement::UpsertJob);
    let job_removals = writes.job_removals().into_iter().map(Statement::DeleteJob);
    let timers = writes
        .timer_writes()
        .map(|(tenant, timer)| Statement::UpsertTimer(tenant, timer));
    let timer_removals = writes
        .timer_removals()
        .into_iter()
        .map(Statement::DeleteTimer);
    updates
        .chain(created)
        .chain(executions)
        .chain(jobs)
        .chain(job_removals)
        .chain(timers)
        .chain(timer_removals)
}

/// Runs the statements, a command per [`STATEMENTS_PER_COMMAND`]: `false` when a version guard
/// stopped them.
async fn run(
    conn: &mut SqliteConnection,
    statements: &[Statement<'_>],
    writes: &WriteSet,
) -> Result<bool, StoreError> {
    for command in statements.chunks(STATEMENTS_PER_COMMAND) {
        match execute(conn, command, writes).await {
            Ok(()) => {}
            Err(StoreError::Database(sqlx::Error::Database(error)))
                if error.message() == STALE_VERSION =>
            {
                return Ok(false);
            }
            Err(error) => return Err(error),
        }
    }
    Ok(true)
}

/// Runs the statements as one command.
async fn execute(
    conn: &mut SqliteConnection,
    statements: &[Statement<'_>],
    writes: &WriteSet,
) -> Result<(), StoreError> {
    // Only this file's constant statements, joined: every value is bound.
    let sql: String = statements.iter().map(Statement::sql).collect();
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for statement in statements {
        query = statement.bind(query, writes)?;
    }
    let inserts_instances = statements
        .iter()
        .any(|statement| matches!(statement, Statement::InsertInstance(_)));
    match query.execute(&mut *conn).await {
        Ok(_) => Ok(()),
        // Only an instance insert can break a unique key: the other inserts are upserts.
        Err(error) if inserts_instances => Err(codec::instance_conflict(error)),
        Err(error) => Err(error.into()),
    }
}

impl Statement<'_> {
    fn sql(&self) -> &'static str {
        match self {
            Self::Begin => BEGIN,
            Self::UpdateInstance(_) => UPDATE_INSTANCE,
            Self::GuardVersion => GUARD_VERSION,
            Self::Commit => COMMIT,
            Self::InsertInstance(_) => INSERT_INSTANCE,
            Self::UpsertExecution(..) => UPSERT_EXECUTION,
            Self::UpsertJob(_) => UPSERT_JOB,
            Self::DeleteJob(_) => DELETE_JOB,
            Self::UpsertTimer(..) => UPSERT_TIMER,
            Self::DeleteTimer(_) => DELETE_TIMER,
        }
    }

    /// Binds this statement's values, in the order of its `?`s.
    fn bind<'q>(
        &self,
        query: SqliteQuery<'q>,
        writes: &WriteSet,
    ) -> Result<SqliteQuery<'q>, StoreError> {
        let query = match self {
            Self::Begin | Self::GuardVersion | Self::Commit => query,
            Self::UpdateInstance(write) => {
                let instance = &write.loaded.instance;
                query
                    .bind(instance.status.as_str())
                    .bind(json_text(&instance.variables))
                    .bind(json_text_opt(&instance.output))
                    .bind(json_text_opt(&codec::error_to_json(&instance.error)))
                    .bind(time_text_opt(instance.started_at))
                    .bind(time_text_opt(instance.completed_at))
                    .bind(time_text(instance.updated_at))
                    .bind(write.loaded.state.as_str())
                    .bind(instance.id.to_string())
                    .bind(write.version)
            }
            Self::InsertInstance(write) => {
                let instance = &write.loaded.instance;
                query
                    .bind(instance.id.to_string())
                    .bind(instance.tenant.as_str())
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
                    .bind(instance.traceparent.as_deref())
            }
            Self::UpsertExecution(tenant, execution) => query
                .bind(execution.id.to_string())
                .bind(execution.instance_id.to_string())
                .bind(*tenant)
                .bind(execution.step_id.as_str())
                .bind(execution.name.as_deref())
                .bind(execution.step_type.as_str())
                .bind(execution.status.as_str())
                .bind(execution.attempt)
                .bind(json_text_opt(&execution.input))
                .bind(json_text_opt(&execution.output))
                .bind(json_text_opt(&codec::error_to_json(&execution.error)))
                .bind(time_text(execution.created_at))
                .bind(time_text_opt(execution.started_at))
                .bind(time_text_opt(execution.completed_at)),
            Self::UpsertJob(job) => {
                let payload = serde_json::to_string(job).map_err(|e| corrupt("job", e))?;
                query
                    .bind(job.execution_id.to_string())
                    .bind(job.attempt)
                    .bind(job.instance_id.to_string())
                    .bind(job.tenant.as_str())
                    .bind(job.queue.as_str())
                    .bind(payload)
                    .bind(time_text(initial_lease(job, writes.job_lease_until)))
                    .bind(job.timeout_timer.map(|_| time_text(micros(job.deadline))))
            }
            Self::DeleteJob(id) | Self::DeleteTimer(id) => query.bind(id.to_string()),
            Self::UpsertTimer(tenant, timer) => query
                .bind(timer.id.to_string())
                .bind(timer.instance_id.to_string())
                .bind(*tenant)
                .bind(time_text(timer.due_at))
                .bind(json_text(&timer.payload)),
        };
        Ok(query)
    }
}
