//! One test per rule of the lockout guard.

use super::*;
use crate::classify::engine_failure;
use crate::status::Status;
use winv_client::Stage;

fn guard(accounts: &[&str], limit: u32) -> AccountGuard {
    let a: Vec<String> = accounts.iter().map(|s| s.to_string()).collect();
    AccountGuard::new(&a, limit)
}

fn go(g: &mut AccountGuard, i: usize, t: &str) -> Pass {
    match g.admit(i, t) {
        Admit::Go(p) => p,
        other => panic!("{t}: expected Go, got {other:?}"),
    }
}

fn denied(by: Option<DeniedBy>, stage: FailureStage, code: Option<u32>) -> Failure {
    let mut f = engine_failure(Status::AccessDenied, stage, code, "refused".into());
    f.denied_by = by;
    f
}

#[test]
fn a_domain_account_is_retired_after_the_limit_of_refusals() {
    let mut g = guard(&["LAB\\wrong"], 3);
    for (n, t) in ["h1", "h2", "h3"].iter().enumerate() {
        let p = go(&mut g, 0, t);
        let r = g.report(0, t, p, Verdict::Refused);
        if n < 2 {
            assert_eq!(r, None, "retired too early after {}", n + 1);
        } else {
            assert_eq!(
                r,
                Some(Retirement {
                    account: "LAB\\wrong".into(),
                    refusals: 3
                })
            );
        }
    }
    assert_eq!(g.admit(0, "h4"), Admit::Retired);
    assert!(g.is_retired(0));
    let s = &g.stats()[0];
    assert_eq!(
        (s.tried, s.accepted, s.refused, s.retired_after),
        (3, 0, 3, Some(3))
    );
}

#[test]
fn an_unproven_account_is_in_flight_on_at_most_the_limit() {
    let mut g = guard(&["LAB\\new"], 3);
    let passes: Vec<Pass> = (0..3).map(|i| go(&mut g, 0, &format!("h{i}"))).collect();
    // 256 parallel attempts: the fourth waits, whatever the concurrency.
    assert_eq!(g.admit(0, "h3"), Admit::Wait);
    // One refusal: its place is not given back (3 - 1 refusal - 2 in flight = 0).
    g.report(0, "h0", passes[0], Verdict::Refused);
    assert_eq!(g.admit(0, "h3"), Admit::Wait);
    // One acceptance proves it: no cap any more.
    g.report(0, "h1", passes[1], Verdict::Accepted);
    for i in 3..50 {
        go(&mut g, 0, &format!("h{i}"));
    }
}

#[test]
fn an_unknown_verdict_gives_the_place_back_without_counting() {
    let mut g = guard(&["LAB\\a"], 1);
    let p = go(&mut g, 0, "silent");
    assert_eq!(g.admit(0, "h2"), Admit::Wait);
    assert_eq!(g.report(0, "silent", p, Verdict::Unknown), None);
    let p = go(&mut g, 0, "h2");
    assert!(g.report(0, "h2", p, Verdict::Refused).is_some());
}

#[test]
fn an_accepted_account_is_never_retired_nor_capped() {
    // Two refusals, then one computer accepts it: the password is right.
    let mut g = guard(&["LAB\\a"], 3);
    for t in ["r1", "r2"] {
        let p = go(&mut g, 0, t);
        g.report(0, t, p, Verdict::Refused);
    }
    let p = go(&mut g, 0, "ok");
    g.report(0, "ok", p, Verdict::Accepted);
    // Computers of another domain refuse it from now on: not counted, not capped.
    let passes: Vec<Pass> = (0..20).map(|i| go(&mut g, 0, &format!("other{i}"))).collect();
    for (i, p) in passes.into_iter().enumerate() {
        assert_eq!(g.report(0, &format!("other{i}"), p, Verdict::Refused), None);
    }
    assert!(!g.is_retired(0));
    assert!(matches!(g.admit(0, "more"), Admit::Go(_)));
    let s = &g.stats()[0];
    assert_eq!((s.tried, s.accepted, s.refused), (24, 1, 22));
}

#[test]
fn local_accounts_are_per_computer_and_never_retired() {
    let mut g = guard(&[".\\Administrator", "WS01\\admin"], 1);
    for i in 0..10 {
        let t = format!("ws{i:02}");
        let p = go(&mut g, 0, &t);
        assert_eq!(g.report(0, &t, p, Verdict::Refused), None);
    }
    assert!(!g.is_retired(0));
    // HOST\user is local on HOST only: elsewhere it is a domain account named HOST.
    let p = go(&mut g, 1, "ws01.lab.local");
    assert_eq!(g.report(1, "ws01.lab.local", p, Verdict::Refused), None);
    let p = go(&mut g, 1, "ws02");
    assert!(g.report(1, "ws02", p, Verdict::Refused).is_some());
    assert_eq!(g.admit(1, "ws03"), Admit::Retired);
    assert!(matches!(g.admit(1, "ws01"), Admit::Go(_)));
}

