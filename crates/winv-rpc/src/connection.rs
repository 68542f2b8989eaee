//! An RPC connection: a [`ClientAssociation`] driven over a [`TcpStream`], with
//! a deadline on the connect, on every read and on every call.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tracing::{debug, trace};
use uuid::Uuid;
use winv_auth::SecurityContext;
use winv_dcerpc::framer::PduBuffer;
use winv_dcerpc::{ClientAssociation, ClientConfig, Event, SyntaxId};

use crate::transport::{connect_tcp, ConnectError};

/// Deadlines of an [`RpcConnection`]. Every network wait is bounded by one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadlines {
    /// TCP connect.
    pub connect: Duration,
    /// Any single read that is waiting for the peer.
    pub read: Duration,
    /// A whole exchange: bind (all legs) or call (all fragments both ways).
    pub call: Duration,
}

impl Default for Deadlines {
    /// 10 s to connect (a firewall that drops SYNs is found out in that time),
    /// 30 s for a read, 60 s for a call.
    fn default() -> Self {
        Deadlines {
            connect: Duration::from_secs(10),
            read: Duration::from_secs(30),
            call: Duration::from_secs(60),
        }
    }
}

/// Errors of an RPC connection.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// The TCP connection could not be opened.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// A deadline passed.
    #[error("{what} timed out after {}", humanize(*.after))]
    Timeout {
        /// What was waiting: "bind", "call", "read".
        what: &'static str,
        /// The deadline.
        after: Duration,
    },
    /// The connection failed or was reset.
    #[error("connection lost: {0}")]
    Io(#[from] std::io::Error),
    /// The peer closed the connection.
    #[error("connection closed by the server")]
    Closed,
    /// The server sent a shutdown PDU.
    #[error("server shut the connection down")]
    Shutdown,
    /// DCE/RPC protocol, security, fault or rejection.
    #[error(transparent)]
    Rpc(#[from] winv_dcerpc::Error),
    /// An earlier failure (a timeout mid-call, a bad signature, a broken
    /// stream) left the connection out of step; open a new one.
    #[error("connection unusable after an earlier failure: {0}")]
    Unusable(String),
    /// The server refused our credentials. NTLM's last leg (auth3) gets no
    /// reply, so a failed logon shows on the first call after it: Samba
    /// answers `nca_s_proto_error`, some servers hang up. (Windows answers
    /// access denied, which a call can also get for other reasons: that stays
    /// an [`RpcError::Rpc`] fault with status 5, for the caller to weigh.)
    #[error("authentication failed: the server refused the credentials ({detail})")]
    AuthenticationFailed {
        /// What the first call got instead of a response.
        detail: String,
    },
}

impl RpcError {
    /// The fault status, when the server answered with a fault.
    pub fn fault_status(&self) -> Option<u32> {
        match self {
            RpcError::Rpc(winv_dcerpc::Error::Fault { status, .. }) => Some(*status),
            _ => None,
        }
    }

    /// Whether the peer refused our credentials or the security exchange
    /// failed (a bad token or signature), as opposed to the network, the
    /// protocol or an authorization refusal on a call.
    pub fn is_auth_failure(&self) -> bool {
        match self {
            RpcError::AuthenticationFailed { .. } => true,
            RpcError::Rpc(e) => e.kind() == winv_dcerpc::ErrorKind::Security,
            _ => false,
        }
    }
}

/// The room one read of the socket may fill: several fragments of 4,280 bytes.
const READ_ROOM: usize = 16 * 1024;

/// Runs `fut` within `after`, naming `what` in the timeout error.
async fn with_deadline<T>(
    what: &'static str,
    after: Duration,
    fut: impl std::future::Future<Output = Result<T, RpcError>>,
) -> Result<T, RpcError> {
    tokio::time::timeout(after, fut)
        .await
        .map_err(|_| RpcError::Timeout { what, after })?
}

/// `nca_s_proto_error`: what Samba answers after a failed auth3.
use winv_dcerpc::status::NCA_S_PROTO_ERROR;

/// Whether the first call's failure after an auth3 can only be the server's
/// refusal of the logon.
fn refuses_logon(e: &RpcError) -> bool {
    match e {
        RpcError::Rpc(winv_dcerpc::Error::Fault { status, .. }) => *status == NCA_S_PROTO_ERROR,
        RpcError::Closed | RpcError::Io(_) => true,
        _ => false,
    }
}

fn humanize(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// A bound DCE/RPC connection over TCP.
pub struct RpcConnection {
    stream: TcpStream,
    assoc: ClientAssociation,
    buf: PduBuffer,
    deadlines: Deadlines,
    peer: SocketAddr,
    context_id: u16,
    /// An auth3 was sent and no call has succeeded since: the first call's
    /// failure may be the server's verdict on our credentials.
    logon_unconfirmed: bool,
    /// Set by a failure that leaves the association or the security
    /// context out of step (sequence numbers, RC4 state, a half-read call).
    broken: Option<String>,
}

impl std::fmt::Debug for RpcConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcConnection")
            .field("peer", &self.peer)
            .field("context_id", &self.context_id)
            .finish_non_exhaustive()
    }
}

