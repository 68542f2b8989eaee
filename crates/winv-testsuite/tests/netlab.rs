//! The network lab: each fault gives `connect_tcp` the failure the engine's
//! statuses expect, other addresses and ports keep working, faults heal, the
//! lab refuses to touch a namespace it is not in, and dnsmasq answers found,
//! NXDOMAIN and a transient failure through the discovery resolver.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use winv_discovery::resolve::{DnsServer, NotFoundReason, Resolution, ResolveConfig, Resolver};
use winv_rpc::transport::{connect_tcp, ConnectError, ConnectFailure};
use winv_testsuite::netlab::{Dns, Icmp, NetLab};
use winv_testsuite::samba::{current_netns, enter_private_netns, DC_ADDR};

/// Deadline of a connect that is expected to time out.
const SHORT: Duration = Duration::from_secs(1);
/// Deadline of a connect that is expected to succeed or fail at once.
const LONG: Duration = Duration::from_secs(5);

fn v4(d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, d))
}

/// A listener on `addr` (any port), so a failure cannot be "nothing listens".
fn listen(addr: IpAddr) -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind(SocketAddr::new(addr, 0)).unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}

/// Runs `f` on a current-thread runtime on this (the lab's) thread.
fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn connect(addr: SocketAddr, deadline: Duration) -> (Result<(), ConnectError>, Duration) {
    let t0 = Instant::now();
    let r = block_on(connect_tcp(addr, deadline)).map(drop);
    (r, t0.elapsed())
}

fn expect_failure(addr: SocketAddr, deadline: Duration, want: ConnectFailure, errno: i32) {
    let (r, took) = connect(addr, deadline);
    let e = r.expect_err("connect must fail");
    assert_eq!(e.failure, want, "{addr}: {e:?}");
    assert_eq!(e.errno, Some(errno), "{addr}: {e:?}");
    if want == ConnectFailure::TimedOut {
        assert!(took >= deadline, "{addr}: timed out early, {took:?}");
    } else {
        // An answer (RST, ICMP) comes back at once; not a timeout in disguise.
        assert!(took < Duration::from_millis(500), "{addr}: took {took:?}");
    }
}

fn expect_accept(addr: SocketAddr) {
    let (r, _) = connect(addr, LONG);
    r.unwrap_or_else(|e| panic!("{addr} must accept: {e}"));
}

fn lab() -> Option<NetLab> {
    NetLab::enter().unwrap()
}

#[test]
fn drop_tcp_times_out_and_heals() {
    let Some(lab) = lab() else { return };
    let (_l1, dropped) = listen(v4(2));
    let (_l2, other) = listen(v4(3));
    expect_accept(dropped);
    lab.drop_tcp(dropped.ip()).unwrap();
    expect_failure(dropped, SHORT, ConnectFailure::TimedOut, 110);
    expect_accept(other);
    lab.clear().unwrap();
    expect_accept(dropped);
}

#[test]
fn drop_tcp_port_blocks_only_that_port() {
    let Some(lab) = lab() else { return };
    let (_l1, blocked) = listen(v4(4));
    let (_l2, open) = listen(v4(4));
    lab.drop_tcp_port(blocked.ip(), blocked.port()).unwrap();
    expect_failure(blocked, SHORT, ConnectFailure::TimedOut, 110);
    expect_accept(open);
    expect_accept(listen(v4(5)).1);
}

#[test]
fn reject_reset_is_refused_although_something_listens() {
    let Some(lab) = lab() else { return };
    let (_l1, rejected) = listen(v4(6));
    let (_l2, other) = listen(v4(7));
    lab.reject_reset(rejected.ip()).unwrap();
    expect_failure(rejected, LONG, ConnectFailure::Refused, 111);
    expect_accept(other);
}

fn icmp_case(kind: Icmp, want: ConnectFailure, errno: i32) {
    let Some(lab) = lab() else { return };
    let (_l1, rejected) = listen(v4(8));
    let (_l2, other) = listen(v4(9));
    lab.reject_icmp(rejected.ip(), kind).unwrap();
    expect_failure(rejected, LONG, want, errno);
    expect_accept(other);
}

#[test]
fn icmp_host_unreachable() {
    icmp_case(Icmp::HostUnreachable, ConnectFailure::HostUnreachable, 113);
}

#[test]
fn icmp_net_unreachable() {
    icmp_case(
        Icmp::NetUnreachable,
        ConnectFailure::NetworkUnreachable,
        101,
    );
}

