//! How a service reaches the scheduler's gRPC API: over the network, an HTTP/2 [`Channel`]; in
//! the embedded mode, the scheduler's own router called in process. Both are the same boxed
//! tower service, so the clients, the credentials they send and the checks the scheduler makes
//! (authentication, metrics, spans) are one code path; in process there is no socket, no HTTP/2
//! framing and no wake-up of a connection task per call, only the protobuf codec.

use std::convert::Infallible;

use tonic::body::Body;
use tonic::transport::{Channel, Error};
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceExt};

/// A transport the generated clients run over (`WorkflowServiceClient<SchedulerTransport>`).
/// Its error is the channel's own concrete type (in process nothing fails below gRPC): a boxed
/// error here trips the compiler's higher-ranked `Send` checks in every async caller.
pub type SchedulerTransport = BoxCloneSyncService<http::Request<Body>, http::Response<Body>, Error>;

/// A network channel (one endpoint or a balanced list) as a transport.
pub fn over_network(channel: Channel) -> SchedulerTransport {
    BoxCloneSyncService::new(channel)
}

/// A server-side service stack (the scheduler's routes under its layers) as a transport.
pub fn in_process<S>(service: S) -> SchedulerTransport
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    BoxCloneSyncService::new(service.map_err(|never: Infallible| match never {}))
}
