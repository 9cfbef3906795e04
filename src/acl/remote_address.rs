//! `whiteRemoteAddress` and `globalWhiteRemoteAddresses` patterns (RocketMQ's
//! `RemoteAddressStrategyFactory`): a request from a matching address skips the signature and
//! permission checks.
//!
//! Forms, as RocketMQ: empty matches nothing; `*` (or `*.*.*.*`) matches every address;
//! `192.168.0.{1,2,3}` is a list of last octets; each IPv4 octet may be a number, `*` or a range
//! `10-20`; anything else must equal the address. A pattern that is none of these is an error
//! at load, so a typo cannot silently open (or close) the broker.

use std::net::IpAddr;

/// One parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteAddressPattern {
    /// Empty: matches nothing (`BlankRemoteAddressStrategy`).
    Blank,
    /// `*`: matches every address (`NullRemoteAddressStrategy`).
    Any,
    /// One pattern per IPv4 octet.
    V4([Octet; 4]),
    /// `a.b.c.{x,y}`: exact addresses.
    List(Vec<IpAddr>),
    /// One exact address (IPv6, or IPv4 without wildcards).
    One(IpAddr),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Octet {
    Is(u8),
    Any,
    Range(u8, u8),
}

impl RemoteAddressPattern {
    pub fn parse(text: &str) -> Result<RemoteAddressPattern, String> {
        let t = text.trim();
        if t.is_empty() {
            return Ok(RemoteAddressPattern::Blank);
        }
        if t == "*" || t == "*.*.*.*" || t == "*:*:*:*:*:*:*:*" {
            return Ok(RemoteAddressPattern::Any);
        }
        let bad = || {
            format!("`{t}` is not an address pattern (e.g. 192.168.0.*, 10.0.0.1-20, 10.0.0.{{1,2}}, *)")
        };
        if let Some(open) = t.find('{') {
            let prefix = &t[..open];
            let list = t[open + 1..].strip_suffix('}').ok_or_else(bad)?;
            let mut out = Vec::new();
            for last in list.split(',') {
                let addr: IpAddr = format!("{prefix}{}", last.trim())
                    .parse()
                    .map_err(|_| bad())?;
                out.push(addr);
            }
            return Ok(RemoteAddressPattern::List(out));
        }
        if let Ok(ip) = t.parse::<IpAddr>() {
            return Ok(RemoteAddressPattern::One(ip));
        }
        let parts: Vec<&str> = t.split('.').collect();
        if parts.len() != 4 {
            return Err(bad());
        }
        let mut octets = [Octet::Any; 4];
        for (slot, part) in octets.iter_mut().zip(parts) {
            *slot = match part.split_once('-') {
                _ if part == "*" => Octet::Any,
                Some((lo, hi)) => {
                    let lo: u8 = lo.trim().parse().map_err(|_| bad())?;
                    let hi: u8 = hi.trim().parse().map_err(|_| bad())?;
                    if lo > hi {
                        return Err(bad());
                    }
                    Octet::Range(lo, hi)
                }
                None => Octet::Is(part.trim().parse().map_err(|_| bad())?),
            };
        }
        Ok(RemoteAddressPattern::V4(octets))
    }

    pub fn matches(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        match self {
            RemoteAddressPattern::Blank => false,
            RemoteAddressPattern::Any => true,
            RemoteAddressPattern::One(ip) => canonical(*ip) == addr,
            RemoteAddressPattern::List(ips) => ips.iter().any(|ip| canonical(*ip) == addr),
            RemoteAddressPattern::V4(octets) => match addr {
                IpAddr::V4(v4) => octets.iter().zip(v4.octets()).all(|(o, b)| match o {
                    Octet::Is(x) => *x == b,
                    Octet::Any => true,
                    Octet::Range(lo, hi) => (*lo..=*hi).contains(&b),
                }),
                IpAddr::V6(_) => false,
            },
        }
    }
}

/// An IPv4 client seen through an IPv6 socket (`::ffff:a.b.c.d`) is the IPv4 address.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forms_match_as_rocketmq() {
        let p = |s| RemoteAddressPattern::parse(s).unwrap();
        assert!(!p("").matches(ip("127.0.0.1")));
        assert!(p("*").matches(ip("10.1.2.3")));
        assert!(p("192.168.0.*").matches(ip("192.168.0.77")));
        assert!(!p("192.168.0.*").matches(ip("192.168.1.77")));
        assert!(p("192.168.*.*").matches(ip("192.168.9.9")));
        assert!(p("10.0.0.1-20").matches(ip("10.0.0.20")));
        assert!(!p("10.0.0.1-20").matches(ip("10.0.0.21")));
        assert!(p("10.0.0.{1,5}").matches(ip("10.0.0.5")));
        assert!(!p("10.0.0.{1,5}").matches(ip("10.0.0.2")));
        assert!(p("127.0.0.1").matches(ip("::ffff:127.0.0.1")));
        assert!(p("::1").matches(ip("::1")));
    }

    #[test]
    fn typos_are_errors_not_silent_matches() {
        for bad in ["10.0.0", "10.0.0.300", "10.0.0.9-3", "abc", "10.0.0.{1,x}"] {
            assert!(RemoteAddressPattern::parse(bad).is_err(), "{bad}");
        }
    }
}