#[test]
fn icmp_admin_prohibited_is_host_unreachable() {
    icmp_case(Icmp::AdminProhibited, ConnectFailure::HostUnreachable, 113);
}

#[test]
fn ipv6_drop_and_route_faults() {
    let Some(lab) = lab() else { return };
    let added = IpAddr::V6("fd00:77::2".parse::<Ipv6Addr>().unwrap());
    lab.add_address(added).unwrap();
    lab.add_address(added).unwrap(); // twice is fine
    let (_l1, dropped) = listen(added);
    let (_l2, other) = listen(IpAddr::V6(Ipv6Addr::LOCALHOST));
    lab.drop_tcp(added).unwrap();
    expect_failure(dropped, SHORT, ConnectFailure::TimedOut, 110);
    expect_accept(other);

    let far = |n: u16| IpAddr::V6(Ipv6Addr::new(0xfd00, 0x77, 0, 0, 0, 0, 0, n));
    let cases = [
        (Icmp::HostUnreachable, ConnectFailure::HostUnreachable, 113),
        (
            Icmp::NetUnreachable,
            ConnectFailure::NetworkUnreachable,
            101,
        ),
        (Icmp::AdminProhibited, ConnectFailure::Other, 13),
    ];
    for (i, (kind, want, errno)) in cases.into_iter().enumerate() {
        let a = far(0x20 + i as u16);
        lab.reject_icmp(a, kind).unwrap();
        expect_failure(SocketAddr::new(a, 135), LONG, want, errno);
    }
    lab.reject_reset(other.ip()).unwrap();
    expect_failure(other, LONG, ConnectFailure::Refused, 111);
    lab.clear().unwrap();
    expect_accept(dropped);
    expect_accept(other);
    // Routes gone: no route at all now.
    expect_failure(
        SocketAddr::new(far(0x20), 135),
        LONG,
        ConnectFailure::NetworkUnreachable,
        101,
    );
    // Not possible (a route cannot beat the local table), and said so
    // rather than silently doing nothing.
    assert!(lab.reject_icmp(added, Icmp::HostUnreachable).is_err());
}

#[test]
fn second_enter_reuses_the_namespace_and_threads_inherit_it() {
    let Some(first) = lab() else { return };
    assert!(!first.reused());
    let second = NetLab::enter().unwrap().unwrap();
    assert!(second.reused());
    assert_eq!(first.netns_id(), second.netns_id());
    assert_ne!(
        first.netns_id(),
        std::fs::read_link("/proc/self/ns/net")
            .unwrap()
            .to_string_lossy(),
        "the lab must not be the process's namespace"
    );
    // A rule from the second handle shows in the first's namespace.
    let (_l, a) = listen(v4(10));
    second.reject_reset(a.ip()).unwrap();
    expect_failure(a, LONG, ConnectFailure::Refused, 111);

    // Threads and a multi-thread runtime started from here are inside.
    let id = first.netns_id().to_string();
    assert_eq!(
        std::thread::spawn(|| current_netns().unwrap())
            .join()
            .unwrap(),
        id
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let seen = rt.block_on(async {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(
                tokio::spawn(async { current_netns().unwrap() })
                    .await
                    .unwrap(),
            );
            v.push(
                tokio::task::spawn_blocking(|| current_netns().unwrap())
                    .await
                    .unwrap(),
            );
        }
        v
    });
    assert!(seen.iter().all(|s| *s == id), "{seen:?} vs {id}");
}

/// What `SambaDc::start` does first; the lab must join that namespace, not
/// leave it, so faults can be put on the DC's address.
#[test]
fn reuses_the_namespace_samba_entered() {
    let Some(ns) = enter_private_netns().unwrap() else {
        return;
    };
    let lab = NetLab::enter().unwrap().unwrap();
    assert!(lab.reused());
    assert_eq!(lab.netns_id(), ns.id());
    let dc = IpAddr::V4(DC_ADDR);
    lab.add_address(dc).unwrap(); // already there: nothing to do
    let (_l, a) = listen(dc);
    expect_accept(a);
    lab.reject_reset(dc).unwrap();
    expect_failure(a, LONG, ConnectFailure::Refused, 111);
}

