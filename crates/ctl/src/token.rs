//! What the client can tell about its bearer token without the secret: its expiry and role,
//! read from the unverified claims, so a refusal can say why.

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Claims {
    pub exp: Option<i64>,
    pub role: Option<String>,
}

/// The claims of a JWT, unverified; `None` when the token is no readable JWT.
pub(crate) fn claims(token: &str) -> Option<Claims> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// When the token expired, if it has.
pub(crate) fn expired_at(token: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let exp = DateTime::from_timestamp(claims(token)?.exp?, 0)?;
    (exp <= now).then_some(exp)
}

const GET_ONE: &str = "get one with `workflow-engine token` (it signs with JWT_SECRET) or from the \
                       lines `make run` prints, then export WORKFLOW_TOKEN=<token> or pass --token";

/// Why a 401 happened, as far as the client can tell.
pub(crate) fn unauthenticated_hint(token: Option<&str>, now: DateTime<Utc>) -> String {
    match token {
        None => format!("no token given: {GET_ONE}"),
        Some(token) => match expired_at(token, now) {
            Some(at) => format!(
                "the token expired at {}: {GET_ONE}",
                at.format("%Y-%m-%d %H:%M:%S UTC")
            ),
            None => format!(
                "the engine refused the token (malformed, or signed with another JWT_SECRET): \
                 {GET_ONE}"
            ),
        },
    }
}

/// Why a 403 happened.
pub(crate) fn forbidden_hint(token: Option<&str>) -> String {
    let role = token
        .and_then(claims)
        .and_then(|c| c.role)
        .unwrap_or_else(|| "operator".to_owned());
    format!("the token's role '{role}' may not do this; a viewer may only read")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.signature",
            b64.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
            b64.encode(claims)
        )
    }

    #[test]
    fn an_expired_token_says_when_it_expired() {
        let now = DateTime::from_timestamp(2_000_000_000, 0).unwrap();
        let old = jwt(r#"{"sub":"a","exp":1999999000}"#);
        assert_eq!(
            expired_at(&old, now),
            DateTime::from_timestamp(1_999_999_000, 0)
        );
        assert!(
            unauthenticated_hint(Some(&old), now).starts_with("the token expired at 2033-05-18")
        );
        let fresh = jwt(r#"{"sub":"a","exp":2000003600}"#);
        assert_eq!(expired_at(&fresh, now), None);
        assert!(unauthenticated_hint(Some(&fresh), now).starts_with("the engine refused"));
        assert!(unauthenticated_hint(Some("not a jwt"), now).starts_with("the engine refused"));
        assert!(unauthenticated_hint(None, now).starts_with("no token given"));
    }

    #[test]
    fn a_refusal_names_the_role() {
        let viewer = jwt(r#"{"sub":"a","exp":1,"role":"viewer"}"#);
        assert!(forbidden_hint(Some(&viewer)).contains("'viewer'"));
    }
}
