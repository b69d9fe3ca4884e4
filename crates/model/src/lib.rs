//! The shared vocabulary of the engine: templates, instances, step executions, jobs, events and
//! the error codes every service answers with. Plain data only: no I/O, no behaviour beyond
//! conversions, so that every other crate can depend on it.

mod error;
mod event;
mod instance;
mod job;
mod status;
mod template;

pub use error::{ErrorCode, FieldError, StepError};
pub use event::{EventType, WorkflowEvent};
pub use instance::{Instance, StepExecution};
pub use job::{Job, JobOutcome, JobResult};
pub use status::{InstanceStatus, ParseStatusError, StepStatus};
pub use template::{Template, Warning};

/// The tenant every caller belongs to when its token names none.
pub const DEFAULT_TENANT: &str = "default";

/// The queue that built-in actions go to; custom actions go to the queue named after them.
pub const DEFAULT_QUEUE: &str = "default";

/// A new time-ordered id (UUID v7), the kind every entity carries.
pub fn new_id() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}
