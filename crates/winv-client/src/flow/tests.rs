//! The rules of the connection flow, on the pure [`Connector`]: no sockets, no clock.

use super::*;
use winv_dcom::objref::tower::NCACN_IP_TCP;

fn t0() -> Instant {
    Instant::now()
}

fn ms(base: Instant, n: u64) -> Instant {
    base + Duration::from_millis(n)
}

fn refused(addr: SocketAddr) -> ConnectError {
    ConnectError {
        addr,
        failure: ConnectFailure::Refused,
        errno: Some(111),
    }
}

fn timed_out(addr: SocketAddr) -> ConnectError {
    ConnectError {
        addr,
        failure: ConnectFailure::TimedOut,
        errno: Some(110),
    }
}

fn activation(epm: &str, bindings: &[&str]) -> Box<Activation> {
    let string_bindings: Vec<StringBinding> = bindings
        .iter()
        .map(|b| StringBinding {
            tower_id: NCACN_IP_TCP,
            network_addr: (*b).to_string(),
        })
        .collect();
    Box::new(Activation {
        epm_addr: epm.parse().unwrap(),
        oxid: 7,
        authn_hint: 6,
        tcp_bindings: tcp_bindings(&string_bindings),
        string_bindings,
        security_bindings: vec![SecurityBinding {
            authn_svc: 16,
            authz_svc: 0xffff,
            principal_name: "host/ws01.lab.test".into(),
        }],
        ipid_rem_unknown: Uuid::nil(),
        login: held_of(&winv_dcom::StdObjRef {
            flags: 0,
            public_refs: 5,
            oxid: 7,
            oid: 9,
            ipid: Uuid::nil(),
        }),
    })
}

fn step_done(p: Progress) -> (FlowStep, Duration, Vec<Tried>, Seen) {
    match p {
        Progress::StepDone {
            step,
            elapsed,
            tried,
            seen,
        } => (step, elapsed, tried, seen),
        other => panic!("expected a finished step, got {other:?}"),
    }
}

