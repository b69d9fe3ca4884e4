//! The backend-independent half of `InstanceStore::transition`: runs the decisions against the locked
//! instances and folds what they return into one set of writes, so that Postgres and SQLite
//! apply exactly the same thing.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use model::{Instance, Job, StepExecution};
use uuid::Uuid;

use crate::instance_cache::Versioned;
use crate::{LoadedInstance, NewInstance, StoreError, TimerRecord, Transition, TransitionRequest};

/// Microsecond precision, what both databases keep: every time is cut to it before it is
/// written, so that a value reads back equal whichever backend stored it.
pub(crate) fn micros(at: DateTime<Utc>) -> DateTime<Utc> {
    let nanos = at.timestamp_subsec_nanos();
    at - chrono::Duration::nanoseconds(i64::from(nanos % 1_000))
}

pub(crate) fn micros_opt(at: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    at.map(micros)
}

/// One instance as the batch leaves it.
#[derive(Debug, Clone)]
pub(crate) struct InstanceWrite {
    pub loaded: LoadedInstance,
    /// The row's version when it was read; the write is guarded by it.
    pub version: i64,
    /// Created by this batch (a subflow child): inserted rather than updated.
    pub created: bool,
    pub changed: bool,
    /// The last decision left the instance waiting (`Transition::idle`).
    pub idle: bool,
}

/// An instance as a committed batch left it, for the instance cache.
#[derive(Debug)]
pub(crate) struct Committed {
    pub copy: Versioned,
    pub idle: bool,
}

/// Everything a batch writes, merged: later decisions override earlier ones, and a key is
/// either written or removed, never both (so one statement can apply the lot).
#[derive(Debug, Default)]
pub(crate) struct WriteSet {
    pub instances: BTreeMap<Uuid, InstanceWrite>,
    /// Step executions by id, with the tenant of their instance.
    pub executions: BTreeMap<Uuid, (String, StepExecution)>,
    /// Job rows by execution id: `Some` to write, `None` to remove.
    pub jobs: BTreeMap<Uuid, Option<Job>>,
    /// Timers by id with their tenant: `Some` to write, `None` to remove.
    pub timers: BTreeMap<Uuid, Option<(String, TimerRecord)>>,
    /// The earliest `Transition::job_lease_until` of the batch.
    pub job_lease_until: Option<DateTime<Utc>>,
}

impl WriteSet {
    pub(crate) fn updated_instances(&self) -> impl Iterator<Item = &InstanceWrite> {
        self.instances
            .values()
            .filter(|write| write.changed && !write.created)
    }

    /// Prepares a batch decided on cached copies for its version-guarded write: every instance
    /// read is written (an unchanged one as it was, with its version bumped), so the guard
    /// checks every decision, including one that changed nothing or only parked an input, and
    /// a stale copy makes the whole write do nothing. False when a decision failed: the batch
    /// then runs again on locked rows.
    pub(crate) fn guard_every_instance(&mut self, outcomes: &Outcomes) -> bool {
        if outcomes.iter().any(Result::is_err) {
            return false;
        }
        for write in self.instances.values_mut() {
            write.changed = true;
        }
        true
    }

    /// The instances as the committed batch left them, with their new versions.
    pub(crate) fn into_committed(self) -> impl Iterator<Item = Committed> {
        self.instances.into_values().map(|write| Committed {
            copy: Versioned {
                version: match (write.created, write.changed) {
                    (true, _) => 0,
                    (false, true) => write.version + 1,
                    (false, false) => write.version,
                },
                loaded: write.loaded,
            },
            idle: write.idle,
        })
    }

    pub(crate) fn created_instances(&self) -> impl Iterator<Item = &InstanceWrite> {
        self.instances.values().filter(|write| write.created)
    }

    pub(crate) fn job_writes(&self) -> impl Iterator<Item = &Job> {
        self.jobs.values().flatten()
    }

    pub(crate) fn job_removals(&self) -> Vec<Uuid> {
        self.jobs
            .iter()
            .filter(|(_, job)| job.is_none())
            .map(|(id, _)| *id)
            .collect()
    }

    pub(crate) fn timer_writes(&self) -> impl Iterator<Item = &(String, TimerRecord)> {
        self.timers.values().flatten()
    }

    pub(crate) fn timer_removals(&self) -> Vec<Uuid> {
        self.timers
            .iter()
            .filter(|(_, timer)| timer.is_none())
            .map(|(id, _)| *id)
            .collect()
    }

    /// Adds a new instance with the timers that come with it.
    pub(crate) fn add_new_instance(&mut self, new: &NewInstance) {
        let mut instance = new.instance.clone();
        truncate_instance(&mut instance);
        let tenant = instance.tenant.clone();
        self.instances.insert(
            instance.id,
            InstanceWrite {
                loaded: LoadedInstance {
                    instance,
                    state: new.state.clone(),
                },
                version: 0,
                created: true,
                changed: true,
                idle: false,
            },
        );
        for timer in &new.timers {
            self.timers
                .insert(timer.id, Some((tenant.clone(), truncate_timer(timer))));
        }
    }

