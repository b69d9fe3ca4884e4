//! Persistence and hand-off. Owns the repositories (templates, instances, step executions,
//! jobs, timers, triggers) behind the [`Store`] trait with a Postgres and a SQLite
//! implementation, and the job queue and event bus behind [`JobQueue`] and [`EventBus`] with a
//! Redis-streams and an in-memory implementation. Knows nothing of what a workflow means: engine
//! state is an opaque JSON document here.

mod error;
mod queue;
mod store;

pub use error::StorageError;
pub use queue::{Delivery, EventBus, EventStream, JobQueue, StoredEvent};
pub use store::{
    Decide, IdempotencyKey, InstanceFilter, LoadedInstance, NewInstance, Page, Store,
    TemplateFilter, TimerRecord, Transition, TransitionRequest,
};
