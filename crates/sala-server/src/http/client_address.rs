//! The client's address, for the login throttle: the TCP peer, or, when the peer is a
//! reverse proxy this node trusts (`--trusted-proxies`), the address that proxy reports in
//! `X-Forwarded-For`.
//!
//! Behind nginx every request comes from nginx's address; without this, all clients would
//! share one failed-login counter and one guesser would lock everybody out. The header is
//! only believed from a trusted peer, since any client can send it: each proxy appends the
//! address it saw, so the list is read from the right, skipping trusted proxies, and the
//! first address that is not one of them is the client.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use axum::http::HeaderMap;

/// Addresses of trusted proxies: one address (`10.0.0.5`) or a network (`172.18.0.0/16`,
/// for proxies whose address a container network assigns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyRange {
    network: IpAddr,
    prefix: u8,
}

impl ProxyRange {
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.network, address) {
            (IpAddr::V4(network), IpAddr::V4(address)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(network) & mask == u32::from(address) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(network) & mask == u128::from(address) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for ProxyRange {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text.trim(), None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("'{text}' is not an IP address or ADDRESS/PREFIX"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|prefix| *prefix <= max)
                .ok_or_else(|| format!("'{text}': the prefix must be 0 to {max}"))?,
        };
        Ok(Self { network, prefix })
    }
}

impl fmt::Display for ProxyRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

fn is_trusted(trusted: &[ProxyRange], address: IpAddr) -> bool {
    trusted.iter().any(|range| range.contains(address))
}

/// Who sent the request, as far as this node can tell.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[ProxyRange]) -> IpAddr {
    if !is_trusted(trusted, peer) {
        return peer;
    }
    let mut client = peer;
    for value in headers.get_all("x-forwarded-for").iter().rev() {
        let Ok(value) = value.to_str() else {
            return client; // Not text: believe nothing further left.
        };
        for entry in value.rsplit(',') {
            match entry.trim().parse::<IpAddr>() {
                Ok(address) if is_trusted(trusted, address) => client = address,
                Ok(address) => return address,
                // A malformed entry: nothing to its left can be attributed reliably.
                Err(_) => return client,
            }
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append("x-forwarded-for", value.parse().unwrap());
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn range(text: &str) -> ProxyRange {
        text.parse().unwrap()
    }

    #[test]
    fn ranges_parse_and_match() {
        assert!(range("172.18.0.0/16").contains(ip("172.18.200.3")));
        assert!(!range("172.18.0.0/16").contains(ip("172.19.0.1")));
        assert!(range("10.0.0.5").contains(ip("10.0.0.5")));
        assert!(!range("10.0.0.5").contains(ip("10.0.0.6")));
        assert!(range("0.0.0.0/0").contains(ip("8.8.8.8")));
        assert!(range("fd00::/8").contains(ip("fd12::1")));
        assert!(!range("fd00::/8").contains(ip("10.0.0.1")));
        for bad in ["", "10.0.0.0/33", "nonsense", "10.0.0.0/x", "::1/129"] {
            assert!(bad.parse::<ProxyRange>().is_err(), "{bad}");
        }
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let spoofed = headers(&["203.0.113.9"]);
        assert_eq!(
            client_address(ip("198.51.100.7"), &spoofed, &[range("10.0.0.1")]),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_address(ip("10.0.0.1"), &spoofed, &[]),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_client_rightmost_untrusted_first() {
        let trusted = [range("10.0.0.1"), range("10.0.0.2")];
        // The client put a fake address in front; each proxy appended what it saw.
        let chain = headers(&["1.1.1.1, 203.0.113.9", "10.0.0.2"]);
        assert_eq!(
            client_address(ip("10.0.0.1"), &chain, &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_address(ip("10.0.0.1"), &headers(&[]), &trusted),
            ip("10.0.0.1")
        );
        assert_eq!(
            client_address(ip("10.0.0.1"), &headers(&["::1, junk, 10.0.0.2"]), &trusted),
            ip("10.0.0.2"),
            "nothing left of a malformed entry is believed"
        );
    }
}
