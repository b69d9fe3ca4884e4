//! Who is calling: the authenticated caller of an `/api/v1` route, as the handlers and the
//! scheduler client see it. Its own module so that the client does not depend on how a caller
//! is authenticated (`auth`), which depends on the application state that holds the client.

use model::Role;

/// The authenticated caller of an `/api/v1` route. Extracting it enforces authentication and
/// the viewer's read-only rule.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub subject: String,
    pub tenant: String,
    pub role: Role,
    /// The bearer token, forwarded to the scheduler as the call's credential. `None` only for
    /// a signed webhook call, whose signature is its credential.
    pub token: Option<String>,
    /// The request's `X-Request-Id`, forwarded to the scheduler.
    pub request_id: Option<String>,
}

impl Caller {
    /// The caller of a webhook call that carries a signature instead of a token.
    pub(crate) fn signed_webhook(request_id: Option<String>) -> Self {
        Self {
            subject: "webhook".to_owned(),
            tenant: model::DEFAULT_TENANT.to_owned(),
            role: Role::Operator,
            token: None,
            request_id,
        }
    }
}
