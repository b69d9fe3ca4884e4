//! A batch's writes as few commands to SQLite's connection thread. Each command sqlx sends
//! there costs two thread wake-ups (that thread's and the waiting task's); a lone step's write
//! set used to be seven commands (`UPDATE`, two step upserts, a job upsert, a job delete, with
//! `BEGIN` and `COMMIT`) and its wake-ups were most of the embedded mode's time per step. Here
//! the statements of one kind follow each other in one SQL text of several statements, their
//! values bound in order (anonymous `?` parameters run on across the statements), so a lone
//! step's writes take two commands: the guarded instance updates, then everything else.
//!
//! Instance updates come first, in commands of their own, each guarded by the version the batch
//! read: when a command changes fewer rows than it has updates, one copy was stale and the
//! caller rolls the transaction back. Every other statement changes its row unconditionally.

use sqlx::SqliteConnection;
use sqlx::query::Query;
use sqlx::sqlite::{Sqlite, SqliteArguments};
use uuid::Uuid;

use crate::StoreError;
use crate::TimerRecord;
use crate::batch::{InstanceWrite, WriteSet, initial_lease, micros};
use crate::codec::{self, corrupt, json_text, json_text_opt, time_text, time_text_opt};

/// Statements sent in one command. The SQL texts of a command are prepared once and kept in the
/// connection's statement cache, so commands are cut at a fixed size to bound the shapes that
/// cache sees; SQLite's own limit is 32 766 bound values (a command here binds at most 480).
const STATEMENTS_PER_COMMAND: usize = 32;

const UPDATE_INSTANCE: &str = "UPDATE instances SET status = ?, variables = ?, output = ?, \
     error = ?, started_at = ?, completed_at = ?, updated_at = ?, state = ?, \
     version = version + 1 WHERE id = ? AND version = ?;";

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

/// One row change of the write set.
enum Statement<'w> {
    UpdateInstance(&'w InstanceWrite),
    InsertInstance(&'w InstanceWrite),
    UpsertExecution(&'w str, &'w model::StepExecution),
    UpsertJob(&'w model::Job),
    DeleteJob(Uuid),
    UpsertTimer(&'w str, &'w TimerRecord),
    DeleteTimer(Uuid),
}

/// Writes the batch inside the caller's transaction: `false` when a version guard failed, and
/// then the caller must roll back (some of the batch may be written).
pub(super) async fn apply_writes(
    conn: &mut SqliteConnection,
    writes: &WriteSet,
) -> Result<bool, StoreError> {
    let updates: Vec<Statement<'_>> = writes
        .updated_instances()
        .map(Statement::UpdateInstance)
        .collect();
    for command in updates.chunks(STATEMENTS_PER_COMMAND) {
        if execute(conn, command, writes).await? != command.len() as u64 {
            return Ok(false);
        }
    }
    let others = other_statements(writes);
    for command in others.chunks(STATEMENTS_PER_COMMAND) {
        execute(conn, command, writes).await?;
    }
    Ok(true)
}

/// Everything but the instance updates, in the order the tables were always written.
fn other_statements(writes: &WriteSet) -> Vec<Statement<'_>> {
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
    created
        .chain(executions)
        .chain(jobs)
        .chain(job_removals)
        .chain(timers)
        .chain(timer_removals)
        .collect()
}

/// Runs the statements as one command; the rows they changed, summed.
async fn execute(
    conn: &mut SqliteConnection,
    statements: &[Statement<'_>],
    writes: &WriteSet,
) -> Result<u64, StoreError> {
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
        Ok(done) => Ok(done.rows_affected()),
        // Only an instance insert can break a unique key: the other inserts are upserts.
        Err(error) if inserts_instances => Err(codec::instance_conflict(error)),
        Err(error) => Err(error.into()),
    }
}

impl Statement<'_> {
    fn sql(&self) -> &'static str {
        match self {
            Self::UpdateInstance(_) => UPDATE_INSTANCE,
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
