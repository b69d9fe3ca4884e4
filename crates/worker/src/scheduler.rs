//! The worker's side of `WorkerService`: heartbeats and results, over one long-lived channel
//! balanced across the scheduler replicas.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use model::{Job, StepError};
use proto::SchedulerTransport;
use proto::v1::worker_service_client::WorkerServiceClient;
use proto::v1::{CompleteJobRequest, HeartbeatRequest, complete_job_request};
use serde_json::Value;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

use crate::{WorkerError, WorkerSettings};

/// An answer slower than this is treated as lost; a balanced channel with every replica down
/// would otherwise wait for readiness forever.
const RPC_TIMEOUT: Duration = Duration::from_secs(10);
const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub(crate) struct SchedulerClient {
    client: WorkerServiceClient<SchedulerTransport>,
    /// `authorization` metadata of every call: the worker's own token.
    credential: MetadataValue<Ascii>,
}

/// What became of a reported result.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reported {
    /// Taken; with the next job the scheduler handed over in its answer (eager dispatch).
    Accepted(Option<Box<Job>>),
    /// The attempt was no longer current (cancelled, timed out, already reported).
    Ignored,
    /// The scheduler refused the report for good (unknown execution, malformed result).
    Refused,
}

impl SchedulerClient {
    /// Connects lazily: a worker may start before the scheduler, and the channel reconnects by
    /// itself when a replica comes back. In the embedded mode it calls the scheduler in process.
    pub(crate) fn connect(settings: &WorkerSettings) -> Result<Self, WorkerError> {
        let credential = proto::bearer(&settings.token)
            .filter(|_| !settings.token.is_empty())
            .ok_or_else(|| WorkerError::Config {
                name: "WORKER_TOKEN",
                message: "a worker token is required (workflow-engine token --role worker)"
                    .to_owned(),
            })?;
        if let Some(transport) = settings.in_process_scheduler.clone() {
            return Ok(Self {
                client: WorkerServiceClient::new(transport),
                credential,
            });
        }
        let urls = &settings.scheduler_urls;
        let mut endpoints = Vec::with_capacity(urls.len());
        for url in urls {
            let endpoint = proto::endpoint(url, settings.tls.as_ref())
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
            client: WorkerServiceClient::new(proto::over_network(channel)),
            credential,
        })
    }

    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", self.credential.clone());
        proto::trace::inject_metadata(request.metadata_mut());
        request
    }

    /// Marks the job running and extends its lease; true when the scheduler says to stop.
    pub(crate) async fn heartbeat(&self, job: &Job) -> Result<bool, Status> {
        let request = self.request(HeartbeatRequest {
            execution_id: job.execution_id.to_string(),
            attempt: job.attempt,
            branch: job.branch,
            instance_id: job.instance_id.to_string(),
            lease_token: job.lease_token.clone(),
        });
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
            let call = client.complete_job(self.request(request.clone()));
            let status = match tokio::time::timeout(RPC_TIMEOUT, call).await {
                Ok(Ok(response)) if response.get_ref().accepted => {
                    let next = response.into_inner().next_jobs.into_iter().next();
                    return Reported::Accepted(next.and_then(job_from_proto).map(Box::new));
                }
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
    /// Take the next job on this queue in the answer (eager dispatch).
    pub accept_next_from: Option<String>,
}

/// A job handed over in an answer, as the queue would have delivered it. One that does not
/// read is left to its lease: the sweeper hands it out again.
fn job_from_proto(job: proto::v1::Job) -> Option<Job> {
    let parsed = (|| {
        Some(Job {
            execution_id: job.execution_id.parse().ok()?,
            attempt: job.attempt,
            instance_id: job.instance_id.parse().ok()?,
            tenant: job.tenant,
            step_id: job.step_id,
            branch: job.branch,
            queue: job.queue,
            action: job.action,
            input: serde_json::from_str(&job.input_json).ok()?,
            deadline: DateTime::parse_from_rfc3339(&job.deadline).ok()?.to_utc(),
            traceparent: job.traceparent,
            lease_token: job.lease_token,
            // The scheduler's business: a worker goes by `deadline`.
            timeout_timer: None,
        })
    })();
    if parsed.is_none() {
        tracing::warn!("a job handed over in an answer did not read; its lease brings it back");
    }
    parsed
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
            lease_token: job.lease_token.clone(),
            accept_next_from: self.accept_next_from.unwrap_or_default(),
        }
    }
}

/// Codes that say the same report will never be taken: sending it again would hold a worker
/// slot forever. Everything else (unavailable, overloaded, internal) may pass later. A refused
/// credential (an expired worker token, a lease token that does not match) does not mend
/// itself either: the job's lease brings it back to a worker that can report it.
fn refused_for_good(code: Code) -> bool {
    matches!(
        code,
        Code::InvalidArgument
            | Code::NotFound
            | Code::FailedPrecondition
            | Code::AlreadyExists
            | Code::PermissionDenied
            | Code::Unauthenticated
            // Too large for the channel (a message limit): the same bytes never fit.
            | Code::OutOfRange
            | Code::ResourceExhausted
    )
}