    fn apply(&mut self, instance_id: Uuid, transition: &Transition) {
        let Some(write) = self.instances.get_mut(&instance_id) else {
            return;
        };
        let tenant = write.loaded.instance.tenant.clone();
        write.idle = transition.idle;
        if let Some(instance) = &transition.instance {
            let current = &mut write.loaded.instance;
            current.status = instance.status;
            current.variables = instance.variables.clone();
            current.output = instance.output.clone();
            current.error = instance.error.clone();
            current.started_at = micros_opt(instance.started_at);
            current.completed_at = micros_opt(instance.completed_at);
            current.updated_at = micros(instance.updated_at);
            write.changed = true;
        }
        if let Some(state) = &transition.state {
            write.loaded.state = state.clone();
            write.changed = true;
        }
        for execution in &transition.executions {
            let mut execution = execution.clone();
            execution.created_at = micros(execution.created_at);
            execution.started_at = micros_opt(execution.started_at);
            execution.completed_at = micros_opt(execution.completed_at);
            self.executions
                .insert(execution.id, (tenant.clone(), execution));
        }
        // Removals first: a transition that retires a job or timer and writes one under the same
        // id means the new one.
        for id in &transition.finished_jobs {
            self.jobs.insert(*id, None);
        }
        if let Some(lease) = transition.job_lease_until
            && self.job_lease_until.is_none_or(|current| lease < current)
        {
            self.job_lease_until = Some(lease);
        }
        for job in &transition.jobs {
            let mut job = job.clone();
            job.deadline = micros(job.deadline);
            self.jobs.insert(job.execution_id, Some(job));
        }
        for id in &transition.cleared_timers {
            self.timers.insert(*id, None);
        }
        for timer in &transition.timers {
            self.timers
                .insert(timer.id, Some((tenant.clone(), truncate_timer(timer))));
        }
        for new in &transition.new_instances {
            self.add_new_instance(new);
        }
    }
}

pub(crate) fn truncate_instance(instance: &mut Instance) {
    instance.created_at = micros(instance.created_at);
    instance.started_at = micros_opt(instance.started_at);
    instance.completed_at = micros_opt(instance.completed_at);
    instance.updated_at = micros(instance.updated_at);
}

fn truncate_timer(timer: &TimerRecord) -> TimerRecord {
    TimerRecord {
        due_at: micros(timer.due_at),
        ..timer.clone()
    }
}

pub(crate) type Outcomes = Vec<Result<Option<Transition>, StoreError>>;

/// The instance ids to lock, sorted and without duplicates.
pub(crate) fn lock_order(requests: &[TransitionRequest<'_>]) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = requests.iter().map(|request| request.instance_id).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Runs every decision, in instance id order (request order among requests for the same
/// instance, each seeing what the previous one decided), and returns the outcomes in request
/// order with the merged writes.
pub(crate) fn decide_all(
    requests: &mut [TransitionRequest<'_>],
    locked: Vec<Versioned>,
) -> (Outcomes, WriteSet) {
    let mut writes = WriteSet::default();
    for Versioned { loaded, version } in locked {
        writes.instances.insert(
            loaded.instance.id,
            InstanceWrite {
                loaded,
                version,
                created: false,
                changed: false,
                idle: false,
            },
        );
    }
    let mut order: Vec<usize> = (0..requests.len()).collect();
    order.sort_by_key(|&index| (requests[index].instance_id, index));

    let mut outcomes: HashMap<usize, Result<Option<Transition>, StoreError>> = HashMap::new();
    for index in order {
        let request = &mut requests[index];
        let outcome = match writes.instances.get(&request.instance_id) {
            None => Err(StoreError::NotFound { entity: "instance" }),
            Some(write) => (request.decide)(&write.loaded),
        };
        if let Ok(Some(transition)) = &outcome {
            writes.apply(request.instance_id, transition);
        }
        outcomes.insert(index, outcome);
    }
    let outcomes = (0..requests.len())
        .map(|index| {
            outcomes
                .remove(&index)
                .unwrap_or(Err(StoreError::NotFound { entity: "instance" }))
        })
        .collect();
    (outcomes, writes)
}

/// Whether a whole batch is worth one more try.
pub(crate) fn is_retryable(error: &StoreError) -> bool {
    let StoreError::Database(sqlx::Error::Database(db)) = error else {
        return false;
    };
    matches!(
        db.code().as_deref(),
        // serialization_failure, deadlock_detected; SQLITE_BUSY and SQLITE_LOCKED
        Some("40001" | "40P01" | "5" | "6" | "517")
    )
}

/// Page size: 0 means the default.
pub(crate) fn page_limit(limit: u32) -> i64 {
    if limit == 0 { 50 } else { i64::from(limit) }
}

/// A new job row's lease: the transition's lease when it gives one (the worker reports or
/// heartbeats before it ends, or the sweeper hands the job out again), never past its deadline.
pub(crate) fn initial_lease(job: &Job, lease_until: Option<DateTime<Utc>>) -> DateTime<Utc> {
    match lease_until {
        Some(lease) if lease < job.deadline => micros(lease),
        _ => micros(job.deadline),
    }
}
