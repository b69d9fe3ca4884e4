//! Configuration: every environment variable parsed once, at start, into typed settings. The
//! variables themselves (name, default, help) are declared in `config/vars.rs`; this file turns
//! them into [`Settings`] and holds the rules between them. A bad value stops the process with
//! one line naming the variable.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

mod limits;
mod secret;
mod telemetry;
mod values;
mod vars;
pub use limits::Limits;
pub use secret::Secret;
pub use telemetry::{Sampler, Tracing};

/// A variable that could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{name}: {reason}")]
pub struct ConfigError {
    pub name: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            reason: reason.into(),
        }
    }
}

/// `ENVIRONMENT`: development is forgiving (made-up secrets, pretty logs); every other
/// environment requires real secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Test,
    Production,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Test => "test",
            Self::Production => "production",
        }
    }

    fn parse(text: &str) -> Result<Self, String> {
        match text {
            "development" => Ok(Self::Development),
            "test" => Ok(Self::Test),
            "production" => Ok(Self::Production),
            other => Err(format!(
                "'{other}' is not one of development, test, production"
            )),
        }
    }
}

impl std::fmt::Display for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

impl LogFormat {
    fn parse(text: &str) -> Result<Self, String> {
        match text {
            "json" => Ok(Self::Json),
            "pretty" => Ok(Self::Pretty),
            other => Err(format!("'{other}' is not one of json, pretty")),
        }
    }
}

