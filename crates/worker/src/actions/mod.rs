//! The built-in actions, one per file. Each takes the job's rendered config and gives the step's
//! output, or a typed [`StepError`] whose `retryable` tells the scheduler whether to try again.

mod address_guard;
mod http_request;
mod log_message;
mod noop;
mod send_email;
mod set_variable;

use model::{Job, StepError};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{WorkerError, WorkerSettings};

pub(crate) use http_request::HttpRequest;
pub(crate) use send_email::SendEmail;

pub(crate) type ActionResult = Result<Value, StepError>;

/// Every executor this worker has, built once and shared by all jobs.
pub(crate) struct Actions {
    http: HttpRequest,
    email: SendEmail,
}

impl Actions {
    pub(crate) fn build(settings: &WorkerSettings) -> Result<Self, WorkerError> {
        Ok(Self {
            http: HttpRequest::new(settings.allow_private_http)?,
            email: SendEmail::new(settings.smtp_url.as_deref())?,
        })
    }

    pub(crate) async fn run(&self, job: &Job) -> ActionResult {
        match job.action.as_str() {
            "http_request" => self.http.run(&job.input).await,
            "send_email" => self.email.run(&job.input).await,
            "log_message" => log_message::run(job),
            "noop" => noop::run(),
            "set_variable" => set_variable::run(&job.input),
            other => Err(StepError::new(
                "unknown_action",
                format!("this worker has no executor for action {other:?}"),
                false,
            )),
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
