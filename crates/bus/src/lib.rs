//! Hand-off between the services: the job queue (scheduler to workers) behind [`JobQueue`] and
//! the event bus (scheduler to event subscribers) behind [`EventBus`], each with a
//! Redis-streams and an in-memory implementation. Holds no workflow state and links no
//! database driver, so that the gateway and the worker, which depend on this crate and not on
//! `store`, cannot reach Postgres.

// Outside tests a failure is an error returned, or an `expect` that says why it cannot happen
// (clippy.toml allows unwrap in tests); and `pub` means exported from the crate, so what a
// newcomer sees as public is the crate's API.
#![deny(clippy::unwrap_used)]
#![warn(unreachable_pub)]

mod connect;
mod error;
mod memory_bus;
mod memory_queue;
mod queue;
mod redis_bus;
mod redis_conn;
mod redis_queue;
mod stream_id;
mod subscription;

pub use connect::connect_bus;
pub use error::BusError;
pub use memory_bus::MemoryEventBus;
pub use memory_queue::MemoryQueue;
pub use queue::{Delivery, EventBus, EventStream, JobQueue, QueueStats, StoredEvent};
pub use redis_bus::RedisEventBus;
pub use redis_queue::RedisQueue;
