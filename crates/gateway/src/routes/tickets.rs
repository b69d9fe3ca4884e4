//! Stream tickets: how a browser opens an event stream. `EventSource` cannot send an
//! `Authorization` header, and a bearer token in a URL would land in browser history, proxies
//! and logs; so a caller with a token asks `POST /api/v1/events/tickets` for a ticket and opens
//! `…/events/stream?ticket=…` with it.
//!
//! A ticket is `<payload>.<mac>` (base64url): the caller's tenant, role and subject, an expiry
//! 60 s ahead and a random nonce, signed with HMAC-SHA256 under a key derived from the JWT
//! secret for this one purpose (a ticket is no token, a token no ticket). Stateless, so any
//! gateway replica accepts a ticket another issued. It is checked once, when a stream opens (an
//! open stream outlives it), and only the two stream routes accept one. The gateway never logs
//! query strings (its request span records the path alone), so a ticket stays out of the logs;
//! what may keep it (a proxy's log, the browser's) keeps a string that opens nothing a minute
//! later and nothing but the streams before.

use axum::Json;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use utoipa::ToSchema;

use model::Role;

use crate::auth;
use crate::caller::Caller;
use crate::error::{ApiError, Problem};
use crate::state::AppState;

/// How long a ticket opens a stream.
pub(crate) const TICKET_SECONDS: i64 = 60;

/// Signs and checks tickets.
pub(crate) struct Tickets {
    key: [u8; 32],
    /// The stream routes call the scheduler as the ticket's caller: with a token the gateway
    /// mints for that one call (tenant, role and subject of the ticket, a minute's life), so
    /// the caller's own token never travels in a URL.
    tokens: identity::TokenRules,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    #[serde(rename = "t")]
    tenant: String,
    #[serde(rename = "r")]
    role: Role,
    #[serde(rename = "s")]
    subject: String,
    #[serde(rename = "e")]
    expires: i64,
    #[serde(rename = "n")]
    nonce: String,
}

impl Tickets {
    pub(crate) fn new(tokens: &identity::TokenRules) -> Self {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(tokens.secret.as_bytes())
            .unwrap_or_else(|_| unreachable!("hmac accepts every key length"));
        mac.update(b"chorus gateway: event stream tickets v1");
        Self {
            key: mac.finalize().into_bytes().into(),
            tokens: tokens.clone(),
        }
    }

    fn mac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("hmac accepts every key length"))
    }

    /// A ticket for `caller`, valid until `now + TICKET_SECONDS`.
    pub(crate) fn issue(&self, caller: &Caller, now: DateTime<Utc>) -> (String, DateTime<Utc>) {
        let expires_at = now + chrono::Duration::seconds(TICKET_SECONDS);
        let payload = Payload {
            tenant: caller.tenant.clone(),
            role: caller.role,
            subject: caller.subject.clone(),
            expires: expires_at.timestamp(),
            // UUID v7 carries 74 random bits: two tickets issued in the same second differ.
            nonce: uuid::Uuid::now_v7().simple().to_string(),
        };
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload).unwrap_or_default());
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        (format!("{body}.{signature}"), expires_at)
    }

    /// The caller a ticket was issued to, if it is genuine and not expired at `now`.
    pub(crate) fn verify(&self, ticket: &str, now: DateTime<Utc>) -> Result<Caller, ApiError> {
        let refused = || ApiError::unauthenticated("invalid or expired stream ticket");
        let (body, signature) = ticket.split_once('.').ok_or_else(refused)?;
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| refused())?;
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        // Constant time: a forger learns nothing from how long a refusal takes.
        mac.verify_slice(&signature).map_err(|_| refused())?;
        let payload = URL_SAFE_NO_PAD.decode(body).map_err(|_| refused())?;
        let payload: Payload = serde_json::from_slice(&payload).map_err(|_| refused())?;
        if now.timestamp() >= payload.expires {
            return Err(refused());
        }
        let token = identity::mint(
            &self.tokens,
            &identity::MintRequest {
                subject: payload.subject.clone(),
                tenant: payload.tenant.clone(),
                role: payload.role,
                lifetime_seconds: TICKET_SECONDS as u64,
                queues: None,
            },
        )
        .map_err(|_| refused())?;
        Ok(Caller {
            subject: payload.subject,
            tenant: payload.tenant,
            role: payload.role,
            token: Some(token),
            request_id: None,
        })
    }
}

/// The answer of `POST /api/v1/events/tickets`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TicketDto {
    /// Pass as `?ticket=` to `/api/v1/events/stream` or `/api/v1/instances/{id}/events/stream`.
    pub ticket: String,
    /// When the ticket stops opening streams (an open stream stays open).
    pub expires_at: DateTime<Utc>,
    /// Seconds from now until `expires_at`.
    pub expires_in: i64,
}

