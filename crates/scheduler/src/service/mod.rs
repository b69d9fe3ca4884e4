//! The gRPC services.

mod auth;
mod caller;
mod events;
mod search;
mod templates;
mod triggers;
mod worker;
mod workflow;

pub(crate) use auth::GrpcAuth;
pub(crate) use events::EventApi;
pub(crate) use triggers::TriggerApi;
pub(crate) use worker::WorkerApi;
pub(crate) use workflow::WorkflowApi;