/// Largest PDU we accept from a server.
const MAX_PDU: usize = 65_535;

impl RpcConnection {
    /// Connects to `addr`, binds `interface` with `security` (none for an
    /// unauthenticated bind) at `config.auth_level`, and completes every
    /// authentication leg.
    pub async fn connect(
        addr: SocketAddr,
        interface: SyntaxId,
        config: ClientConfig,
        security: Option<Box<dyn SecurityContext>>,
        deadlines: Deadlines,
    ) -> Result<Self, RpcError> {
        let stream = connect_tcp(addr, deadlines.connect).await?;
        Self::bind_stream(stream, addr, interface, config, security, deadlines).await
    }

    /// Binds `interface` on an already connected `stream` to `peer` (the TCP handshake
    /// done apart, as the connection flow does it: a step of its own), completing every
    /// authentication leg within `deadlines.call`.
    pub async fn bind_stream(
        stream: TcpStream,
        peer: SocketAddr,
        interface: SyntaxId,
        config: ClientConfig,
        security: Option<Box<dyn SecurityContext>>,
        deadlines: Deadlines,
    ) -> Result<Self, RpcError> {
        let assoc = ClientAssociation::new(config, security)?;
        let mut conn = RpcConnection {
            stream,
            assoc,
            buf: PduBuffer::new(MAX_PDU),
            deadlines,
            peer,
            context_id: 0,
            logon_unconfirmed: false,
            broken: None,
        };
        conn.context_id = with_deadline("bind", deadlines.call, conn.bind(interface)).await?;
        debug!(%peer, interface = %interface.uuid, context_id = conn.context_id, "bound");
        Ok(conn)
    }

    async fn bind(&mut self, interface: SyntaxId) -> Result<u16, RpcError> {
        let (_, pdu) = self.assoc.bind(interface)?;
        self.send(&pdu).await?;
        loop {
            match self.next_event().await? {
                Event::Bound { context_id, send } => {
                    if let Some(auth3) = send {
                        self.send(&auth3).await?;
                        self.logon_unconfirmed = true;
                    }
                    return Ok(context_id);
                }
                Event::AuthContinue { send } => self.send(&send).await?,
                other => trace!(?other, "ignored during bind"),
            }
        }
    }

    /// Adds a presentation context for another interface on this association.
    pub async fn alter_context(&mut self, interface: SyntaxId) -> Result<u16, RpcError> {
        let ids = self.alter_contexts(&[interface]).await?;
        ids.first()
            .copied()
            .flatten()
            .ok_or(RpcError::Rpc(winv_dcerpc::Error::State(
                "context not added",
            )))
    }