/// A ticket for the caller's event streams. Every role may ask, the viewer too (a stream is a
/// read).
#[utoipa::path(post, path = "/api/v1/events/tickets", tag = "events", operation_id = "create_stream_ticket",
    responses((status = 201, body = TicketDto, description = "a ticket valid for 60 seconds"),
        (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: AnyRole,
) -> Result<(StatusCode, Json<TicketDto>), ApiError> {
    let (ticket, expires_at) = state.tickets.issue(&caller.0, Utc::now());
    Ok((
        StatusCode::CREATED,
        Json(TicketDto {
            ticket,
            expires_at,
            expires_in: TICKET_SECONDS,
        }),
    ))
}

/// A bearer token's caller of any role.
pub(crate) struct AnyRole(pub Caller);

impl FromRequestParts<AppState> for AnyRole {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        auth::bearer(parts, state).map(Self)
    }
}

/// The caller of a stream route: the bearer token when there is an `Authorization` header,
/// else the `ticket` query parameter.
pub(crate) struct StreamCaller(pub Caller);

impl FromRequestParts<AppState> for StreamCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if parts
            .headers
            .contains_key(axum::http::header::AUTHORIZATION)
        {
            return Caller::from_request_parts(parts, state).await.map(Self);
        }
        let ticket = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .ok()
            .and_then(|Query(pairs)| {
                pairs
                    .into_iter()
                    .find(|(key, _)| key == "ticket")
                    .map(|(_, value)| value)
            })
            .ok_or_else(|| ApiError::unauthenticated("missing bearer token or stream ticket"))?;
        let mut caller = state.tickets.verify(&ticket, Utc::now())?;
        caller.request_id = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let span = tracing::Span::current();
        span.record("tenant", caller.tenant.as_str());
        span.record("subject", caller.subject.as_str());
        Ok(Self(caller))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(role: Role) -> Caller {
        Caller {
            subject: "ann".into(),
            tenant: "acme".into(),
            role,
            token: None,
            request_id: None,
        }
    }

    fn rules(secret: &str) -> identity::TokenRules {
        identity::TokenRules {
            secret: format!("{secret}-padded-to-thirty-two-bytes"),
            issuer: None,
            audience: None,
            max_lifetime: std::time::Duration::from_secs(3600),
            max_worker_lifetime: std::time::Duration::from_secs(3600),
        }
    }

    #[test]
    fn a_ticket_names_its_caller_until_it_expires() {
        let tickets = Tickets::new(&rules("a-secret-of-some-length"));
        let now = Utc::now();
        let (ticket, expires_at) = tickets.issue(&caller(Role::Viewer), now);
        assert_eq!(expires_at, now + chrono::Duration::seconds(TICKET_SECONDS));
        let back = tickets.verify(&ticket, now).unwrap();
        assert_eq!(
            (back.subject.as_str(), back.tenant.as_str(), back.role),
            ("ann", "acme", Role::Viewer)
        );
        // The scheduler gets a token of the ticket's caller, never the caller's own.
        let token = back.token.expect("a token for the scheduler call");
        let identity = identity::Verifier::new(&rules("a-secret-of-some-length"))
            .unwrap()
            .verify(&token)
            .unwrap();
        assert_eq!(identity.tenant(), Some("acme"));
        assert_eq!(identity.role, Role::Viewer);
        assert!(tickets.verify(&ticket, expires_at).is_err());
        let (other, _) = tickets.issue(&caller(Role::Viewer), now);
        assert_ne!(ticket, other, "a nonce makes every ticket unique");
    }

    #[test]
    fn forged_and_foreign_tickets_are_refused() {
        let tickets = Tickets::new(&rules("a-secret-of-some-length"));
        let now = Utc::now();
        let (ticket, _) = tickets.issue(&caller(Role::Viewer), now);
        let (body, signature) = ticket.split_once('.').unwrap();
        // The same payload, promoted to admin, keeps the viewer's signature: refused.
        let mut payload: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap();
        payload["r"] = "admin".into();
        let forged = format!(
            "{}.{signature}",
            URL_SAFE_NO_PAD.encode(payload.to_string())
        );
        assert!(tickets.verify(&forged, now).is_err());
        assert!(
            Tickets::new(&rules("another-secret-entirely"))
                .verify(&ticket, now)
                .is_err()
        );
        for junk in ["", ".", "abc", "a.b", &format!("{body}.")] {
            assert!(tickets.verify(junk, now).is_err(), "{junk:?}");
        }
    }
}