#[test]
fn a_limit_of_zero_turns_the_guard_off() {
    let mut g = guard(&["LAB\\a"], 0);
    for i in 0..20 {
        let t = format!("h{i}");
        let p = go(&mut g, 0, &t);
        assert_eq!(g.report(0, &t, p, Verdict::Refused), None);
    }
}

#[test]
fn a_resumed_run_keeps_its_retired_accounts() {
    let mut g = guard(&["LAB\\a", "LAB\\b"], 3);
    g.retire("LAB\\a", 3);
    assert_eq!(g.admit(0, "h"), Admit::Retired);
    assert!(matches!(g.admit(1, "h"), Admit::Go(_)));
    assert_eq!(g.stats()[0].retired_after, Some(3));
}

#[test]
fn verdicts_from_failures() {
    use DeniedBy::*;
    let bind = FailureStage::Client(Stage::Bind135);
    assert_eq!(
        Verdict::of(&denied(Some(Authentication), bind, None)),
        Verdict::Refused
    );
    let dynamic = FailureStage::Client(Stage::BindDynamic);
    assert_eq!(
        Verdict::of(&denied(Some(Authentication), dynamic, None)),
        Verdict::Refused
    );
    for ok in [Dcom, WmiNamespace, Registry] {
        let f = denied(Some(ok), FailureStage::Client(Stage::Activation), Some(5));
        assert_eq!(Verdict::of(&f), Verdict::Accepted, "{ok:?}");
    }
    // Kerberos: pre-authentication failed and an unknown client are refusals; an SPN
    // the KDC does not know (7) or no KDC says nothing of the password.
    for c in [6, 18, 23, 24] {
        let f = denied(Some(Authentication), FailureStage::Kdc, Some(c));
        assert_eq!(Verdict::of(&f), Verdict::Refused, "{c}");
    }
    for c in [Some(7), Some(14), None] {
        let f = denied(Some(Authentication), FailureStage::Kdc, c);
        assert_eq!(Verdict::of(&f), Verdict::Unknown, "{c:?}");
    }
    let f = denied(Some(Authentication), FailureStage::Credentials, None);
    assert_eq!(Verdict::of(&f), Verdict::Unknown);
    let mut f = denied(Some(Authentication), bind, None);
    f.message = format!("bind-135: authentication failed: {}bad signature", winv_client::error::UNVERIFIED);
    assert_eq!(Verdict::of(&f), Verdict::Unknown, "a tampered reply is not a refusal");
    f.message = format!("bind-135: {}KRB_AP_ERR_SKEW (37)", winv_client::error::ACCEPTOR_REFUSED);
    assert_eq!(Verdict::of(&f), Verdict::Unknown, "the host refusing a kdc ticket is not a refusal");
    let f = engine_failure(
        Status::RpcServerUnavailable,
        FailureStage::Client(Stage::Connect135),
        None,
        "x".into(),
    );
    assert_eq!(Verdict::of(&f), Verdict::Unknown);
}

#[test]
fn a_released_place_is_free_again_and_counts_no_refusal() {
    let mut g = guard(&["LAB\\new"], 2);
    let a = go(&mut g, 0, "h1");
    let b = go(&mut g, 0, "h2");
    assert!(a.counted() && b.counted());
    assert_eq!(g.admit(0, "h3"), Admit::Wait);
    let free = g.release(0, a);
    assert!(!free.counted(), "a released pass holds no place");
    // Releasing the uncounted pass again gives back nothing more.
    g.release(0, free);
    let c = go(&mut g, 0, "h3");
    assert_eq!(g.admit(0, "h4"), Admit::Wait, "b and c hold both places");
    g.report(0, "h2", b, Verdict::Refused);
    g.report(0, "h3", c, Verdict::Refused);
    assert_eq!(g.admit(0, "h5"), Admit::Retired, "two refusals of two retire it");
    assert_eq!(g.stats()[0].refused, 2);
}

#[test]
fn an_account_proven_elsewhere_is_no_longer_capped() {
    let mut g = guard(&["LAB\\shared"], 1);
    let p = go(&mut g, 0, "h1");
    assert_eq!(g.admit(0, "h2"), Admit::Wait);
    g.prove(0);
    let q = go(&mut g, 0, "h2");
    assert!(!q.counted(), "a proven account takes no place");
    g.report(0, "h1", p, Verdict::Refused);
    assert_ne!(g.admit(0, "h3"), Admit::Retired, "a refusal after proof retires nothing");
    assert_eq!(g.name(0), Some("LAB\\shared"));
}
