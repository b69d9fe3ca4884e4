//! Every gRPC call is authenticated here, before any service sees it: the `authorization:
//! Bearer <JWT>` metadata is verified by the same rules as the gateway's, and the identity it
//! names (tenant, role, queues) rides in the request's extensions. Nothing else in the
//! metadata speaks for the caller. Which identity a method takes is decided by its path:
//!
//! - health: open (load balancers and orchestrators probe it without credentials);
//! - `TriggerService/FireWebhook`: open, because the webhook's signature, checked by the
//!   service against the trigger's secret, is its credential;
//! - `WorkerService`: a worker token only;
//! - every other method, reflection included: a user token (admin, operator, viewer).

use std::sync::Arc;

use http::{Request, Response};
use identity::{Identity, IdentityError, Verifier};
use model::Role;
use tonic::Status;
use tower_http::validate_request::ValidateRequest;

const HEALTH: &str = "/grpc.health.v1.Health/";
const FIRE_WEBHOOK: &str = "/chorus.workflow.v1.TriggerService/FireWebhook";
const WORKER_SERVICE: &str = "/chorus.workflow.v1.WorkerService/";

/// The validator of every call to the gRPC port.
#[derive(Clone)]
pub(crate) struct GrpcAuth {
    verifier: Arc<Verifier>,
}

impl GrpcAuth {
    pub(crate) fn new(verifier: Arc<Verifier>) -> Self {
        Self { verifier }
    }

    fn identity<B>(&self, request: &Request<B>) -> Result<Identity, IdentityError> {
        let header = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .map(|value| value.to_str().map_err(|_| IdentityError::NotBearer))
            .transpose()?;
        let token = identity::bearer(header)?;
        self.verifier.verify(token)
    }
}

impl<B> ValidateRequest<B> for GrpcAuth {
    type ResponseBody = tonic::body::Body;

    fn validate(&mut self, request: &mut Request<B>) -> Result<(), Response<Self::ResponseBody>> {
        let path = request.uri().path();
        if path.starts_with(HEALTH) || path == FIRE_WEBHOOK {
            return Ok(());
        }
        let worker_method = path.starts_with(WORKER_SERVICE);
        let identity = match self.identity(request) {
            Ok(identity) => identity,
            Err(error) => {
                tracing::debug!(method = %path, error = %error, "grpc call refused");
                return Err(Status::unauthenticated(error.to_string()).into_http());
            }
        };
        let allowed = if worker_method {
            identity.role == Role::Worker
        } else {
            identity.role.may_read()
        };
        if !allowed {
            let message = if worker_method {
                "only a worker token may take or report jobs"
            } else {
                "a worker token may only take and report jobs"
            };
            return Err(Status::permission_denied(message).into_http());
        }
        request.extensions_mut().insert(identity);
        Ok(())
    }
}
