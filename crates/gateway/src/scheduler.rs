use std::future::Future;
use std::time::Duration;

use proto::SchedulerTransport;
use proto::v1::trigger_service_client::TriggerServiceClient;
use proto::v1::workflow_service_client::WorkflowServiceClient;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::caller::Caller;
use crate::error::{ApiError, GatewayError};

/// How long one scheduler call may take before the gateway answers 503. Bounds the wait when
/// every scheduler is down (a balanced channel waits for a ready endpoint).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// Metadata key carrying the request id to the scheduler, for correlated logs.
pub(crate) const REQUEST_ID_HEADER: &str = "x-request-id";

/// The gRPC clients of the scheduler: over one lazily connected channel, so the gateway starts
/// (and answers 503) while no scheduler is up yet, or in process in the embedded mode.
#[derive(Clone)]
pub(crate) struct SchedulerClient {
    workflow: WorkflowServiceClient<SchedulerTransport>,
    triggers: TriggerServiceClient<SchedulerTransport>,
    health: HealthClient<SchedulerTransport>,
    /// Tries per call: one per replica, at least two (a lone scheduler may have restarted).
    attempts: usize,
}

impl SchedulerClient {
    pub(crate) fn connect_lazy(
        urls: &[String],
        tls: Option<&proto::ClientTls>,
    ) -> Result<Self, GatewayError> {
        let mut endpoints = Vec::with_capacity(urls.len());
        for url in urls.iter().map(|u| u.trim()).filter(|u| !u.is_empty()) {
            let endpoint = proto::endpoint(url, tls)
                .map_err(|source| GatewayError::SchedulerUrl {
                    url: url.to_string(),
                    source,
                })?
                .connect_timeout(CONNECT_TIMEOUT)
                .tcp_nodelay(true);
            endpoints.push(endpoint);
        }
        let attempts = endpoints.len().max(2);
        let channel = match endpoints.len() {
            0 => return Err(GatewayError::NoSchedulerUrl),
            1 => endpoints.remove(0).connect_lazy(),
            _ => Channel::balance_list(endpoints.into_iter()),
        };
        Ok(Self::over(proto::over_network(channel), attempts))
    }

    /// The scheduler in this process (the embedded mode): one try per call, nothing to fail
    /// over to.
    pub(crate) fn in_process(transport: SchedulerTransport) -> Self {
        Self::over(transport, 1)
    }

    fn over(transport: SchedulerTransport, attempts: usize) -> Self {
        Self {
            workflow: WorkflowServiceClient::new(transport.clone()),
            triggers: TriggerServiceClient::new(transport.clone()),
            health: HealthClient::new(transport),
            attempts,
        }
    }

    /// Calls the workflow service as `caller`, mapping any failure to a problem. A call that
    /// could not reach a scheduler (the connection failed, so nothing was sent) is tried again
    /// on another replica: a balanced channel hands out a dead replica until it has failed.
    pub(crate) async fn call<M, R, F, Fut>(
        &self,
        caller: &Caller,
        message: M,
        f: F,
    ) -> Result<R, ApiError>
    where
        M: Clone,
        F: Fn(WorkflowServiceClient<SchedulerTransport>, tonic::Request<M>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<R>, tonic::Status>>,
    {
        self.call_on(&self.workflow, caller, message, f).await
    }

    /// [`SchedulerClient::call`] for the trigger service.
    pub(crate) async fn call_triggers<M, R, F, Fut>(
        &self,
        caller: &Caller,
        message: M,
        f: F,
    ) -> Result<R, ApiError>
    where
        M: Clone,
        F: Fn(TriggerServiceClient<SchedulerTransport>, tonic::Request<M>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<R>, tonic::Status>>,
    {
        self.call_on(&self.triggers, caller, message, f).await
    }

    async fn call_on<C, M, R, F, Fut>(
        &self,
        client: &C,
        caller: &Caller,
        message: M,
        f: F,
    ) -> Result<R, ApiError>
    where
        C: Clone,
        M: Clone,
        F: Fn(C, tonic::Request<M>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<R>, tonic::Status>>,
    {
        let mut attempt = 1;
        loop {
            let request = self.request(caller, message.clone())?;
            let status = match tokio::time::timeout(CALL_TIMEOUT, f(client.clone(), request)).await
            {
                Ok(Ok(response)) => return Ok(response.into_inner()),
                Ok(Err(status)) => status,
                Err(_) => {
                    return Err(ApiError::unavailable(
                        "the scheduler did not answer in time",
                    ));
                }
            };
            if attempt < self.attempts && never_sent(&status) {
                tracing::debug!(attempt, error = %status.message(), "scheduler unreachable, trying another");
                attempt += 1;
                continue;
            }
            return Err(ApiError::from_status(&status));
        }
    }

    fn request<M>(&self, caller: &Caller, message: M) -> Result<tonic::Request<M>, ApiError> {
        let mut request = tonic::Request::new(message);
        let metadata = request.metadata_mut();
        if let Some(token) = &caller.token {
            let value = proto::bearer(token)
                .ok_or_else(|| ApiError::unauthenticated("malformed bearer token"))?;
            metadata.insert("authorization", value);
        }
        if let Some(id) = &caller.request_id {
            // The id is only for correlation: one that cannot travel is left behind.
            let _ = insert(metadata, REQUEST_ID_HEADER, id);
        }
        proto::trace::inject_metadata(metadata);
        Ok(request)
    }

    /// `grpc.health.v1.Health/Check` for `service` ("" is the scheduler itself).
    pub(crate) async fn check(&self, service: &str) -> Result<(), String> {
        let mut client = self.health.clone();
        let request = HealthCheckRequest {
            service: service.to_string(),
        };
        match tokio::time::timeout(HEALTH_TIMEOUT, client.check(request)).await {
            Ok(Ok(response)) => {
                let status = response.into_inner().status;
                if status == ServingStatus::Serving as i32 {
                    Ok(())
                } else {
                    Err(format!(
                        "not serving ({})",
                        ServingStatus::try_from(status)
                            .map(|s| s.as_str_name())
                            .unwrap_or("unknown")
                    ))
                }
            }
            Ok(Err(status)) => Err(format!("{:?}: {}", status.code(), status.message())),
            Err(_) => Err("timed out".to_string()),
        }
    }
}

/// A status made by the client's transport because it could not connect (a
/// `tonic::ConnectError` in its source chain), not by a scheduler: the request never left, so
/// sending it again cannot do anything twice.
fn never_sent(status: &tonic::Status) -> bool {
    if status.code() != tonic::Code::Unavailable {
        return false;
    }
    let mut source = std::error::Error::source(status);
    while let Some(error) = source {
        if error.is::<tonic::ConnectError>() {
            return true;
        }
        source = error.source();
    }
    false
}

fn insert(
    metadata: &mut tonic::metadata::MetadataMap,
    key: &'static str,
    value: &str,
) -> Result<(), ApiError> {
    // Never drop the tenant silently: the scheduler would fall back to the default tenant.
    let value = MetadataValue::try_from(value)
        .map_err(|_| ApiError::unauthenticated("claims cannot be carried to the scheduler"))?;
    metadata.insert(key, value);
    Ok(())
}
