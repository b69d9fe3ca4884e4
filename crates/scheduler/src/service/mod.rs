//! The gRPC services.

mod auth;
mod caller;
mod events;
mod search;
mod templates;
mod triggers;
mod worker;
mod workflow;

pub use auth::GrpcAuth;
pub use events::EventApi;
pub use triggers::TriggerApi;
pub use worker::WorkerApi;
pub use workflow::WorkflowApi;
