//! Keeps `http_request` away from the worker's own network: loopback, private and link-local
//! ranges (cloud metadata lives at 169.254.169.254), unless the operator allows them. Names are
//! resolved here and the connection goes to exactly the addresses checked, so a name that
//! resolves to a public address for the check and a private one for the connection (DNS
//! rebinding) cannot slip through.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The refusal, carried through reqwest's error chain so the action can report it by type.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to {addr}, a loopback, private or link-local address")]
pub(super) struct ForbiddenAddress {
    pub host: String,
    pub addr: IpAddr,
}

/// A resolver that refuses names with any forbidden address.
pub(super) struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(bad) = addrs.iter().find(|addr| is_forbidden(addr.ip())) {
                return Err(Box::new(ForbiddenAddress {
                    addr: bad.ip(),
                    host,
                })
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// URLs naming an IP address never reach the resolver, so they are checked here (the first
/// request and every redirect).
pub(super) fn check_url(url: &reqwest::Url) -> Result<(), ForbiddenAddress> {
    let host = url.host_str().unwrap_or_default();
    let Ok(addr) = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    else {
        return Ok(());
    };
    if is_forbidden(addr) {
        return Err(ForbiddenAddress {
            host: host.to_owned(),
            addr,
        });
    }
    Ok(())
}

pub(super) fn is_forbidden(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => forbidden_v4(v4),
            None => forbidden_v6(v6),
        },
    }
}

fn forbidden_v4(addr: Ipv4Addr) -> bool {
    let [a, b, ..] = addr.octets();
    addr.is_loopback()
        || addr.is_private()
        || addr.is_link_local()
        || addr.is_unspecified()
        || addr.is_broadcast()
        || addr.is_multicast()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // CGNAT, 100.64.0.0/10
}

fn forbidden_v6(addr: Ipv6Addr) -> bool {
    let first = addr.segments()[0];
    addr.is_loopback()
        || addr.is_unspecified()
        || addr.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local, fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local, fe80::/10
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forbidden(addr: &str) -> bool {
        is_forbidden(addr.parse().unwrap())
    }

    #[test]
    fn private_and_local_ranges_are_forbidden() {
        for addr in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "100.127.255.254",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(forbidden(addr), "{addr} should be forbidden");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for addr in [
            "93.184.216.34",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
        ] {
            assert!(!forbidden(addr), "{addr} should be allowed");
        }
    }

    #[test]
    fn urls_naming_a_forbidden_address_are_refused() {
        let url = |s: &str| reqwest::Url::parse(s).unwrap();
        assert!(check_url(&url("http://169.254.169.254/latest/meta-data")).is_err());
        assert!(check_url(&url("http://[::1]:8080/")).is_err());
        assert!(check_url(&url("https://example.com/")).is_ok());
        assert!(check_url(&url("http://8.8.8.8/")).is_ok());
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_that_resolve_to_loopback() {
        let name: Name = "localhost".parse().unwrap();
        let Err(err) = GuardedResolver.resolve(name).await else {
            panic!("localhost resolved through the guard");
        };
        assert!(err.downcast_ref::<ForbiddenAddress>().is_some(), "{err}");
    }
}