fn failed(p: Progress) -> (FlowStep, Vec<Tried>, ClientError) {
    match p {
        Progress::Failed {
            step, tried, error, ..
        } => (step, tried, error),
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// Drives a connector through a healthy host up to the activation.
fn to_activation(c: &mut Connector, base: Instant) {
    let (step, ..) = step_done(c.start(base));
    assert_eq!(step, FlowStep::Resolve);
    assert!(matches!(c.request(), Request::Connect { .. }));
    step_done(c.feed(Response::Connected(Ok(())), ms(base, 1)));
    step_done(c.feed(Response::Bound(Ok(())), ms(base, 2)));
    assert_eq!(c.request(), Request::Activate);
}

#[test]
fn a_healthy_host_walks_every_step_in_order_with_the_times_fed() {
    let base = t0();
    let mut c = Connector::new(Target::new("192.0.2.7"), 135, r"root\cimv2", base);
    let (step, elapsed, _, seen) = step_done(c.start(base));
    assert_eq!(step, FlowStep::Resolve);
    assert_eq!(elapsed, Duration::ZERO);
    assert!(matches!(seen, Seen::Resolved { skipped: true, .. }));
    assert_eq!(
        c.request(),
        Request::Connect {
            addr: "192.0.2.7:135".parse().unwrap()
        }
    );
    let (step, elapsed, ..) = step_done(c.feed(Response::Connected(Ok(())), ms(base, 3)));
    assert_eq!((step, elapsed), (FlowStep::Tcp135, Duration::from_millis(3)));
    assert!(matches!(
        c.request(),
        Request::Bind {
            stage: Stage::Bind135,
            ..
        }
    ));
    let (step, elapsed, ..) = step_done(c.feed(Response::Bound(Ok(())), ms(base, 10)));
    assert_eq!((step, elapsed), (FlowStep::Bind135, Duration::from_millis(7)));
    assert_eq!(c.request(), Request::Activate);
    let act = activation("192.0.2.7:135", &["WS01[49670]", "10.0.0.5[49670]"]);
    let (step, ..) = step_done(c.feed(Response::Activated(Ok(act)), ms(base, 20)));
    assert_eq!(step, FlowStep::Activation);
    // The address dialled, with the binding's port, comes first.
    assert_eq!(
        c.request(),
        Request::Connect {
            addr: "192.0.2.7:49670".parse().unwrap()
        }
    );
    let (step, _, tried, seen) = step_done(c.feed(Response::Connected(Ok(())), ms(base, 21)));
    assert_eq!(step, FlowStep::TcpDynamic);
    assert!(tried.is_empty());
    assert!(matches!(
        seen,
        Seen::Accepted {
            origin: Origin::Dialled,
            ..
        }
    ));
    assert!(matches!(
        c.request(),
        Request::Bind {
            stage: Stage::BindDynamic,
            ..
        }
    ));
    step_done(c.feed(Response::Bound(Ok(())), ms(base, 22)));
    assert_eq!(
        c.request(),
        Request::Login {
            namespace: r"root\cimv2".into()
        }
    );
    let (step, ..) = step_done(c.feed(Response::LoggedIn(Ok(())), ms(base, 30)));
    assert_eq!(step, FlowStep::Login);
    assert_eq!(c.request(), Request::Done);
    assert_eq!(c.step(), None);
}

#[test]
fn a_name_is_resolved_and_each_address_tried_until_one_accepts() {
    let base = t0();
    let mut c = Connector::new(Target::new("ws01.lab.test"), 135, r"root\cimv2", base);
    assert!(matches!(c.start(base), Progress::Continue));
    assert_eq!(
        c.request(),
        Request::Resolve {
            name: "ws01.lab.test".into()
        }
    );
    let addrs: Vec<IpAddr> = vec!["192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap()];
    let (_, _, _, seen) = step_done(c.feed(Response::Resolved(Ok(addrs)), ms(base, 5)));
    assert!(matches!(seen, Seen::Resolved { skipped: false, .. }));
    let first: SocketAddr = "192.0.2.1:135".parse().unwrap();
    assert_eq!(c.request(), Request::Connect { addr: first });
    assert!(matches!(
        c.feed(Response::Connected(Err(refused(first))), ms(base, 6)),
        Progress::Continue
    ));
    let second: SocketAddr = "192.0.2.2:135".parse().unwrap();
    assert_eq!(c.request(), Request::Connect { addr: second });
    let (step, _, tried, _) = step_done(c.feed(Response::Connected(Ok(())), ms(base, 7)));
    assert_eq!(step, FlowStep::Tcp135);
    assert_eq!(
        tried,
        vec![Tried::Connect {
            addr: first,
            origin: Origin::Dialled,
            failure: ConnectFailure::Refused
        }]
    );
}

#[test]
fn given_addresses_skip_resolution() {
    let base = t0();
    let ip: IpAddr = "192.0.2.9".parse().unwrap();
    let mut c = Connector::new(Target::resolved("ws09", vec![ip]), 1135, r"root\cimv2", base);
    let (_, _, _, seen) = step_done(c.start(base));
    assert!(matches!(seen, Seen::Resolved { skipped: true, ref addrs } if addrs == &vec![ip]));
    assert_eq!(
        c.request(),
        Request::Connect {
            addr: SocketAddr::new(ip, 1135)
        }
    );
}

#[test]
fn resolution_failure_is_connect135_with_the_host_named() {
    let base = t0();
    let mut c = Connector::new(Target::new("nope.lab.test"), 135, r"root\cimv2", base);
    c.start(base);
    let err = ResolveError {
        failure: ResolveFailure::NxDomain,
        detail: "NXDOMAIN".into(),
    };
    let (step, _, e) = failed(c.feed(Response::Resolved(Err(err)), ms(base, 1)));
    assert_eq!(step, FlowStep::Resolve);
    assert_eq!(e.stage(), Stage::Connect135);
    assert!(
        matches!(e.cause(), Cause::Resolve { host, .. } if host == "nope.lab.test"),
        "{e}"
    );
    assert_eq!(c.request(), Request::Done);
}

#[test]
fn when_every_address_of_135_fails_the_last_failure_is_reported() {
    let base = t0();
    let addrs: Vec<IpAddr> = vec!["192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap()];
    let mut c = Connector::new(Target::resolved("ws", addrs), 135, r"root\cimv2", base);
    c.start(base);
    let a: SocketAddr = "192.0.2.1:135".parse().unwrap();
    let b: SocketAddr = "192.0.2.2:135".parse().unwrap();
    c.feed(Response::Connected(Err(refused(a))), ms(base, 1));
    let (step, tried, e) = failed(c.feed(Response::Connected(Err(timed_out(b))), ms(base, 2)));
    assert_eq!(step, FlowStep::Tcp135);
    assert_eq!(tried.len(), 2);
    assert_eq!(e.stage(), Stage::Connect135);
    assert_eq!(e.connect_failure(), Some(ConnectFailure::TimedOut));
}

#[test]
fn a_refused_logon_seen_by_the_activation_is_the_binds_failure() {
    let base = t0();
    let mut c = Connector::new(Target::new("192.0.2.7"), 135, r"root\cimv2", base);
    to_activation(&mut c, base);
    // Windows answers the first call after a refused auth3 with rpc_s_access_denied.
    let e = ClientError::new(Stage::Activation, Cause::Fault { status: 5 });
    let (step, _, e) = failed(c.feed(Response::Activated(Err(e)), ms(base, 3)));
    assert_eq!(step, FlowStep::Activation);
    assert_eq!(e.stage(), Stage::Bind135);
    assert!(e.is_auth_failure());
    // A DCOM refusal (an HRESULT in the reply) stays the activation's.
    let mut c = Connector::new(Target::new("192.0.2.7"), 135, r"root\cimv2", base);
    to_activation(&mut c, base);
    let e = ClientError::hresult_at(Stage::Activation, 0x8007_0005);
    let (_, _, e) = failed(c.feed(Response::Activated(Err(e)), ms(base, 3)));
    assert_eq!(e.stage(), Stage::Activation);
    assert!(!e.is_auth_failure());
}

#[test]
fn the_first_login_confirms_the_dynamic_logon() {
    let base = t0();
    let mut c = Connector::new(Target::new("192.0.2.7"), 135, r"root\cimv2", base);
    to_activation(&mut c, base);
    let act = activation("192.0.2.7:135", &["192.0.2.7[49670]"]);
    step_done(c.feed(Response::Activated(Ok(act)), ms(base, 3)));
    step_done(c.feed(Response::Connected(Ok(())), ms(base, 4)));
    step_done(c.feed(Response::Bound(Ok(())), ms(base, 5)));
    let e = ClientError::new(
        Stage::Login,
        Cause::AuthenticationFailed("closed after auth3".into()),
    );
    let (step, _, e) = failed(c.feed(Response::LoggedIn(Err(e)), ms(base, 6)));
    assert_eq!(step, FlowStep::Login);
    assert_eq!(e.stage(), Stage::BindDynamic);
    // A namespace refusal is the login's.
    let mut c = Connector::new(Target::new("192.0.2.7"), 135, r"root\cimv2", base);
    to_activation(&mut c, base);
    let act = activation("192.0.2.7:135", &["192.0.2.7[49670]"]);
    step_done(c.feed(Response::Activated(Ok(act)), ms(base, 3)));
    step_done(c.feed(Response::Connected(Ok(())), ms(base, 4)));
    step_done(c.feed(Response::Bound(Ok(())), ms(base, 5)));
    let e = ClientError::hresult_at(Stage::Login, 0x8004_1003);
    let (_, _, e) = failed(c.feed(Response::LoggedIn(Err(e)), ms(base, 6)));
    assert_eq!(e.stage(), Stage::Login);
}

#[test]
fn binding_candidates_in_order_and_the_first_connect_failure_wins() {
    let base = t0();
    let mut c = Connector::new(Target::new("192.0.2.7"), 135, r"root\cimv2", base);
    to_activation(&mut c, base);
    // Behind NAT: the host lists its private address and its name.
    let act = activation("192.0.2.7:135", &["WS01[49670]", "10.0.0.5[49670]"]);
    step_done(c.feed(Response::Activated(Ok(act)), ms(base, 3)));
    let dialled: SocketAddr = "192.0.2.7:49670".parse().unwrap();
    assert_eq!(c.request(), Request::Connect { addr: dialled });
    assert!(matches!(
        c.feed(Response::Connected(Err(timed_out(dialled))), ms(base, 4)),
        Progress::Continue
    ));
    // The binding's name next: it does not resolve here.
    assert_eq!(
        c.request(),
        Request::ResolveBinding {
            name: "WS01".into()
        }
    );
    let nx = ResolveError {
        failure: ResolveFailure::NxDomain,
        detail: "NXDOMAIN".into(),
    };
    assert!(matches!(
        c.feed(Response::Resolved(Err(nx)), ms(base, 5)),
        Progress::Continue
    ));
    let private: SocketAddr = "10.0.0.5:49670".parse().unwrap();
    assert_eq!(c.request(), Request::Connect { addr: private });
    let (step, tried, e) = failed(c.feed(Response::Connected(Err(refused(private))), ms(base, 6)));
    assert_eq!(step, FlowStep::TcpDynamic);
    assert_eq!(tried.len(), 3, "{tried:?}");
    assert!(matches!(&tried[1], Tried::Resolve { name, .. } if name == "WS01"));
    // The first connect failure (the address dialled) says most about the network.
    assert_eq!(e.stage(), Stage::ConnectDynamic);
    assert_eq!(e.connect_failure(), Some(ConnectFailure::TimedOut));
}

#[test]
fn a_resolved_binding_name_is_tried_with_its_origin() {
    let base = t0();
    let mut c = Connector::new(Target::new("192.0.2.7"), 135, r"root\cimv2", base);
    to_activation(&mut c, base);
    let act = activation("192.0.2.7:135", &["WS01[49670]"]);
    step_done(c.feed(Response::Activated(Ok(act)), ms(base, 3)));
    let dialled: SocketAddr = "192.0.2.7:49670".parse().unwrap();
    c.feed(Response::Connected(Err(refused(dialled))), ms(base, 4));
    c.feed(
        Response::Resolved(Ok(vec!["192.0.2.70".parse().unwrap()])),
        ms(base, 5),
    );
    let other: SocketAddr = "192.0.2.70:49670".parse().unwrap();
    assert_eq!(c.request(), Request::Connect { addr: other });
    let (_, _, tried, seen) = step_done(c.feed(Response::Connected(Ok(())), ms(base, 6)));
    assert_eq!(tried.len(), 1);
    assert!(matches!(
        seen,
        Seen::Accepted { addr, origin: Origin::BindingName(ref n) } if addr == other && n == "WS01"
    ));
}

#[test]
fn an_oxid_without_tcp_bindings_fails_the_dynamic_step() {
    let base = t0();
    let mut c = Connector::new(Target::new("192.0.2.7"), 135, r"root\cimv2", base);
    to_activation(&mut c, base);
    let act = activation("192.0.2.7:135", &[]);
    step_done(c.feed(Response::Activated(Ok(act)), ms(base, 3)));
    assert!(c.has_no_candidates());
    let (step, _, e) = failed(c.no_candidates(ms(base, 3)));
    assert_eq!(step, FlowStep::TcpDynamic);
    assert!(e.to_string().contains("no ncacn_ip_tcp binding"), "{e}");
}

#[test]
fn a_response_out_of_order_is_an_error_not_a_panic() {
    let base = t0();
    let mut c = Connector::new(Target::new("192.0.2.7"), 135, r"root\cimv2", base);
    c.start(base);
    let (_, _, e) = failed(c.feed(Response::LoggedIn(Ok(())), ms(base, 1)));
    assert!(matches!(e.cause(), Cause::Protocol(_)));
    // Once failed, nothing more is asked for.
    assert_eq!(c.request(), Request::Done);
}

#[test]
fn the_security_binding_names_the_principal() {
    let act = activation("192.0.2.7:135", &["192.0.2.7[49670]"]);
    assert_eq!(act.principal(16), Some("host/ws01.lab.test"));
    assert_eq!(act.principal(10), None);
}
