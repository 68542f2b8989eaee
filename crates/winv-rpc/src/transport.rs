//! TCP transport for connection-oriented RPC: connect with a deadline, and the
//! classification of connect failures that the inventory statuses are built on
//! (refused, timed out, host or network unreachable).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;

/// Why a TCP connection could not be opened.
///
/// These are the connectivity failures of the first hop in the connection flow
/// (TCP/135, or the dynamic endpoint after it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectFailure {
    /// No answer within the deadline (packets dropped, host down).
    TimedOut,
    /// The host answered with a reset: nothing listens on the port.
    Refused,
    /// An ICMP host-unreachable came back, or no route to the host.
    HostUnreachable,
    /// An ICMP network-unreachable came back, or no route to the network.
    NetworkUnreachable,
    /// Another socket error (errno in [`ConnectError::errno`]).
    Other,
}

impl ConnectFailure {
    /// Stable identifier, used in logs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectFailure::TimedOut => "timed-out",
            ConnectFailure::Refused => "refused",
            ConnectFailure::HostUnreachable => "host-unreachable",
            ConnectFailure::NetworkUnreachable => "network-unreachable",
            ConnectFailure::Other => "other",
        }
    }
}

/// A failed TCP connect, with the raw OS error kept for diagnosis.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("tcp connect to {addr} failed: {}", .failure.as_str())]
pub struct ConnectError {
    /// The address we tried.
    pub addr: SocketAddr,
    /// The classified failure.
    pub failure: ConnectFailure,
    /// The raw `errno`, when the OS gave one (`ETIMEDOUT` is reported for our
    /// own deadline too, so that every failure has a code).
    pub errno: Option<i32>,
}

/// Linux `ETIMEDOUT`.
const ETIMEDOUT: i32 = 110;

/// Classifies an `io::Error` from `connect`.
pub fn classify_connect_error(e: &io::Error) -> ConnectFailure {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => ConnectFailure::Refused,
        io::ErrorKind::TimedOut => ConnectFailure::TimedOut,
        io::ErrorKind::HostUnreachable => ConnectFailure::HostUnreachable,
        io::ErrorKind::NetworkUnreachable => ConnectFailure::NetworkUnreachable,
        _ => match e.raw_os_error() {
            // EHOSTUNREACH, EHOSTDOWN
            Some(113) | Some(112) => ConnectFailure::HostUnreachable,
            // ENETUNREACH, ENETDOWN
            Some(101) | Some(100) => ConnectFailure::NetworkUnreachable,
            _ => ConnectFailure::Other,
        },
    }
}

/// Opens a TCP connection with a deadline and `TCP_NODELAY` set.
pub async fn connect_tcp(addr: SocketAddr, deadline: Duration) -> Result<TcpStream, ConnectError> {
    match tokio::time::timeout(deadline, TcpStream::connect(addr)).await {
        Err(_) => Err(ConnectError {
            addr,
            failure: ConnectFailure::TimedOut,
            errno: Some(ETIMEDOUT),
        }),
        Ok(Err(e)) => Err(ConnectError {
            addr,
            failure: classify_connect_error(&e),
            errno: e.raw_os_error(),
        }),
        Ok(Ok(s)) => {
            // Small request/response PDUs: Nagle would only add latency.
            let _ = s.set_nodelay(true);
            Ok(s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refused_is_classified() {
        // Bind then drop a listener so that the port is (almost certainly) closed.
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        drop(l);
        let e = connect_tcp(addr, Duration::from_secs(5))
            .await
            .expect_err("must fail");
        assert_eq!(e.failure, ConnectFailure::Refused);
        assert_eq!(e.errno, Some(111));
        assert_eq!(
            e.to_string(),
            format!("tcp connect to {addr} failed: refused")
        );
    }

    #[test]
    fn errno_fallbacks() {
        let e = io::Error::from_raw_os_error(113);
        assert_eq!(classify_connect_error(&e), ConnectFailure::HostUnreachable);
        let e = io::Error::from_raw_os_error(101);
        assert_eq!(
            classify_connect_error(&e),
            ConnectFailure::NetworkUnreachable
        );
        let e = io::Error::from_raw_os_error(1);
        assert_eq!(classify_connect_error(&e), ConnectFailure::Other);
    }
}
