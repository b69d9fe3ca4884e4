//! How a service reaches the scheduler: one endpoint per URL, with TLS for `https://` URLs
//! (the public roots, plus `GRPC_TLS_CA` when the scheduler's certificate comes from a private
//! CA, and `GRPC_TLS_CERT`/`GRPC_TLS_KEY` as the client certificate when the scheduler asks for
//! one).

use std::path::PathBuf;

use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

/// The TLS settings of a client of the scheduler.
#[derive(Debug, Clone, Default)]
pub struct ClientTls {
    /// `GRPC_TLS_CA`: a PEM bundle of the CA that signed the scheduler's certificate.
    pub ca: Option<PathBuf>,
    /// `GRPC_TLS_CERT` and `GRPC_TLS_KEY`: this process's certificate, for mTLS.
    pub identity: Option<(PathBuf, PathBuf)>,
}

#[derive(Debug)]
pub enum EndpointError {
    Url(tonic::transport::Error),
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    Tls(tonic::transport::Error),
}

impl std::fmt::Display for EndpointError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Url(error) => write!(f, "invalid url: {error}"),
            Self::Read { path, error } => write!(f, "{}: {error}", path.display()),
            Self::Tls(error) => write!(f, "tls: {error}"),
        }
    }
}

impl std::error::Error for EndpointError {}

/// An endpoint for `url`, with TLS when it is `https://`.
pub fn endpoint(url: &str, tls: Option<&ClientTls>) -> Result<Endpoint, EndpointError> {
    let endpoint = Endpoint::from_shared(url.to_owned()).map_err(EndpointError::Url)?;
    if !url.starts_with("https://") {
        return Ok(endpoint);
    }
    let read = |path: &PathBuf| {
        std::fs::read(path).map_err(|error| EndpointError::Read {
            path: path.clone(),
            error,
        })
    };
    let mut config = ClientTlsConfig::new().with_webpki_roots();
    let default = ClientTls::default();
    let tls = tls.unwrap_or(&default);
    if let Some(ca) = &tls.ca {
        config = config.ca_certificate(Certificate::from_pem(read(ca)?));
    }
    if let Some((cert, key)) = &tls.identity {
        config = config.identity(Identity::from_pem(read(cert)?, read(key)?));
    }
    endpoint.tls_config(config).map_err(EndpointError::Tls)
}

/// The `authorization` metadata value of a bearer token.
pub fn bearer(token: &str) -> Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>> {
    format!("Bearer {token}").parse().ok()
}
