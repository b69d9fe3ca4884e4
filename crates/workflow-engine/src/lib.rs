//! The `workflow-engine` binary's library: configuration, telemetry, and the assembly of the
//! services: one of gateway, scheduler, worker per process in the distributed deployment, or
//! all three in one process (the embedded default, on SQLite and an in-memory queue unless
//! `DATABASE_URL` and `REDIS_URL` say otherwise). Integration tests build the same [`App`].

pub mod app;
pub mod config;
pub mod development;
pub mod telemetry;
pub mod token;

pub use app::{App, Mode};
pub use config::Settings;
