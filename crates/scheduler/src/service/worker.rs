//! `WorkerService`: how workers (ours and external ones) take jobs and report results.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use engine::Input;
use model::JobOutcome;
use proto::v1;
use proto::v1::worker_service_server::WorkerService;
use tonic::{Request, Response, Status};

use crate::SchedulerError;
use crate::committer::Committer;
use crate::convert;
use crate::core::{self, Core};
use crate::lease::Delivery;
use identity::Identity;

/// Longest a `PollJobs` call may wait.
const MAX_POLL_WAIT: Duration = Duration::from_secs(30);
const MAX_POLL_JOBS: u32 = 100;

pub(crate) struct WorkerApi {
    core: Arc<Core>,
    committer: Committer,
}

impl WorkerApi {
    pub(crate) fn new(core: Arc<Core>, committer: Committer) -> Self {
        Self { core, committer }
    }

    /// The delivery a report names, once its lease token proves it was handed out.
    fn leased(&self, claim: LeaseClaim<'_>) -> Result<Delivery, SchedulerError> {
        let delivery = Delivery {
            instance_id: convert::id(claim.instance_id, "/instance_id")?,
            execution_id: convert::id(claim.execution_id, "/execution_id")?,
            attempt: claim.attempt,
            branch: claim.branch,
        };
        if !self.core.lease.verify(delivery, claim.lease_token) {
            return Err(SchedulerError::WrongLease);
        }
        Ok(delivery)
    }
}

/// What a heartbeat or a result says of its delivery.
struct LeaseClaim<'a> {
    execution_id: &'a str,
    instance_id: &'a str,
    attempt: i32,
    branch: Option<u32>,
    lease_token: &'a str,
}

/// The worker identity the authentication layer let through (it admits nothing else here).
fn worker_identity<T>(request: &Request<T>) -> Result<Identity, SchedulerError> {
    request
        .extensions()
        .get::<Identity>()
        .filter(|identity| identity.role == model::Role::Worker)
        .cloned()
        .ok_or(SchedulerError::Unauthenticated)
}

#[tonic::async_trait]
impl WorkerService for WorkerApi {
    async fn poll_jobs(
        &self,
        request: Request<v1::PollJobsRequest>,
    ) -> Result<Response<v1::PollJobsResponse>, Status> {
        let identity = worker_identity(&request)?;
        let body = request.into_inner();
        if body.queue.is_empty() {
            return Err(SchedulerError::invalid("/queue", "must not be empty").into());
        }
        // The queue as it is kept: a tenant's worker names its own queues by their action, and
        // never reaches the shared queue or another tenant's.
        let queue = identity.worker_queue(&body.queue).ok_or_else(|| {
            SchedulerError::PermissionDenied(format!("worker for queue '{}'", body.queue))
        })?;
        let worker_id = if body.worker_id.is_empty() {
            "external".to_owned()
        } else {
            body.worker_id
        };
        let wait = Duration::from_millis(u64::from(body.wait_ms)).min(MAX_POLL_WAIT);
        let max = body.max_jobs.clamp(1, MAX_POLL_JOBS) as usize;
        let deliveries = self
            .core
            .queue
            .consume(&queue, &worker_id, max, wait, self.core.settings.job_lease)
            .await
            .map_err(SchedulerError::from)?;
        // An external worker cannot acknowledge stream entries; the job's row and lease in the
        // database are what bring it back if the worker dies, so the entries are acked here.
        let ids: Vec<String> = deliveries.iter().map(|d| d.id.clone()).collect();
        if !ids.is_empty() {
            self.core
                .queue
                .ack(&queue, &ids)
                .await
                .map_err(SchedulerError::from)?;
        }
        Ok(Response::new(v1::PollJobsResponse {
            jobs: deliveries.iter().map(|d| convert::job(&d.job)).collect(),
        }))
    }

    async fn heartbeat(
        &self,
        request: Request<v1::HeartbeatRequest>,
    ) -> Result<Response<v1::HeartbeatResponse>, Status> {
        worker_identity(&request)?;
        let body = request.into_inner();
        let Delivery {
            instance_id,
            execution_id,
            ..
        } = self.leased(LeaseClaim {
            execution_id: &body.execution_id,
            instance_id: &body.instance_id,
            attempt: body.attempt,
            branch: body.branch,
            lease_token: &body.lease_token,
        })?;
        let lease = chrono::Duration::from_std(self.core.settings.job_lease)
            .unwrap_or(chrono::Duration::seconds(30));
        let current = self
            .core
            .store
            .extend_lease(execution_id, body.attempt, Utc::now() + lease)
            .await
            .map_err(SchedulerError::from)?;
        if !current {
            return Ok(Response::new(v1::HeartbeatResponse { cancelled: true }));
        }
        let input = Input::JobStarted {
            execution_id,
            attempt: body.attempt,
            branch: body.branch,
        };
        self.committer
            .submit(core::Request::internal(instance_id, input))
            .await?;
        Ok(Response::new(v1::HeartbeatResponse { cancelled: false }))
    }

    async fn complete_job(
        &self,
        request: Request<v1::CompleteJobRequest>,
    ) -> Result<Response<v1::CompleteJobResponse>, Status> {
        let identity = worker_identity(&request)?;
        let body = request.into_inner();
        let Delivery {
            instance_id,
            execution_id,
            ..
        } = self.leased(LeaseClaim {
            execution_id: &body.execution_id,
            instance_id: &body.instance_id,
            attempt: body.attempt,
            branch: body.branch,
            lease_token: &body.lease_token,
        })?;
        // A queue this worker could not poll is not handed to it in an answer either.
        let eager_queue = Some(body.accept_next_from)
            .filter(|queue| !queue.is_empty() && identity.may_consume(queue));
        let outcome = match body.result {
            Some(v1::complete_job_request::Result::OutputJson(text)) => JobOutcome::Completed(
                convert::document(&text, "/output_json", serde_json::Value::Null)?,
            ),
            Some(v1::complete_job_request::Result::Error(error)) => {
                JobOutcome::Failed(convert::step_error_from(error))
            }
            None => {
                return Err(
                    SchedulerError::invalid("/result", "output_json or error is required").into(),
                );
            }
        };
        let started_at = body
            .started_at
            .as_deref()
            .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
            .map(|at| at.to_utc());
        let input = Input::JobFinished {
            started_at,
            execution_id,
            attempt: body.attempt,
            branch: body.branch,
            outcome,
        };
        let mut request = core::Request::internal(instance_id, input);
        request.eager_queue = eager_queue;
        let applied = self.committer.submit(request).await?;
        Ok(Response::new(v1::CompleteJobResponse {
            accepted: applied.accepted,
            next_jobs: applied.next_job.iter().map(convert::job).collect(),
        }))
    }
}
