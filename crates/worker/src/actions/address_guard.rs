//! Keeps `http_request` away from the worker's own network: loopback, private and link-local
//! ranges (cloud metadata lives at 169.254.169.254), unless the operator allows them. Names are
//! resolved here and the connection goes to exactly the addresses checked, so a name that
//! resolves to a public address for the check and a private one for the connection (DNS
//! rebinding) cannot slip through.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The refusal, carried through reqwest's error chain so the action can report it by type.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to {addr}, which is not a globally reachable address")]
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

/// Only globally reachable addresses pass: every block of the IANA IPv4 special-purpose
/// registry that is not globally reachable, plus the reserved 240.0.0.0/4, is refused. An
/// allow-list of "global" is safer than a deny-list of "private": a range forgotten here fails
/// closed.
fn forbidden_v4(addr: Ipv4Addr) -> bool {
    const BLOCKS: [([u8; 4], u8); 15] = [
        ([0, 0, 0, 0], 8),       // "this network"
        ([10, 0, 0, 0], 8),      // private
        ([100, 64, 0, 0], 10),   // shared address space (CGNAT)
        ([127, 0, 0, 0], 8),     // loopback
        ([169, 254, 0, 0], 16),  // link-local, cloud metadata
        ([172, 16, 0, 0], 12),   // private
        ([192, 0, 0, 0], 24),    // IETF protocol assignments
        ([192, 0, 2, 0], 24),    // TEST-NET-1
        ([192, 88, 99, 0], 24),  // 6to4 relay anycast (deprecated)
        ([192, 168, 0, 0], 16),  // private
        ([198, 18, 0, 0], 15),   // benchmarking
        ([198, 51, 100, 0], 24), // TEST-NET-2
        ([203, 0, 113, 0], 24),  // TEST-NET-3
        ([224, 0, 0, 0], 4),     // multicast
        ([240, 0, 0, 0], 4),     // reserved, and the broadcast address
    ];
    let bits = u32::from(addr);
    BLOCKS.iter().any(|(net, len)| {
        let mask = u32::MAX << (32 - u32::from(*len));
        bits & mask == u32::from(Ipv4Addr::from(*net)) & mask
    })
}

/// IPv6 passes only inside global unicast, 2000::/3, and outside its special-purpose blocks
/// there; everything else (loopback, unspecified, `::/96` IPv4-compatible, NAT64
/// `64:ff9b::/96` and `64:ff9b:1::/48`, discard, unique local, link-local, site-local
/// `fec0::/10`, multicast) lies outside 2000::/3. The blocks below embed or translate IPv4
/// (Teredo `2001::/32`, 6to4 `2002::/16`) or are not routed at all.
fn forbidden_v6(addr: Ipv6Addr) -> bool {
    const BLOCKS: [(u128, u8); 4] = [
        (0x2001_0000 << 96, 23), // IETF protocol assignments, Teredo 2001::/32 among them
        (0x2001_0db8 << 96, 32), // documentation
        (0x2002 << 112, 16),     // 6to4
        (0x3fff << 112, 20),     // documentation
    ];
    let bits = u128::from(addr);
    let global_unicast = bits >> 125 == 0b001;
    !global_unicast
        || BLOCKS.iter().any(|(net, len)| {
            let mask = u128::MAX << (128 - u32::from(*len));
            bits & mask == net & mask
        })
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
            // The ranges that embed or translate IPv4, and the other special-purpose blocks.
            "64:ff9b::7f00:1",
            "64:ff9b::808:808",
            "64:ff9b:1::1",
            "2002:7f00:1::1",
            "2002:808:808::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:db8::1",
            "::127.0.0.1",
            "::8.8.8.8",
            "fec0::1",
            "100::1",
            "ff02::1",
            "198.18.0.1",
            "198.19.255.255",
            "192.0.0.1",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "240.0.0.1",
            "255.255.255.255",
            "224.0.0.1",
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
            "2a00:1450:4001:82a::200e",
            "198.20.0.1",
            "192.0.1.1",
            "223.255.255.255",
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
