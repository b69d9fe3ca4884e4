//! The gRPC contract (`proto/chorus/workflow/v1/workflow.proto`) as Rust types, clients and
//! servers, plus the file descriptor set for server reflection. Services meet only here.

// Outside tests a failure is an error returned, or an `expect` that says why it cannot happen
// (clippy.toml allows unwrap in tests); and `pub` means exported from the crate, so what a
// newcomer sees as public is the crate's API.
#![deny(clippy::unwrap_used)]
#![warn(unreachable_pub)]
#![allow(clippy::all)]

pub mod v1 {
    tonic::include_proto!("chorus.workflow.v1");
}

/// For `tonic-reflection`, so that grpcurl works without the .proto files.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("workflow_descriptor");

mod channel;
pub mod trace;
mod transport;

pub use channel::{ClientTls, EndpointError, bearer, endpoint};
pub use transport::{SchedulerTransport, in_process, over_network};
