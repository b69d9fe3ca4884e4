//! Every variable the engine reads, with its name, default and help in one place (the README's
//! configuration table is checked against this list by a test). clap's `env` declarations name
//! the variables; [`parse`] hands clap the given variables as `--name=value` arguments, so a
//! test's map and the process environment take one path, and a blank value reads as unset.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser};

use super::telemetry::TracingVars;
use super::values::{
    at_least_one, boolean, database_url, jwt_secret, list, number, redis_url, scheduler_urls,
    seconds, secret, trigger_key,
};
use super::{ConfigError, Environment, Limits, LogFormat, Secret};

#[derive(Parser)]
#[command(
    name = "workflow-engine",
    no_binary_name = true,
    disable_help_flag = true
)]
pub(super) struct Vars {
    /// Gateway HTTP port.
    #[arg(long, env = "PORT", default_value = "8081", value_parser = number::<u16>)]
    pub port: u16,
    /// Address the gateway and scheduler bind (the embedded scheduler binds 127.0.0.1).
    #[arg(long, env = "HOST", default_value = "0.0.0.0", value_parser = number::<IpAddr>)]
    pub host: IpAddr,
    /// `development`, `test` or `production`; development allows a missing JWT_SECRET (one is
    /// made up) and pretty logs.
    #[arg(long, env = "ENVIRONMENT", default_value = "development", value_parser = Environment::parse)]
    pub environment: Environment,
    /// `postgres://…` or `sqlite:…`; default: the SQLite file `workflow-engine.db`.
    #[arg(long, env = "DATABASE_URL", value_parser = database_url)]
    pub database_url: Option<Secret<String>>,
    /// Database pool size.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value = "20", value_parser = number::<u32>)]
    pub database_max_connections: u32,
    /// `redis://…`; default: an in-memory queue and events; required for one service per process.
    #[arg(long, env = "REDIS_URL", value_parser = redis_url)]
    pub redis_url: Option<Secret<String>>,
    /// Prefix of every Redis key.
    #[arg(long, env = "REDIS_PREFIX", default_value = "chorus")]
    pub redis_prefix: String,
    /// HS256 key of the bearer tokens, at least 32 bytes; gateway and scheduler only.
    #[arg(long, env = "JWT_SECRET", value_parser = jwt_secret)]
    pub jwt_secret: Option<Secret<String>>,
    /// When set, tokens must carry this `iss` (and minted ones do).
    #[arg(long, env = "JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// When set, tokens must carry this `aud` (and minted ones do).
    #[arg(long, env = "JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Seconds a user's token may live.
    #[arg(long, env = "JWT_MAX_LIFETIME", default_value = "86400", value_parser = seconds)]
    pub jwt_max_lifetime: Duration,
    /// Seconds a worker token may live (90 days).
    #[arg(long, env = "WORKER_TOKEN_MAX_LIFETIME", default_value = "7776000", value_parser = seconds)]
    pub worker_token_max_lifetime: Duration,
    /// A worker process's credential: a JWT of role `worker`.
    #[arg(long, env = "WORKER_TOKEN", value_parser = secret)]
    pub worker_token: Option<Secret<String>>,
    /// PEM certificate: the scheduler serves TLS; on a gateway or worker, its mTLS certificate.
    #[arg(long, env = "GRPC_TLS_CERT")]
    pub grpc_tls_cert: Option<PathBuf>,
    /// The PEM key of GRPC_TLS_CERT.
    #[arg(long, env = "GRPC_TLS_KEY")]
    pub grpc_tls_key: Option<PathBuf>,
    /// Scheduler: require client certificates signed by this CA (mTLS).
    #[arg(long, env = "GRPC_TLS_CLIENT_CA")]
    pub grpc_tls_client_ca: Option<PathBuf>,
    /// Gateway, worker: the CA that signed the scheduler's certificate.
    #[arg(long, env = "GRPC_TLS_CA")]
    pub grpc_tls_ca: Option<PathBuf>,
    /// Serve gRPC server reflection (to callers with a user token).
    #[arg(long, env = "GRPC_REFLECTION", default_value = "true", value_parser = boolean, action = clap::ArgAction::Set)]
    pub grpc_reflection: bool,
    /// 32 bytes, hex or base64, that encrypt webhook trigger secrets at rest.
    #[arg(long, env = "TRIGGER_SECRET_KEY", value_parser = trigger_key)]
    pub trigger_secret_key: Option<scheduler::TriggerKey>,
    /// Instances executing at once.
    #[arg(long, env = "MAX_CONCURRENT_WORKFLOWS", default_value = "100", value_parser = at_least_one::<u32>)]
    pub max_concurrent_workflows: u32,
    /// Instances of one tenant executing at once; default and ceiling: MAX_CONCURRENT_WORKFLOWS.
    #[arg(long, env = "TENANT_MAX_CONCURRENT_WORKFLOWS", value_parser = at_least_one::<u32>)]
    pub tenant_max_concurrent_workflows: Option<u32>,
    /// Seconds between sweeps for expired job leases.
    #[arg(long, env = "WORKFLOW_CHECK_INTERVAL", default_value = "10", value_parser = seconds)]
    pub workflow_check_interval: Duration,
    /// Default `retry.max_attempts` (counts the first try).
    #[arg(long, env = "STEP_RETRY_LIMIT", default_value = "3", value_parser = at_least_one::<u32>)]
    pub step_retry_limit: u32,
    /// Default step `timeout_seconds`.
    #[arg(long, env = "STEP_TIMEOUT", default_value = "300", value_parser = seconds)]
    pub step_timeout: Duration,
    /// Scheduler gRPC port.
    #[arg(long, env = "GRPC_PORT", default_value = "50051", value_parser = number::<u16>)]
    pub grpc_port: u16,
    /// Where gateways and workers find the scheduler, comma-separated; default: GRPC_PORT on
    /// 127.0.0.1.
    #[arg(long, env = "SCHEDULER_URL", value_parser = scheduler_urls)]
    pub scheduler_url: Option<std::vec::Vec<String>>,
    /// Jobs a worker runs at once.
    #[arg(long, env = "WORKER_CONCURRENCY", default_value = "16", value_parser = at_least_one::<usize>)]
    pub worker_concurrency: usize,
    /// Queues a worker serves, comma-separated.
    #[arg(long, env = "WORKER_QUEUES", default_value = model::DEFAULT_QUEUE, value_parser = list)]
    pub worker_queues: std::vec::Vec<String>,
    /// Seconds a job may go unacknowledged without a heartbeat before it is handed out again.
    #[arg(long, env = "JOB_LEASE_SECONDS", default_value = "30", value_parser = seconds)]
    pub job_lease: Duration,
    /// `smtp://host:port`, `smtps://user:pass@host`; unset, mail is logged, not sent.
    #[arg(long, env = "SMTP_URL", value_parser = secret)]
    pub smtp_url: Option<Secret<String>>,
    /// Let `http_request` reach loopback, private and link-local addresses.
    #[arg(long, env = "HTTP_ACTION_ALLOW_PRIVATE", default_value = "false", value_parser = boolean, action = clap::ArgAction::Set)]
    pub http_action_allow_private: bool,
    /// `json` or `pretty`; default json (pretty in development).
    #[arg(long, env = "LOG_FORMAT", value_parser = LogFormat::parse)]
    pub log_format: Option<LogFormat>,
    /// Largest request body (413 beyond).
    #[arg(long, env = "BODY_LIMIT_BYTES", default_value = "1048576", value_parser = number::<usize>)]
    pub body_limit_bytes: usize,
    /// A scheduler or worker process serves Prometheus `/metrics` on this port.
    #[arg(long, env = "METRICS_PORT", value_parser = number::<u16>)]
    pub metrics_port: Option<u16>,
    #[command(flatten)]
    pub limits: Limits,
    #[command(flatten)]
    pub tracing: TracingVars,
}

