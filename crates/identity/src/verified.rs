//! Tokens already verified, with the identity each names, until they expire. A worker sends the
//! same token with every result and heartbeat, and checking its signature and parsing its
//! claims again was a twentieth of the embedded mode's CPU per step. Only a token that passed
//! every check is kept, under its whole text (signature included), so a forged or altered token
//! never matches an entry; expiry is checked again on every hit. The map is bounded: when full
//! it is emptied, and the tokens in use are verified once more.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::claims::Identity;

/// Tokens kept at once: a deployment's worker tokens and the sessions of its users.
const CAPACITY: usize = 1024;

#[derive(Debug, Default)]
pub(crate) struct Verified {
    tokens: Mutex<HashMap<String, Entry>>,
}

#[derive(Debug)]
struct Entry {
    identity: Identity,
    /// The last second (Unix time) the token is still accepted, leeway included.
    valid_until: u64,
}

impl Verified {
    /// The identity of a token verified before, unless it has expired since.
    pub(crate) fn get(&self, token: &str, now: u64) -> Option<Identity> {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        let entry = tokens.get(token)?;
        if now > entry.valid_until {
            tokens.remove(token);
            return None;
        }
        Some(entry.identity.clone())
    }

    pub(crate) fn insert(&self, token: &str, identity: Identity, valid_until: u64) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        if tokens.len() >= CAPACITY {
            tokens.clear();
        }
        tokens.insert(
            token.to_owned(),
            Entry {
                identity,
                valid_until,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::TenantScope;
    use model::Role;

    fn identity(subject: &str) -> Identity {
        Identity {
            subject: subject.to_owned(),
            tenant: TenantScope::All,
            role: Role::Worker,
            queues: None,
        }
    }

    #[test]
    fn a_kept_token_answers_until_it_expires() {
        let verified = Verified::default();
        verified.insert("token", identity("w1"), 100);
        assert_eq!(verified.get("token", 100), Some(identity("w1")));
        assert_eq!(verified.get("token", 101), None);
        assert_eq!(verified.get("token", 50), None, "an expired entry is gone");
        assert_eq!(verified.get("other", 50), None);
    }

    #[test]
    fn a_full_map_starts_again() {
        let verified = Verified::default();
        for n in 0..CAPACITY {
            verified.insert(&format!("token-{n}"), identity("w"), 100);
        }
        verified.insert("one-more", identity("w"), 100);
        assert_eq!(verified.get("one-more", 0), Some(identity("w")));
        assert_eq!(verified.get("token-0", 0), None);
        let kept = verified.tokens.lock().unwrap().len();
        assert_eq!(kept, 1);
    }
}
