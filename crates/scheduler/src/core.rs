//! Carrying out decisions: feeds inputs to instances through the engine, inside the storage
//! transaction that locks each instance, and afterwards hands the jobs to the queue, the events
//! to the bus and the timers that are already due to [`Core::fire_timers`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bus::{EventBus, JobQueue};
use chrono::{DateTime, Utc};
use engine::{Command, Context, Decision, Input, InstanceState};
use model::{ErrorCode, Instance, Job, WorkflowEvent};
use store::{
    LoadedInstance, NewInstance, StateDocument, Store, StoreError, TimerRecord, Transition,
    TransitionRequest,
};
use tokio::sync::Notify;
use uuid::Uuid;

/// Where inputs wait for a concurrency slot: timers due at this fixed, far-away time, released
/// oldest first (their ids are time-ordered) when a slot frees.
pub fn parked_at() -> DateTime<Utc> {
    DateTime::from_timestamp(220_898_995_200, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Whether a batch checks `MAX_CONCURRENT_WORKFLOWS` and `TENANT_MAX_CONCURRENT_WORKFLOWS`. Worker results never need to: an
/// instance with a job in flight already holds its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Checked,
    Unchecked,
}

use crate::cache::DefinitionCache;
use crate::committer::AdmittingCommitter;
use crate::hand_off::HandOff;
use crate::lease::LeaseSigner;
use crate::outbox::Outbox;
use crate::{SchedulerError, SchedulerSettings};

/// One input for one instance.
#[derive(Debug, Clone)]
pub struct Request {
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
    pub fn api(instance_id: Uuid, input: Input, tenant: &str) -> Self {
        Self {
            instance_id,
            input,
            tenant: Some(tenant.to_owned()),
            fired_timer: None,
            tolerate_rejection: false,
            eager_queue: None,
        }
    }

    pub fn internal(instance_id: Uuid, input: Input) -> Self {
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
pub struct Applied {
    pub instance: Instance,
    /// False when the engine found nothing to do (a stale result, a duplicate).
    pub accepted: bool,
    /// The job handed to the reporting worker in its answer (eager dispatch), stamped.
    pub next_job: Option<Job>,
}

pub struct Core {
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

/// What one instance's decision closure found, read after the transaction.
#[derive(Default)]
struct GroupOutcome {
    results: Vec<Option<Result<bool, SchedulerError>>>,
    instance: Option<Instance>,
    missing_definition: Option<(String, Uuid, i32)>,
    /// Slots this instance gave back (it had a job in flight and now has none).
    released: u32,
    /// Slots this instance's decisions took from the batch's allowance: given back when the
    /// decision runs again (storage may call it twice), so that a rerun does not count twice.
    taken: u32,
}

/// Slots a checked batch may still hand out; `None` when the batch is unchecked.
type FreeSlots = Option<Arc<Mutex<Allowance>>>;

/// A checked batch's slots: how many are free in all, and how many each tenant holds (counting
/// those the batch took) against the per-tenant cap.
#[derive(Debug)]
struct Allowance {
    free: u64,
    tenant_cap: u64,
    held: HashMap<String, u64>,
}

impl Core {
    /// Parsed definition of a template version, from the cache or the database.
    pub async fn definition(
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
    pub async fn apply(
        self: &Arc<Self>,
        requests: Vec<Request>,
    ) -> Vec<Result<Applied, SchedulerError>> {
        self.admitting.submit_all(requests).await
    }

    pub async fn apply_with(
        self: &Arc<Self>,
        requests: Vec<Request>,
        admission: Admission,
    ) -> Vec<Result<Applied, SchedulerError>> {
        let _admitting = match admission {
            Admission::Checked => Some(self.admission.lock().await),
            Admission::Unchecked => None,
        };
        let mut results = self.apply_once(&requests, admission).await;
        // A definition missing from the cache is loaded and the affected requests run again.
        let retry: Vec<usize> = results
            .iter()
            .enumerate()
            .filter_map(|(index, result)| {
                matches!(result, Attempt::MissingDefinition(..)).then_some(index)
            })
            .collect();
        for index in &retry {
            if let Attempt::MissingDefinition(tenant, template_id, version) = &results[*index]
                && let Err(error) = self.definition(tenant, *template_id, *version).await
            {
                results[*index] = Attempt::Done(Err(error));
            }
        }
        let again: Vec<Request> = retry
            .iter()
            .filter(|index| matches!(results[**index], Attempt::MissingDefinition(..)))
            .map(|index| requests[*index].clone())
            .collect();
        if !again.is_empty() {
            let mut second = self.apply_once(&again, admission).await.into_iter();
            for index in &retry {
                if matches!(results[*index], Attempt::MissingDefinition(..)) {
                    results[*index] = second
                        .next()
                        .unwrap_or(Attempt::Done(Err(SchedulerError::NotFound("template"))));
                }
            }
        }
        results
            .into_iter()
            .map(|attempt| match attempt {
                Attempt::Done(result) => result,
                Attempt::MissingDefinition(..) => Err(SchedulerError::NotFound("template")),
            })
            .collect()
    }

    async fn free_slots(&self, admission: Admission) -> Result<FreeSlots, StoreError> {
        if admission == Admission::Unchecked {
            return Ok(None);
        }
        let holders = self.store.slot_holders().await?;
        let cap = u64::from(self.settings.max_concurrent_workflows);
        Ok(Some(Arc::new(Mutex::new(Allowance {
            free: cap.saturating_sub(holders.total()),
            tenant_cap: u64::from(self.settings.tenant_max_concurrent_workflows),
            held: holders.by_tenant,
        }))))
    }

    async fn apply_once(
        self: &Arc<Self>,
        requests: &[Request],
        admission: Admission,
    ) -> Vec<Attempt> {
        let now = Utc::now();
        let free = match self.free_slots(admission).await {
            Ok(free) => free,
            Err(error) => {
                let code = error.code();
                let message = error.to_string();
                return requests
                    .iter()
                    .map(|_| {
                        Attempt::Done(Err(SchedulerError::Storage(StoreError::Rejected {
                            code,
                            message: message.clone(),
                        })))
                    })
                    .collect();
            }
        };
        let mut groups: Vec<(Uuid, Vec<usize>)> = Vec::new();
        let mut group_of: HashMap<Uuid, usize> = HashMap::new();
        for (index, request) in requests.iter().enumerate() {
            let group = *group_of.entry(request.instance_id).or_insert_with(|| {
                groups.push((request.instance_id, Vec::new()));
                groups.len() - 1
            });
            groups[group].1.push(index);
        }

        let mut outcomes = Vec::with_capacity(groups.len());
        let mut transition_requests = Vec::with_capacity(groups.len());
        for (instance_id, members) in &groups {
            let outcome = Arc::new(Mutex::new(GroupOutcome::default()));
            let inputs: Vec<Request> = members.iter().map(|i| requests[*i].clone()).collect();
            let decide = self.decide_closure(inputs, now, outcome.clone(), free.clone());
            outcomes.push(outcome);
            transition_requests.push(TransitionRequest {
                instance_id: *instance_id,
                decide,
            });
        }

        let mut attempts: Vec<Option<Attempt>> = (0..requests.len()).map(|_| None).collect();
        let written = match self.store.transition(transition_requests).await {
            Ok(written) => written,
            Err(error) => {
                let code = error.code();
                let message = error.to_string();
                return requests
                    .iter()
                    .map(|_| {
                        Attempt::Done(Err(SchedulerError::Storage(StoreError::Rejected {
                            code,
                            message: message.clone(),
                        })))
                    })
                    .collect();
            }
        };

        let mut jobs: Vec<Job> = Vec::new();
        let mut events: Vec<WorkflowEvent> = Vec::new();
        let mut due_timers: Vec<TimerRecord> = Vec::new();
        let mut earliest_later_timer: Option<DateTime<Utc>> = None;
        let mut released: u32 = 0;
        let mut eager: Vec<Option<Job>> = (0..requests.len()).map(|_| None).collect();
        for (((_, members), outcome), result) in groups.iter().zip(&outcomes).zip(written) {
            let mut outcome = outcome.lock().unwrap_or_else(|e| e.into_inner());
            match result {
                Err(error) => {
                    let message = error.to_string();
                    let code = error.code();
                    for index in members {
                        let error = match code {
                            ErrorCode::NotFound => SchedulerError::NotFound("instance"),
                            _ => SchedulerError::Storage(StoreError::Rejected {
                                code,
                                message: message.clone(),
                            }),
                        };
                        attempts[*index] = Some(Attempt::Done(Err(error)));
                    }
                    continue;
                }
                Ok(Some(mut transition)) => {
                    crate::metrics::record_finished(&transition);
                    for job in &transition.jobs {
                        if job.timeout_timer.is_some()
                            && earliest_later_timer.is_none_or(|at| job.deadline < at)
                        {
                            earliest_later_timer = Some(job.deadline);
                        }
                    }
                    self.take_eager(requests, members, &mut transition.jobs, &mut eager);
                    jobs.extend(transition.jobs);
                    events.extend(transition.events);
                    for new_instance in transition.new_instances {
                        due_timers.extend(new_instance.timers);
                    }
                    for timer in transition.timers {
                        if timer.due_at == parked_at() {
                            continue;
                        }
                        if timer.due_at <= now {
                            due_timers.push(timer);
                        } else if earliest_later_timer.is_none_or(|at| timer.due_at < at) {
                            earliest_later_timer = Some(timer.due_at);
                        }
                    }
                }
                Ok(None) => {}
            }
            released += outcome.released;
            if let Some((tenant, template_id, version)) = outcome.missing_definition.take() {
                for index in members {
                    attempts[*index] = Some(Attempt::MissingDefinition(
                        tenant.clone(),
                        template_id,
                        version,
                    ));
                }
                continue;
            }
            let instance = outcome.instance.clone();
            for (position, index) in members.iter().enumerate() {
                let result = match outcome.results.get_mut(position).and_then(Option::take) {
                    Some(Ok(accepted)) => match &instance {
                        Some(instance) => Ok(Applied {
                            instance: instance.clone(),
                            accepted,
                            next_job: eager[*index].take(),
                        }),
                        None => Err(SchedulerError::NotFound("instance")),
                    },
                    Some(Err(error)) => Err(error),
                    None => Err(SchedulerError::NotFound("instance")),
                };
                attempts[*index] = Some(Attempt::Done(result));
            }
        }

        self.hand_off(jobs, events).await;
        if released > 0 {
            let core = self.clone();
            tokio::spawn(async move { core.release_slots(released).await });
        }
        if let Some(at) = earliest_later_timer {
            self.wake_sweeper_by(at);
        }
        if !due_timers.is_empty() {
            let core = self.clone();
            tokio::spawn(async move { core.fire_timers(due_timers).await });
        }
        attempts
            .into_iter()
            .map(|attempt| {
                attempt.unwrap_or(Attempt::Done(Err(SchedulerError::NotFound("instance"))))
            })
            .collect()
    }

    /// Eager dispatch (as Temporal's eager activities): the first job a worker's result makes
    /// on the queue that worker asked for goes back in its answer instead of through the queue.
    /// The job's row and lease were written with the decision, so a worker that dies with it
    /// loses nothing: the sweeper hands it out again when the lease runs out.
    fn take_eager(
        &self,
        requests: &[Request],
        members: &[usize],
        jobs: &mut Vec<Job>,
        eager: &mut [Option<Job>],
    ) {
        let Some((member, queue)) = members
            .iter()
            .find_map(|index| Some((*index, requests[*index].eager_queue.as_deref()?)))
        else {
            return;
        };
        let Some(position) = jobs.iter().position(|job| job.queue == queue) else {
            return;
        };
        let mut job = jobs.remove(position);
        self.lease.stamp(std::slice::from_mut(&mut job));
        metrics::counter!("workflow_eager_dispatches_total").increment(1);
        eager[member] = Some(job);
    }

    /// After commit: jobs, stamped with their lease tokens, to their queues and events to
    /// watchers, by the hand-off task (see `hand_off`), so the caller's answer does not wait
    /// for Redis.
    pub async fn hand_off(&self, mut jobs: Vec<Job>, events: Vec<WorkflowEvent>) {
        self.lease.stamp(&mut jobs);
        self.publisher.send(jobs, events).await;
    }

    /// Lets the oldest inputs that waited for a slot go on, skipping those of tenants at their
    /// cap (an input released anyway, by a race, is parked again under its own id).
    pub async fn release_slots(self: Arc<Self>, slots: u32) {
        match self
            .store
            .release_parked(parked_at(), Utc::now(), slots, self.binding_tenant_cap())
            .await
        {
            Ok(timers) if !timers.is_empty() => self.fire_timers(timers).await,
            Ok(_) => {}
            Err(error) => tracing::warn!(error = %error, "cannot release parked inputs"),
        }
    }

    /// The per-tenant cap when it is below the global one; otherwise no tenant can reach it
    /// before the whole engine does, and releasing needs no per-tenant count.
    fn binding_tenant_cap(&self) -> Option<u32> {
        let settings = &self.settings;
        (settings.tenant_max_concurrent_workflows < settings.max_concurrent_workflows)
            .then_some(settings.tenant_max_concurrent_workflows)
    }

    fn wake_sweeper_by(&self, at: DateTime<Utc>) {
        let next = *self
            .sweeper_next_wake
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if next.is_none_or(|next| at < next) {
            self.sweeper_wake.notify_one();
        }
    }

    fn decide_closure(
        self: &Arc<Self>,
        inputs: Vec<Request>,
        now: DateTime<Utc>,
        outcome: Arc<Mutex<GroupOutcome>>,
        free: FreeSlots,
    ) -> store::Decide {
        let definitions = self.definitions.clone();
        let settings = self.settings.engine.clone();
        let lease = chrono::Duration::from_std(self.settings.job_lease)
            .unwrap_or(chrono::Duration::seconds(30));
        let seed: u64 = rand::random();
        Box::new(move |loaded: &LoadedInstance| {
            let mut outcome = outcome.lock().unwrap_or_else(|e| e.into_inner());
            give_back(free.as_ref(), &loaded.instance.tenant, outcome.taken);
            *outcome = GroupOutcome::default();
            outcome.results = inputs.iter().map(|_| None).collect();
            outcome.instance = Some(loaded.instance.clone());

            let instance = &loaded.instance;
            let definition = match definitions.get(instance.template_id, instance.template_version)
            {
                Some(definition) => definition,
                None => {
                    outcome.missing_definition = Some((
                        instance.tenant.clone(),
                        instance.template_id,
                        instance.template_version,
                    ));
                    return Ok(None);
                }
            };
            // Joins the trace the instance started in; disabled (free) without an exporter.
            let span = tracing::info_span!(
                target: proto::trace::SPAN_TARGET,
                "decide",
                instance_id = %instance.id,
                input = inputs.first().map(|request| request.input.kind()),
                batch_size = inputs.len(),
            );
            proto::trace::follow(&span, instance.traceparent.as_deref());
            let _decision = span.enter();
            let mut state: InstanceState = loaded.state.decode()?;

            let mut transition = Transition {
                job_lease_until: Some(now + lease),
                ..Transition::default()
            };
            let mut changed = false;
            for (position, request) in inputs.iter().enumerate() {
                if let Some(timer) = request.fired_timer {
                    transition.cleared_timers.push(timer);
                }
                if request
                    .tenant
                    .as_deref()
                    .is_some_and(|tenant| tenant != instance.tenant)
                {
                    outcome.results[position] = Some(Err(SchedulerError::NotFound("instance")));
                    continue;
                }
                let context = Context {
                    now,
                    seed: seed.wrapping_add(position as u64),
                };
                let held = state.holds_slot();
                match engine::decide(&definition, &state, &request.input, &context, &settings) {
                    Ok(Some(Decision {
                        state: next,
                        commands,
                    })) => {
                        let takes_slot = !held && next.holds_slot();
                        if takes_slot && !take_slot(free.as_ref(), &instance.tenant) {
                            // No slot: the input waits, unapplied, for one to free up.
                            transition.timers.push(TimerRecord {
                                id: request.fired_timer.unwrap_or_else(model::new_id),
                                instance_id: instance.id,
                                due_at: parked_at(),
                                payload: Outbox::Input {
                                    input: request.input.clone(),
                                }
                                .to_json(),
                            });
                            outcome.results[position] = Some(Ok(false));
                            continue;
                        }
                        if takes_slot {
                            outcome.taken += 1;
                        }
                        if held && !next.holds_slot() {
                            outcome.released += 1;
                        }
                        carry_out(commands, &next, now, &mut transition);
                        state = next;
                        changed = true;
                        outcome.results[position] = Some(Ok(true));
                    }
                    Ok(None) => outcome.results[position] = Some(Ok(false)),
                    Err(rejection) if request.tolerate_rejection => {
                        tracing::debug!(instance_id = %instance.id, reason = %rejection, "input refused");
                        outcome.results[position] = Some(Ok(false));
                    }
                    Err(rejection) => {
                        outcome.results[position] =
                            Some(Err(SchedulerError::Conflict(rejection.to_string())));
                    }
                }
            }
            transition.idle = !state.holds_slot();
            if !changed {
                if transition.cleared_timers.is_empty() && transition.timers.is_empty() {
                    return Ok(None);
                }
                return Ok(Some(transition));
            }
            if let Some(traceparent) = proto::trace::traceparent(&span) {
                for job in &mut transition.jobs {
                    job.traceparent = Some(traceparent.clone());
                }
            }
            let row = instance_row(instance, &state, now);
            outcome.instance = Some(row.clone());
            transition.instance = Some(row);
            transition.state = Some(StateDocument::encode(&state)?);
            Ok(Some(transition))
        })
    }
}

/// Takes a slot for a tenant's instance from a checked batch's allowance, when one is free in
/// all and the tenant is under its cap; an unchecked batch always may.
fn take_slot(free: Option<&Arc<Mutex<Allowance>>>, tenant: &str) -> bool {
    let Some(free) = free else {
        return true;
    };
    let mut allowance = free.lock().unwrap_or_else(|e| e.into_inner());
    let held = allowance.held.get(tenant).copied().unwrap_or(0);
    if allowance.free == 0 || held >= allowance.tenant_cap {
        return false;
    }
    allowance.free -= 1;
    allowance.held.insert(tenant.to_owned(), held + 1);
    true
}

/// Returns slots a decision took for a tenant's instance to a checked batch's allowance.
fn give_back(free: Option<&Arc<Mutex<Allowance>>>, tenant: &str, slots: u32) {
    if let Some(free) = free
        && slots > 0
    {
        let mut allowance = free.lock().unwrap_or_else(|e| e.into_inner());
        allowance.free += u64::from(slots);
        if let Some(held) = allowance.held.get_mut(tenant) {
            *held = held.saturating_sub(u64::from(slots));
        }
    }
}

// One short-lived value per request: boxing would cost an allocation for nothing.
#[allow(clippy::large_enum_variant)]
enum Attempt {
    Done(Result<Applied, SchedulerError>),
    MissingDefinition(String, Uuid, i32),
}

/// The instance row as the state says it is.
pub fn instance_row(previous: &Instance, state: &InstanceState, now: DateTime<Utc>) -> Instance {
    Instance {
        status: state.status(),
        variables: state.variables().clone(),
        output: state.output().cloned(),
        error: state.error().cloned(),
        started_at: state.started_at(),
        completed_at: state.completed_at(),
        updated_at: now,
        ..previous.clone()
    }
}

/// A new instance's row, from its initial state.
pub fn new_instance_row(state: &InstanceState) -> Instance {
    let meta = state.meta();
    Instance {
        id: meta.id,
        tenant: meta.tenant.clone(),
        template_id: meta.template_id,
        template_version: meta.template_version,
        status: state.status(),
        variables: state.variables().clone(),
        output: state.output().cloned(),
        error: state.error().cloned(),
        parent_instance_id: meta.parent_instance_id,
        created_at: state.created_at(),
        started_at: state.started_at(),
        completed_at: state.completed_at(),
        updated_at: state.created_at(),
        traceparent: None,
    }
}

/// Translates the engine's commands into what the transaction writes.
fn carry_out(
    commands: Vec<Command>,
    state: &InstanceState,
    now: DateTime<Utc>,
    transition: &mut Transition,
) {
    let instance_id = state.meta().id;
    for command in commands {
        match command {
            Command::SaveExecution(mut execution) => {
                execution.instance_id = instance_id;
                match transition
                    .executions
                    .iter_mut()
                    .find(|e| e.id == execution.id)
                {
                    Some(existing) => *existing = execution,
                    None => transition.executions.push(execution),
                }
            }
            Command::Dispatch(job) => transition.jobs.push(job),
            Command::FinishJob { execution_id } | Command::CancelJob { execution_id, .. } => {
                transition
                    .jobs
                    .retain(|job| job.execution_id != execution_id);
                transition.finished_jobs.push(execution_id);
            }
            Command::SetTimer { id, due_at } => transition.timers.push(TimerRecord {
                id,
                instance_id,
                due_at,
                payload: Outbox::Input {
                    input: Input::Timer { timer_id: id },
                }
                .to_json(),
            }),
            Command::ClearTimer { id } => {
                transition.timers.retain(|timer| timer.id != id);
                transition.cleared_timers.push(id);
            }
            Command::SpawnChild {
                execution_id,
                child_instance_id,
                subflow,
                version,
                variables,
                depth,
            } => transition.timers.push(TimerRecord {
                id: model::new_id(),
                instance_id,
                due_at: now,
                payload: Outbox::SpawnChild {
                    tenant: state.meta().tenant.clone(),
                    execution_id,
                    child_instance_id,
                    subflow,
                    version,
                    variables,
                    depth,
                }
                .to_json(),
            }),
            Command::CancelChild { child_instance_id } => transition.timers.push(TimerRecord {
                id: model::new_id(),
                instance_id: child_instance_id,
                due_at: now,
                payload: Outbox::Input {
                    input: Input::Cancel,
                }
                .to_json(),
            }),
            Command::NotifyParent {
                parent_instance_id,
                execution_id,
                outcome,
            } => transition.timers.push(TimerRecord {
                id: model::new_id(),
                instance_id: parent_instance_id,
                due_at: now,
                payload: Outbox::Input {
                    input: Input::ChildFinished {
                        execution_id,
                        child_instance_id: instance_id,
                        outcome,
                    },
                }
                .to_json(),
            }),
            Command::Emit(event) => transition.events.push(event),
        }
    }
    // A job's timeout timer rides on the job's row (its deadline), the sweeper fires it from
    // there: no timer row per step.
    let jobs = &transition.jobs;
    transition
        .timers
        .retain(|timer| !jobs.iter().any(|job| job.timeout_timer == Some(timer.id)));
}

/// A child instance with its start timer, for a subflow step.
pub fn child_instance(state: InstanceState, now: DateTime<Utc>) -> Result<NewInstance, StoreError> {
    let instance = new_instance_row(&state);
    let start = TimerRecord {
        id: model::new_id(),
        instance_id: instance.id,
        due_at: now,
        payload: Outbox::Input {
            input: Input::Start,
        }
        .to_json(),
    };
    Ok(NewInstance {
        instance,
        state: StateDocument::encode(&state)?,
        timers: vec![start],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jobs_timeout_rides_on_its_row_not_on_a_timer_row() {
        let now = Utc::now();
        let meta = engine::InstanceMeta {
            id: model::new_id(),
            tenant: "t1".to_owned(),
            template_id: model::new_id(),
            template_version: 1,
            parent_instance_id: None,
            parent_execution_id: None,
            depth: 0,
        };
        let state = InstanceState::new(meta, serde_json::json!({}), now);
        let timeout = model::new_id();
        let sleep = model::new_id();
        let deadline = now + chrono::Duration::seconds(30);
        let job = Job {
            execution_id: model::new_id(),
            attempt: 1,
            instance_id: state.meta().id,
            tenant: "t1".to_owned(),
            step_id: "a".to_owned(),
            branch: None,
            queue: model::DEFAULT_QUEUE.to_owned(),
            action: "noop".to_owned(),
            input: serde_json::json!({}),
            deadline,
            traceparent: None,
            lease_token: String::new(),
            timeout_timer: Some(timeout),
        };
        let commands = vec![
            Command::SetTimer {
                id: timeout,
                due_at: deadline,
            },
            Command::SetTimer {
                id: sleep,
                due_at: deadline,
            },
            Command::Dispatch(job.clone()),
        ];
        let mut transition = Transition::default();
        carry_out(commands, &state, now, &mut transition);
        let timers: Vec<Uuid> = transition.timers.iter().map(|timer| timer.id).collect();
        assert_eq!(timers, vec![sleep]);
        assert_eq!(transition.jobs, vec![job]);
    }
}
