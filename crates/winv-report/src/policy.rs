//! Who may reach the dashboard: pure rules, unit-tested; `serve` and [`crate::web`]
//! apply them.
//!
//! - A listener on a loopback address (127.0.0.0/8, ::1) needs no token: only this
//!   machine's users reach it.
//! - On any other address a token is required; `serve` refuses to start without one.
//!   The token comes from the environment or a file, never argv (it would show in `ps`).
//! - A request carries it as `Authorization: Bearer TOKEN` or once as `?token=TOKEN`
//!   (then it is kept in an HttpOnly, SameSite=Strict cookie). Comparison is constant
//!   time.

use std::net::IpAddr;

/// Whether a listener on `ip` needs a token.
pub fn needs_token(ip: IpAddr) -> bool {
    !ip.is_loopback()
}

/// The shortest token accepted (a guessable token on a network is no protection).
pub const MIN_TOKEN_LEN: usize = 16;

/// Errors of [`check_token_setup`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A non-loopback listener without a token.
    #[error(
        "{0} is not a loopback address: set WINVENTORY_TOKEN or --token-file to require a token"
    )]
    TokenRequired(IpAddr),
    /// A token too short to protect anything.
    #[error("the token must be at least {MIN_TOKEN_LEN} characters")]
    TokenTooShort,
}

/// Whether `serve` may start on `ip` with `token`.
pub fn check_token_setup(ip: IpAddr, token: Option<&str>) -> Result<(), PolicyError> {
    match token {
        Some(t) if t.chars().count() < MIN_TOKEN_LEN => Err(PolicyError::TokenTooShort),
        Some(_) => Ok(()),
        None if needs_token(ip) => Err(PolicyError::TokenRequired(ip)),
        None => Ok(()),
    }
}

/// Constant-time equality of two byte strings (their lengths are not secret).
pub fn token_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The credentials a request presented.
#[derive(Clone, Copy, Debug, Default)]
pub struct Presented<'a> {
    /// The `Authorization` header's value.
    pub authorization: Option<&'a str>,
    /// The `Cookie` header's value.
    pub cookie: Option<&'a str>,
    /// The `token` query parameter.
    pub query: Option<&'a str>,
}

/// The cookie that keeps the token after a `?token=` visit.
pub const COOKIE: &str = "winv_token";

/// Whether a request may pass: always when no token is configured, else when any
/// presented form matches it.
pub fn allowed(expected: Option<&str>, p: &Presented<'_>) -> bool {
    let Some(expected) = expected else {
        return true;
    };
    let e = expected.as_bytes();
    let bearer = p
        .authorization
        .and_then(|a| a.strip_prefix("Bearer "))
        .is_some_and(|t| token_eq(t.trim().as_bytes(), e));
    let cookie = p.cookie.is_some_and(|c| {
        c.split(';').any(|kv| {
            kv.trim()
                .strip_prefix(COOKIE)
                .and_then(|v| v.strip_prefix('='))
                .is_some_and(|v| token_eq(v.as_bytes(), e))
        })
    });
    let query = p.query.is_some_and(|q| token_eq(q.as_bytes(), e));
    bearer || cookie || query
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_needs_no_token_anything_else_does() {
        for a in ["127.0.0.1", "127.3.4.5", "::1"] {
            assert!(
                !needs_token(a.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))),
                "{a}"
            );
        }
        for a in ["0.0.0.0", "10.1.2.3", "192.168.1.1", "::", "fe80::1"] {
            assert!(
                needs_token(a.parse().unwrap_or(IpAddr::from([127, 0, 0, 1]))),
                "{a}"
            );
        }
    }

    #[test]
    fn setup_refuses_an_open_network_listener() {
        let any: IpAddr = [0, 0, 0, 0].into();
        let lo: IpAddr = [127, 0, 0, 1].into();
        assert_eq!(
            check_token_setup(any, None),
            Err(PolicyError::TokenRequired(any))
        );
        assert_eq!(
            check_token_setup(any, Some("short")),
            Err(PolicyError::TokenTooShort)
        );
        assert_eq!(check_token_setup(any, Some("0123456789abcdef")), Ok(()));
        assert_eq!(check_token_setup(lo, None), Ok(()));
    }

    #[test]
    fn requests_pass_only_with_the_token() {
        let t = Some("0123456789abcdef");
        assert!(allowed(None, &Presented::default()));
        assert!(!allowed(t, &Presented::default()));
        let ok = |p: Presented<'_>| allowed(t, &p);
        assert!(ok(Presented {
            authorization: Some("Bearer 0123456789abcdef"),
            ..Default::default()
        }));
        assert!(!ok(Presented {
            authorization: Some("Bearer 0123456789abcdeX"),
            ..Default::default()
        }));
        assert!(!ok(Presented {
            authorization: Some("0123456789abcdef"),
            ..Default::default()
        }));
        assert!(ok(Presented {
            cookie: Some("a=b; winv_token=0123456789abcdef"),
            ..Default::default()
        }));
        assert!(!ok(Presented {
            cookie: Some("winv_token_x=0123456789abcdef"),
            ..Default::default()
        }));
        assert!(ok(Presented {
            query: Some("0123456789abcdef"),
            ..Default::default()
        }));
        assert!(!ok(Presented {
            query: Some(""),
            ..Default::default()
        }));
    }

    #[test]
    fn token_comparison() {
        assert!(token_eq(b"abc", b"abc"));
        assert!(!token_eq(b"abc", b"abd"));
        assert!(!token_eq(b"abc", b"abcd"));
    }
}
