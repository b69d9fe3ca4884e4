//! Who is calling: the bearer tokens (HS256 JWTs) that every REST and gRPC caller presents, the
//! rules they are checked by, and the identity (tenant, role, queues) read from them. The
//! gateway and the scheduler verify with this one crate, so a token means the same on both
//! ports; `workflow-engine token` and the development mode mint with it.

// Outside tests a failure is an error returned, or an `expect` that says why it cannot happen
// (clippy.toml allows unwrap in tests); and `pub` means exported from the crate, so what a
// newcomer sees as public is the crate's API.
#![deny(clippy::unwrap_used)]
#![warn(unreachable_pub)]

mod claims;
mod rules;
mod verified;

pub use claims::{Claims, Identity, MintRequest, TenantScope};
pub use rules::{IdentityError, MIN_SECRET_BYTES, TokenRules, Verifier, bearer, mint};
