//! A re-sealing man in the middle, for the hostile-server suite: a TCP proxy in front of the
//! simulator that knows the account's password. It relays the NTLM logon of each connection
//! unchanged, derives both directions' session keys from it as the server does ([MS-NLMP]
//! 3.2.5.1.2 and 3.4.5, the passive role `trace` uses), and from then on reads every sealed
//! PDU the server sends, lets a [`Behaviour`] alter it, and seals the result for the client
//! with the client's own sequence numbers ([MS-RPCE] 2.2.2.11 and 3.3.1.5.2: each fragment
//! protected on its own, the header signed). The client's signature checks pass: what it sees
//! is hostile content from a host that holds the keys, which is what a compromised server,
//! or a relay that learned the password, can send.
//!
//! What the client sends is forwarded byte for byte (it is only read: the binds name the
//! presentation contexts, the requests their call ids and opnums, so a behaviour can pick
//! the enumeration answers). Each listening address is a [`Route`] to one upstream address,
//! on two ports: the endpoint mapper port (chosen when the proxy starts) and the simulator's
//! dynamic port, the same number on the proxy's address, because a client tries the address
//! it reached port 135 at with the port of the OXID's bindings first.
//!
//! A test tool: its own holdings are bounded (PDUs up to [`MAX_PDU`] octets, one at a time);
//! it trusts the simulator behind it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use winv_auth::ntlm::{find_ntlmssp, message_type, NtlmPassive, NtlmPassiveContext, NtlmSecret};
use winv_auth::{AuthError, AuthLevel, AuthType, SecurityContext, Step};
use winv_dcerpc::framer::PduBuffer;
use winv_dcerpc::interfaces::{IENUMWBEMCLASSOBJECT, IWBEMSERVICES, IWBEMWCOSMARTENUM};
use winv_dcerpc::pdu::{Body, Fault, Pdu, PFC_FIRST_FRAG, PFC_LAST_FRAG};
use winv_dcerpc::secure::{decode_protected, encode_protected, Protection};
use winv_sim::rng::SplitMix64;

/// Largest PDU the proxy frames (the simulator's fragments are far smaller).
pub const MAX_PDU: usize = 1 << 16;

/// What the proxy does to the server's sealed PDUs. "The enumeration answer" is the
/// response to an `IEnumWbemClassObject::Next` ([MS-WMI] 3.1.4.4.2) or
/// `IWbemWCOSmartEnum::Next` (3.1.4.7.1) call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Every PDU re-sealed unchanged: the proxy is invisible.
    Passthrough,
    /// The first enumeration answer becomes fragments that never set `PFC_LAST_FRAG`: its
    /// first fragment, then copies of that fragment's stub, for as long as the client reads.
    EndlessFragments,
    /// Every response claims an `alloc_hint` of `u32::MAX` (a hint, [C706] 12.6.4.10, not a
    /// size to reserve).
    HugeAllocHint,
    /// Every enumeration answer loses the second half of its stub.
    TruncatedEnumeration,
    /// The `IWbemServices::ExecQuery` answer ([MS-WMI] 3.1.4.3.18) is sent twice, the copy
    /// sealed with the next sequence number: an answer for a call already answered.
    DuplicateQueryAnswer,
    /// Enumeration answers carry another call's `call_id` (the request's plus 1000).
    WrongCallId,
    /// The first enumeration answer is replaced by the sealed bytes of the response the
    /// client accepted before it, with the current call's `call_id` written into the
    /// header (a replay: a used sequence number, a spent key stream, a header that no
    /// longer matches its signature).
    Replay,
    /// The first enumeration answer becomes a sealed fault with this status.
    FaultInstead(u32),
    /// One sealed response on the dynamic port (which one, and how, from the seed) gets
    /// bits flipped, a 32-bit word set to a huge count, its stub cut or random bytes
    /// appended, then is re-sealed: only the decoders above the seal see the damage. The
    /// endpoint mapper's answers are left alone: the activation's string bindings name the
    /// addresses a client connects to, and a damaged one could name an address off
    /// loopback (the activation's decoders are the `dcom` fuzz target's).
    Mutate(u64),
}

