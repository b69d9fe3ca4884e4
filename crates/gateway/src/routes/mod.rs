pub(crate) mod events;
pub(crate) mod health;
pub(crate) mod instances;
pub(crate) mod ops;
pub(crate) mod templates;
pub(crate) mod tickets;
pub(crate) mod trigger_configs;
pub(crate) mod triggers;
