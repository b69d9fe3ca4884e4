//! The worker's side of `WorkerService`: heartbeats and results, over one long-lived channel
//! balanced across the scheduler replicas.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use model::{Job, StepError};
use proto::v1::worker_service_client::WorkerServiceClient;
use proto::v1::{CompleteJobRequest, HeartbeatRequest, complete_job_request};
use serde_json::Value;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};

use crate::WorkerError;

/// An answer slower than this is treated as lost; a balanced channel with every replica down
/// would otherwise wait for readiness forever.
const RPC_TIMEOUT: Duration = Duration::from_secs(10);
const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub(crate) struct Scheduler {
    client: WorkerServiceClient<Channel>,
}

/// What became of a reported result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reported {
    Accepted,
    /// The attempt was no longer current (cancelled, timed out, already reported).
    Ignored,
    /// The scheduler refused the report for good (unknown execution, malformed result).
    Refused,
}

impl Scheduler {
    /// Connects lazily: a worker may start before the scheduler, and the channel reconnects by
    /// itself when a replica comes back.
    pub(crate) fn connect(urls: &[String]) -> Result<Self, WorkerError> {
        let mut endpoints = Vec::with_capacity(urls.len());
        for url in urls {
            let endpoint = Endpoint::from_shared(url.clone())
                .map_err(|source| WorkerError::SchedulerUrl {
                    url: url.clone(),
                    source,
                })?
                .connect_timeout(Duration::from_secs(5))
                .tcp_nodelay(true)
                .http2_keep_alive_interval(Duration::from_secs(30))
                .keep_alive_while_idle(true);
            endpoints.push(endpoint);
        }
        let channel = match endpoints.as_slice() {
            [] => {
                return Err(WorkerError::Config {
                    name: "SCHEDULER_URL",
                    message: "names no endpoint".to_owned(),
                });
            }
            [one] => one.connect_lazy(),
            _ => Channel::balance_list(endpoints.into_iter()),
        };
        Ok(Self {
            client: WorkerServiceClient::new(channel),
        })
    }

    /// Marks the job running and extends its lease; true when the scheduler says to stop.
    pub(crate) async fn heartbeat(&self, job: &Job) -> Result<bool, Status> {
        let request = with_tenant(
            HeartbeatRequest {
                execution_id: job.execution_id.to_string(),
                attempt: job.attempt,
                branch: job.branch,
                instance_id: job.instance_id.to_string(),
            },
            &job.tenant,
        );
        let mut client = self.client.clone();
        let response = tokio::time::timeout(RPC_TIMEOUT, client.heartbeat(request))
            .await
            .map_err(|_| Status::deadline_exceeded("heartbeat timed out"))??;
        Ok(response.into_inner().cancelled)
    }

    /// Sends the result until the scheduler has it: a lost result would leave the step waiting
    /// for its lease to run out. Only a refusal for good ends the loop early; the caller's
    /// shutdown ends it by dropping this future.
    pub(crate) async fn report(&self, job: &Job, report: Report) -> Reported {
        let request = report.into_request(job);
        let mut delay = FIRST_RETRY;
        let mut tries = 0u32;
        loop {
            tries += 1;
            let mut client = self.client.clone();
            let call = client.complete_job(with_tenant(request.clone(), &job.tenant));
            let status = match tokio::time::timeout(RPC_TIMEOUT, call).await {
                Ok(Ok(response)) if response.get_ref().accepted => return Reported::Accepted,
                Ok(Ok(_)) => return Reported::Ignored,
                Ok(Err(status)) => status,
                Err(_) => Status::deadline_exceeded("complete job timed out"),
            };
            if refused_for_good(status.code()) {
                tracing::error!(code = ?status.code(), error = %status.message(), "scheduler refused the result");
                return Reported::Refused;
            }
            tracing::warn!(
                tries,
                retry_in_ms = delay.as_millis() as u64,
                code = ?status.code(),
                error = %status.message(),
                "reporting the result failed, retrying"
            );
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(MAX_RETRY);
        }
    }
}

/// A job's result as it goes to the scheduler.
pub(crate) struct Report {
    pub result: Result<Value, StepError>,
    pub started_at: DateTime<Utc>,
}

impl Report {
    fn into_request(self, job: &Job) -> CompleteJobRequest {
        let result = match self.result {
            Ok(output) => complete_job_request::Result::OutputJson(output.to_string()),
            Err(error) => complete_job_request::Result::Error(proto::v1::StepError {
                r#type: error.kind,
                message: error.message,
                retryable: error.retryable,
            }),
        };
        CompleteJobRequest {
            execution_id: job.execution_id.to_string(),
            attempt: job.attempt,
            branch: job.branch,
            result: Some(result),
            started_at: Some(self.started_at.to_rfc3339_opts(SecondsFormat::Micros, true)),
            instance_id: job.instance_id.to_string(),
        }
    }
}

fn with_tenant<T>(message: T, tenant: &str) -> Request<T> {
    let mut request = Request::new(message);
    if let Ok(value) = tenant.parse() {
        request.metadata_mut().insert(proto::TENANT_HEADER, value);
    }
    request
}

/// Codes that say the same report will never be taken: sending it again would hold a worker
/// slot forever. Everything else (unavailable, overloaded, internal) may pass later.
fn refused_for_good(code: Code) -> bool {
    matches!(
        code,
        Code::InvalidArgument | Code::NotFound | Code::FailedPrecondition | Code::AlreadyExists
    )
}
