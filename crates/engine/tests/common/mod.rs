//! A tiny in-memory scheduler for driving the engine in tests: it carries out commands the way
//! the real scheduler does (job rows, timers, execution rows), without a database.
#![allow(dead_code)]

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use engine::{
    Command, Context, Decision, Definition, Input, InstanceMeta, InstanceState, Rejection, Settings,
};
use model::{InstanceStatus, Job, JobOutcome, StepExecution, StepStatus, WorkflowEvent};
use serde_json::Value;
use uuid::Uuid;

pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .to_utc()
}

pub fn meta() -> InstanceMeta {
    InstanceMeta {
        id: Uuid::from_u128(1),
        tenant: "acme".into(),
        template_id: Uuid::from_u128(2),
        template_version: 1,
        parent_instance_id: None,
        parent_execution_id: None,
        depth: 0,
    }
}

pub fn definition(json: Value) -> Definition {
    match engine::validate(&json) {
        Ok(v) => v.definition,
        Err(e) => panic!("definition invalid: {e:?}"),
    }
}

pub struct Sim {
    pub def: Definition,
    pub state: InstanceState,
    pub now: DateTime<Utc>,
    pub seed: u64,
    pub settings: Settings,
    /// Job rows: written by Dispatch, removed by FinishJob / CancelJob.
    pub jobs: Vec<Job>,
    /// Every job ever dispatched, in order.
    pub dispatched: Vec<Job>,
    pub timers: BTreeMap<Uuid, DateTime<Utc>>,
    pub rows: BTreeMap<Uuid, StepExecution>,
    pub row_order: Vec<Uuid>,
    pub events: Vec<WorkflowEvent>,
    pub commands: Vec<Command>,
    /// Child instances running for subflow steps: (execution id, child id).
    pub children: Vec<(Uuid, Uuid)>,
}

impl Sim {
    pub fn new(def: Value, variables: Value) -> Self {
        Self {
            def: definition(def),
            state: InstanceState::new(meta(), variables, t0()),
            now: t0(),
            seed: 1,
            settings: Settings::default(),
            jobs: Vec::new(),
            dispatched: Vec::new(),
            timers: BTreeMap::new(),
            rows: BTreeMap::new(),
            row_order: Vec::new(),
            events: Vec::new(),
            commands: Vec::new(),
            children: Vec::new(),
        }
    }

    pub fn with_meta(mut self, meta: InstanceMeta) -> Self {
        self.state = InstanceState::new(meta, self.state.variables().clone(), t0());
        self
    }

    pub fn status(&self) -> InstanceStatus {
        self.state.status()
    }

    /// Feeds one input; `Ok(false)` for a no-op.
    pub fn input(&mut self, input: Input) -> Result<bool, Rejection> {
        self.seed = self
            .seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let ctx = Context {
            now: self.now,
            seed: self.seed,
        };
        let decision = engine::decide(&self.def, &self.state, &input, &ctx, &self.settings)?;
        let Some(Decision { state, commands }) = decision else {
            return Ok(false);
        };
        // The state must survive the database round trip.
        let text = serde_json::to_string(&state).unwrap();
        self.state = serde_json::from_str(&text).unwrap();
        assert_eq!(self.state, state);
        for command in commands {
            self.apply(&command);
            self.commands.push(command);
        }
        Ok(true)
    }

    fn apply(&mut self, command: &Command) {
        match command {
            Command::SaveExecution(row) => {
                if !self.rows.contains_key(&row.id) {
                    self.row_order.push(row.id);
                }
                self.rows.insert(row.id, row.clone());
            }
            Command::Dispatch(job) => {
                assert!(
                    !self.jobs.iter().any(|j| j.execution_id == job.execution_id),
                    "two job rows with one execution id"
                );
                self.jobs.push(job.clone());
                self.dispatched.push(job.clone());
            }
            Command::FinishJob { execution_id } | Command::CancelJob { execution_id, .. } => {
                self.jobs.retain(|j| j.execution_id != *execution_id);
            }
            Command::SetTimer { id, due_at } => {
                self.timers.insert(*id, *due_at);
            }
            Command::ClearTimer { id } => {
                self.timers.remove(id);
            }
            Command::Emit(event) => self.events.push(event.clone()),
            Command::SpawnChild {
                execution_id,
                child_instance_id,
                ..
            } => {
                self.children.push((*execution_id, *child_instance_id));
            }
            Command::CancelChild { child_instance_id } => {
                self.children.retain(|(_, c)| c != child_instance_id);
            }
            Command::NotifyParent { .. } => {}
        }
    }

    pub fn start(&mut self) {
        assert!(self.input(Input::Start).unwrap());
    }

    /// Delivers a result for the oldest job row.
    pub fn finish_next(&mut self, outcome: impl FnOnce(&Job) -> JobOutcome) -> Option<Job> {
        let job = self.jobs.first().cloned()?;
        let outcome = outcome(&job);
        self.input(Input::JobFinished {
            started_at: None,
            execution_id: job.execution_id,
            attempt: job.attempt,
            branch: job.branch,
            outcome,
        })
        .unwrap();
        Some(job)
    }

    /// Completes every job (with `{}` or what `f` says) and fires timers until the instance
    /// has nothing left to do.
    pub fn run(&mut self, mut f: impl FnMut(&Job) -> JobOutcome) {
        for _ in 0..10_000 {
            if let Some(job) = self.jobs.first().cloned() {
                let outcome = f(&job);
                self.input(Input::JobFinished {
                    started_at: None,
                    execution_id: job.execution_id,
                    attempt: job.attempt,
                    branch: job.branch,
                    outcome,
                })
                .unwrap();
                continue;
            }
            if !self.fire_next_timer() {
                return;
            }
        }
        panic!("instance did not settle");
    }

    /// Moves the clock to the next timer and fires it.
    pub fn fire_next_timer(&mut self) -> bool {
        let Some((&id, &due)) = self.timers.iter().min_by_key(|(_, due)| **due) else {
            return false;
        };
        if due > self.now {
            self.now = due;
        }
        self.timers.remove(&id);
        self.input(Input::Timer { timer_id: id }).unwrap();
        true
    }

    pub fn advance(&mut self, secs: i64) {
        self.now += Duration::seconds(secs);
    }

    /// Step ids of the rows, in creation order, with their final status.
    pub fn steps(&self) -> Vec<(String, StepStatus)> {
        self.row_order
            .iter()
            .map(|id| (self.rows[id].step_id.clone(), self.rows[id].status))
            .collect()
    }

    pub fn completed_steps(&self) -> Vec<String> {
        self.row_order
            .iter()
            .filter(|id| self.rows[id].status == StepStatus::Completed)
            .map(|id| self.rows[id].step_id.clone())
            .collect()
    }

    pub fn event_types(&self) -> Vec<&'static str> {
        self.events.iter().map(|e| e.event_type.as_str()).collect()
    }
}

pub fn ok(_: &Job) -> JobOutcome {
    JobOutcome::Completed(serde_json::json!({}))
}
