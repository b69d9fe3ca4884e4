//! TLS on the gRPC port (`GRPC_TLS_CERT`, `GRPC_TLS_KEY`), with client certificates required
//! when `GRPC_TLS_CLIENT_CA` is set (mTLS).

use tonic::transport::{Certificate, Identity, ServerTlsConfig};

use crate::{GrpcTls, SchedulerError};

pub(crate) fn server_config(tls: &GrpcTls) -> Result<ServerTlsConfig, SchedulerError> {
    let read = |path: &std::path::Path| {
        std::fs::read(path)
            .map_err(|error| SchedulerError::Tls(format!("{}: {error}", path.display())))
    };
    let identity = Identity::from_pem(read(&tls.cert)?, read(&tls.key)?);
    let mut config = ServerTlsConfig::new().identity(identity);
    if let Some(ca) = &tls.client_ca {
        config = config.client_ca_root(Certificate::from_pem(read(ca)?));
    }
    Ok(config)
}
