//! The gRPC services.

mod caller;
mod templates;
mod worker;
mod workflow;

pub use worker::WorkerApi;
pub use workflow::WorkflowApi;