/// One listening address and the simulated host behind it.
#[derive(Clone, Copy, Debug)]
pub struct Route {
    /// The address the client scans.
    pub listen: IpAddr,
    /// The simulated host's address.
    pub upstream: IpAddr,
    /// What the proxy does on this route.
    pub behaviour: Behaviour,
}

/// Counts of what the proxy did, across its routes.
#[derive(Debug, Default)]
pub struct ProxyCounts {
    /// TCP connections relayed.
    pub connections: AtomicU64,
    /// Sessions whose keys were derived from the relayed logon.
    pub sessions: AtomicU64,
    /// Server PDUs unsealed and sealed again for the client.
    pub resealed: AtomicU64,
    /// PDUs a behaviour altered, added or replaced.
    pub tampered: AtomicU64,
    /// Octets sent to clients.
    pub octets_to_clients: AtomicU64,
    /// Server PDUs that could not be unsealed (forwarded as they were).
    pub unreadable: AtomicU64,
    /// alter_context PDUs the clients sent.
    pub alter_contexts: AtomicU64,
    /// Requests the clients made, by interface and opnum (what a test counts: one
    /// `RemRelease` for a whole session, say).
    requests: std::sync::Mutex<HashMap<(uuid::Uuid, u16), u64>>,
}

impl ProxyCounts {
    /// Requests made on `interface`'s presentation contexts with `opnum`, on every route.
    pub fn requests(&self, interface: &winv_dcerpc::SyntaxId, opnum: u16) -> u64 {
        let map = self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(&(interface.uuid, opnum)).copied().unwrap_or(0)
    }
}

