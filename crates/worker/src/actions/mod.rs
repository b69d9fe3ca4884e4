//! The built-in actions, one per file. Each reads the job's rendered config into its type from
//! `model::actions` (the one the engine checks a saved config against) and gives the step's
//! output, or a typed [`StepError`] whose `retryable` tells the scheduler whether to try again.

mod address_guard;
mod breaker;
mod http_request;
mod log_message;
mod noop;
mod send_email;
mod set_variable;

use model::actions::BuiltinAction;
use model::{Job, StepError};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{WorkerError, WorkerSettings};

pub use breaker::BreakerSettings;
pub(crate) use http_request::HttpRequest;
pub(crate) use send_email::SendEmail;

pub(crate) type ActionResult = Result<Value, StepError>;

/// Every executor this worker has, built once and shared by all jobs.
pub(crate) struct Actions {
    http: HttpRequest,
    email: SendEmail,
    /// One breaker per `http_request` host and one for the SMTP server.
    breakers: breaker::Breakers,
    /// `MAX_STEP_OUTPUT_BYTES`: an output above it is never sent (it would exceed the
    /// scheduler's message limit, or be refused there anyway).
    max_output_bytes: usize,
}

/// Longest error message sent with a failed step; the rest is cut, so a failure stays small
/// whatever the target answered.
const MAX_ERROR_MESSAGE: usize = 4096;

impl Actions {
    pub(crate) fn build(settings: &WorkerSettings) -> Result<Self, WorkerError> {
        Ok(Self {
            http: HttpRequest::new(settings.allow_private_http)?,
            email: SendEmail::new(settings.smtp_url.as_deref())?,
            breakers: breaker::Breakers::new(settings.breaker),
            max_output_bytes: settings.max_output_bytes,
        })
    }

    /// Runs the job's action; the result is bounded (output size, error message length).
    pub(crate) async fn run(&self, job: &Job) -> ActionResult {
        bounded(self.execute(job).await, self.max_output_bytes)
    }

    async fn execute(&self, job: &Job) -> ActionResult {
        let Some(action) = BuiltinAction::from_name(&job.action) else {
            return Err(StepError::new(
                "unknown_action",
                format!("this worker has no executor for action {:?}", job.action),
                false,
            ));
        };
        match action {
            BuiltinAction::HttpRequest => match http_target(&job.input) {
                Some(target) => {
                    let call = self.http.run(&job.input);
                    self.breakers.call(&target, call).await
                }
                None => self.http.run(&job.input).await,
            },
            BuiltinAction::SendEmail => {
                self.breakers.call("smtp", self.email.run(&job.input)).await
            }
            BuiltinAction::LogMessage => log_message::run(job),
            BuiltinAction::Noop => noop::run(),
            BuiltinAction::SetVariable => set_variable::run(&job.input),
        }
    }
}

/// The breaker key of an `http_request`: the URL's host and port. A URL that does not parse
/// has none (the action refuses it as `invalid_config`).
fn http_target(input: &Value) -> Option<String> {
    let url = reqwest::Url::parse(input.get("url")?.as_str()?).ok()?;
    Some(format!(
        "{}:{}",
        url.host_str()?,
        url.port_or_known_default().unwrap_or_default()
    ))
}

/// An output over `limit` bytes of JSON fails the step for good (`output_too_large`): the same
/// request would bring the same answer back.
fn bounded(result: ActionResult, limit: usize) -> ActionResult {
    match result {
        Ok(output) => {
            let size = serde_json::to_vec(&output).map_or(usize::MAX, |bytes| bytes.len());
            if size > limit {
                return Err(StepError::new(
                    "output_too_large",
                    format!("the step output is {size} bytes, more than the limit of {limit}"),
                    false,
                ));
            }
            Ok(output)
        }
        Err(mut error) => {
            if error.message.len() > MAX_ERROR_MESSAGE {
                let mut end = MAX_ERROR_MESSAGE;
                while !error.message.is_char_boundary(end) {
                    end -= 1;
                }
                error.message.truncate(end);
                error.message.push('…');
            }
            Err(error)
        }
    }
}

/// Reads an action's config; a config that does not fit is the template author's mistake, so
/// trying again cannot help.
fn parse_config<T: DeserializeOwned>(action: &str, input: &Value) -> Result<T, StepError> {
    T::deserialize(input).map_err(|err| invalid_config(format!("{action}: {err}")))
}

fn invalid_config(message: impl Into<String>) -> StepError {
    StepError::new("invalid_config", message, false)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::json;

    use super::*;

    pub(crate) fn job(action: &str, input: Value) -> Job {
        Job {
            execution_id: model::new_id(),
            attempt: 1,
            instance_id: model::new_id(),
            tenant: model::DEFAULT_TENANT.to_owned(),
            step_id: "step".to_owned(),
            branch: None,
            queue: model::DEFAULT_QUEUE.to_owned(),
            action: action.to_owned(),
            input,
            deadline: Utc::now() + chrono::Duration::seconds(30),
            traceparent: None,
            lease_token: String::new(),
            timeout_timer: None,
        }
    }

    fn actions() -> Actions {
        Actions::build(&WorkerSettings::default()).unwrap()
    }

    #[tokio::test]
    async fn noop_outputs_an_empty_object() {
        let output = actions().run(&job("noop", json!({}))).await.unwrap();
        assert_eq!(output, json!({}));
    }

    #[test]
    fn an_output_over_the_limit_fails_for_good_and_long_errors_are_cut() {
        let big = Ok(json!({"body": "x".repeat(2000)}));
        let err = bounded(big, 1000).unwrap_err();
        assert_eq!(err.kind, "output_too_large");
        assert!(!err.retryable);
        assert_eq!(
            bounded(Ok(json!({"ok": 1})), 1000).unwrap(),
            json!({"ok": 1})
        );
        let long = Err(StepError::new("http_4xx", "é".repeat(10_000), false));
        let err = bounded(long, 1000).unwrap_err();
        assert!(
            err.message.len() <= MAX_ERROR_MESSAGE + 3,
            "{}",
            err.message.len()
        );
        assert_eq!(err.kind, "http_4xx");
    }

    #[tokio::test]
    async fn an_unknown_action_fails_for_good() {
        let err = actions()
            .run(&job("process_data_1", json!({})))
            .await
            .unwrap_err();
        assert_eq!(err.kind, "unknown_action");
        assert!(!err.retryable);
    }
}
