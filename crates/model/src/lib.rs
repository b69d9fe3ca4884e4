//! The shared vocabulary of the engine: templates, instances, step executions, jobs, events and
//! the error codes every service answers with, and the built-in actions' config types
//! ([`actions`]) that the engine checks and the worker parses. Plain data only: no I/O, no
//! behaviour beyond conversions and checks of a value's shape, so that every other crate can
//! depend on it.

// Outside tests a failure is an error returned, or an `expect` that says why it cannot happen
// (clippy.toml allows unwrap in tests); and `pub` means exported from the crate, so what a
// newcomer sees as public is the crate's API.
#![deny(clippy::unwrap_used)]
#![warn(unreachable_pub)]

pub mod actions;
mod error;
mod event;
mod event_filter;
mod instance;
mod job;
mod role;
mod status;
mod template;
mod variable_filter;

pub use error::{ErrorCode, FieldError, StepError};
pub use event::{EventType, WorkflowEvent};
pub use event_filter::{EventFilter, UnknownEventType, parse_event_types};
pub use instance::{Instance, StepExecution};
pub use job::{Job, JobOutcome, JobResult};
pub use role::Role;
pub use status::{InstanceStatus, ParseStatusError, StepStatus};
pub use template::{Template, Warning};
pub use variable_filter::{SearchError, VariableFilter, check_variable_filters};

/// The tenant every caller belongs to when its token names none.
pub const DEFAULT_TENANT: &str = "default";

/// The queue that built-in actions go to, served by the platform's own workers for every
/// tenant; custom actions go to their tenant's queue named after them (see [`job_queue`]).
pub const DEFAULT_QUEUE: &str = "default";

/// The queue a job is kept in: [`DEFAULT_QUEUE`] as it is, a custom action's queue inside its
/// tenant (`acme/resize_image`), so that a job is never handed to another tenant's worker. `/`
/// appears in neither tenant nor action names.
pub fn job_queue(tenant: &str, queue: &str) -> String {
    if queue == DEFAULT_QUEUE {
        return queue.to_owned();
    }
    format!("{tenant}/{queue}")
}

/// A new time-ordered id (UUID v7), the kind every entity carries.
pub fn new_id() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}
