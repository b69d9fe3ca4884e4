//! Carrying out decisions. [`Core`] feeds inputs to instances through the engine, inside the
//! store's transaction that holds each instance, and afterwards hands the jobs to the queue,
//! the events to the bus and the timers already due to [`Core::fire_timers`]. Each step of
//! that has its own file below: the batch ([`apply`]), one instance's decision ([`decision`]),
//! the engine's commands as rows ([`carry_out`]), the instance row ([`instance_row`]),
//! concurrency slots ([`slots`]), eager dispatch ([`eager`]), what follows a commit
//! ([`after_commit`]), due timers ([`fire_timers`]) and subflow children ([`subflow`]).

use std::sync::{Arc, Mutex};

use bus::{EventBus, JobQueue};
use chrono::{DateTime, Utc};
use engine::Input;
use model::{Instance, Job, WorkflowEvent};
use store::{Store, StoreError};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::cache::DefinitionCache;
use crate::committer::AdmittingCommitter;
use crate::hand_off::HandOff;
use crate::lease::LeaseSigner;
use crate::{SchedulerError, SchedulerSettings};

mod after_commit;
mod apply;
mod carry_out;
mod decision;
mod eager;
mod fire_timers;
mod instance_row;
mod slots;
mod subflow;

pub(crate) use instance_row::{new_instance_row, start_timer};

/// Whether a batch checks `MAX_CONCURRENT_WORKFLOWS` and `TENANT_MAX_CONCURRENT_WORKFLOWS`.
/// Worker results never need to: an instance with a job in flight already holds its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    Checked,
    Unchecked,
}

/// One input for one instance.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub instance_id: Uuid,
    pub input: Input,
    /// The caller's tenant; another tenant's instance answers not found. `None` for the
    /// scheduler's own work.
    pub tenant: Option<String>,
    /// A timer to delete with this decision (the one that carried the input).
    pub fired_timer: Option<Uuid>,
    /// A refusal is not an error (outbox work: cancelling a child that already ended).
    pub tolerate_rejection: bool,
    /// Eager dispatch: the reporting worker takes the next job on this queue in its answer.
    pub eager_queue: Option<String>,
}

impl Request {
    pub(crate) fn api(instance_id: Uuid, input: Input, tenant: &str) -> Self {
        Self {
            instance_id,
            input,
            tenant: Some(tenant.to_owned()),
            fired_timer: None,
            tolerate_rejection: false,
            eager_queue: None,
        }
    }

    pub(crate) fn internal(instance_id: Uuid, input: Input) -> Self {
        Self {
            instance_id,
            input,
            tenant: None,
            fired_timer: None,
            tolerate_rejection: true,
            eager_queue: None,
        }
    }
}

/// What an input did.
#[derive(Debug, Clone)]
pub(crate) struct Applied {
    pub instance: Instance,
    /// False when the engine found nothing to do (a stale result, a duplicate).
    pub accepted: bool,
    /// The job handed to the reporting worker in its answer (eager dispatch), stamped.
    pub next_job: Option<Job>,
}

pub(crate) struct Core {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn JobQueue>,
    pub events: Arc<dyn EventBus>,
    pub definitions: Arc<DefinitionCache>,
    pub settings: SchedulerSettings,
    /// Wakes the sweeper when a timer is due before its next planned look.
    pub sweeper_wake: Notify,
    pub sweeper_next_wake: Mutex<Option<DateTime<Utc>>>,
    /// Serialises the decisions that may take a concurrency slot within this process, so the
    /// count they read stays true until they commit.
    pub admission: tokio::sync::Mutex<()>,
    /// Signs each job's lease token as it leaves for its queue.
    pub lease: LeaseSigner,
    /// Group commit of the inputs [`Core::apply`] takes.
    pub admitting: AdmittingCommitter,
    /// Publishes committed jobs and events, in commit order, off the answer's path.
    pub publisher: HandOff,
}

impl Core {
    /// Parsed definition of a template version, from the cache or the database.
    pub(crate) async fn definition(
        &self,
        tenant: &str,
        template_id: Uuid,
        version: i32,
    ) -> Result<Arc<engine::Definition>, SchedulerError> {
        if let Some(definition) = self.definitions.get(template_id, version) {
            return Ok(definition);
        }
        let template = self
            .store
            .get_template(tenant, template_id, Some(version), true)
            .await?;
        let validated = engine::validate(&template.definition).map_err(|errors| {
            SchedulerError::Storage(StoreError::Corrupt(format!(
                "stored template {template_id} v{version} no longer validates: {errors:?}"
            )))
        })?;
        let definition = Arc::new(validated.definition);
        self.definitions
            .insert(template_id, version, definition.clone());
        Ok(definition)
    }

    /// Feeds each request's input to its instance, with the admission check, batched with the
    /// other callers' inputs waiting at the same moment. Requests for the same instance are
    /// applied in order within one decision; a batch's instances move in one transaction.
    pub(crate) async fn apply(
        self: &Arc<Self>,
        requests: Vec<Request>,
    ) -> Vec<Result<Applied, SchedulerError>> {
        self.admitting.submit_all(requests).await
    }

    /// After commit: jobs, stamped with their lease tokens, to their queues and events to
    /// watchers, by the hand-off task (see `hand_off`), so the caller's answer does not wait
    /// for Redis.
    pub(crate) async fn hand_off(&self, mut jobs: Vec<Job>, events: Vec<WorkflowEvent>) {
        self.lease.stamp(&mut jobs);
        self.publisher.send(jobs, events).await;
    }
}