/// All settings of every service; each service takes what it needs. Secrets are [`Secret`]s,
/// so the derived `Debug` shows none of them.
#[derive(Debug, Clone)]
pub struct Settings {
    pub host: IpAddr,
    pub port: u16,
    pub environment: Environment,
    pub database_url: Option<Secret<String>>,
    pub database_max_connections: u32,
    pub redis_url: Option<Secret<String>>,
    pub redis_prefix: String,
    /// `None` in development when none was given: the embedded mode makes one up. Workers
    /// need none (they never verify a token).
    pub jwt_secret: Option<Secret<String>>,
    pub jwt_issuer: Option<String>,
    pub jwt_audience: Option<String>,
    pub jwt_max_lifetime: Duration,
    pub worker_token_max_lifetime: Duration,
    /// `WORKER_TOKEN`: a worker process's credential on the scheduler.
    pub worker_token: Option<Secret<String>>,
    /// `GRPC_TLS_CERT` + `GRPC_TLS_KEY`: the scheduler's certificate, or a client's for mTLS.
    pub grpc_tls_identity: Option<(PathBuf, PathBuf)>,
    /// `GRPC_TLS_CLIENT_CA`: the scheduler requires client certificates signed by it.
    pub grpc_tls_client_ca: Option<PathBuf>,
    /// `GRPC_TLS_CA`: the CA a client trusts for an `https://` scheduler, beside the public roots.
    pub grpc_tls_ca: Option<PathBuf>,
    /// `GRPC_REFLECTION`: serve gRPC server reflection (to callers with a user token).
    pub grpc_reflection: bool,
    pub max_concurrent_workflows: u32,
    /// `TENANT_MAX_CONCURRENT_WORKFLOWS`: one tenant's share of the slots; unset, or above the
    /// global cap, it is the global cap.
    pub tenant_max_concurrent_workflows: u32,
    pub workflow_check_interval: Duration,
    pub step_retry_limit: u32,
    pub step_timeout: Duration,
    pub grpc_port: u16,
    pub scheduler_urls: Vec<String>,
    pub worker_concurrency: usize,
    pub worker_queues: Vec<String>,
    pub job_lease: Duration,
    /// May carry a user and password (`smtps://user:pass@host`).
    pub smtp_url: Option<Secret<String>>,
    pub http_action_allow_private: bool,
    pub log_format: LogFormat,
    pub body_limit_bytes: usize,
    /// Where a scheduler or worker process serves `/metrics` (the gateway serves its own).
    pub metrics_port: Option<u16>,
    /// `TRIGGER_SECRET_KEY`, when given: see [`Settings::trigger_key`].
    pub trigger_secret_key: Option<scheduler::TriggerKey>,
    /// Byte limits, tenant quotas, breakers (`config/limits.rs`).
    pub limits: Limits,
    /// Trace export over OTLP, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (`config/telemetry.rs`).
    pub tracing: Option<Tracing>,
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut vars = HashMap::new();
        // Only the declared variables are read, so a stray non-UTF-8 variable elsewhere in
        // the environment is no concern of ours; one of ours is an error naming it.
        for vars::Declared { name, .. } in vars::declared() {
            match std::env::var(&name) {
                Ok(value) => {
                    vars.insert(name, value);
                }
                Err(std::env::VarError::NotPresent) => {}
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(ConfigError::new(name, "is not valid UTF-8"));
                }
            }
        }
        Self::from_vars(&vars)
    }

    /// Parses settings from a set of variables (the environment, or a test's map).
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let given = vars::parse(vars)?;
        let development = given.environment == Environment::Development;
        for name in ["JWT_SECRET", "TRIGGER_SECRET_KEY"] {
            if let Some(value) = vars.get(name) {
                refuse_placeholder(name, value.trim(), development)?;
            }
        }
        let grpc_tls_identity = match (given.grpc_tls_cert, given.grpc_tls_key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "GRPC_TLS_KEY",
                    "required with GRPC_TLS_CERT",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "GRPC_TLS_CERT",
                    "required with GRPC_TLS_KEY",
                ));
            }
        };
        let grpc_port = given.grpc_port;
        let max_concurrent_workflows = given.max_concurrent_workflows;
        Ok(Self {
            host: given.host,
            port: given.port,
            environment: given.environment,
            database_url: given.database_url,
            database_max_connections: given.database_max_connections,
            redis_url: given.redis_url,
            redis_prefix: given.redis_prefix,
            jwt_secret: given.jwt_secret,
            jwt_issuer: given.jwt_issuer,
            jwt_audience: given.jwt_audience,
            jwt_max_lifetime: given.jwt_max_lifetime,
            worker_token_max_lifetime: given.worker_token_max_lifetime,
            worker_token: given.worker_token,
            grpc_tls_identity,
            grpc_tls_client_ca: given.grpc_tls_client_ca,
            grpc_tls_ca: given.grpc_tls_ca,
            grpc_reflection: given.grpc_reflection,
            max_concurrent_workflows,
            tenant_max_concurrent_workflows: given
                .tenant_max_concurrent_workflows
                .unwrap_or(max_concurrent_workflows)
                .min(max_concurrent_workflows),
            workflow_check_interval: given.workflow_check_interval,
            step_retry_limit: given.step_retry_limit,
            step_timeout: given.step_timeout,
            grpc_port,
            scheduler_urls: given
                .scheduler_url
                .filter(|urls| !urls.is_empty())
                .unwrap_or_else(|| vec![format!("http://127.0.0.1:{grpc_port}")]),
            worker_concurrency: given.worker_concurrency,
            worker_queues: Some(given.worker_queues)
                .filter(|queues| !queues.is_empty())
                .unwrap_or_else(|| vec![model::DEFAULT_QUEUE.to_owned()]),
            job_lease: given.job_lease,
            smtp_url: given.smtp_url,
            http_action_allow_private: given.http_action_allow_private,
            log_format: given.log_format.unwrap_or(if development {
                LogFormat::Pretty
            } else {
                LogFormat::Json
            }),
            body_limit_bytes: given.body_limit_bytes,
            metrics_port: given.metrics_port,
            trigger_secret_key: given.trigger_secret_key,
            limits: given.limits.check()?,
            tracing: telemetry::resolve(given.tracing)?,
        })
    }

    /// The token rules of a process that verifies tokens (gateway, scheduler); the secret is
    /// required there outside development.
    pub fn token_rules(&self) -> Result<identity::TokenRules, ConfigError> {
        let Some(secret) = &self.jwt_secret else {
            return Err(ConfigError::new(
                "JWT_SECRET",
                format!(
                    "required by the gateway and the scheduler when ENVIRONMENT is '{}'",
                    self.environment
                ),
            ));
        };
        Ok(identity::TokenRules {
            secret: secret.expose().clone(),
            issuer: self.jwt_issuer.clone(),
            audience: self.jwt_audience.clone(),
            max_lifetime: self.jwt_max_lifetime,
            max_worker_lifetime: self.worker_token_max_lifetime,
        })
    }
    /// TLS for the clients of the scheduler (`https://` URLs).
    pub fn client_tls(&self) -> proto::ClientTls {
        proto::ClientTls {
            ca: self.grpc_tls_ca.clone(),
            identity: self.grpc_tls_identity.clone(),
        }
    }

    /// TLS on the scheduler's port, when a certificate is configured.
    pub fn server_tls(&self) -> Option<scheduler::GrpcTls> {
        let (cert, key) = self.grpc_tls_identity.clone()?;
        Some(scheduler::GrpcTls {
            cert,
            key,
            client_ca: self.grpc_tls_client_ca.clone(),
        })
    }

    pub fn is_development(&self) -> bool {
        self.environment == Environment::Development
    }

    /// The key that encrypts webhook secrets, for a process that runs the scheduler.
    /// `TRIGGER_SECRET_KEY` when set. Without it, in development only, a key derived from
    /// `JWT_SECRET` (HKDF-SHA256): webhook secrets stored under it stay readable only while
    /// `JWT_SECRET` stays the same (the secret made up for a run without one changes every run).
    /// Anywhere else a missing key is an error naming the variable.
    pub fn trigger_key(&self) -> Result<scheduler::TriggerKey, ConfigError> {
        if let Some(key) = &self.trigger_secret_key {
            return Ok(key.clone());
        }
        if !self.is_development() {
            return Err(ConfigError::new(
                "TRIGGER_SECRET_KEY",
                format!(
                    "required when ENVIRONMENT is '{}' (32 bytes as 64 hex digits or base64)",
                    self.environment
                ),
            ));
        }
        match &self.jwt_secret {
            Some(jwt_secret) => {
                tracing::warn!(
                    "no TRIGGER_SECRET_KEY (development): webhook secrets are encrypted with a key derived from JWT_SECRET"
                );
                Ok(scheduler::TriggerKey::derive_from_jwt_secret(
                    jwt_secret.expose_str(),
                ))
            }
            None => Err(ConfigError::new(
                "TRIGGER_SECRET_KEY",
                "required, or JWT_SECRET to derive a development key from",
            )),
        }
    }
}

/// The environment variables with their help and defaults, for `workflow-engine --help`.
pub fn variables_help() -> String {
    let mut text = String::from("Environment variables (README.md has the details):\n");
    for variable in vars::declared() {
        text.push_str(&format!("  {}\n          {}", variable.name, variable.help));
        if let Some(default) = variable.default {
            text.push_str(&format!(" [default: {default}]"));
        }
        text.push('\n');
    }
    text
}

/// Values that were published (in our own compose file, in examples) and so protect nothing.
const PLACEHOLDERS: &[&str] = &[
    "change-me-to-a-long-random-secret",
    "8d6f0a4e2b1c9d7e5f3a1b0c9e8d7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e",
];

/// Outside development a secret that anyone could know (published, or a `change-me` kind of
/// value) stops the process.
fn refuse_placeholder(
    name: &'static str,
    value: &str,
    development: bool,
) -> Result<(), ConfigError> {
    let lowered = value.to_ascii_lowercase();
    let known = PLACEHOLDERS.contains(&value)
        || ["change-me", "changeme", "replace-me", "example"]
            .iter()
            .any(|marker| lowered.contains(marker));
    if known && !development {
        return Err(ConfigError::new(
            name,
            "is a placeholder value; set a random secret of your own",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