/// A running proxy; dropping it stops its listeners (connections in flight end when their
/// peers close).
pub struct ResealProxy {
    /// The endpoint mapper port on every route's address.
    pub epm_port: u16,
    /// What it did.
    pub counts: Arc<ProxyCounts>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for ResealProxy {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl ResealProxy {
    /// Listens on every route's address, at one endpoint mapper port chosen by the system
    /// and at `upstream_dynamic` (the simulator's dynamic port), relaying to the route's
    /// upstream at `upstream_epm` and `upstream_dynamic`. `password` is the one account's
    /// the simulator accepts. Runs on the caller's runtime.
    pub async fn start(
        routes: &[Route],
        upstream_epm: u16,
        upstream_dynamic: u16,
        password: &str,
    ) -> Result<ResealProxy> {
        let counts = Arc::new(ProxyCounts::default());
        let secret = NtlmSecret::from_password(password);
        let mut tasks = Vec::new();
        let mut epm_port = 0;
        for (i, r) in routes.iter().enumerate() {
            let epm = TcpListener::bind(SocketAddr::new(r.listen, epm_port))
                .await
                .with_context(|| format!("proxy listen {}:{epm_port}", r.listen))?;
            if i == 0 {
                epm_port = epm.local_addr()?.port();
            }
            let dynamic = TcpListener::bind(SocketAddr::new(r.listen, upstream_dynamic))
                .await
                .with_context(|| format!("proxy listen {}:{upstream_dynamic}", r.listen))?;
            for (listener, port, is_dynamic) in [
                (epm, upstream_epm, false),
                (dynamic, upstream_dynamic, true),
            ] {
                let up = SocketAddr::new(r.upstream, port);
                let (counts, secret, behaviour) = (counts.clone(), secret.clone(), r.behaviour);
                tasks.push(tokio::spawn(async move {
                    while let Ok((client, _)) = listener.accept().await {
                        counts.connections.fetch_add(1, Ordering::Relaxed);
                        let conn = Conn::new(behaviour, is_dynamic, secret.clone(), counts.clone());
                        tokio::spawn(relay(client, up, conn));
                    }
                }));
            }
        }
        Ok(ResealProxy {
            epm_port,
            counts,
            tasks,
        })
    }
}

/// One direction's context, reporting the auth type the client chose (10 or 9) so that the
/// trailers' check in [`decode_protected`] holds.
struct Side {
    ctx: NtlmPassiveContext,
    auth_type: AuthType,
}

impl SecurityContext for Side {
    fn auth_type(&self) -> AuthType {
        self.auth_type
    }
    fn step(&mut self, input: Option<&[u8]>) -> Result<Step, AuthError> {
        self.ctx.step(input)
    }
    fn is_established(&self) -> bool {
        true
    }
    fn signature_len(&self) -> usize {
        self.ctx.signature_len()
    }
    fn accepts_signature_len(&self, len: usize) -> bool {
        self.ctx.accepts_signature_len(len)
    }
    fn set_header_signing(&mut self, on: bool) {
        self.ctx.set_header_signing(on);
    }
    fn set_auth_level(&mut self, level: AuthLevel) {
        self.ctx.set_auth_level(level);
    }
    fn protect(&mut self, m: &mut [u8], seal: Option<Range<usize>>) -> Result<Vec<u8>, AuthError> {
        self.ctx.protect(m, seal)
    }
    fn unprotect(
        &mut self,
        m: &mut [u8],
        seal: Option<Range<usize>>,
        sig: &[u8],
    ) -> Result<(), AuthError> {
        self.ctx.unprotect(m, seal, sig)
    }
}

/// The server's stream read with one context, the client's written with another.
struct Keys {
    read_server: Side,
    write_client: Side,
}

/// What to send the client for one server PDU.
enum Out {
    /// These PDUs, in order.
    Send(Vec<Vec<u8>>),
    /// This first fragment, then this middle fragment again and again until the client
    /// stops reading.
    Endless(Vec<u8>, Pdu, AuthLevel, u32),
}

/// The state of one relayed connection.
struct Conn {
    behaviour: Behaviour,
    secret: NtlmSecret,
    counts: Arc<ProxyCounts>,
    negotiate: Option<Vec<u8>>,
    challenge: Option<Vec<u8>>,
    keys: Option<Keys>,
    /// Presentation context id to the abstract syntax's UUID.
    contexts: HashMap<u16, uuid::Uuid>,
    /// Outstanding call ids to (presentation context, opnum).
    calls: HashMap<u32, (u16, u16)>,
    /// Whether a once-only behaviour has acted.
    acted: bool,
    /// A call whose first fragment a behaviour replaced: its later fragments are read
    /// and dropped.
    dropping: Option<u32>,
    /// The last sealed response sent to the client (for [`Behaviour::Replay`]).
    last_sent: Option<Vec<u8>>,
    /// Sealed responses seen, and the one [`Behaviour::Mutate`] damages.
    responses: u64,
    mutate_at: u64,
    rng: SplitMix64,
}

impl Conn {
    fn new(
        behaviour: Behaviour,
        dynamic: bool,
        secret: NtlmSecret,
        counts: Arc<ProxyCounts>,
    ) -> Conn {
        let seed = match behaviour {
            Behaviour::Mutate(s) => s,
            _ => 0,
        };
        let mut rng = SplitMix64::derive(seed, "reseal");
        // A query's dynamic port answers about eight calls (the login, the query, the
        // enumerator's interfaces, the batches, the release).
        let mutate_at = if dynamic { rng.below(10) } else { u64::MAX };
        Conn {
            behaviour,
            secret,
            counts,
            negotiate: None,
            challenge: None,
            keys: None,
            contexts: HashMap::new(),
            calls: HashMap::new(),
            acted: false,
            dropping: None,
            last_sent: None,
            responses: 0,
            mutate_at,
            rng,
        }
    }

    /// Reads a PDU the client sent (forwarded unchanged by the caller).
    fn client_sent(&mut self, bytes: &[u8]) {
        let Ok(pdu) = Pdu::decode(bytes) else {
            return;
        };
        match &pdu.body {
            Body::Bind(b) | Body::AlterContext(b) => {
                if matches!(pdu.body, Body::AlterContext(_)) {
                    self.counts.alter_contexts.fetch_add(1, Ordering::Relaxed);
                }
                for c in &b.contexts {
                    self.contexts.insert(c.context_id, c.abstract_syntax.uuid);
                }
            }
            Body::Request(r) => {
                self.calls.insert(pdu.call_id, (r.context_id, r.opnum));
                // A call's first fragment counts it.
                if let (Some(u), true) = (
                    self.contexts.get(&r.context_id),
                    pdu.flags & PFC_FIRST_FRAG != 0,
                ) {
                    let mut map = self
                        .counts
                        .requests
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    *map.entry((*u, r.opnum)).or_insert(0) += 1;
                }
            }
            _ => {}
        }
        let Some(auth) = &pdu.auth else {
            return;
        };
        let Some(msg) = find_ntlmssp(&auth.value) else {
            return;
        };
        match message_type(msg) {
            Some(1) => self.negotiate = Some(msg.to_vec()),
            Some(3) => self.derive(msg, auth.auth_type),
            _ => {}
        }
    }

    fn derive(&mut self, authenticate: &[u8], auth_type: AuthType) {
        let (Some(n), Some(c)) = (&self.negotiate, &self.challenge) else {
            return;
        };
        let pair = || NtlmPassive::from_messages(n, c, authenticate, &self.secret);
        if let (Ok((_, read)), Ok((_, write))) = (pair(), pair()) {
            self.keys = Some(Keys {
                read_server: Side {
                    ctx: read,
                    auth_type,
                },
                write_client: Side {
                    ctx: write,
                    auth_type,
                },
            });
            self.counts.sessions.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The interface and opnum `call_id` was made on.
    fn call(&self, call_id: u32) -> Option<(uuid::Uuid, u16)> {
        let (ctx, opnum) = self.calls.get(&call_id)?;
        Some((*self.contexts.get(ctx)?, *opnum))
    }

    /// Whether `call_id` answers an enumeration's `Next`.
    fn is_enumeration(&self, call_id: u32) -> bool {
        matches!(self.call(call_id), Some((u, 4)) if u == IENUMWBEMCLASSOBJECT.uuid)
            || matches!(self.call(call_id), Some((u, 3)) if u == IWBEMWCOSMARTENUM.uuid)
    }

    /// Whether `call_id` answers `IWbemServices::ExecQuery` (opnum 20).
    fn is_exec_query(&self, call_id: u32) -> bool {
        matches!(self.call(call_id), Some((u, 20)) if u == IWBEMSERVICES.uuid)
    }

    /// What to send the client for a PDU the server sent.
    fn server_sent(&mut self, bytes: Vec<u8>) -> Out {
        let Ok(peek) = Pdu::decode(&bytes) else {
            return Out::Send(vec![bytes]);
        };
        if let (Body::BindAck(_) | Body::AlterContextResp(_), Some(auth)) = (&peek.body, &peek.auth)
        {
            if let Some(msg) = find_ntlmssp(&auth.value) {
                if message_type(msg) == Some(2) {
                    self.challenge = Some(msg.to_vec());
                }
            }
        }
        let sealed = matches!(peek.body, Body::Response(_) | Body::Fault(_));
        let (Some(auth), true, Some(keys)) = (&peek.auth, sealed, self.keys.as_mut()) else {
            return Out::Send(vec![bytes]);
        };
        let Some(level) = AuthLevel::from_u8(auth.auth_level) else {
            return Out::Send(vec![bytes]);
        };
        let context_id = auth.context_id;
        let pdu = match decode_protected(
            &bytes,
            Some(&mut Protection {
                ctx: &mut keys.read_server,
                level,
                context_id,
            }),
        ) {
            Ok(p) => p,
            Err(_) => {
                self.counts.unreadable.fetch_add(1, Ordering::Relaxed);
                return Out::Send(vec![bytes]);
            }
        };
        let enumeration = self.is_enumeration(pdu.call_id);
        let exec_query = self.is_exec_query(pdu.call_id);
        if pdu.flags & PFC_LAST_FRAG != 0 {
            // A call is answered once: its last fragment retires it.
            self.calls.remove(&pdu.call_id);
        }
        if self.dropping == Some(pdu.call_id) {
            if pdu.flags & PFC_LAST_FRAG != 0 {
                self.dropping = None;
            }
            return Out::Send(Vec::new());
        }
        let (call_id, more) = (pdu.call_id, pdu.flags & PFC_LAST_FRAG == 0);
        let replaced = matches!(
            self.behaviour,
            Behaviour::Replay | Behaviour::FaultInstead(_)
        ) && enumeration
            && !self.acted;
        let altered = self.behave(pdu, enumeration, exec_query);
        if replaced && self.acted && more {
            // The replacement stands for the whole answer.
            self.dropping = Some(call_id);
        }
        let keys = self.keys.as_mut().expect("keys are set above");
        let mut out = Vec::new();
        for p in altered {
            match p {
                Altered::Pdu(p) => {
                    let mut prot = Protection {
                        ctx: &mut keys.write_client,
                        level,
                        context_id,
                    };
                    match encode_protected(&p, Some(&mut prot)) {
                        Ok(b) => out.push(b),
                        Err(_) => return Out::Send(out),
                    }
                }
                Altered::Raw(b) => out.push(b),
                Altered::Endless(first) => {
                    let mut middle = first.clone();
                    middle.flags &= !(PFC_LAST_FRAG | PFC_FIRST_FRAG);
                    let mut start = first;
                    start.flags &= !PFC_LAST_FRAG;
                    let mut prot = Protection {
                        ctx: &mut keys.write_client,
                        level,
                        context_id,
                    };
                    let Ok(b) = encode_protected(&start, Some(&mut prot)) else {
                        return Out::Send(out);
                    };
                    return Out::Endless(b, middle, level, context_id);
                }
            }
        }
        self.counts
            .resealed
            .fetch_add(out.len() as u64, Ordering::Relaxed);
        if let Some(b) = out.last() {
            self.last_sent = Some(b.clone());
        }
        Out::Send(out)
    }

    /// The behaviour applied to one unsealed server PDU.
    fn behave(&mut self, mut pdu: Pdu, enumeration: bool, exec_query: bool) -> Vec<Altered> {
        let first_enumeration = enumeration && !self.acted;
        let tampered = |c: &Arc<ProxyCounts>| c.tampered.fetch_add(1, Ordering::Relaxed);
        match self.behaviour {
            Behaviour::Passthrough => vec![Altered::Pdu(pdu)],
            Behaviour::EndlessFragments if first_enumeration => {
                self.acted = true;
                tampered(&self.counts);
                vec![Altered::Endless(pdu)]
            }
            Behaviour::HugeAllocHint => {
                if let Body::Response(r) = &mut pdu.body {
                    r.alloc_hint = u32::MAX;
                    tampered(&self.counts);
                }
                vec![Altered::Pdu(pdu)]
            }
            Behaviour::TruncatedEnumeration if enumeration => {
                if let Body::Response(r) = &mut pdu.body {
                    r.stub.truncate(r.stub.len() / 2);
                    tampered(&self.counts);
                }
                vec![Altered::Pdu(pdu)]
            }
            Behaviour::DuplicateQueryAnswer if exec_query && !self.acted => {
                self.acted = true;
                tampered(&self.counts);
                vec![Altered::Pdu(pdu.clone()), Altered::Pdu(pdu)]
            }
            Behaviour::WrongCallId if enumeration => {
                pdu.call_id = pdu.call_id.wrapping_add(1000);
                tampered(&self.counts);
                vec![Altered::Pdu(pdu)]
            }
            Behaviour::Replay if first_enumeration => match self.last_sent.clone() {
                Some(mut old) if old.len() >= 16 => {
                    self.acted = true;
                    tampered(&self.counts);
                    // call_id, [C706] 12.6.3.1: octets 12-15, little-endian (the
                    // simulator's data representation).
                    old[12..16].copy_from_slice(&pdu.call_id.to_le_bytes());
                    vec![Altered::Raw(old)]
                }
                _ => vec![Altered::Pdu(pdu)],
            },
            Behaviour::FaultInstead(status) if first_enumeration => {
                self.acted = true;
                tampered(&self.counts);
                let context_id = match &pdu.body {
                    Body::Response(r) => r.context_id,
                    _ => 0,
                };
                let mut f = Pdu::new(
                    pdu.call_id,
                    Body::Fault(Fault {
                        alloc_hint: 0,
                        context_id,
                        cancel_count: 0,
                        flags: 0,
                        status,
                        stub: Vec::new(),
                    }),
                );
                f.flags = pdu.flags | PFC_LAST_FRAG;
                vec![Altered::Pdu(f)]
            }
            Behaviour::Mutate(_) => {
                let n = self.responses;
                self.responses += 1;
                if n == self.mutate_at {
                    if let Body::Response(r) = &mut pdu.body {
                        mutate(&mut self.rng, &mut r.stub);
                        tampered(&self.counts);
                    }
                }
                vec![Altered::Pdu(pdu)]
            }
            _ => vec![Altered::Pdu(pdu)],
        }
    }
}

/// A PDU to seal, bytes to send as they are, or the start of endless fragments.
enum Altered {
    Pdu(Pdu),
    Raw(Vec<u8>),
    Endless(Pdu),
}

/// One of four damages to a stub, from the dice.
fn mutate(rng: &mut SplitMix64, stub: &mut Vec<u8>) {
    if stub.is_empty() {
        stub.extend_from_slice(&[0xff; 4]);
        return;
    }
    let len = stub.len() as u64;
    match rng.below(4) {
        0 => {
            for _ in 0..rng.range(1, 4) {
                let i = rng.below(len) as usize;
                stub[i] ^= 1 << rng.below(8);
            }
        }
        1 => {
            // A count or a length: NDR conformance, an array size, an encoding length.
            let words = (len / 4).max(1);
            let i = (rng.below(words) * 4) as usize;
            let huge: [u32; 3] = [0x7fff_ffff, 0xffff_ffff, 0x0100_0000];
            let v = huge[rng.below(3) as usize].to_le_bytes();
            for (k, b) in v.iter().enumerate() {
                if let Some(s) = stub.get_mut(i + k) {
                    *s = *b;
                }
            }
        }
        2 => stub.truncate(rng.below(len) as usize),
        _ => {
            for _ in 0..rng.range(1, 64) {
                stub.push(rng.below(256) as u8);
            }
        }
    }
}

/// Relays one connection until either side closes (or, for endless fragments, until the
/// client stops reading).
async fn relay(client: TcpStream, upstream: SocketAddr, mut conn: Conn) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let mut from_client = PduBuffer::new(MAX_PDU);
    let mut from_server = PduBuffer::new(MAX_PDU);
    let mut cbuf = vec![0u8; 1 << 16];
    let mut sbuf = vec![0u8; 1 << 16];
    let counts = conn.counts.clone();
    loop {
        tokio::select! {
            n = cr.read(&mut cbuf) => {
                let n = match n { Ok(0) | Err(_) => return, Ok(n) => n };
                from_client.extend(&cbuf[..n]);
                loop {
                    match from_client.next_pdu() {
                        Ok(Some(p)) => {
                            conn.client_sent(&p);
                            if sw.write_all(&p).await.is_err() { return; }
                        }
                        Ok(None) => break,
                        Err(_) => return,
                    }
                }
            }
            n = sr.read(&mut sbuf) => {
                let n = match n { Ok(0) | Err(_) => return, Ok(n) => n };
                from_server.extend(&sbuf[..n]);
                loop {
                    let p = match from_server.next_pdu() {
                        Ok(Some(p)) => p,
                        Ok(None) => break,
                        Err(_) => return,
                    };
                    match conn.server_sent(p) {
                        Out::Send(list) => {
                            for b in list {
                                counts.octets_to_clients.fetch_add(b.len() as u64, Ordering::Relaxed);
                                if cw.write_all(&b).await.is_err() { return; }
                            }
                        }
                        Out::Endless(first, middle, level, context_id) => {
                            if cw.write_all(&first).await.is_err() { return; }
                            let Some(keys) = conn.keys.as_mut() else { return };
                            loop {
                                let mut prot = Protection { ctx: &mut keys.write_client, level, context_id };
                                let Ok(b) = encode_protected(&middle, Some(&mut prot)) else { return };
                                counts.octets_to_clients.fetch_add(b.len() as u64, Ordering::Relaxed);
                                if cw.write_all(&b).await.is_err() { return; }
                            }
                        }
                    }
                }
            }
        }
    }
}
