pub mod events;
pub mod health;
pub mod instances;
pub mod ops;
pub mod templates;
pub mod tickets;
pub mod trigger_configs;
pub mod triggers;
