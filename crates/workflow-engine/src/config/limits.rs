//! The byte limits and per-tenant quotas (`MAX_*_BYTES`, `TENANT_*`, `RETENTION_DAYS`,
//! circuit breakers): kept apart from the rest of the configuration, with their defaults
//! documented in README's configuration table.

use std::time::Duration;

use super::ConfigError;
use super::values::{at_least_one, number, retention_days, seconds};

const MIB: usize = 1 << 20;
/// tonic's default decoding limit, which the scheduler keeps.
const GRPC_MESSAGE_BYTES: usize = 4 * MIB;

/// Bounds that keep one tenant, or one request, from growing the engine without limit.
#[derive(Debug, Clone, clap::Args)]
pub struct Limits {
    /// Bytes one step render may produce, as JSON.
    #[arg(long, env = "MAX_RENDER_BYTES", default_value = "1048576", value_parser = at_least_one::<usize>)]
    pub max_render_bytes: usize,
    /// The largest step output, as JSON (at most 4 MiB - 64 KiB, below the gRPC message limit).
    #[arg(long, env = "MAX_STEP_OUTPUT_BYTES", default_value = "1048576", value_parser = at_least_one::<usize>)]
    pub max_step_output_bytes: usize,
    /// The largest `data` of one event sent to an instance.
    #[arg(long, env = "MAX_EVENT_BYTES", default_value = "262144", value_parser = at_least_one::<usize>)]
    pub max_event_bytes: usize,
    /// Events an instance keeps for later wait steps, in bytes.
    #[arg(long, env = "MAX_BUFFERED_EVENT_BYTES", default_value = "1048576", value_parser = at_least_one::<usize>)]
    pub max_buffered_event_bytes: usize,
    /// The largest `variables` an instance may be created with.
    #[arg(long, env = "MAX_VARIABLES_BYTES", default_value = "1048576", value_parser = at_least_one::<usize>)]
    pub max_variables_bytes: usize,
    /// Requests per second one tenant may make at the gateway (0: off).
    #[arg(long, env = "TENANT_RATE_LIMIT", default_value = "1000", value_parser = number::<u32>)]
    pub tenant_rate_limit: u32,
    /// Requests one tenant may make at once before the rate applies.
    #[arg(long, env = "TENANT_RATE_BURST", default_value = "2000", value_parser = at_least_one::<u32>)]
    pub tenant_rate_burst: u32,
    /// Consecutive failures of one host that open its breaker.
    #[arg(long = "circuit-breaker-failures", env = "CIRCUIT_BREAKER_FAILURES", default_value = "5", value_parser = at_least_one::<u32>)]
    pub breaker_failures: u32,
    /// Seconds an open breaker fails fast before one probe.
    #[arg(long = "circuit-breaker-cooldown", env = "CIRCUIT_BREAKER_COOLDOWN", default_value = "30", value_parser = seconds)]
    pub breaker_cooldown: Duration,
    /// Days after which finished instances are purged (fractions allowed; 0: kept forever).
    #[arg(long = "retention-days", env = "RETENTION_DAYS", default_value = "30", value_parser = retention_days)]
    pub retention: std::option::Option<Duration>,
    /// Seconds one event stream response lasts (fractions allowed).
    #[arg(long = "event-stream-max-seconds", env = "EVENT_STREAM_MAX_SECONDS", default_value = "3600", value_parser = seconds)]
    pub stream_lifetime: Duration,
}

impl Limits {
    /// The rules between variables, once each has parsed.
    pub(super) fn check(self) -> Result<Self, ConfigError> {
        // A result at the output limit, plus its envelope, must fit tonic's 4 MiB message.
        if self.max_step_output_bytes > GRPC_MESSAGE_BYTES - 64 * 1024 {
            return Err(ConfigError::new(
                "MAX_STEP_OUTPUT_BYTES",
                "must leave 64 KiB below the 4 MiB gRPC message limit",
            ));
        }
        Ok(self)
    }
}

impl Limits {
    /// What the gateway enforces per request and per tenant.
    pub fn request_limits(&self) -> gateway::RequestLimits {
        let rate = std::num::NonZeroU32::new(self.tenant_rate_limit).map(|per_second| {
            gateway::RateSettings {
                per_second,
                burst: std::num::NonZeroU32::new(self.tenant_rate_burst)
                    .unwrap_or(std::num::NonZeroU32::MIN),
            }
        });
        gateway::RequestLimits {
            max_event_bytes: self.max_event_bytes,
            max_variables_bytes: self.max_variables_bytes,
            rate,
            stream_lifetime: self.stream_lifetime,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The limits as the whole configuration parses them.
    fn from_vars(vars: &HashMap<String, String>) -> Result<Limits, ConfigError> {
        Ok(crate::config::Settings::from_vars(vars)?.limits)
    }

    #[test]
    fn defaults_and_overrides() {
        let limits = from_vars(&vars(&[])).unwrap();
        assert_eq!(limits.max_render_bytes, MIB);
        assert_eq!(limits.max_event_bytes, 256 * 1024);
        let limits = from_vars(&vars(&[("MAX_EVENT_BYTES", "1000")])).unwrap();
        assert_eq!(limits.max_event_bytes, 1000);
        assert_eq!(limits.retention, Some(Duration::from_secs(30 * 86_400)));
        let limits = from_vars(&vars(&[("RETENTION_DAYS", "0")])).unwrap();
        assert_eq!(limits.retention, None);
        assert_eq!(limits.stream_lifetime, Duration::from_secs(3600));
        let limits = from_vars(&vars(&[("EVENT_STREAM_MAX_SECONDS", "0.5")])).unwrap();
        assert_eq!(
            limits.request_limits().stream_lifetime,
            Duration::from_millis(500)
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        let err = from_vars(&vars(&[("MAX_RENDER_BYTES", "0")])).unwrap_err();
        assert_eq!(err.name, "MAX_RENDER_BYTES");
        let err = from_vars(&vars(&[("MAX_STEP_OUTPUT_BYTES", "4194304")])).unwrap_err();
        assert_eq!(err.name, "MAX_STEP_OUTPUT_BYTES");
        let err = from_vars(&vars(&[("EVENT_STREAM_MAX_SECONDS", "0")])).unwrap_err();
        assert_eq!(err.name, "EVENT_STREAM_MAX_SECONDS");
    }
}
