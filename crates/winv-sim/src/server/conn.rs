//! One accepted TCP connection: PDUs framed from the stream, fed to a
//! [`ServerAssociation`], calls handed to the [`Dispatch`] of the host the
//! connection was made to, replies written back. Every read has a deadline (an
//! idle connection is closed), so a silent client cannot hold a task forever.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::{debug, trace};
use winv_dcerpc::framer::{PduBuffer, DEFAULT_MAX_PDU};
use winv_dcerpc::server::{Call, Incoming};
use winv_dcerpc::{ServerAssociation, ServerConfig, ServerPolicy};

/// Which listener a connection came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Port {
    /// The endpoint mapper / DCOM activation port (135).
    Epm,
    /// The dynamic endpoint the OXID bindings name.
    Dynamic,
}

/// How a simulated host answers one call.
#[derive(Debug)]
pub enum Reply {
    /// A response stub.
    Stub(Vec<u8>),
    /// A fault PDU with this status.
    Fault(u32),
    /// No answer at all (a hung provider); the connection stays open.
    Hang,
    /// The connection is reset.
    Reset,
    /// The reply, after a delay (a slow provider).
    After(Duration, Box<Reply>),
}

/// What a connection needs from the simulated host it was made to.
pub trait Dispatch: Send + Sync + 'static {
    /// The bind policy (interfaces, security) for a new association.
    fn policy(&self, port: Port) -> Box<dyn ServerPolicy>;
    /// Whether the port answers at all (a host whose dynamic port is
    /// firewalled accepts nothing there: the connection is held silent).
    fn answers(&self, port: Port) -> bool;
    /// Answers one call. `level` is the highest authentication level the
    /// association has established.
    fn call(&self, port: Port, call: &Call) -> Reply;
    /// The association's settings (secondary address, group id).
    fn config(&self, port: Port) -> ServerConfig;
}

/// Deadlines of a served connection.
#[derive(Clone, Copy, Debug)]
pub struct ConnLimits {
    /// A connection with no PDU for this long is closed.
    pub idle: Duration,
    /// A write that does not finish in this time closes the connection.
    pub write: Duration,
    /// Each answer (bind_ack, response, fault) goes out this long after its request came
    /// in: a network's round trip on loopback, for benchmarks where the kernel has no
    /// netem (the TCP handshake itself is not delayed). Default none.
    pub latency: Duration,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            idle: Duration::from_secs(300),
            write: Duration::from_secs(30),
            latency: Duration::ZERO,
        }
    }
}

/// Serves one connection until the client closes it, a deadline passes or a
/// protocol error makes it unusable.
pub async fn serve_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    port: Port,
    host: Arc<dyn Dispatch>,
    limits: ConnLimits,
) {
    let _ = stream.set_nodelay(true);
    if !host.answers(port) {
        // Accept and say nothing: the client's bind times out.
        let mut sink = [0u8; 4096];
        loop {
            match tokio::time::timeout(limits.idle, stream.read(&mut sink)).await {
                Ok(Ok(n)) if n > 0 => continue,
                _ => return,
            }
        }
    }
    let mut assoc = ServerAssociation::new(host.config(port), host.policy(port));
    let mut buf = PduBuffer::new(DEFAULT_MAX_PDU);
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let pdu = match buf.next_pdu() {
            Ok(Some(p)) => p,
            Ok(None) => {
                match tokio::time::timeout(limits.idle, stream.read(&mut chunk)).await {
                    Ok(Ok(0)) | Err(_) => return,
                    Ok(Ok(n)) => {
                        buf.extend(chunk.get(..n).unwrap_or_default());
                        continue;
                    }
                    Ok(Err(e)) => {
                        debug!(%peer, error = %e, "read failed");
                        return;
                    }
                }
            }
            Err(e) => {
                debug!(%peer, error = %e, "bad framing");
                return;
            }
        };
        let out = match assoc.receive(&pdu) {
            Ok(Incoming::Nothing) => continue,
            Ok(Incoming::Send(pdus)) => pdus,
            Ok(Incoming::Call(call)) => {
                trace!(%peer, opnum = call.opnum, call_id = call.call_id, "call");
                let mut reply = host.call(port, &call);
                while let Reply::After(d, r) = reply {
                    tokio::time::sleep(d).await;
                    reply = *r;
                }
                match reply {
                    Reply::Stub(stub) => match assoc.respond(call.call_id, &stub) {
                        Ok(frags) => frags,
                        Err(e) => {
                            debug!(%peer, error = %e, "cannot encode response");
                            return;
                        }
                    },
                    Reply::Fault(status) => match assoc.fault(call.call_id, status, false) {
                        Ok(p) => vec![p],
                        Err(_) => return,
                    },
                    Reply::Hang => {
                        assoc.abandon(call.call_id);
                        continue;
                    }
                    Reply::Reset | Reply::After(..) => {
                        // SO_LINGER 0 makes the close a reset; with a zero
                        // timeout the drop does not block.
                        #[allow(deprecated)]
                        let _ = stream.set_linger(Some(Duration::ZERO));
                        return;
                    }
                }
            }
            Err(e) => {
                debug!(%peer, error = %e, "association error, closing");
                return;
            }
        };
        if !limits.latency.is_zero() {
            tokio::time::sleep(limits.latency).await;
        }
        for p in out {
            match tokio::time::timeout(limits.write, stream.write_all(&p)).await {
                Ok(Ok(())) => {}
                _ => return,
            }
        }
    }
}
