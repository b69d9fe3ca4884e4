//! The byte limits and per-tenant quotas (`MAX_*_BYTES`, `TENANT_*`, `RETENTION_DAYS`,
//! circuit breakers): kept apart from the rest of the configuration, with their defaults
//! documented in README's configuration table.

use std::collections::HashMap;
use std::time::Duration;

use super::{ConfigError, parse, seconds};

const MIB: usize = 1 << 20;
/// tonic's default decoding limit, which the scheduler keeps.
const GRPC_MESSAGE_BYTES: usize = 4 * MIB;

/// Bounds that keep one tenant, or one request, from growing the engine without limit.
#[derive(Debug, Clone)]
pub struct Limits {
    /// `MAX_RENDER_BYTES`: bytes one step render may produce, as JSON.
    pub max_render_bytes: usize,
    /// `MAX_STEP_OUTPUT_BYTES`: the largest step output, as JSON.
    pub max_step_output_bytes: usize,
    /// `MAX_EVENT_BYTES`: the largest `data` of one event sent to an instance.
    pub max_event_bytes: usize,
    /// `MAX_BUFFERED_EVENT_BYTES`: events an instance keeps for later wait steps, in bytes.
    pub max_buffered_event_bytes: usize,
    /// `MAX_VARIABLES_BYTES`: the largest `variables` an instance may be created with.
    pub max_variables_bytes: usize,
    /// `TENANT_RATE_LIMIT`: requests per second one tenant may make at the gateway (0: off).
    pub tenant_rate_limit: u32,
    /// `TENANT_RATE_BURST`: requests one tenant may make at once before the rate applies.
    pub tenant_rate_burst: u32,
    /// `CIRCUIT_BREAKER_FAILURES`: consecutive failures of one host that open its breaker.
    pub breaker_failures: u32,
    /// `CIRCUIT_BREAKER_COOLDOWN`: how long an open breaker fails fast before one probe.
    pub breaker_cooldown: Duration,
    /// `RETENTION_DAYS`: finished instances older than this are purged (0: kept forever).
    pub retention: Option<Duration>,
    /// `EVENT_STREAM_MAX_SECONDS`: how long one event stream response lasts.
    pub stream_lifetime: Duration,
}

impl Limits {
    pub(super) fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let limits = Self {
            max_render_bytes: positive(vars, "MAX_RENDER_BYTES", MIB)?,
            max_step_output_bytes: positive(vars, "MAX_STEP_OUTPUT_BYTES", MIB)?,
            max_event_bytes: positive(vars, "MAX_EVENT_BYTES", 256 * 1024)?,
            max_buffered_event_bytes: positive(vars, "MAX_BUFFERED_EVENT_BYTES", MIB)?,
            max_variables_bytes: positive(vars, "MAX_VARIABLES_BYTES", MIB)?,
            tenant_rate_limit: parse(vars, "TENANT_RATE_LIMIT", 1000)?,
            tenant_rate_burst: positive(vars, "TENANT_RATE_BURST", 2000)?,
            breaker_failures: positive(vars, "CIRCUIT_BREAKER_FAILURES", 5)?,
            breaker_cooldown: seconds(vars, "CIRCUIT_BREAKER_COOLDOWN", 30.0)?,
            retention: retention_days(vars)?,
            stream_lifetime: seconds(vars, "EVENT_STREAM_MAX_SECONDS", 3600.0)?,
        };
        // A result at the output limit, plus its envelope, must fit tonic's 4 MiB message.
        if limits.max_step_output_bytes > GRPC_MESSAGE_BYTES - 64 * 1024 {
            return Err(ConfigError {
                name: "MAX_STEP_OUTPUT_BYTES",
                reason: "must leave 64 KiB below the 4 MiB gRPC message limit".to_owned(),
            });
        }
        Ok(limits)
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

/// Days, fractions allowed (tests use a fraction of a second); 0 keeps everything.
fn retention_days(vars: &HashMap<String, String>) -> Result<Option<Duration>, ConfigError> {
    let days: f64 = parse(vars, "RETENTION_DAYS", 30.0)?;
    if !days.is_finite() || !(0.0..=36_500.0).contains(&days) {
        return Err(ConfigError {
            name: "RETENTION_DAYS",
            reason: format!("'{days}' must be a number of days from 0 to 36500"),
        });
    }
    Ok((days > 0.0).then(|| Duration::from_secs_f64(days * 86_400.0)))
}

fn positive<T>(
    vars: &HashMap<String, String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialEq + Default,
    T::Err: std::fmt::Display,
{
    let value = parse(vars, name, default)?;
    if value == T::default() {
        return Err(ConfigError {
            name,
            reason: "must be at least 1".to_owned(),
        });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_and_overrides() {
        let limits = Limits::from_vars(&vars(&[])).unwrap();
        assert_eq!(limits.max_render_bytes, MIB);
        assert_eq!(limits.max_event_bytes, 256 * 1024);
        let limits = Limits::from_vars(&vars(&[("MAX_EVENT_BYTES", "1000")])).unwrap();
        assert_eq!(limits.max_event_bytes, 1000);
        assert_eq!(limits.retention, Some(Duration::from_secs(30 * 86_400)));
        let limits = Limits::from_vars(&vars(&[("RETENTION_DAYS", "0")])).unwrap();
        assert_eq!(limits.retention, None);
        assert_eq!(limits.stream_lifetime, Duration::from_secs(3600));
        let limits = Limits::from_vars(&vars(&[("EVENT_STREAM_MAX_SECONDS", "0.5")])).unwrap();
        assert_eq!(
            limits.request_limits().stream_lifetime,
            Duration::from_millis(500)
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        let err = Limits::from_vars(&vars(&[("MAX_RENDER_BYTES", "0")])).unwrap_err();
        assert_eq!(err.name, "MAX_RENDER_BYTES");
        let err = Limits::from_vars(&vars(&[("MAX_STEP_OUTPUT_BYTES", "4194304")])).unwrap_err();
        assert_eq!(err.name, "MAX_STEP_OUTPUT_BYTES");
        let err = Limits::from_vars(&vars(&[("EVENT_STREAM_MAX_SECONDS", "0")])).unwrap_err();
        assert_eq!(err.name, "EVENT_STREAM_MAX_SECONDS");
    }
}