    /// Adds a presentation context for each of `interfaces` with one alter_context (one
    /// round trip, [C706] 12.6.3.1): the id of each the server accepted, in order, `None`
    /// for one it did not. The first one's rejection is the error, as alone.
    pub async fn alter_contexts(
        &mut self,
        interfaces: &[SyntaxId],
    ) -> Result<Vec<Option<u16>>, RpcError> {
        self.usable()?;
        let call = self.deadlines.call;
        let result = with_deadline("alter_context", call, async {
            let (ids, pdu) = self.assoc.alter_contexts(interfaces)?;
            self.send(&pdu).await?;
            loop {
                match self.next_event().await? {
                    Event::ContextAdded { .. } | Event::Bound { .. } => {
                        let assoc = &self.assoc;
                        return Ok(ids
                            .iter()
                            .map(|id| assoc.is_accepted(*id).then_some(*id))
                            .collect());
                    }
                    other => trace!(?other, "ignored during alter_context"),
                }
            }
        })
        .await;
        self.note_failure(result)
    }

    /// Calls `opnum` on the bound interface and returns the response stub.
    pub async fn call(&mut self, opnum: u16, stub: &[u8]) -> Result<Vec<u8>, RpcError> {
        self.call_on(self.context_id, opnum, None, stub).await
    }

    /// Calls `opnum` on presentation context `context_id`, optionally with an
    /// object UUID (DCOM's IPID), and returns the response stub.
    pub async fn call_on(
        &mut self,
        context_id: u16,
        opnum: u16,
        object: Option<Uuid>,
        stub: &[u8],
    ) -> Result<Vec<u8>, RpcError> {
        self.usable()?;
        let call = self.deadlines.call;
        let result = with_deadline("call", call, async {
            let (call_id, frags) = self.assoc.request(context_id, opnum, object, stub)?;
            for f in &frags {
                self.send(f).await?;
            }
            loop {
                match self.next_event().await? {
                    Event::Response { call_id: id, stub } if id == call_id => return Ok(stub),
                    Event::Fragment { .. } => {}
                    other => trace!(?other, "ignored during call"),
                }
            }
        })
        .await;
        let result = self.note_failure(result);
        if std::mem::take(&mut self.logon_unconfirmed) {
            if let Err(e) = &result {
                if refuses_logon(e) {
                    return Err(RpcError::AuthenticationFailed {
                        detail: e.to_string(),
                    });
                }
            }
        }
        result
    }

    /// Refuses to start an exchange on a connection an earlier failure broke.
    fn usable(&self) -> Result<(), RpcError> {
        match &self.broken {
            Some(why) => Err(RpcError::Unusable(why.clone())),
            None => Ok(()),
        }
    }

    /// Marks the connection broken after a failure that leaves it out of
    /// step. A fault is an answer: the association stays in step.
    fn note_failure<T>(&mut self, result: Result<T, RpcError>) -> Result<T, RpcError> {
        if let Err(e) = &result {
            if e.fault_status().is_none() {
                self.broken = Some(e.to_string());
            }
        }
        result
    }

    /// Reads the next PDU and runs it through the association; faults and
    /// bind_naks become errors, and so does a shutdown.
    async fn next_event(&mut self) -> Result<Event, RpcError> {
        let pdu = self.read_pdu().await?;
        match self.assoc.receive(&pdu)?.check()? {
            Event::Shutdown => Err(RpcError::Shutdown),
            e => Ok(e),
        }
    }

    /// Replaces the deadlines of the exchanges that follow and returns the old ones: a
    /// caller gives a cleanup call (releasing references after a failure) a short deadline
    /// of its own, then restores the session's. A call that runs out of it leaves the
    /// connection out of step, as any timeout does.
    pub fn set_deadlines(&mut self, deadlines: Deadlines) -> Deadlines {
        std::mem::replace(&mut self.deadlines, deadlines)
    }

    /// The presentation context of the interface bound at connect.
    pub fn context_id(&self) -> u16 {
        self.context_id
    }

