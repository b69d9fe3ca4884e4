//! The OpenTelemetry variables: `OTEL_EXPORTER_OTLP_ENDPOINT` turns trace export on (OTLP over
//! gRPC), `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER` and
//! `OTEL_TRACES_SAMPLER_ARG` mean what the OpenTelemetry specification says they mean.

use super::ConfigError;

/// The variables as given; they are checked only when an endpoint turns export on.
#[derive(clap::Args)]
pub(super) struct TracingVars {
    /// OTLP/gRPC collector for traces, e.g. `http://jaeger:4317`; unset, tracing is off.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    endpoint: Option<String>,
    /// The same, for traces only; wins over OTEL_EXPORTER_OTLP_ENDPOINT.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")]
    traces_endpoint: Option<String>,
    /// The service name in traces; default `workflow-engine-<service>`.
    #[arg(long, env = "OTEL_SERVICE_NAME")]
    service_name: Option<String>,
    /// `key=value,key=value` added to every span's resource.
    #[arg(long, env = "OTEL_RESOURCE_ATTRIBUTES")]
    resource_attributes: Option<String>,
    /// always_on, always_off, traceidratio, parentbased_always_on (unset), parentbased_always_off
    /// or parentbased_traceidratio.
    #[arg(long, env = "OTEL_TRACES_SAMPLER")]
    sampler: Option<String>,
    /// The ratio of the ratio samplers, 0 to 1.
    #[arg(long, env = "OTEL_TRACES_SAMPLER_ARG")]
    sampler_arg: Option<String>,
}

/// Trace export; `None` in [`super::Settings::tracing`] when no endpoint is set.
#[derive(Debug, Clone, PartialEq)]
pub struct Tracing {
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`): an OTLP/gRPC
    /// collector over plain HTTP/2, `http://collector:4317`.
    pub endpoint: String,
    /// `OTEL_SERVICE_NAME`; default `workflow-engine-<service>` from the subcommand.
    pub service_name: Option<String>,
    /// `OTEL_RESOURCE_ATTRIBUTES`: `key=value,key=value`.
    pub resource_attributes: Vec<(String, String)>,
    pub sampler: Sampler,
}

/// `OTEL_TRACES_SAMPLER` (with `OTEL_TRACES_SAMPLER_ARG` as the ratio).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampler {
    AlwaysOn,
    AlwaysOff,
    TraceIdRatio(f64),
    ParentBasedAlwaysOn,
    ParentBasedAlwaysOff,
    ParentBasedTraceIdRatio(f64),
}

pub(super) fn resolve(vars: TracingVars) -> Result<Option<Tracing>, ConfigError> {
    let Some(endpoint) = vars.traces_endpoint.or(vars.endpoint) else {
        return Ok(None);
    };
    // The exporter is built without a TLS stack of its own (one rustls provider in the build):
    // a collector on the local network or a sidecar, over plain HTTP/2.
    if !endpoint.starts_with("http://") {
        return Err(ConfigError::new(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("'{endpoint}' is not an http:// URL (TLS to the collector is not supported)"),
        ));
    }
    Ok(Some(Tracing {
        endpoint,
        service_name: vars.service_name,
        resource_attributes: resource_attributes(vars.resource_attributes)?,
        sampler: sampler(vars.sampler, vars.sampler_arg)?,
    }))
}

fn resource_attributes(text: Option<String>) -> Result<Vec<(String, String)>, ConfigError> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    text.split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                Ok((key.trim().to_owned(), value.trim().to_owned()))
            }
            _ => Err(ConfigError::new(
                "OTEL_RESOURCE_ATTRIBUTES",
                format!("'{pair}' is not key=value"),
            )),
        })
        .collect()
}

fn sampler(name: Option<String>, argument: Option<String>) -> Result<Sampler, ConfigError> {
    let ratio = || -> Result<f64, ConfigError> {
        let Some(text) = &argument else {
            return Ok(1.0);
        };
        match text.parse::<f64>() {
            Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(ratio),
            _ => Err(ConfigError::new(
                "OTEL_TRACES_SAMPLER_ARG",
                format!("'{text}' is not a ratio from 0 to 1"),
            )),
        }
    };
    Ok(match name.as_deref().unwrap_or("parentbased_always_on") {
        "always_on" => Sampler::AlwaysOn,
        "always_off" => Sampler::AlwaysOff,
        "traceidratio" => Sampler::TraceIdRatio(ratio()?),
        "parentbased_always_on" => Sampler::ParentBasedAlwaysOn,
        "parentbased_always_off" => Sampler::ParentBasedAlwaysOff,
        "parentbased_traceidratio" => Sampler::ParentBasedTraceIdRatio(ratio()?),
        other => {
            return Err(ConfigError::new(
                "OTEL_TRACES_SAMPLER",
                format!(
                    "'{other}' is not always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio"
                ),
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Trace export as the whole configuration parses it.
    fn from_vars(vars: &HashMap<String, String>) -> Result<Option<Tracing>, ConfigError> {
        Ok(crate::config::Settings::from_vars(vars)?.tracing)
    }

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn off_without_an_endpoint() {
        assert_eq!(
            from_vars(&vars(&[("OTEL_SERVICE_NAME", "x")])).unwrap(),
            None
        );
    }

    #[test]
    fn reads_the_standard_variables() {
        let tracing = from_vars(&vars(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
            ("OTEL_SERVICE_NAME", "chorus"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment=prod, team=core",
            ),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(tracing.endpoint, "http://collector:4317");
        assert_eq!(tracing.service_name.as_deref(), Some("chorus"));
        assert_eq!(
            tracing.resource_attributes,
            vec![
                ("deployment.environment".to_owned(), "prod".to_owned()),
                ("team".to_owned(), "core".to_owned())
            ]
        );
        assert_eq!(tracing.sampler, Sampler::ParentBasedTraceIdRatio(0.25));
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317");
        for (pair, name) in [
            (("OTEL_TRACES_SAMPLER", "sometimes"), "OTEL_TRACES_SAMPLER"),
            (
                ("OTEL_RESOURCE_ATTRIBUTES", "novalue"),
                "OTEL_RESOURCE_ATTRIBUTES",
            ),
            (("OTEL_TRACES_SAMPLER_ARG", "2"), "OTEL_TRACES_SAMPLER_ARG"),
        ] {
            let mut given = vars(&[endpoint, pair]);
            given.insert("OTEL_TRACES_SAMPLER".into(), "traceidratio".into());
            if pair.0 == "OTEL_TRACES_SAMPLER" {
                given.insert(pair.0.into(), pair.1.into());
            }
            let error = from_vars(&given).unwrap_err();
            assert_eq!(error.name, name, "{pair:?}");
        }
        let error =
            from_vars(&vars(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317")])).unwrap_err();
        assert_eq!(error.name, "OTEL_EXPORTER_OTLP_ENDPOINT");
    }
}
