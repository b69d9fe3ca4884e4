//! Persistence: the only crate that talks SQL. Owns the repositories (instances with their step
//! executions, jobs, templates, timers, triggers), one trait per aggregate combined in [`Store`],
//! with a Postgres and a SQLite implementation, their migrations and retention. Knows nothing
//! of what a workflow means: engine state is an opaque JSON document here ([`StateDocument`]).
//! Handing jobs and events between services is the `bus` crate's; only the scheduler depends
//! on this one.

// Outside tests a failure is an error returned, or an `expect` that says why it cannot happen
// (clippy.toml allows unwrap in tests); and `pub` means exported from the crate, so what a
// newcomer sees as public is the crate's API.
#![deny(clippy::unwrap_used)]
#![warn(unreachable_pub)]

mod batch;
mod codec;
mod connect;
mod error;
mod instance_cache;
mod postgres;
mod retention;
mod rows;
mod search;
mod sqlite;
mod state_document;
mod store;
mod transition;
mod trigger;

pub use connect::{DEFAULT_SQLITE_URL, connect_store};
pub use error::StoreError;
pub use postgres::PostgresStore;
pub use retention::Purged;
pub use sqlite::SqliteStore;
pub use state_document::StateDocument;
pub use store::{
    Decide, IdempotencyKey, InstanceFilter, InstanceStore, JobStore, LoadedInstance, NewInstance,
    Page, SlotHolders, Store, TemplateFilter, TemplateStore, TimerRecord, TimerStore, Transition,
    TransitionRequest, TriggerStore,
};
pub use trigger::{SCHEDULE, ScheduleFiring, TriggerFilter, TriggerRecord, WEBHOOK};
