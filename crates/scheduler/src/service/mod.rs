//! The gRPC services.

mod caller;
mod search;
mod templates;
mod triggers;
mod worker;
mod workflow;

pub use triggers::TriggerApi;
pub use worker::WorkerApi;
pub use workflow::WorkflowApi;
