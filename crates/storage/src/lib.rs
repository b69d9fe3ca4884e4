//! Persistence and hand-off. Owns the repositories (templates, instances, step executions,
//! jobs, timers, triggers) behind the [`Store`] trait with a Postgres and a SQLite
//! implementation, and the job queue and event bus behind [`JobQueue`] and [`EventBus`] with a
//! Redis-streams and an in-memory implementation. Knows nothing of what a workflow means: engine
//! state is an opaque JSON document here ([`StateDocument`]).

mod batch;
mod codec;
mod connect;
mod error;
mod instance_cache;
mod memory_bus;
mod memory_queue;
mod postgres;
mod queue;
mod redis_bus;
mod redis_conn;
mod redis_queue;
mod retention;
mod search;
mod sqlite;
mod state_document;
mod store;
mod stream_id;
mod subscription;
mod trigger;

pub use connect::{DEFAULT_SQLITE_URL, connect_bus, connect_store};
pub use error::StorageError;
pub use memory_bus::MemoryEventBus;
pub use memory_queue::MemoryQueue;
pub use postgres::PostgresStore;
pub use queue::{Delivery, EventBus, EventStream, JobQueue, QueueStats, StoredEvent};
pub use redis_bus::RedisEventBus;
pub use redis_queue::RedisQueue;
pub use retention::Purged;
pub use search::{SearchError, VariableFilter, check_disjoint as check_variable_filters};
pub use sqlite::SqliteStore;
pub use state_document::StateDocument;
pub use store::{
    Decide, IdempotencyKey, InstanceFilter, LoadedInstance, NewInstance, Page, SlotHolders, Store,
    TemplateFilter, TimerRecord, Transition, TransitionRequest,
};
pub use trigger::{SCHEDULE, ScheduleFiring, TriggerFilter, TriggerRecord, WEBHOOK};
