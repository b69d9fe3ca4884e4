//! The store's contract: one trait per aggregate (instances, jobs, templates, timers,
//! triggers), [`Store`] combining them, and the records they take and return.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use model::{Instance, Job, StepExecution, Template, WorkflowEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::trigger::{ScheduleFiring, TriggerFilter, TriggerRecord};
use crate::{StateDocument, StoreError};

/// A page request: newest first, `cursor` is the last id of the previous page.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub limit: u32,
    pub cursor: Option<Uuid>,
}

#[derive(Debug, Clone, Default)]
pub struct TemplateFilter {
    pub name: Option<String>,
    pub page: Page,
}

#[derive(Debug, Clone, Default)]
pub struct InstanceFilter {
    pub status: Option<model::InstanceStatus>,
    pub template_id: Option<Uuid>,
    pub parent_instance_id: Option<Uuid>,
    /// Created strictly after / before these times; updated strictly after.
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    pub updated_after: Option<DateTime<Utc>>,
    /// Variables equal to values at paths, all of them (`crate::search`).
    pub variables: Vec<model::VariableFilter>,
    pub page: Page,
}

/// Instances holding a concurrency slot, counted per tenant (an instance has one tenant, so
/// the counts add up to the total).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlotHolders {
    pub by_tenant: HashMap<String, u64>,
}

impl SlotHolders {
    pub fn total(&self) -> u64 {
        self.by_tenant.values().sum()
    }

    pub fn of(&self, tenant: &str) -> u64 {
        self.by_tenant.get(tenant).copied().unwrap_or(0)
    }
}

/// An instance row together with the engine's state document for it.
#[derive(Debug, Clone)]
pub struct LoadedInstance {
    pub instance: Instance,
    /// The engine's state, opaque to storage.
    pub state: StateDocument,
}

#[derive(Debug, Clone)]
pub struct NewInstance {
    pub instance: Instance,
    pub state: StateDocument,
    /// Timers to write with it (a child instance's start is a timer due now, so that a crash
    /// between the parent's decision and the child's start loses nothing).
    pub timers: Vec<TimerRecord>,
}

/// `Idempotency-Key` of an instance creation: the same key with the same body answers the
/// instance it made; with another body, a conflict.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    pub key: String,
    /// A hash of the request body (and route), to tell a replay from a different request.
    pub fingerprint: String,
    pub expires_at: DateTime<Utc>,
}

/// A durable timer: when `due_at` passes, the scheduler feeds `payload` to the instance.
/// Timers are also the outbox for work between instances (a child's start, a parent's
/// notification), so they carry an arbitrary payload the scheduler understands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimerRecord {
    pub id: Uuid,
    pub instance_id: Uuid,
    pub due_at: DateTime<Utc>,
    pub payload: serde_json::Value,
}

/// Everything one decision writes, in one transaction with the instance's row.
#[derive(Debug, Clone, Default)]
pub struct Transition {
    /// The instance row as it is after the decision (status, variables, output, timestamps).
    pub instance: Option<Instance>,
    /// The engine's new state document.
    pub state: Option<StateDocument>,
    /// Step execution rows to insert or update (by id).
    pub executions: Vec<StepExecution>,
    /// Jobs to hand off: written as rows now, put on the queue after commit.
    pub jobs: Vec<Job>,
    /// The jobs' initial lease: past it, a job nobody reported or heartbeated is handed out
    /// again. `None` means their deadline.
    pub job_lease_until: Option<DateTime<Utc>>,
    /// Execution ids whose job rows are done with (result recorded, or cancelled).
    pub finished_jobs: Vec<Uuid>,
    /// Timers to write (by id).
    pub timers: Vec<TimerRecord>,
    /// Timer ids to remove.
    pub cleared_timers: Vec<Uuid>,
    /// Instances to create (subflow children).
    pub new_instances: Vec<NewInstance>,
    /// Events to publish after commit; not written to the database.
    pub events: Vec<WorkflowEvent>,
    /// After this decision the instance has no step queued or running (it waits on an event,
    /// a timer, a resume or a free slot), so no result of this process's will decide on it
    /// soon: its copy is not kept in memory. 100 000 instances waiting on events then cost the
    /// scheduler nothing, and the one decision that wakes each reads its row.
    pub idle: bool,
}

