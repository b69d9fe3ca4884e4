//! Configuration: every environment variable parsed once, at start, into typed settings. A bad
//! value stops the process with a message naming the variable.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

mod limits;
mod telemetry;
pub use limits::Limits;
pub use telemetry::{Sampler, Tracing};

/// A variable that could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{name}: {reason}")]
pub struct ConfigError {
    pub name: &'static str,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// All settings of every service; each service takes what it needs.
#[derive(Clone)]
pub struct Settings {
    pub host: IpAddr,
    pub port: u16,
    pub environment: String,
    pub database_url: Option<String>,
    pub database_max_connections: u32,
    pub redis_url: Option<String>,
    pub redis_prefix: String,
    /// `None` in development when none was given: the embedded mode makes one up. Workers
    /// need none (they never verify a token).
    pub jwt_secret: Option<String>,
    pub jwt_issuer: Option<String>,
    pub jwt_audience: Option<String>,
    pub jwt_max_lifetime: Duration,
    pub worker_token_max_lifetime: Duration,
    /// `WORKER_TOKEN`: a worker process's credential on the scheduler.
    pub worker_token: Option<String>,
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
    pub smtp_url: Option<String>,
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

impl std::fmt::Debug for Settings {
    // Secrets and credentials in URLs never reach logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("port", &self.port)
            .field("environment", &self.environment)
            .field("database", &self.database_url.as_deref().map(redact_url))
            .field("redis", &self.redis_url.as_deref().map(redact_url))
            .field("grpc_port", &self.grpc_port)
            .field("scheduler_urls", &self.scheduler_urls)
            .finish_non_exhaustive()
    }
}

/// A URL without its password, for logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&std::env::vars().collect())
    }

    /// Parses settings from a set of variables (the environment, or a test's map).
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            vars.get(name)
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        let environment = get("ENVIRONMENT").unwrap_or_else(|| "development".to_owned());
        let development = environment == "development";
        let jwt_secret = get("JWT_SECRET");
        if let Some(secret) = &jwt_secret {
            if secret.len() < identity::MIN_SECRET_BYTES {
                return Err(ConfigError {
                    name: "JWT_SECRET",
                    reason: format!(
                        "must be at least {} bytes (openssl rand -hex 32)",
                        identity::MIN_SECRET_BYTES
                    ),
                });
            }
            refuse_placeholder("JWT_SECRET", secret, development)?;
        }
        if let Some(key) = get("TRIGGER_SECRET_KEY") {
            refuse_placeholder("TRIGGER_SECRET_KEY", &key, development)?;
        }
        let trigger_secret_key = get("TRIGGER_SECRET_KEY")
            .map(|text| scheduler::TriggerKey::parse(&text))
            .transpose()
            .map_err(|error| ConfigError {
                name: "TRIGGER_SECRET_KEY",
                reason: error.to_string(),
            })?;
        let log_format = match get("LOG_FORMAT").as_deref() {
            None if environment == "development" => LogFormat::Pretty,
            None | Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            Some(other) => {
                return Err(ConfigError {
                    name: "LOG_FORMAT",
                    reason: format!("'{other}' is not one of json, pretty"),
                });
            }
        };
        let grpc_port = parse(vars, "GRPC_PORT", 50051u16)?;
        let scheduler_urls = list(get("SCHEDULER_URL"))
            .unwrap_or_else(|| vec![format!("http://127.0.0.1:{grpc_port}")]);
        for url in &scheduler_urls {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError {
                    name: "SCHEDULER_URL",
                    reason: format!("'{url}' must start with http:// or https://"),
                });
            }
        }
        let database_url = get("DATABASE_URL");
        if let Some(url) = &database_url {
            let known = ["postgres://", "postgresql://", "sqlite:"];
            if !known.iter().any(|prefix| url.starts_with(prefix)) {
                return Err(ConfigError {
                    name: "DATABASE_URL",
                    reason: "must start with postgres://, postgresql:// or sqlite:".to_owned(),
                });
            }
        }
        let redis_url = get("REDIS_URL");
        if let Some(url) = &redis_url
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            return Err(ConfigError {
                name: "REDIS_URL",
                reason: "must start with redis:// or rediss://".to_owned(),
            });
        }
        let worker_concurrency: usize = parse(vars, "WORKER_CONCURRENCY", 16)?;
        let max_concurrent_workflows: u32 = parse(vars, "MAX_CONCURRENT_WORKFLOWS", 100)?;
        let tenant_max_concurrent_workflows: u32 = parse(
            vars,
            "TENANT_MAX_CONCURRENT_WORKFLOWS",
            max_concurrent_workflows,
        )?;
        let step_retry_limit: u32 = parse(vars, "STEP_RETRY_LIMIT", 3)?;
        for (name, value) in [
            ("WORKER_CONCURRENCY", worker_concurrency as u64),
            (
                "MAX_CONCURRENT_WORKFLOWS",
                u64::from(max_concurrent_workflows),
            ),
            (
                "TENANT_MAX_CONCURRENT_WORKFLOWS",
                u64::from(tenant_max_concurrent_workflows),
            ),
            ("STEP_RETRY_LIMIT", u64::from(step_retry_limit)),
        ] {
            if value == 0 {
                return Err(ConfigError {
                    name,
                    reason: "must be at least 1".to_owned(),
                });
            }
        }
        Ok(Self {
            host: parse(vars, "HOST", IpAddr::from([0, 0, 0, 0]))?,
            port: parse(vars, "PORT", 8081)?,
            environment,
            database_url,
            database_max_connections: parse(vars, "DATABASE_MAX_CONNECTIONS", 20)?,
            redis_url,
            redis_prefix: get("REDIS_PREFIX").unwrap_or_else(|| "chorus".to_owned()),
            jwt_secret,
            max_concurrent_workflows,
            tenant_max_concurrent_workflows: tenant_max_concurrent_workflows
                .min(max_concurrent_workflows),
            workflow_check_interval: seconds(vars, "WORKFLOW_CHECK_INTERVAL", 10.0)?,
            step_retry_limit,
            step_timeout: seconds(vars, "STEP_TIMEOUT", 300.0)?,
            grpc_port,
            scheduler_urls,
            worker_concurrency,
            worker_queues: list(get("WORKER_QUEUES"))
                .unwrap_or_else(|| vec![model::DEFAULT_QUEUE.to_owned()]),
            job_lease: seconds(vars, "JOB_LEASE_SECONDS", 30.0)?,
            smtp_url: get("SMTP_URL"),
            http_action_allow_private: boolean(vars, "HTTP_ACTION_ALLOW_PRIVATE", false)?,
            log_format,
            body_limit_bytes: parse(vars, "BODY_LIMIT_BYTES", 1024 * 1024)?,
            metrics_port: get("METRICS_PORT")
                .map(|_| parse(vars, "METRICS_PORT", 0u16))
                .transpose()?,
            trigger_secret_key,
            jwt_issuer: get("JWT_ISSUER"),
            jwt_audience: get("JWT_AUDIENCE"),
            jwt_max_lifetime: seconds(vars, "JWT_MAX_LIFETIME", 24.0 * 3600.0)?,
            worker_token_max_lifetime: seconds(
                vars,
                "WORKER_TOKEN_MAX_LIFETIME",
                90.0 * 24.0 * 3600.0,
            )?,
            worker_token: get("WORKER_TOKEN"),
            grpc_tls_identity: match (get("GRPC_TLS_CERT"), get("GRPC_TLS_KEY")) {
                (Some(cert), Some(key)) => Some((cert.into(), key.into())),
                (None, None) => None,
                (Some(_), None) => {
                    return Err(ConfigError {
                        name: "GRPC_TLS_KEY",
                        reason: "required with GRPC_TLS_CERT".to_owned(),
                    });
                }
                (None, Some(_)) => {
                    return Err(ConfigError {
                        name: "GRPC_TLS_CERT",
                        reason: "required with GRPC_TLS_KEY".to_owned(),
                    });
                }
            },
            grpc_tls_client_ca: get("GRPC_TLS_CLIENT_CA").map(PathBuf::from),
            grpc_tls_ca: get("GRPC_TLS_CA").map(PathBuf::from),
            grpc_reflection: boolean(vars, "GRPC_REFLECTION", true)?,
            limits: Limits::from_vars(vars)?,
            tracing: telemetry::from_vars(vars)?,
        })
    }

    /// The token rules of a process that verifies tokens (gateway, scheduler); the secret is
    /// required there outside development.
    pub fn token_rules(&self) -> Result<identity::TokenRules, ConfigError> {
        let Some(secret) = self.jwt_secret.clone() else {
            return Err(ConfigError {
                name: "JWT_SECRET",
                reason: format!(
                    "required by the gateway and the scheduler when ENVIRONMENT is '{}'",
                    self.environment
                ),
            });
        };
        Ok(identity::TokenRules {
            secret,
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
        self.environment == "development"
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
            return Err(ConfigError {
                name: "TRIGGER_SECRET_KEY",
                reason: format!(
                    "required when ENVIRONMENT is '{}' (32 bytes as 64 hex digits or base64)",
                    self.environment
                ),
            });
        }
        match &self.jwt_secret {
            Some(jwt_secret) => {
                tracing::warn!(
                    "no TRIGGER_SECRET_KEY (development): webhook secrets are encrypted with a key derived from JWT_SECRET"
                );
                Ok(scheduler::TriggerKey::derive_from_jwt_secret(jwt_secret))
            }
            None => Err(ConfigError {
                name: "TRIGGER_SECRET_KEY",
                reason: "required, or JWT_SECRET to derive a development key from".to_owned(),
            }),
        }
    }
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
        return Err(ConfigError {
            name,
            reason: "is a placeholder value; set a random secret of your own".to_owned(),
        });
    }
    Ok(())
}

