//! Choosing where to reach an OXID: the string bindings of the activation reply
//! ([MS-DCOM] 2.2.19.3 STRINGBINDING, 3.2.4.1.1.2) against the address the user gave.
//!
//! A Windows host lists its ncacn_ip_tcp bindings as `NAME[port]`, `10.0.0.5[port]` or an
//! IPv6 literal `fe80::1[port]` (no brackets around the address; some stacks write
//! `[fe80::1][port]`, which is accepted too). Behind NAT, on a multi-homed host or when
//! its name does not resolve here, the address the user gave is the one that works, so it
//! is tried first with the binding's port; then each binding's own address.

use std::net::{IpAddr, SocketAddr};

pub use winv_dcom::objref::tower::NCACN_IP_TCP;
use winv_dcom::StringBinding;

/// A TCP endpoint from one `ncacn_ip_tcp` string binding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpBinding {
    /// The host part: a name or an address literal (without brackets or zone).
    pub host: String,
    /// The host part as an address, when it is a literal.
    pub ip: Option<IpAddr>,
    /// The port.
    pub port: u16,
}

/// Parses the network address of an `ncacn_ip_tcp` string binding: `host[port]`.
/// `None` when it has no `[port]` suffix or the port is not a number.
pub fn parse_tcp_binding(network_addr: &str) -> Option<TcpBinding> {
    let s = network_addr.strip_suffix(']')?;
    let open = s.rfind('[')?;
    let port: u16 = s.get(open + 1..)?.parse().ok()?;
    let mut host = s.get(..open)?;
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        host = inner;
    }
    if host.is_empty() {
        return None;
    }
    // An IPv6 zone (`fe80::1%12`) is local to the server; drop it for parsing.
    let bare = host.split('%').next().unwrap_or(host);
    let ip = bare.parse::<IpAddr>().ok();
    Some(TcpBinding {
        host: if ip.is_some() { bare } else { host }.to_string(),
        ip,
        port,
    })
}

/// The `ncacn_ip_tcp` bindings of a DUALSTRINGARRAY, in the server's order, skipping
/// other protocol sequences and unparsable entries.
pub fn tcp_bindings(bindings: &[StringBinding]) -> Vec<TcpBinding> {
    bindings
        .iter()
        .filter(|b| b.tower_id == NCACN_IP_TCP)
        .filter_map(|b| parse_tcp_binding(&b.network_addr))
        .collect()
}

/// One endpoint to try, before name resolution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Candidate {
    /// An address to connect to.
    Addr(SocketAddr),
    /// A name to resolve first (from a binding).
    Name(String, u16),
}

/// The endpoints to try, in order: `user_addr` (the address port 135 was reached at) with
/// each distinct binding port, then each binding's address literal or name with its port.
/// Duplicates are dropped.
pub fn candidates(user_addr: IpAddr, bindings: &[TcpBinding]) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::new();
    let push = |c: Candidate, out: &mut Vec<Candidate>| {
        if !out.contains(&c) {
            out.push(c);
        }
    };
    for b in bindings {
        push(
            Candidate::Addr(SocketAddr::new(user_addr, b.port)),
            &mut out,
        );
    }
    for b in bindings {
        let c = match b.ip {
            Some(ip) => Candidate::Addr(SocketAddr::new(ip, b.port)),
            None => Candidate::Name(b.host.clone(), b.port),
        };
        push(c, &mut out);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sb(s: &str) -> StringBinding {
        StringBinding {
            tower_id: NCACN_IP_TCP,
            network_addr: s.into(),
        }
    }

    #[test]
    fn parses_windows_forms() {
        let b = parse_tcp_binding("172.16.66.36[49670]").unwrap();
        assert_eq!(b.ip, Some("172.16.66.36".parse().unwrap()));
        assert_eq!(b.port, 49670);
        let b = parse_tcp_binding("01566s-win16-ir[49670]").unwrap();
        assert_eq!(b.ip, None);
        assert_eq!(b.host, "01566s-win16-ir");
        let b = parse_tcp_binding("fe80::1[49670]").unwrap();
        assert_eq!(b.ip, Some("fe80::1".parse().unwrap()));
        let b = parse_tcp_binding("[::1][135]").unwrap();
        assert_eq!(b.ip, Some("::1".parse().unwrap()));
        assert_eq!(b.port, 135);
        let b = parse_tcp_binding("fe80::1%12[49670]").unwrap();
        assert_eq!(b.ip, Some("fe80::1".parse().unwrap()));
        assert_eq!(b.host, "fe80::1");
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            "host",
            "host[]",
            "host[x]",
            "[49670]",
            "host[70000]",
            "",
            "]",
            "h[1",
        ] {
            assert_eq!(parse_tcp_binding(s), None, "{s}");
        }
    }

    #[test]
    fn only_tcp_bindings() {
        let list = vec![
            StringBinding {
                tower_id: 0x0f,
                network_addr: "\\\\HOST[\\PIPE\\atsvc]".into(),
            },
            sb("HOST[49670]"),
            sb("garbage"),
            sb("10.0.0.5[49670]"),
        ];
        let t = tcp_bindings(&list);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].host, "HOST");
        assert_eq!(t[1].host, "10.0.0.5");
    }

    #[test]
    fn user_address_comes_first_then_bindings() {
        let user: IpAddr = "192.0.2.7".parse().unwrap();
        let t = tcp_bindings(&[
            sb("WIN16[49670]"),
            sb("10.0.0.5[49670]"),
            sb("fe80::5[49670]"),
        ]);
        let c = candidates(user, &t);
        assert_eq!(
            c,
            vec![
                Candidate::Addr("192.0.2.7:49670".parse().unwrap()),
                Candidate::Name("WIN16".into(), 49670),
                Candidate::Addr("10.0.0.5:49670".parse().unwrap()),
                Candidate::Addr("[fe80::5]:49670".parse().unwrap()),
            ]
        );
    }

    #[test]
    fn duplicates_dropped() {
        let user: IpAddr = "10.0.0.5".parse().unwrap();
        let t = tcp_bindings(&[sb("10.0.0.5[49670]"), sb("10.0.0.5[49670]")]);
        assert_eq!(
            candidates(user, &t),
            vec![Candidate::Addr("10.0.0.5:49670".parse().unwrap())]
        );
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in ".{0,64}") {
            let _ = parse_tcp_binding(&s);
        }
    }
}
