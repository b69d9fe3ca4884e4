use std::time::Duration;

use crate::WorkerError;

/// How one worker process runs: which queues it serves, how much at once, where it reports.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// `WORKER_QUEUES`: the queues this worker consumes (`default` carries the built-in actions).
    pub queues: Vec<String>,
    /// `WORKER_CONCURRENCY`: jobs running at once, over all queues.
    pub concurrency: usize,
    /// The consumer name in the queue's consumer group; unique per process.
    pub consumer_name: String,
    /// `SCHEDULER_URL`: one or more scheduler endpoints; results are balanced over them.
    pub scheduler_urls: Vec<String>,
    /// `SMTP_URL`: `smtp://host:port`, `smtps://user:pass@host`, `smtp://host?tls=required`.
    pub smtp_url: Option<String>,
    /// `HTTP_ACTION_ALLOW_PRIVATE`: let `http_request` reach loopback, private and link-local
    /// addresses.
    pub allow_private_http: bool,
    /// The lease after which another worker takes over a job this one has not acknowledged.
    pub claim_after: Duration,
    /// `WORKER_TOKEN`: this worker's credential on the scheduler (a JWT of role `worker`).
    pub token: String,
    /// `GRPC_TLS_*`: TLS for `https://` scheduler URLs.
    pub tls: Option<proto::ClientTls>,
    /// `MAX_STEP_OUTPUT_BYTES`: the largest output a step may report (1 MiB), well below the
    /// gRPC message limit, so a result always fits its report.
    pub max_output_bytes: usize,
    /// `CIRCUIT_BREAKER_FAILURES` / `CIRCUIT_BREAKER_COOLDOWN`: breakers per target host.
    pub breaker: crate::actions::BreakerSettings,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            queues: vec![model::DEFAULT_QUEUE.to_owned()],
            concurrency: 16,
            consumer_name: default_consumer_name(),
            scheduler_urls: vec!["http://127.0.0.1:50051".to_owned()],
            smtp_url: None,
            allow_private_http: false,
            claim_after: Duration::from_secs(60),
            token: String::new(),
            tls: None,
            max_output_bytes: 1 << 20,
            breaker: crate::actions::BreakerSettings::default(),
        }
    }
}

impl WorkerSettings {
    /// Reads the settings from the environment, defaults where a variable is unset.
    pub fn from_env() -> Result<Self, WorkerError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (the environment, or a map in tests). A value that
    /// does not parse is an error naming its variable.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, WorkerError> {
        let mut settings = Self::default();
        if let Some(token) = lookup("WORKER_TOKEN") {
            settings.token = token.trim().to_owned();
        }
        if let Some(raw) = lookup("WORKER_QUEUES") {
            settings.queues = split_list(&raw);
            if settings.queues.is_empty() {
                return Err(invalid("WORKER_QUEUES", "names no queue"));
            }
        }
        if let Some(raw) = lookup("WORKER_CONCURRENCY") {
            settings.concurrency = match raw.trim().parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => return Err(invalid("WORKER_CONCURRENCY", "must be a positive integer")),
            };
        }
        if let Some(raw) = lookup("SCHEDULER_URL") {
            settings.scheduler_urls = split_list(&raw);
            if settings.scheduler_urls.is_empty() {
                return Err(invalid("SCHEDULER_URL", "names no endpoint"));
            }
        }
        if let Some(raw) = lookup("MAX_STEP_OUTPUT_BYTES") {
            settings.max_output_bytes = match raw.trim().parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => {
                    return Err(invalid(
                        "MAX_STEP_OUTPUT_BYTES",
                        "must be a positive integer",
                    ));
                }
            };
        }
        settings.smtp_url = lookup("SMTP_URL").filter(|url| !url.trim().is_empty());
        if let Some(raw) = lookup("HTTP_ACTION_ALLOW_PRIVATE") {
            settings.allow_private_http = match raw.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" | "" => false,
                _ => {
                    return Err(invalid(
                        "HTTP_ACTION_ALLOW_PRIVATE",
                        "must be true or false",
                    ));
                }
            };
        }
        Ok(settings)
    }
}

fn split_list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

fn invalid(name: &'static str, message: &str) -> WorkerError {
    WorkerError::Config {
        name,
        message: message.to_owned(),
    }
}

/// Host name plus pid tells operators which process holds a job; the uuid keeps two workers
/// unique even when both run as pid 1 in containers with the same host name.
fn default_consumer_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".to_owned());
    let unique = uuid::Uuid::now_v7().simple().to_string();
    format!(
        "{host}-{}-{}",
        std::process::id(),
        &unique[unique.len() - 8..]
    )
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<WorkerSettings, WorkerError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        WorkerSettings::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_serve_the_default_queue_sixteen_at_a_time() {
        let settings = from(&[]).unwrap();
        assert_eq!(settings.queues, vec!["default"]);
        assert_eq!(settings.concurrency, 16);
        assert!(!settings.allow_private_http);
        assert!(settings.smtp_url.is_none());
    }

    #[test]
    fn lists_are_comma_separated() {
        let settings = from(&[
            ("WORKER_QUEUES", "default, resize_image"),
            ("SCHEDULER_URL", "http://a:50051,http://b:50051"),
            ("WORKER_CONCURRENCY", "4"),
            ("HTTP_ACTION_ALLOW_PRIVATE", "true"),
        ])
        .unwrap();
        assert_eq!(settings.queues, vec!["default", "resize_image"]);
        assert_eq!(settings.scheduler_urls.len(), 2);
        assert_eq!(settings.concurrency, 4);
        assert!(settings.allow_private_http);
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let err = from(&[("WORKER_CONCURRENCY", "zero")]).unwrap_err();
        assert!(err.to_string().contains("WORKER_CONCURRENCY"), "{err}");
        let err = from(&[("HTTP_ACTION_ALLOW_PRIVATE", "maybe")]).unwrap_err();
        assert!(
            err.to_string().contains("HTTP_ACTION_ALLOW_PRIVATE"),
            "{err}"
        );
    }

    #[test]
    fn consumer_names_differ_between_workers() {
        assert_ne!(default_consumer_name(), default_consumer_name());
    }
}