fn parse<T: FromStr>(
    vars: &HashMap<String, String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    let Some(text) = vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) else {
        return Ok(default);
    };
    text.parse().map_err(|error| ConfigError {
        name,
        reason: format!("'{text}' is not valid: {error}"),
    })
}

/// A positive number of seconds (fractions allowed).
fn seconds(
    vars: &HashMap<String, String>,
    name: &'static str,
    default: f64,
) -> Result<Duration, ConfigError> {
    let value: f64 = parse(vars, name, default)?;
    if !value.is_finite() || value <= 0.0 || value > 1e9 {
        return Err(ConfigError {
            name,
            reason: format!("'{value}' must be a positive number of seconds"),
        });
    }
    Ok(Duration::from_secs_f64(value))
}

fn boolean(
    vars: &HashMap<String, String>,
    name: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    let Some(text) = vars
        .get(name)
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty())
    else {
        return Ok(default);
    };
    match text.as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError {
            name,
            reason: format!("'{text}' is not true or false"),
        }),
    }
}

fn list(text: Option<String>) -> Option<Vec<String>> {
    let items: Vec<String> = text?
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect();
    (!items.is_empty()).then_some(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_follow_the_readme() {
        let settings = Settings::from_vars(&vars(&[])).unwrap();
        assert_eq!(settings.port, 8081);
        assert_eq!(settings.max_concurrent_workflows, 100);
        assert_eq!(settings.tenant_max_concurrent_workflows, 100);
        assert_eq!(settings.workflow_check_interval, Duration::from_secs(10));
        assert_eq!(settings.step_retry_limit, 3);
        assert_eq!(settings.step_timeout, Duration::from_secs(300));
        assert_eq!(settings.grpc_port, 50051);
        assert_eq!(settings.worker_concurrency, 16);
        assert_eq!(settings.scheduler_urls, vec!["http://127.0.0.1:50051"]);
        assert!(settings.jwt_secret.is_none());
    }

    #[test]
    fn the_tenant_cap_stays_under_the_global_cap() {
        let caps = |tenant: &str| {
            let settings = Settings::from_vars(&vars(&[
                ("MAX_CONCURRENT_WORKFLOWS", "10"),
                ("TENANT_MAX_CONCURRENT_WORKFLOWS", tenant),
            ]))
            .unwrap();
            settings.tenant_max_concurrent_workflows
        };
        assert_eq!(caps("3"), 3);
        assert_eq!(caps("50"), 10);
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        for (name, value) in [
            ("PORT", "eighty"),
            ("MAX_CONCURRENT_WORKFLOWS", "-1"),
            ("TENANT_MAX_CONCURRENT_WORKFLOWS", "0"),
            ("TENANT_MAX_CONCURRENT_WORKFLOWS", "many"),
            ("WORKFLOW_CHECK_INTERVAL", "0"),
            ("STEP_TIMEOUT", "soon"),
            ("STEP_RETRY_LIMIT", "0"),
            ("HTTP_ACTION_ALLOW_PRIVATE", "maybe"),
            ("DATABASE_URL", "mysql://x"),
            ("REDIS_URL", "localhost:6379"),
            ("SCHEDULER_URL", "127.0.0.1:50051"),
            ("LOG_FORMAT", "xml"),
        ] {
            let error = Settings::from_vars(&vars(&[(name, value)])).err().unwrap();
            assert_eq!(error.name, name, "{value}");
        }
    }

    #[test]
    fn jwt_secret_is_required_where_tokens_are_verified() {
        // A worker process needs no JWT_SECRET: only the processes that verify tokens do.
        let worker = Settings::from_vars(&vars(&[("ENVIRONMENT", "production")])).unwrap();
        assert_eq!(worker.token_rules().err().unwrap().name, "JWT_SECRET");
        let settings = Settings::from_vars(&vars(&[
            ("ENVIRONMENT", "production"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
        ]))
        .unwrap();
        assert_eq!(settings.log_format, LogFormat::Json);
        assert_eq!(
            settings.token_rules().unwrap().max_lifetime,
            Duration::from_secs(24 * 3600)
        );
    }

    #[test]
    fn short_and_placeholder_secrets_are_refused() {
        let error = Settings::from_vars(&vars(&[("JWT_SECRET", "sixteen-chars-ok")]))
            .err()
            .unwrap();
        assert_eq!(error.name, "JWT_SECRET");
        for (name, value) in [
            ("JWT_SECRET", "change-me-to-a-long-random-secret"),
            (
                "TRIGGER_SECRET_KEY",
                "8d6f0a4e2b1c9d7e5f3a1b0c9e8d7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e",
            ),
        ] {
            let error = Settings::from_vars(&vars(&[("ENVIRONMENT", "production"), (name, value)]))
                .err()
                .unwrap();
            assert_eq!(error.name, name);
            // A laptop may keep them.
            assert!(Settings::from_vars(&vars(&[(name, value)])).is_ok());
        }
    }

    #[test]
    fn trigger_secret_key_is_32_bytes_in_hex_or_base64() {
        let hex_key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        let settings = Settings::from_vars(&vars(&[("TRIGGER_SECRET_KEY", hex_key)])).unwrap();
        let key = settings.trigger_key().unwrap();
        let sealed = key.seal(uuid::Uuid::nil(), b"secret");
        let same = scheduler::TriggerKey::parse(hex_key).unwrap();
        assert_eq!(same.open(uuid::Uuid::nil(), &sealed).unwrap(), b"secret");

        let base64_key = "ABEiM0RVZneImaq7zN3u/wARIjNEVWZ3iJmqu8zd7v8=";
        assert!(Settings::from_vars(&vars(&[("TRIGGER_SECRET_KEY", base64_key)])).is_ok());
        for bad in [
            "short",
            "00112233",
            "not base64 at all, and long enough to be tried!!",
        ] {
            let error = Settings::from_vars(&vars(&[("TRIGGER_SECRET_KEY", bad)]))
                .err()
                .unwrap();
            assert_eq!(error.name, "TRIGGER_SECRET_KEY", "{bad}");
        }
    }

    #[test]
    fn trigger_secret_key_is_required_outside_development() {
        let production = [
            ("ENVIRONMENT", "production"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
        ];
        let settings = Settings::from_vars(&vars(&production)).unwrap();
        assert_eq!(
            settings.trigger_key().err().unwrap().name,
            "TRIGGER_SECRET_KEY"
        );
        let with_key = [
            production[0],
            production[1],
            (
                "TRIGGER_SECRET_KEY",
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
            ),
        ];
        assert!(
            Settings::from_vars(&vars(&with_key))
                .unwrap()
                .trigger_key()
                .is_ok()
        );
        // In development a key is derived, but only from a JWT_SECRET.
        let bare = Settings::from_vars(&vars(&[])).unwrap();
        assert_eq!(bare.trigger_key().err().unwrap().name, "TRIGGER_SECRET_KEY");
    }

    #[test]
    fn the_development_trigger_key_comes_from_jwt_secret() {
        let settings = Settings::from_vars(&vars(&[(
            "JWT_SECRET",
            "a-development-secret-0123456789abcdef",
        )]))
        .unwrap();
        let key = settings.trigger_key().unwrap();
        let sealed = key.seal(uuid::Uuid::nil(), b"secret");
        let derived =
            scheduler::TriggerKey::derive_from_jwt_secret("a-development-secret-0123456789abcdef");
        assert_eq!(derived.open(uuid::Uuid::nil(), &sealed).unwrap(), b"secret");
    }

    #[test]
    fn scheduler_urls_are_a_comma_separated_list() {
        let settings = Settings::from_vars(&vars(&[(
            "SCHEDULER_URL",
            "http://a:50051, http://b:50051",
        )]))
        .unwrap();
        assert_eq!(
            settings.scheduler_urls,
            vec!["http://a:50051", "http://b:50051"]
        );
    }

    #[test]
    fn debug_output_hides_passwords() {
        let settings = Settings::from_vars(&vars(&[
            (
                "DATABASE_URL",
                "postgres://chorus:password@localhost:5432/chorus",
            ),
            ("JWT_SECRET", "a-very-secret-value-here-0123456789"),
        ]))
        .unwrap();
        let text = format!("{settings:?}");
        assert!(!text.contains("password@"), "{text}");
        assert!(!text.contains("a-very-secret"), "{text}");
    }
}
