//! What the probes tell, over recorded walks (no network).

use super::*;
use std::time::Duration;

use crate::classify::NamespaceRole;

fn step(name: &'static str, ok: bool) -> Step {
    Step {
        name,
        ok,
        skipped: false,
        ms: 1,
        detail: String::new(),
    }
}

/// A recorded walk that got through `ok_steps` steps and failed at the next with `err`.
fn walk_failing(ok_steps: usize, err: ClientError) -> Walk {
    let mut steps: Vec<Step> = STEPS[..ok_steps].iter().map(|n| step(n, true)).collect();
    let name = STEPS[ok_steps];
    steps.push(step(name, false));
    Walk {
        steps,
        failed: Some(Failed {
            step: name,
            err,
            role: NamespaceRole::Cimv2,
        }),
        addrs: vec!["192.0.2.7".parse().unwrap()],
        activation: None,
    }
}

fn opts() -> Options {
    Options {
        host: "ws01".into(),
        port: 135,
        level: AuthLevel::PktPrivacy,
        probes: true,
    }
}

fn probe(subject: &str, ok: bool, failed_step: Option<&'static str>) -> ProbeResult {
    ProbeResult {
        kind: "credential",
        subject: subject.into(),
        ok,
        ms: 1,
        failed_step,
        detail: String::new(),
    }
}

#[test]
fn a_silent_dynamic_bind_is_rpc_server_unavailable_explained_as_the_firewall() {
    let w = walk_failing(
        5,
        ClientError::new(
            Stage::BindDynamic,
            Cause::Timeout {
                what: "bind",
                after: Duration::from_secs(1),
            },
        ),
    );
    let failed = w.failed.as_ref().unwrap();
    assert!(dynamic_silent(failed));
    let r = explain(&opts(), "LAB\\u", &w, failed);
    assert_eq!(r.step, "bind-dynamic");
    assert_eq!(r.failure.status, Status::RpcServerUnavailable);
    assert_eq!(r.failure.code, Some(0x8007_06ba));
    assert_eq!(r.explained_by.as_deref(), Some("RPC_S_SERVER_UNAVAILABLE"));
    assert!(r.remediation[0].contains("windows management instrumentation (wmi)"));
    assert!(r.headline.contains("dynamic port"), "{}", r.headline);
}

#[test]
fn a_bind_rejection_is_explained_as_no_dcom() {
    let err = ClientError::new(Stage::Bind135, Cause::BindRejected("x".into()));
    assert!(no_dcom(&err));
    let w = walk_failing(2, err);
    let failed = w.failed.as_ref().unwrap();
    let r = explain(&opts(), "u", &w, failed);
    assert_eq!(r.failure.status, Status::RpcServerUnavailable);
    assert_eq!(r.explained_by.as_deref(), Some("RPC_S_UNKNOWN_IF"));
    assert!(
        r.headline
            .contains("offers no DCOM activation (not Windows, or DCOM disabled)"),
        "{}",
        r.headline
    );
    assert!(no_dcom(&ClientError::new(
        Stage::Activation,
        Cause::Fault {
            status: 0x1c01_0003
        }
    )));
    assert!(!no_dcom(&ClientError::new(
        Stage::Activation,
        Cause::Fault { status: 1726 }
    )));
}

#[test]
fn a_refused_logon_is_explained_by_its_code_with_the_logon_first() {
    let w = walk_failing(
        3,
        ClientError::new(Stage::Bind135, Cause::AuthenticationFailed("x".into())),
    );
    let failed = w.failed.as_ref().unwrap();
    let r = explain(&opts(), "LAB\\u", &w, failed);
    assert_eq!(r.failure.status, Status::AccessDenied);
    assert_eq!(r.failure.stage, "bind-135");
    // Explained by the failure's own code, its causes and remediation ranked by the
    // evidence: the logon's first.
    assert_eq!(r.explained_by.as_deref(), r.failure.code_name.as_deref());
    assert_eq!(r.explained_by.as_deref(), Some("E_ACCESSDENIED"));
    let logon = winv_kb::by_name("ERROR_LOGON_FAILURE").unwrap();
    assert_eq!(r.remediation[0], logon.remediation[0]);
    assert!(r.causes[0].contains("password is wrong"), "{:?}", r.causes);
    assert!(r.headline.contains("NTLM logon of LAB\\u was refused"), "{}", r.headline);
}

#[test]
fn credential_findings_name_the_account_that_works() {
    let labels: Vec<String> = ["LAB\\a", "LAB\\b", "LAB\\c"].map(String::from).to_vec();
    let probes = vec![
        probe("LAB\\b", false, Some("activation")),
        probe("LAB\\c", true, None),
    ];
    let f = credential_findings(&labels, &probes, "activation").unwrap();
    assert!(f.starts_with("LAB\\c works where LAB\\a fails"), "{f}");
    // Every credential fails at the same step: the host, not one account.
    let probes = vec![
        probe("LAB\\b", false, Some("activation")),
        probe("LAB\\c", false, Some("activation")),
    ];
    let f = credential_findings(&labels, &probes, "activation").unwrap();
    assert!(f.contains("every credential fails at activation"), "{f}");
    // They fail differently: nothing to say.
    let probes = vec![
        probe("LAB\\b", false, Some("activation")),
        probe("LAB\\c", false, Some("login-cimv2")),
    ];
    assert_eq!(credential_findings(&labels, &probes, "activation"), None);
}

