use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use model::Role;

use crate::claims::{Claims, Identity, MintRequest, TenantScope};
use crate::verified::Verified;

/// Clock skew tolerated on `exp`, `nbf` and `iat`.
const LEEWAY_SECONDS: u64 = 30;
/// The shortest HS256 key accepted: 256 bits, the hash's own size (RFC 7518 §3.2).
pub const MIN_SECRET_BYTES: usize = 32;
const ALL_TENANTS: &str = "*";

/// Why a token was refused. The messages are for the caller: they say what is wrong with the
/// token, never anything about the key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdentityError {
    #[error("missing bearer token")]
    Missing,
    #[error("expected a bearer token")]
    NotBearer,
    #[error("invalid or expired token")]
    Invalid,
    #[error("token lives longer than the {0} s allowed")]
    TooLong(u64),
    #[error("unknown role in token")]
    UnknownRole,
    #[error("malformed tenant in token")]
    MalformedTenant,
    #[error("only a worker token may serve every tenant")]
    AllTenantsNotWorker,
    #[error("the secret must be at least {MIN_SECRET_BYTES} bytes")]
    ShortSecret,
    #[error("cannot sign the token: {0}")]
    Sign(String),
}

/// How tokens are checked: one set of rules for every port.
#[derive(Clone)]
pub struct TokenRules {
    pub secret: String,
    /// `JWT_ISSUER`: when set, `iss` must equal it (and minted tokens carry it).
    pub issuer: Option<String>,
    /// `JWT_AUDIENCE`: when set, `aud` must equal it (and minted tokens carry it).
    pub audience: Option<String>,
    /// `JWT_MAX_LIFETIME`: the longest `exp - iat` accepted of a user's token; a token
    /// without `iat` may not expire later than this from now.
    pub max_lifetime: Duration,
    /// `WORKER_TOKEN_MAX_LIFETIME`: the same bound for worker tokens, which a deployment keeps
    /// in its secret store and rotates, rather than a person's session.
    pub max_worker_lifetime: Duration,
}

impl std::fmt::Debug for TokenRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRules")
            .field("secret", &"***")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("max_lifetime", &self.max_lifetime)
            .field("max_worker_lifetime", &self.max_worker_lifetime)
            .finish()
    }
}

/// Checks tokens against [`TokenRules`].
#[derive(Clone)]
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
    max_lifetime: u64,
    max_worker_lifetime: u64,
    /// Shared by the clones: one port's verifier serves all its connections.
    verified: Arc<Verified>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").finish_non_exhaustive()
    }
}

impl Verifier {
    pub fn new(rules: &TokenRules) -> Result<Self, IdentityError> {
        if rules.secret.len() < MIN_SECRET_BYTES {
            return Err(IdentityError::ShortSecret);
        }
        // Validation::new pins the accepted algorithms to exactly HS256: a token naming any
        // other (or `none`) is refused before its signature is looked at.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        // jsonwebtoken leaves `nbf` unchecked unless asked.
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        match &rules.issuer {
            Some(issuer) => {
                validation.set_issuer(&[issuer]);
                validation.required_spec_claims.insert("iss".to_owned());
            }
            None => validation.iss = None,
        }
        match &rules.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                validation.required_spec_claims.insert("aud".to_owned());
            }
            None => validation.validate_aud = false,
        }
        Ok(Self {
            key: DecodingKey::from_secret(rules.secret.as_bytes()),
            validation,
            max_lifetime: rules.max_lifetime.as_secs(),
            max_worker_lifetime: rules.max_worker_lifetime.as_secs(),
            verified: Arc::default(),
        })
    }

    pub fn verify(&self, token: &str) -> Result<Identity, IdentityError> {
        if let Some(identity) = self.verified.get(token, now_seconds()) {
            return Ok(identity);
        }
        let (identity, expires) = self.verify_signed(token)?;
        // `exp` is checked with the same leeway as jsonwebtoken's own check.
        self.verified.insert(
            token,
            identity.clone(),
            expires.saturating_add(LEEWAY_SECONDS),
        );
        Ok(identity)
    }

    /// Every check of the token, its signature first; the identity and `exp`.
    fn verify_signed(&self, token: &str) -> Result<(Identity, u64), IdentityError> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|_| IdentityError::Invalid)?
            .claims;
        let role = match claims.role.as_deref() {
            None => Role::Operator,
            Some(text) => Role::parse(text).ok_or(IdentityError::UnknownRole)?,
        };
        let max_lifetime = if role == Role::Worker {
            self.max_worker_lifetime
        } else {
            self.max_lifetime
        };
        let lifetime = match claims.iat {
            Some(iat) => claims.exp.saturating_sub(iat),
            None => claims.exp.saturating_sub(now_seconds()),
        };
        if lifetime > max_lifetime + LEEWAY_SECONDS {
            return Err(IdentityError::TooLong(max_lifetime));
        }
        if claims
            .iat
            .is_some_and(|iat| iat > now_seconds() + LEEWAY_SECONDS)
        {
            return Err(IdentityError::Invalid);
        }
        let tenant = match claims.tenant.as_deref() {
            None | Some("") => TenantScope::One(model::DEFAULT_TENANT.to_owned()),
            Some(ALL_TENANTS) if role == Role::Worker => TenantScope::All,
            Some(ALL_TENANTS) => return Err(IdentityError::AllTenantsNotWorker),
            Some(text) if valid_tenant(text) => TenantScope::One(text.to_owned()),
            Some(_) => return Err(IdentityError::MalformedTenant),
        };
        let identity = Identity {
            subject: claims.sub,
            tenant,
            role,
            queues: claims.queues,
        };
        Ok((identity, claims.exp))
    }
}