/// One variable as declared: what `--help` lists and the README test checks.
pub(super) struct Declared {
    pub name: String,
    /// The plain default, when there is one (others are computed, or unset).
    pub default: Option<String>,
    pub help: String,
}

/// The variables this build reads.
pub(super) fn declared() -> Vec<Declared> {
    Vars::command()
        .get_arguments()
        .filter_map(|arg| {
            Some(Declared {
                name: arg.get_env()?.to_string_lossy().into_owned(),
                default: arg
                    .get_default_values()
                    .first()
                    .map(|value| value.to_string_lossy().into_owned()),
                help: arg.get_help().map(ToString::to_string).unwrap_or_default(),
            })
        })
        .collect()
}

/// Parses the given variables (blank ones read as unset); an error names the first variable
/// that could not be used.
pub(super) fn parse(vars: &HashMap<String, String>) -> Result<Vars, ConfigError> {
    let command = Vars::command();
    let mut names = HashMap::new();
    let mut arguments = Vec::new();
    for arg in command.get_arguments() {
        let (Some(env), Some(long)) = (arg.get_env(), arg.get_long()) else {
            continue;
        };
        let env = env.to_string_lossy().into_owned();
        if let Some(value) = vars.get(&env).map(|value| value.trim())
            && !value.is_empty()
        {
            arguments.push(format!("--{long}={value}"));
        }
        names.insert(long.to_owned(), env);
    }
    // The variables reach clap only as the arguments above: a test's map is never mixed with
    // the process environment.
    let command = command.mut_args(|arg| arg.env(None::<&'static str>));
    let matches = command
        .try_get_matches_from(arguments)
        .map_err(|error| config_error(&error, &names))?;
    Vars::from_arg_matches(&matches).map_err(|error| config_error(&error, &names))
}

fn config_error(error: &clap::Error, names: &HashMap<String, String>) -> ConfigError {
    use clap::error::{ContextKind, ContextValue};
    let long = match error.get(ContextKind::InvalidArg) {
        // "--port <PORT>"
        Some(ContextValue::String(arg)) => arg
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .trim_start_matches('-')
            .to_owned(),
        _ => String::new(),
    };
    let reason = match std::error::Error::source(error) {
        Some(source) => source.to_string(),
        None => error.kind().to_string(),
    };
    ConfigError {
        name: names
            .get(&long)
            .cloned()
            .unwrap_or_else(|| "configuration".to_owned()),
        reason,
    }
}
