//! Bearer tokens on the REST API: verified by the `identity` crate under the same rules the
//! scheduler applies to gRPC calls; the verified token itself is forwarded to the scheduler,
//! which reads the caller's tenant and role from it again.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, header};
use identity::{IdentityError, TenantScope};

use crate::caller::Caller;
use crate::error::ApiError;
use crate::state::AppState;

fn refused(error: IdentityError) -> ApiError {
    tracing::debug!(error = %error, "token refused");
    ApiError::unauthenticated(error.to_string())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = bearer(parts, state)?;
        let reads = parts.method == Method::GET || parts.method == Method::HEAD;
        if !caller.role.may_write() && !reads {
            return Err(ApiError::forbidden("a viewer may only read"));
        }
        Ok(caller)
    }
}

/// The caller named by the bearer token, of any user role: the viewer's read-only rule is the
/// extractor's, and a stream ticket (`routes::tickets`) is open to viewers too. A worker token
/// never calls the API.
pub(crate) fn bearer(parts: &Parts, state: &AppState) -> Result<Caller, ApiError> {
    let header = parts
        .headers
        .get(header::AUTHORIZATION)
        .map(|value| value.to_str().map_err(|_| IdentityError::NotBearer))
        .transpose()
        .map_err(refused)?;
    let token = identity::bearer(header).map_err(refused)?;
    let identity = state.auth.verify(token).map_err(refused)?;
    let (TenantScope::One(tenant), true) = (identity.tenant, identity.role.may_read()) else {
        return Err(ApiError::forbidden("a worker token may not call the API"));
    };
    // After the token is verified: only a signed tenant claim spends a tenant's budget.
    if let Some(limit) = &state.rate_limit {
        limit.check(&tenant)?;
    }
    let request_id = parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let span = tracing::Span::current();
    span.record("tenant", tenant.as_str());
    span.record("subject", identity.subject.as_str());
    Ok(Caller {
        subject: identity.subject,
        tenant,
        role: identity.role,
        token: Some(token.to_owned()),
        request_id,
    })
}
