//! The gRPC services.

mod auth;
mod caller;
mod search;
mod templates;
mod triggers;
mod worker;
mod workflow;

pub use auth::GrpcAuth;
pub use triggers::TriggerApi;
pub use worker::WorkerApi;
pub use workflow::WorkflowApi;