/// Tenants travel in queue names (`acme/resize_image`) and logs: a short, plain name.
fn valid_tenant(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// The token of an `Authorization` header value (`Bearer <token>`).
pub fn bearer(header: Option<&str>) -> Result<&str, IdentityError> {
    let value = header.ok_or(IdentityError::Missing)?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() => {
            Ok(token.trim())
        }
        _ => Err(IdentityError::NotBearer),
    }
}

/// A token for `request`, signed under `rules` (carrying its issuer and audience).
pub fn mint(rules: &TokenRules, request: &MintRequest) -> Result<String, IdentityError> {
    if rules.secret.len() < MIN_SECRET_BYTES {
        return Err(IdentityError::ShortSecret);
    }
    let now = now_seconds();
    let claims = Claims {
        sub: request.subject.clone(),
        iat: Some(now),
        exp: now + request.lifetime_seconds,
        nbf: None,
        iss: rules.issuer.clone(),
        aud: rules.audience.clone(),
        tenant: Some(request.tenant.clone()),
        role: Some(request.role.as_str().to_owned()),
        queues: request.queues.clone(),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(rules.secret.as_bytes()),
    )
    .map_err(|error| IdentityError::Sign(error.to_string()))
}

fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "a-test-secret-of-at-least-32-bytes!!";

    fn rules() -> TokenRules {
        TokenRules {
            secret: SECRET.to_owned(),
            issuer: None,
            audience: None,
            max_lifetime: Duration::from_secs(24 * 3600),
            max_worker_lifetime: Duration::from_secs(90 * 24 * 3600),
        }
    }

    fn sign(claims: &Claims) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    }

    fn claims() -> Claims {
        let now = now_seconds();
        Claims {
            sub: "dev".into(),
            exp: now + 600,
            iat: Some(now),
            ..Claims::default()
        }
    }

    #[test]
    fn a_verified_token_is_answered_from_memory_until_it_expires() {
        let verifier = Verifier::new(&rules()).unwrap();
        let token = sign(&claims());
        let identity = verifier.verify(&token).unwrap();
        let now = now_seconds();
        // A text that never verifies, entered by hand: answered while it is valid...
        verifier
            .verified
            .insert("kept", identity.clone(), now + 100);
        assert_eq!(verifier.verify("kept"), Ok(identity.clone()));
        // ...and checked whole once it has expired.
        verifier.verified.insert("kept", identity, now - 1);
        assert_eq!(verifier.verify("kept"), Err(IdentityError::Invalid));
        let clone = verifier.clone();
        assert!(clone.verified.get(&token, now).is_some(), "clones share it");
    }

    #[test]
    fn a_minted_token_verifies_with_defaults() {
        let verifier = Verifier::new(&rules()).unwrap();
        let token = sign(&claims());
        let identity = verifier.verify(&token).unwrap();
        assert_eq!(identity.subject, "dev");
        assert_eq!(identity.tenant, TenantScope::One("default".into()));
        assert_eq!(identity.role, Role::Operator);
        assert_eq!(
            verifier.verify(&token[..token.len() - 2]),
            Err(IdentityError::Invalid)
        );
    }

    #[test]
    fn a_token_not_yet_valid_is_refused() {
        let verifier = Verifier::new(&rules()).unwrap();
        let token = sign(&Claims {
            nbf: Some(now_seconds() + 3600),
            ..claims()
        });
        assert_eq!(verifier.verify(&token), Err(IdentityError::Invalid));
    }

    #[test]
    fn issuer_and_audience_are_enforced_when_set() {
        let verifier = Verifier::new(&TokenRules {
            issuer: Some("chorus".into()),
            audience: Some("workflow".into()),
            ..rules()
        })
        .unwrap();
        let right = Claims {
            iss: Some("chorus".into()),
            aud: Some("workflow".into()),
            ..claims()
        };
        assert!(verifier.verify(&sign(&right)).is_ok());
        for wrong in [
            Claims {
                iss: Some("someone-else".into()),
                ..right.clone()
            },
            Claims {
                aud: Some("another-service".into()),
                ..right.clone()
            },
            Claims {
                iss: None,
                ..right.clone()
            },
        ] {
            assert_eq!(verifier.verify(&sign(&wrong)), Err(IdentityError::Invalid));
        }
    }

    #[test]
    fn an_over_long_lifetime_is_refused_with_or_without_iat() {
        let verifier = Verifier::new(&rules()).unwrap();
        let now = now_seconds();
        let with_iat = Claims {
            iat: Some(now),
            exp: now + 48 * 3600,
            ..claims()
        };
        let without_iat = Claims {
            iat: None,
            ..with_iat.clone()
        };
        for token in [sign(&with_iat), sign(&without_iat)] {
            assert_eq!(
                verifier.verify(&token),
                Err(IdentityError::TooLong(24 * 3600))
            );
        }
    }

    #[test]
    fn roles_and_tenants_are_parsed_strictly() {
        let verifier = Verifier::new(&rules()).unwrap();
        let with = |tenant: Option<&str>, role: Option<&str>| {
            verifier.verify(&sign(&Claims {
                tenant: tenant.map(str::to_owned),
                role: role.map(str::to_owned),
                ..claims()
            }))
        };
        assert_eq!(with(None, Some("VIEWER")), Err(IdentityError::UnknownRole));
        assert_eq!(
            with(Some("acme corp"), None),
            Err(IdentityError::MalformedTenant)
        );
        assert_eq!(with(Some("a/b"), None), Err(IdentityError::MalformedTenant));
        assert_eq!(
            with(Some("*"), Some("admin")),
            Err(IdentityError::AllTenantsNotWorker)
        );
        assert_eq!(
            with(Some("*"), Some("worker")).unwrap().tenant,
            TenantScope::All
        );
    }

    #[test]
    fn short_secrets_are_refused() {
        let short = TokenRules {
            secret: "sixteen-chars-ok".into(),
            ..rules()
        };
        assert!(matches!(
            Verifier::new(&short),
            Err(IdentityError::ShortSecret)
        ));
    }

    #[test]
    fn worker_queues_stay_inside_the_tenant() {
        let worker = |tenant: TenantScope, queues: Option<Vec<String>>| Identity {
            subject: "w".into(),
            tenant,
            role: Role::Worker,
            queues,
        };
        let acme = worker(TenantScope::One("acme".into()), None);
        assert_eq!(
            acme.worker_queue("billing").as_deref(),
            Some("acme/billing")
        );
        assert_eq!(acme.worker_queue("default"), None);
        assert!(acme.may_consume("acme/billing"));
        assert!(!acme.may_consume("globex/billing") && !acme.may_consume("default"));
        assert_eq!(acme.worker_queue("globex/billing"), None);
        let platform = worker(TenantScope::All, None);
        assert_eq!(platform.worker_queue("default").as_deref(), Some("default"));
        let limited = worker(
            TenantScope::One("acme".into()),
            Some(vec!["billing".into()]),
        );
        assert_eq!(limited.worker_queue("resize"), None);
        assert!(limited.may_consume("acme/billing") && !limited.may_consume("acme/resize"));
        let user = Identity {
            role: Role::Admin,
            ..acme
        };
        assert_eq!(user.worker_queue("billing"), None);
    }

    #[test]
    fn bearer_headers_are_parsed() {
        assert_eq!(bearer(Some("Bearer abc")), Ok("abc"));
        assert_eq!(bearer(Some("bearer abc")), Ok("abc"));
        assert_eq!(bearer(Some("Basic abc")), Err(IdentityError::NotBearer));
        assert_eq!(bearer(None), Err(IdentityError::Missing));
    }
}