#[test]
fn the_level_that_gets_further_is_recommended_with_its_flag() {
    let f = level_finding(
        "activation",
        AuthLevel::Connect,
        Some(AuthLevel::PktIntegrity),
        &[],
    )
    .unwrap();
    assert!(f.contains("KB5004442"), "{f}");
    assert!(f.contains("--auth-level integrity"), "{f}");
    let f = level_finding(
        "login-cimv2",
        AuthLevel::PktIntegrity,
        Some(AuthLevel::PktPrivacy),
        &[],
    )
    .unwrap();
    assert!(f.contains("WBEM_E_ENCRYPTED_CONNECTION_REQUIRED"), "{f}");
    assert!(f.contains("--auth-level privacy"), "{f}");
    let f = level_finding("activation", AuthLevel::PktPrivacy, None, &[AuthLevel::PktIntegrity]).unwrap();
    assert!(f.starts_with("packet integrity fails the same way"), "{f}");
    assert_eq!(level_finding("activation", AuthLevel::PktPrivacy, None, &[]), None);
}

#[test]
fn the_level_matters_only_for_a_denied_activation_or_login() {
    let denied = walk_failing(3, ClientError::hresult_at(Stage::Activation, 0x8007_0005));
    assert!(level_may_matter(denied.failed.as_ref().unwrap()));
    let encrypted = walk_failing(6, ClientError::hresult_at(Stage::Login, 0x8004_1087));
    assert!(level_may_matter(encrypted.failed.as_ref().unwrap()));
    let other = walk_failing(7, ClientError::hresult_at(Stage::Query, 0x8004_1010));
    assert!(!level_may_matter(other.failed.as_ref().unwrap()));
}

#[test]
fn the_name_finding_follows_the_address_walk() {
    let ip: IpAddr = "192.0.2.7".parse().unwrap();
    assert!(name_finding("ws01", ip, true).contains("the name is the problem"));
    assert!(name_finding("ws01", ip, false).contains("not a name problem"));
}

#[test]
fn nat_is_told_from_a_blocked_dynamic_port() {
    let dialled: IpAddr = "192.0.2.7".parse().unwrap();
    let at = |s: &str| s.parse::<SocketAddr>().unwrap();
    // Behind NAT: the bindings name a private address that is not reachable.
    let f = binding_findings(
        dialled,
        "49670",
        &[
            (at("192.0.2.7:49670"), false),
            (at("10.0.0.5:49670"), false),
        ],
    );
    assert!(
        f[0].contains("names 10.0.0.5 while 192.0.2.7 was dialled"),
        "{f:?}"
    );
    assert!(f[0].contains("NAT"), "{f:?}");
    assert!(f[1].contains("dynamic port 49670 does not answer at 192.0.2.7"));
    // The same address in the bindings: only the firewall finding.
    let f = binding_findings(dialled, "49670", &[(at("192.0.2.7:49670"), false)]);
    assert_eq!(f.len(), 1);
    assert!(f[0].contains("blocks the RPC dynamic port range"));
    // The bindings' own address answers: multi-homed or NAT, that address works.
    let f = binding_findings(
        dialled,
        "49670",
        &[(at("192.0.2.7:49670"), false), (at("10.0.0.5:49670"), true)],
    );
    assert!(f[0].contains("the bindings' own address answers"), "{f:?}");
    // The dialled address answers: nothing to say about NAT or the firewall.
    let f = binding_findings(dialled, "49670", &[(at("192.0.2.7:49670"), true)]);
    assert!(f.is_empty(), "{f:?}");
}

#[test]
fn a_walk_summary_names_the_step_status_and_code() {
    let w = walk_failing(6, ClientError::hresult_at(Stage::Login, 0x8004_1003));
    let (ok, failed_step, what) = walk_summary(&w);
    assert!(!ok);
    assert_eq!(failed_step, Some("login-cimv2"));
    assert!(what.contains("access-denied"), "{what}");
    assert!(what.contains("0x80041003 WBEM_E_ACCESS_DENIED"), "{what}");
    assert_eq!(w.progress(), 6);
    let ok_walk = Walk {
        steps: STEPS.iter().map(|n| step(n, true)).collect(),
        ..Walk::default()
    };
    assert!(walk_summary(&ok_walk).0);
}

#[test]
fn a_repeated_account_is_labelled_by_position() {
    let mech: Arc<dyn Mechanism> = Arc::new(winv_client::Ntlm::new(
        winv_client::Credentials::with_password("a", "LAB", "x"),
        "",
    ));
    let acc = |n: &str| Account {
        name: n.into(),
        mechanism: mech.clone(),
        alternate: None,
    };
    let list = vec![acc("LAB\\a"), acc("LAB\\a"), acc("LAB\\b")];
    assert_eq!(account_label(&list, 1), "LAB\\a (#2)");
    assert_eq!(account_label(&list, 2), "LAB\\b");
}

#[test]
fn the_other_mechanism_says_which_works() {
    let p = |subject: &str, ok: bool| ProbeResult {
        kind: "mechanism",
        subject: subject.into(),
        ok,
        ms: 1,
        failed_step: if ok { None } else { Some("bind-135") },
        detail: String::new(),
    };
    let f = mechanism_finding("ntlm", &p("kerberos", true));
    assert!(f.contains("restricts ntlm") && f.contains("--auth kerberos"), "{f}");
    let f = mechanism_finding("kerberos", &p("ntlm", true));
    assert!(f.contains("--auth ntlm") && f.contains("setspn"), "{f}");
    let f = mechanism_finding("kerberos", &p("ntlm", false));
    assert!(f.contains("fails too") && f.contains("bind-135"), "{f}");
}