    /// The peer's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The association state (negotiated sizes, features, secondary address).
    pub fn association(&self) -> &ClientAssociation {
        &self.assoc
    }

    async fn send(&mut self, pdu: &[u8]) -> Result<(), RpcError> {
        let read = self.deadlines.read;
        with_deadline("write", read, async {
            Ok(self.stream.write_all(pdu).await?)
        })
        .await
    }

    /// The next PDU, read straight into the connection's receive buffer: no read buffer
    /// of its own lives in this future (a 16 KiB array here made every call's future 34 KB,
    /// zeroed and moved on each call). The buffer's room is reserved only once the socket
    /// is readable, and a drained buffer frees its memory ([`PduBuffer`]): while it waits
    /// for the server, a connection holds no receive memory.
    async fn read_pdu(&mut self) -> Result<Vec<u8>, RpcError> {
        loop {
            if let Some(pdu) = self.buf.next_pdu()? {
                return Ok(pdu);
            }
            let read = self.deadlines.read;
            let n = with_deadline("read", read, async {
                loop {
                    self.stream.readable().await?;
                    match self.stream.try_read_buf(self.buf.reader(READ_ROOM)) {
                        Ok(n) => return Ok(n),
                        // Readiness can be stale (the last read did not drain the socket,
                        // so it was never cleared): wait again, without the room reserved
                        // for this read, which the wait for the server would otherwise hold.
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => self.buf.shrink(),
                        Err(e) => return Err(e.into()),
                    }
                }
            })
            .await?;
            if n == 0 {
                return Err(RpcError::Closed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;
    use winv_dcerpc::interfaces::EPM;

    /// A server that accepts the bind and then never answers: the call
    /// deadline fires, and the connection refuses further calls.
    #[tokio::test]
    async fn silent_server_hits_the_call_deadline_and_poisons_the_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("listen");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.expect("accept");
            let mut buf = vec![0u8; 4096];
            let n = sock.read(&mut buf).await.expect("read bind");
            let bind = winv_dcerpc::Pdu::decode(&buf[..n]).expect("bind");
            let ack = winv_dcerpc::Pdu {
                flags: winv_dcerpc::pdu::PFC_FIRST_FRAG | winv_dcerpc::pdu::PFC_LAST_FRAG,
                call_id: bind.call_id,
                body: winv_dcerpc::Body::BindAck(winv_dcerpc::pdu::BindAck {
                    max_xmit_frag: 4280,
                    max_recv_frag: 4280,
                    assoc_group_id: 1,
                    sec_addr: b"135\0".to_vec(),
                    results: vec![
                        winv_dcerpc::pdu::ContextResult {
                            result: 0,
                            reason: 0,
                            transfer_syntax: winv_dcerpc::interfaces::NDR,
                        },
                        winv_dcerpc::pdu::ContextResult {
                            result: 2,
                            reason: 2,
                            transfer_syntax: winv_dcerpc::interfaces::NDR,
                        },
                    ],
                }),
                auth: None,
            };
            sock.write_all(&ack.encode().expect("encode"))
                .await
                .expect("write");
            // Read requests forever, answer nothing.
            while sock.read(&mut buf).await.map(|n| n > 0).unwrap_or(false) {}
        });
        let deadlines = Deadlines {
            connect: Duration::from_secs(5),
            read: Duration::from_millis(300),
            call: Duration::from_millis(500),
        };
        let mut conn = RpcConnection::connect(addr, EPM, ClientConfig::default(), None, deadlines)
            .await
            .expect("bound");
        let err = conn.call(2, &[0u8; 8]).await.expect_err("no answer");
        assert!(matches!(err, RpcError::Timeout { .. }), "{err}");
        let err = conn.call(2, &[0u8; 8]).await.expect_err("poisoned");
        assert!(matches!(err, RpcError::Unusable(_)), "{err}");
        server.abort();
    }
}