/// One instance's decision in a [`InstanceStore::transition`] batch: given the instance as the
/// store holds it, what to write, or `None` for nothing.
///
/// The store may call it more than once: once on a cached copy and again on the locked row when
/// that copy proved stale, and again when the whole batch is retried. Each call must start over
/// from the instance it is given, so that whatever the decision keeps (it may borrow its
/// caller's state, for `'a`) describes its last call, the one the store wrote.
pub type Decide<'a> =
    Box<dyn FnMut(&LoadedInstance) -> Result<Option<Transition>, StoreError> + Send + 'a>;

pub struct TransitionRequest<'a> {
    pub instance_id: Uuid,
    pub decide: Decide<'a>,
}

/// Every aggregate's repository in one object, plus what spans them (migrations, health,
/// retention). Each aggregate has its own trait, a supertrait of this one, so an
/// `Arc<dyn Store>` serves every call; each dialect implements each aggregate in its own file.
/// Every query is scoped by tenant where a caller names one; the scheduler's own work
/// (transitions, sweeps, timers) is tenant-agnostic.
#[async_trait]
pub trait Store:
    InstanceStore + JobStore + TemplateStore + TimerStore + TriggerStore + Send + Sync
{
    /// Applies the migrations, under a lock so that concurrent starters are safe.
    async fn migrate(&self) -> Result<(), StoreError>;
    async fn ping(&self) -> Result<(), StoreError>;

    /// Retention, one batch: deletes up to `limit` instances finished before
    /// `finished_before` (with their steps, timers and idempotency keys) and up to `limit`
    /// idempotency keys expired by `now`.
    async fn purge(
        &self,
        finished_before: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<crate::Purged, StoreError>;
}

/// Instances (`workflow.instances`) with their state documents and step executions: creating
/// and reading them, moving them by decisions ([`InstanceStore::transition`]), and counting
/// them for admission and the gauges. A supertrait of [`Store`]; each dialect implements it in
/// its own `instances.rs`.
#[async_trait]
pub trait InstanceStore: Send + Sync {
    /// Creates an instance. With an idempotency key already used for the same fingerprint,
    /// returns the earlier instance and `false`; for another fingerprint, `Conflict`.
    async fn insert_instance(
        &self,
        new: &NewInstance,
        idempotency: Option<&IdempotencyKey>,
    ) -> Result<(Instance, bool), StoreError>;
    async fn get_instance(&self, tenant: &str, id: Uuid) -> Result<Instance, StoreError>;
    async fn list_instances(
        &self,
        tenant: &str,
        filter: &InstanceFilter,
    ) -> Result<Vec<Instance>, StoreError>;
    /// Step executions of an instance, oldest first.
    async fn list_executions(&self, instance_id: Uuid) -> Result<Vec<StepExecution>, StoreError>;

    /// Runs each request's decision against its instance and writes what it returns, all in
    /// one transaction (instances locked in id order, so concurrent batches cannot deadlock).
    /// One outcome per request, in request order: a request whose instance is missing or whose
    /// decision refused gets its error without failing the others. The decisions are borrowed
    /// for the call only: when it returns, what each kept is from its last call (see
    /// [`Decide`]).
    async fn transition(
        &self,
        requests: Vec<TransitionRequest<'_>>,
    ) -> Result<Vec<Result<Option<Transition>, StoreError>>, StoreError>;

    /// Instances holding a concurrency slot (those with a job queued or running), per tenant.
    async fn slot_holders(&self) -> Result<SlotHolders, StoreError>;
    /// How many instances are in each status, over all tenants: the `workflow_instances` gauge.
    /// Statuses without an instance are absent.
    async fn instances_by_status(&self) -> Result<Vec<(model::InstanceStatus, u64)>, StoreError>;
}

/// Job rows (`workflow.jobs`): the record of every job handed out, with the lease past which
/// it is handed out again. Written by transitions; this trait is the leases. A supertrait of
/// [`Store`]; each dialect implements it in its own `jobs.rs`.
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Jobs whose lease ran out (worker died, queue forgot them), with their lease pushed to
    /// `lease_until` so that one scheduler replica takes each (`FOR UPDATE SKIP LOCKED`).
    async fn claim_expired_jobs(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError>;
    /// Pushes a running job's lease (heartbeat). `false` when the attempt is no longer current.
    async fn extend_lease(
        &self,
        execution_id: Uuid,
        attempt: i32,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// The queues that have a job in flight (queued or running), in name order: the queues
    /// whose depth the scheduler samples besides `default`.
    async fn job_queues(&self) -> Result<Vec<String>, StoreError>;
}

/// Triggers (`workflow.triggers`), tenant-scoped like templates, and the claiming of schedule
/// ticks. A supertrait of [`Store`], so an `Arc<dyn Store>` serves these calls; each dialect
/// implements it in its own `triggers.rs`.
#[async_trait]
pub trait TriggerStore: Send + Sync {
    async fn insert_trigger(&self, trigger: &TriggerRecord) -> Result<(), StoreError>;
    async fn get_trigger(&self, tenant: &str, id: Uuid) -> Result<TriggerRecord, StoreError>;
    /// Newest first.
    async fn list_triggers(
        &self,
        tenant: &str,
        filter: &TriggerFilter,
    ) -> Result<Vec<TriggerRecord>, StoreError>;
    async fn delete_trigger(&self, tenant: &str, id: Uuid) -> Result<(), StoreError>;
    /// The enabled webhook triggers of a template, of any tenant: a webhook call is
    /// authenticated by the secret it was signed with, and that trigger names the tenant.
    async fn webhook_triggers(&self, template_id: Uuid) -> Result<Vec<TriggerRecord>, StoreError>;
    /// Enabled schedules whose `next_fire_at` is at or before `now`, earliest first.
    async fn due_schedules(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<TriggerRecord>, StoreError>;
    /// The earliest `next_fire_at` of the enabled schedules.
    async fn next_schedule_due(&self) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// Claims one tick of a schedule and writes its instance, in one transaction. `false` when
    /// another scheduler claimed the tick first (or the trigger is gone): nothing was written.
    async fn fire_schedule(&self, firing: &ScheduleFiring) -> Result<bool, StoreError>;
}

/// Templates (`workflow.templates`): every version kept, one marked latest, soft deletes. A
/// supertrait of [`Store`]; each dialect implements it in its own `templates.rs`.
#[async_trait]
pub trait TemplateStore: Send + Sync {
    /// Inserts version 1 of a new template. `Conflict` when the tenant has a live template of
    /// that name.
    async fn insert_template(&self, template: &Template) -> Result<(), StoreError>;
    /// Inserts a new version of an existing template (`template.version` already bumped).
    async fn insert_template_version(&self, template: &Template) -> Result<(), StoreError>;
    /// The latest version, or the one asked for. Deleted templates are found only with
    /// `include_deleted` (running instances keep their version).
    async fn get_template(
        &self,
        tenant: &str,
        id: Uuid,
        version: Option<i32>,
        include_deleted: bool,
    ) -> Result<Template, StoreError>;
    async fn find_template_by_name(&self, tenant: &str, name: &str)
    -> Result<Template, StoreError>;
    /// Latest version of each live template, newest first.
    async fn list_templates(
        &self,
        tenant: &str,
        filter: &TemplateFilter,
    ) -> Result<Vec<Template>, StoreError>;
    /// Soft delete: every version stays readable to running instances.
    async fn delete_template(&self, tenant: &str, id: Uuid) -> Result<(), StoreError>;
}

/// Timers (`workflow.timers`) and job deadlines: what the sweeper fires, and the inputs parked
/// for a concurrency slot. A supertrait of [`Store`]; each dialect implements it in its own
/// `timers.rs`.
#[async_trait]
pub trait TimerStore: Send + Sync {
    /// Timers due at `now`, oldest first. They stay until a transition clears them.
    async fn due_timers(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<TimerRecord>, StoreError>;
    /// The earliest of the timers' `due_at` and the jobs' timeout deadlines: when the sweeper
    /// has something to fire.
    async fn next_timer_due(&self) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// Jobs whose timeout (`Job::timeout_timer`, due at their deadline) has come, with the
    /// deadline pushed to `retry_at`: one scheduler replica fires each, and fires it again at
    /// `retry_at` if the decision that answers it was not written (a crash, or a paused
    /// instance holding the timer, which keeps its row).
    async fn claim_expired_deadlines(
        &self,
        now: DateTime<Utc>,
        retry_at: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError>;
    /// Makes the oldest (by id) timers parked at `parked_at` due at `now`, and returns them:
    /// inputs that waited for a concurrency slot, in arrival order. At most `limit` in all, and
    /// with a `tenant_cap`, of each tenant at most the room it has under that many slot
    /// holders, so that a tenant at its cap never keeps another tenant's younger inputs
    /// waiting. `None` when no tenant cap binds below the global one: then the oldest go, read
    /// off the index, whatever the number parked.
    async fn release_parked(
        &self,
        parked_at: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: u32,
        tenant_cap: Option<u32>,
    ) -> Result<Vec<TimerRecord>, StoreError>;
}
