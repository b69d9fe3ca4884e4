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

/// Longest a `PollJobs` call may wait.
const MAX_POLL_WAIT: Duration = Duration::from_secs(30);
const MAX_POLL_JOBS: u32 = 100;

pub struct WorkerApi {
    core: Arc<Core>,
    committer: Committer,
}

impl WorkerApi {
    pub fn new(core: Arc<Core>, committer: Committer) -> Self {
        Self { core, committer }
    }
}

#[tonic::async_trait]
impl WorkerService for WorkerApi {
    async fn poll_jobs(
        &self,
        request: Request<v1::PollJobsRequest>,
    ) -> Result<Response<v1::PollJobsResponse>, Status> {
        let body = request.into_inner();
        if body.queue.is_empty() {
            return Err(SchedulerError::invalid("/queue", "must not be empty").into());
        }
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
            .consume(
                &body.queue,
                &worker_id,
                max,
                wait,
                self.core.settings.job_lease,
            )
            .await
            .map_err(SchedulerError::from)?;
        // An external worker cannot acknowledge stream entries; the job's row and lease in the
        // database are what bring it back if the worker dies, so the entries are acked here.
        let ids: Vec<String> = deliveries.iter().map(|d| d.id.clone()).collect();
        if !ids.is_empty() {
            self.core
                .queue
                .ack(&body.queue, &ids)
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
        let body = request.into_inner();
        let execution_id = convert::id(&body.execution_id, "/execution_id")?;
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
        let instance_id = convert::id(&body.instance_id, "/instance_id")?;
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
        let body = request.into_inner();
        let execution_id = convert::id(&body.execution_id, "/execution_id")?;
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
        let instance_id = convert::id(&body.instance_id, "/instance_id")?;
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
        let applied = self
            .committer
            .submit(core::Request::internal(instance_id, input))
            .await?;
        Ok(Response::new(v1::CompleteJobResponse {
            accepted: applied.accepted,
        }))
    }
}