#[test]
fn refuses_to_change_a_namespace_it_is_not_in() {
    let Some(lab) = lab() else { return };
    let target = IpAddr::V4(Ipv4Addr::new(127, 254, 77, 1));
    std::thread::scope(|s| {
        s.spawn(|| {
            // Move this helper thread back to the process's namespace.
            let host = std::fs::File::open("/proc/self/ns/net").unwrap();
            nix::sched::setns(&host, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            assert_ne!(current_netns().unwrap(), lab.netns_id());
            let r = lab.drop_tcp(target);
            if r.is_ok() {
                // Undo at once before failing: the rule went to the host.
                let _ = std::process::Command::new(lab.iptables())
                    .args(["-w", "5", "-D", "OUTPUT", "-d", &target.to_string()])
                    .args(["-p", "tcp", "-j", "DROP"])
                    .status();
            }
            let e = r.expect_err("must refuse outside the lab");
            assert!(e.to_string().contains("outside the lab"), "{e}");
            assert!(lab.add_address(target).is_err());
            assert!(lab.clear().is_err());
        })
        .join()
        .unwrap();
    });
}

fn resolver(dns: &Dns, attempts: u32) -> Resolver {
    Resolver::new(ResolveConfig {
        server: DnsServer::Addr(dns.addr()),
        attempt_timeout: Duration::from_millis(500),
        attempts,
    })
    .unwrap()
}

#[test]
fn dns_found_nxdomain_and_try_again() {
    let Some(_lab) = lab() else { return };
    if !Dns::available() {
        winv_testsuite::fixtures::skip_or_fail("dnsmasq not installed (apt-get install dnsmasq)");
        return;
    }
    let listen = SocketAddr::new(v4(53), 53);
    let pc1 = v4(21);
    let pc2a = v4(22);
    let pc2b = IpAddr::V6("fd00:77::22".parse::<Ipv6Addr>().unwrap());
    let dns = Dns::start(
        listen,
        "lab.test",
        &[
            ("pc1.lab.test", pc1),
            ("PC2.lab.test.", pc2a),
            ("pc2.lab.test", pc2b),
        ],
        Some("fail.lab.test"),
    )
    .unwrap();
    assert_eq!(dns.addr(), listen);
    let r = resolver(&dns, 2);
    block_on(async {
        assert_eq!(
            r.resolve("pc1.lab.test").await,
            Resolution::Found {
                addrs: vec![pc1],
                attempts: 1
            }
        );
        assert_eq!(
            r.resolve("pc2.lab.test").await,
            Resolution::Found {
                addrs: vec![pc2a, pc2b],
                attempts: 1
            }
        );
        let t0 = Instant::now();
        assert_eq!(
            r.resolve("nobody.lab.test").await,
            Resolution::NotFound {
                reason: NotFoundReason::NxDomain,
                attempts: 1
            }
        );
        assert!(
            t0.elapsed() < Duration::from_millis(400),
            "{:?}",
            t0.elapsed()
        );

        let t0 = Instant::now();
        let res = r.resolve("pc9.fail.lab.test").await;
        let took = t0.elapsed();
        match &res {
            Resolution::NotFound {
                reason: NotFoundReason::TryAgain(detail),
                attempts: 2,
            } => assert!(detail.to_lowercase().contains("refused"), "{detail}"),
            other => panic!("unexpected {other:?}"),
        }
        // Answered at once, each time: not two timeouts.
        assert!(took < Duration::from_millis(500), "{took:?}");
    });
    let log = dns.log();
    assert_eq!(
        log.matches("query[A] pc9.fail.lab.test").count(),
        2,
        "both attempts must reach the server:\n{log}"
    );
    drop(dns);
    let (r, _) = connect(listen, LONG);
    assert_eq!(
        r.unwrap_err().failure,
        ConnectFailure::Refused,
        "dnsmasq still running"
    );
}

#[test]
fn dns_listens_on_ipv6_too() {
    let Some(_lab) = lab() else { return };
    if !Dns::available() {
        winv_testsuite::fixtures::skip_or_fail("dnsmasq not installed (apt-get install dnsmasq)");
        return;
    }
    let listen = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 5353);
    let a = IpAddr::V6("fd00:77::31".parse::<Ipv6Addr>().unwrap());
    let dns = Dns::start(listen, "six.test", &[("host.six.test", a)], None).unwrap();
    let r = resolver(&dns, 1);
    block_on(async {
        assert_eq!(
            r.resolve("host.six.test").await,
            Resolution::Found {
                addrs: vec![a],
                attempts: 1
            }
        );
        // Outside the zone: no upstream, REFUSED, transient.
        assert!(matches!(
            r.resolve("www.example.com").await,
            Resolution::NotFound {
                reason: NotFoundReason::TryAgain(_),
                attempts: 1
            }
        ));
    });
    assert!(Dns::start(listen, "bad zone", &[], None).is_err());
}
