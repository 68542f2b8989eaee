//! DCE/RPC conversations read out of a capture: every PDU of every TCP
//! connection, the interfaces bound on each presentation context, the NTLM
//! exchange carried in the security trailers, and, given the NT password,
//! passive decryption and verification of every signed or sealed PDU
//! ([MS-RPCE] 2.2.2, [MS-NLMP] 3.4).
//!
//! No I/O: the input is an already-read [`Capture`].

use std::collections::HashMap;

use serde::Serialize;
use winv_auth::ntlm::{find_ntlmssp, message_type, NtlmPassive, NtlmPassiveContext, NtlmSecret};
use winv_auth::{AuthError, AuthLevel, AuthType, SecurityContext, Step};
use winv_dcerpc::framer::PduBuffer;
use winv_dcerpc::pdu::{result, PFC_FIRST_FRAG, PFC_LAST_FRAG, PFC_SUPPORT_HEADER_SIGN};
use winv_dcerpc::secure::{decode_protected, Protection};
use winv_dcerpc::status::{reject_reason_name, status_name};
use winv_dcerpc::{interfaces, Body, Header, PacketType, Pdu, SyntaxId};

use crate::capture::{Capture, Direction, TcpConnection};

/// Largest PDU we frame (frag_length is a u16).
const MAX_PDU: usize = 65_535;
/// Cap on one reassembled stub; beyond it the call is reported, not kept.
const MAX_STUB: usize = 64 << 20;

/// Options of [`analyze`].
#[derive(Default)]
pub struct Options {
    /// The NT password (or hash) of the captured NTLM logon, for decryption.
    pub secret: Option<NtlmSecret>,
    /// Keep plaintext stubs as hex in the JSON.
    pub stub_hex: bool,
    /// Service keys (a keytab) for Kerberos-protected connections: the
    /// AP-REQ's ticket is decrypted with them, and the session keys follow.
    pub keytab: Option<winv_auth::kerberos::files::Keytab>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("stub_hex", &self.stub_hex)
            .field("keytab_entries", &self.keytab.as_ref().map(|k| k.entries.len()))
            .finish()
    }
}

/// The whole analysis.
#[derive(Debug, Serialize)]
pub struct Trace {
    /// Frames in the capture.
    pub frames: u32,
    /// One entry per TCP connection that carried DCE/RPC.
    pub connections: Vec<Conversation>,
    /// Totals.
    pub summary: Summary,
}

/// Totals over the whole trace.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    /// PDUs decoded.
    pub pdus: usize,
    /// PDUs (or stream segments) that could not be decoded.
    pub decode_errors: usize,
    /// Signed PDUs whose signature verified.
    pub verified: usize,
    /// Signed PDUs whose signature did not verify.
    pub verify_failures: usize,
    /// Sealed PDUs that were decrypted.
    pub decrypted: usize,
    /// Signed or sealed PDUs left as they were (no password, or no NTLM exchange seen).
    pub not_checked: usize,
}

/// One TCP connection's DCE/RPC traffic.
#[derive(Debug, Serialize)]
pub struct Conversation {
    /// Index of the connection in the capture (tshark's `tcp.stream`).
    pub stream: u32,
    /// The side that opened the connection.
    pub client: String,
    /// The side that accepted it.
    pub server: String,
    /// Every PDU, in the order it completed on the wire.
    pub pdus: Vec<PduRecord>,
    /// Whole calls (request and response stubs reassembled).
    pub calls: Vec<Call>,
    /// Problems with this connection (gaps, undecodable bytes, wrong password).
    pub notes: Vec<String>,
}

/// One PDU.
#[derive(Debug, Serialize, Clone)]
pub struct PduRecord {
    /// Frame in which the PDU's last byte arrived (1-based, as Wireshark counts).
    pub frame: u32,
    /// `client-to-server` or `server-to-client`.
    pub direction: &'static str,
    /// `PTYPE` value.
    pub ptype: u8,
    /// Its name (`request`, `bind_ack`...).
    pub ptype_name: &'static str,
    /// `pfc_flags`.
    pub flags: u8,
    /// `call_id`.
    pub call_id: u32,
    /// `frag_length`.
    pub frag_length: u16,
    /// `auth_length`.
    pub auth_length: u16,
    /// Presentation context of a request, response or fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_id: Option<u16>,
    /// Opnum of a request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opnum: Option<u16>,
    /// Interface of the presentation context (requests, responses, faults).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface: Option<InterfaceRef>,
    /// Presentation contexts offered by a bind or alter_context.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contexts: Vec<ContextRecord>,
    /// Results of a bind_ack or alter_context_resp.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<ResultRecord>,
    /// Secondary address of a bind_ack.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secondary_address: Option<String>,
    /// Fault status, and reject reason of a bind_nak.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusRecord>,
    /// The security trailer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthRecord>,
    /// Plaintext stub length (after decryption, without padding).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stub_len: Option<usize>,
    /// What was done with the signature: `verified`, `decrypted`,
    /// `failed`, `not-checked`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security: Option<&'static str>,
    /// Why the PDU could not be decoded or verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Plaintext stub (kept for callers; in JSON only with `stub_hex`).
    #[serde(skip)]
    pub stub: Vec<u8>,
}

/// An interface by UUID and version, with its name when known.
#[derive(Debug, Serialize, Clone, PartialEq, Eq)]
pub struct InterfaceRef {
    /// The UUID.
    pub uuid: String,
    /// `major.minor`.
    pub version: String,
    /// Its name, from the project's interface table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'static str>,
}

impl From<&SyntaxId> for InterfaceRef {
    fn from(s: &SyntaxId) -> Self {
        InterfaceRef {
            uuid: s.uuid.to_string(),
            version: format!("{}.{}", s.major, s.minor),
            name: interfaces::name(&s.uuid),
        }
    }
}

/// One offered presentation context.
#[derive(Debug, Serialize, Clone)]
pub struct ContextRecord {
    /// `p_cont_id`.
    pub id: u16,
    /// Abstract syntax.
    pub interface: InterfaceRef,
    /// Transfer syntaxes offered.
    pub transfer_syntaxes: Vec<InterfaceRef>,
}

/// One presentation-context result.
#[derive(Debug, Serialize, Clone)]
pub struct ResultRecord {
    /// `result`.
    pub result: u16,
    /// Its name.
    pub result_name: &'static str,
    /// `reason`.
    pub reason: u16,
    /// Accepted transfer syntax.
    pub transfer_syntax: InterfaceRef,
}

/// A status code with its name.
#[derive(Debug, Serialize, Clone, PartialEq, Eq)]
pub struct StatusRecord {
    /// The code.
    pub code: u32,
    /// Its symbolic name, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'static str>,
}

/// The security trailer of a PDU.
#[derive(Debug, Serialize, Clone)]
pub struct AuthRecord {
    /// `auth_type`.
    pub auth_type: u8,
    /// Its name.
    pub auth_type_name: &'static str,
    /// `auth_level`.
    pub auth_level: u8,
    /// Its name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_level_name: Option<&'static str>,
    /// `auth_context_id`.
    pub context_id: u32,
    /// `auth_pad_length`.
    pub pad_length: u8,
    /// The NTLM message carried, if any (`NEGOTIATE`, `CHALLENGE`, `AUTHENTICATE`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ntlm: Option<&'static str>,
}

/// A whole call.
#[derive(Debug, Serialize, Clone)]
pub struct Call {
    /// `call_id`.
    pub call_id: u32,
    /// Presentation context.
    pub context_id: u16,
    /// Opnum.
    pub opnum: u16,
    /// Interface.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface: Option<InterfaceRef>,
    /// Frames of the request fragments.
    pub request_frames: Vec<u32>,
    /// Frames of the response fragments.
    pub response_frames: Vec<u32>,
    /// Reassembled request stub length.
    pub request_len: usize,
    /// Reassembled response stub length, when a response was seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_len: Option<usize>,
    /// Fault status, when the call faulted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<StatusRecord>,
    /// Request stub as hex (only with `stub_hex`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_hex: Option<String>,
    /// Response stub as hex (only with `stub_hex`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_hex: Option<String>,
    /// DCOM / WMI reading of the call, when its interface is one of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dcom: Option<crate::dcom::DcomCall>,
    /// The request's object UUID (`PFC_OBJECT_UUID`; the IPID of an ORPC call).
    #[serde(skip)]
    pub object: Option<winv_ndr::Uuid>,
    /// A request fragment was sealed and not decrypted (its stub is ciphertext).
    #[serde(skip)]
    pub request_sealed: bool,
    /// A response fragment was sealed and not decrypted.
    #[serde(skip)]
    pub response_sealed: bool,
    /// Reassembled plaintext request stub.
    #[serde(skip)]
    pub request: Vec<u8>,
    /// Reassembled plaintext response stub.
    #[serde(skip)]
    pub response: Option<Vec<u8>>,
}

/// Analyzes every TCP connection of `capture` that carries DCE/RPC.
pub fn analyze(capture: &Capture, options: &Options) -> Trace {
    let mut summary = Summary::default();
    let mut connections = Vec::new();
    for conn in &capture.connections {
        if let Some(c) = analyze_connection(conn, options, &mut summary) {
            connections.push(c);
        }
    }
    Trace {
        frames: capture.frame_count,
        connections,
        summary,
    }
}

/// NTLM messages seen for one `auth_context_id`, and the passive contexts
/// derived from them.
#[derive(Default)]
struct AuthState {
    negotiate: Option<Vec<u8>>,
    challenge: Option<Vec<u8>>,
    authenticate: Option<Vec<u8>>,
    /// Kerberos: the AP-REQ of the bind (inner token).
    ap_req: Option<Vec<u8>>,
    /// (client-to-server, server-to-client)
    keys: Option<(Box<dyn SecurityContext>, Box<dyn SecurityContext>)>,
}

/// A passive NTLM context reporting the trailer's auth type (NTLM carried in
/// SPNEGO signs with NTLM but is labelled `RPC_C_AUTHN_GSS_NEGOTIATE`).
struct Typed {
    inner: NtlmPassiveContext,
    auth_type: AuthType,
}

impl SecurityContext for Typed {
    fn auth_type(&self) -> AuthType {
        self.auth_type
    }
    fn step(&mut self, input: Option<&[u8]>) -> Result<Step, AuthError> {
        self.inner.step(input)
    }
    fn is_established(&self) -> bool {
        self.inner.is_established()
    }
    fn signature_len(&self) -> usize {
        self.inner.signature_len()
    }
    fn protect(
        &mut self,
        message: &mut [u8],
        seal: Option<std::ops::Range<usize>>,
    ) -> Result<Vec<u8>, AuthError> {
        self.inner.protect(message, seal)
    }
    fn unprotect(
        &mut self,
        message: &mut [u8],
        seal: Option<std::ops::Range<usize>>,
        signature: &[u8],
    ) -> Result<(), AuthError> {
        self.inner.unprotect(message, seal, signature)
    }
}

/// A call being reassembled in one direction.
struct Partial {
    call_id: u32,
    context_id: u16,
    opnum: Option<u16>,
    object: Option<winv_ndr::Uuid>,
    /// A fragment was sealed and left undecrypted.
    sealed: bool,
    frames: Vec<u32>,
    stub: Vec<u8>,
}

struct ConnState<'o> {
    options: &'o Options,
    contexts: HashMap<u16, SyntaxId>,
    auth: HashMap<u32, AuthState>,
    partial: [Option<Partial>; 2],
    calls: Vec<Call>,
    notes: Vec<String>,
    /// The bind_ack acknowledged header signing.
    header_signing: bool,
}

fn dir_index(d: Direction) -> usize {
    match d {
        Direction::ClientToServer => 0,
        Direction::ServerToClient => 1,
    }
}

fn dir_name(d: Direction) -> &'static str {
    match d {
        Direction::ClientToServer => "client-to-server",
        Direction::ServerToClient => "server-to-client",
    }
}

fn analyze_connection(
    conn: &TcpConnection,
    options: &Options,
    summary: &mut Summary,
) -> Option<Conversation> {
    let mut buffers = [PduBuffer::new(MAX_PDU), PduBuffer::new(MAX_PDU)];
    // A direction whose stream stopped making sense is abandoned until a gap.
    let mut dead = [false, false];
    let mut st = ConnState {
        options,
        contexts: HashMap::new(),
        auth: HashMap::new(),
        partial: [None, None],
        calls: Vec::new(),
        notes: Vec::new(),
        header_signing: false,
    };
    let mut pdus = Vec::new();
    for chunk in &conn.segments {
        let i = dir_index(chunk.direction);
        if chunk.gap_before > 0 {
            st.notes.push(format!(
                "{} bytes missing before frame {} ({})",
                chunk.gap_before,
                chunk.frame,
                dir_name(chunk.direction)
            ));
            buffers[i] = PduBuffer::new(MAX_PDU);
            dead[i] = false;
        }
        if dead[i] {
            continue;
        }
        buffers[i].extend(&chunk.data);
        loop {
            match buffers[i].next_pdu() {
                Ok(Some(bytes)) => {
                    let rec = st.pdu(&bytes, chunk.frame, chunk.direction, summary);
                    pdus.push(rec);
                }
                Ok(None) => break,
                Err(e) => {
                    // Not DCE/RPC (or out of step): stop reading this direction.
                    if !pdus.is_empty() {
                        st.notes.push(format!("frame {}: {e}", chunk.frame));
                        summary.decode_errors += 1;
                    }
                    dead[i] = true;
                    break;
                }
            }
        }
    }
    if pdus.is_empty() {
        return None;
    }
    for call in &mut st.calls {
        call.dcom = crate::dcom::decode_call(call);
    }
    Some(Conversation {
        stream: conn.id,
        client: conn.client.to_string(),
        server: conn.server.to_string(),
        pdus,
        calls: st.calls,
        notes: st.notes,
    })
}

impl ConnState<'_> {
    fn pdu(
        &mut self,
        bytes: &[u8],
        frame: u32,
        dir: Direction,
        summary: &mut Summary,
    ) -> PduRecord {
        let mut rec = PduRecord {
            frame,
            direction: dir_name(dir),
            ptype: bytes.get(2).copied().unwrap_or(0),
            ptype_name: "unknown",
            flags: bytes.get(3).copied().unwrap_or(0),
            call_id: 0,
            frag_length: 0,
            auth_length: 0,
            context_id: None,
            opnum: None,
            interface: None,
            contexts: Vec::new(),
            results: Vec::new(),
            secondary_address: None,
            status: None,
            auth: None,
            stub_len: None,
            security: None,
            error: None,
            stub: Vec::new(),
        };
        let header = match Header::decode(bytes) {
            Ok(h) => h,
            Err(e) => {
                summary.decode_errors += 1;
                rec.error = Some(e.to_string());
                return rec;
            }
        };
        rec.ptype_name = header.ptype.name();
        rec.call_id = header.call_id;
        rec.frag_length = header.frag_length;
        rec.auth_length = header.auth_length;
        let plain = match Pdu::decode(bytes) {
            Ok(p) => p,
            Err(e) => {
                summary.decode_errors += 1;
                rec.error = Some(e.to_string());
                return rec;
            }
        };
        summary.pdus += 1;
        if let Some(v) = &plain.auth {
            let ntlm = find_ntlmssp(&v.value)
                .and_then(message_type)
                .and_then(|t| match t {
                    1 => Some("NEGOTIATE"),
                    2 => Some("CHALLENGE"),
                    3 => Some("AUTHENTICATE"),
                    _ => None,
                });
            rec.auth = Some(AuthRecord {
                auth_type: v.auth_type.to_u8(),
                auth_type_name: v.auth_type.name(),
                auth_level: v.auth_level,
                auth_level_name: AuthLevel::from_u8(v.auth_level).map(AuthLevel::name),
                context_id: v.context_id,
                pad_length: v.pad_length,
                ntlm,
            });
            if ntlm.is_some() {
                self.ntlm_token(v.context_id, v.auth_type, &v.value, &mut rec);
            } else if matches!(v.auth_type, AuthType::GssKerberos | AuthType::GssNegotiate) {
                self.krb_token(v.context_id, v.auth_type, &v.value, header.ptype, &mut rec);
            }
        }
        match &plain.body {
            Body::Bind(b) | Body::AlterContext(b) => {
                for c in &b.contexts {
                    self.contexts.insert(c.context_id, c.abstract_syntax);
                    rec.contexts.push(ContextRecord {
                        id: c.context_id,
                        interface: (&c.abstract_syntax).into(),
                        transfer_syntaxes: c.transfer_syntaxes.iter().map(Into::into).collect(),
                    });
                }
            }
            Body::BindAck(a) | Body::AlterContextResp(a) => {
                if header.ptype == PacketType::BindAck && plain.auth.is_some() {
                    self.header_signing = plain.flags & PFC_SUPPORT_HEADER_SIGN != 0;
                }
                rec.secondary_address = a.secondary_address().map(str::to_owned);
                rec.results = a
                    .results
                    .iter()
                    .map(|r| ResultRecord {
                        result: r.result,
                        result_name: result::name(r.result).unwrap_or("unknown"),
                        reason: r.reason,
                        transfer_syntax: (&r.transfer_syntax).into(),
                    })
                    .collect();
            }
            Body::BindNak(n) => {
                rec.status = Some(StatusRecord {
                    code: u32::from(n.reason),
                    name: reject_reason_name(n.reason),
                });
            }
            _ => {}
        }
        let (context_id, opnum, stub) = match &plain.body {
            Body::Request(r) => (r.context_id, Some(r.opnum), &r.stub),
            Body::Response(r) => (r.context_id, None, &r.stub),
            Body::Fault(f) => {
                rec.status = Some(StatusRecord {
                    code: f.status,
                    name: status_name(f.status),
                });
                (f.context_id, None, &f.stub)
            }
            _ => return rec,
        };
        rec.context_id = Some(context_id);
        rec.opnum = opnum;
        rec.interface = self.contexts.get(&context_id).map(Into::into);
        let stub = self
            .open(bytes, &plain, dir, &mut rec, summary)
            .unwrap_or_else(|| stub.clone());
        rec.stub_len = Some(stub.len());
        // A privacy-level PDU that was not decrypted carries ciphertext.
        let sealed = plain
            .auth
            .as_ref()
            .and_then(|v| AuthLevel::from_u8(v.auth_level))
            .is_some_and(AuthLevel::seals)
            && rec.security != Some("decrypted");
        self.reassemble(&plain, header.ptype, frame, dir, &stub, sealed);
        rec.stub = stub;
        rec
    }

    /// Records a Kerberos AP-REQ (bind) and, at the server's AP-REP, derives
    /// the observers from the keytab.
    fn krb_token(&mut self, ctx: u32, auth_type: AuthType, token: &[u8], ptype: PacketType, rec: &mut PduRecord) {
        use winv_auth::kerberos::passive;
        let Ok(inner) = passive::inner_token(auth_type, token) else {
            return;
        };
        let st = self.auth.entry(ctx).or_default();
        if passive::is_ap_req(&inner) && matches!(ptype, PacketType::Bind | PacketType::AlterContext) {
            *st = AuthState {
                ap_req: Some(inner),
                ..AuthState::default()
            };
            return;
        }
        let server_leg = matches!(ptype, PacketType::BindAck | PacketType::AlterContextResp);
        if !(passive::is_ap_rep(&inner) && server_leg) || st.keys.is_some() {
            return;
        }
        let (Some(req), Some(keytab)) = (&st.ap_req, &self.options.keytab) else {
            return;
        };
        match passive::observe(auth_type, req, &inner, keytab) {
            Ok((c2s, s2c)) => st.keys = Some((Box::new(c2s), Box::new(s2c))),
            Err(e) => {
                let why = format!("kerberos keys not derived: {e}");
                rec.error = Some(why.clone());
                self.notes.push(format!("frame {}: {why}", rec.frame));
            }
        }
    }

    /// Records an NTLM message and derives the passive keys once all three are in.
    fn ntlm_token(&mut self, ctx: u32, auth_type: AuthType, token: &[u8], rec: &mut PduRecord) {
        let Some(msg) = find_ntlmssp(token) else {
            return;
        };
        let st = self.auth.entry(ctx).or_default();
        match message_type(msg) {
            // A NEGOTIATE starts a new exchange on this auth_context_id.
            Some(1) => {
                *st = AuthState {
                    negotiate: Some(msg.to_vec()),
                    ..AuthState::default()
                }
            }
            Some(2) => st.challenge = Some(msg.to_vec()),
            Some(3) => st.authenticate = Some(msg.to_vec()),
            _ => return,
        }
        let (Some(n), Some(c), Some(a), Some(secret)) = (
            &st.negotiate,
            &st.challenge,
            &st.authenticate,
            &self.options.secret,
        ) else {
            return;
        };
        match NtlmPassive::from_messages(n, c, a, secret) {
            Ok((c2s, s2c)) => {
                st.keys = Some((
                    Box::new(Typed {
                        inner: c2s,
                        auth_type,
                    }),
                    Box::new(Typed {
                        inner: s2c,
                        auth_type,
                    }),
                ));
            }
            Err(e) => {
                let why = match e {
                    AuthError::LogonFailure => {
                        "the password does not match the captured logon".to_string()
                    }
                    e => e.to_string(),
                };
                rec.error = Some(why.clone());
                self.notes
                    .push(format!("frame {}: ntlm keys not derived: {why}", rec.frame));
            }
        }
    }

    /// Verifies (and decrypts) a signed PDU; returns its plaintext stub.
    fn open(
        &mut self,
        bytes: &[u8],
        plain: &Pdu,
        dir: Direction,
        rec: &mut PduRecord,
        summary: &mut Summary,
    ) -> Option<Vec<u8>> {
        let v = plain.auth.as_ref()?;
        let level = AuthLevel::from_u8(v.auth_level)?;
        if !level.signs() {
            return None;
        }
        let any_keys = self.auth.values().any(|s| s.keys.is_some());
        let Some((c2s, s2c)) = self
            .auth
            .get_mut(&v.context_id)
            .and_then(|s| s.keys.as_mut())
        else {
            if any_keys {
                // The connection has a security context, but not this one: a
                // receiver would refuse the PDU.
                summary.verify_failures += 1;
                rec.security = Some("failed");
                rec.error = Some(format!(
                    "no security context with auth_context_id {}",
                    v.context_id
                ));
                return None;
            }
            summary.not_checked += 1;
            rec.security = Some("not-checked");
            return None;
        };
        let ctx: &mut dyn SecurityContext = match dir {
            Direction::ClientToServer => c2s.as_mut(),
            Direction::ServerToClient => s2c.as_mut(),
        };
        ctx.set_auth_level(level);
        ctx.set_header_signing(self.header_signing);
        let mut prot = Protection {
            ctx,
            level,
            context_id: v.context_id,
        };
        match decode_protected(bytes, Some(&mut prot)) {
            Ok(p) => {
                summary.verified += 1;
                let sealed = level.seals();
                if sealed {
                    summary.decrypted += 1;
                }
                rec.security = Some(if sealed { "decrypted" } else { "verified" });
                match p.body {
                    Body::Request(r) => Some(r.stub),
                    Body::Response(r) => Some(r.stub),
                    Body::Fault(f) => Some(f.stub),
                    _ => None,
                }
            }
            Err(e) => {
                summary.verify_failures += 1;
                rec.security = Some("failed");
                rec.error = Some(e.to_string());
                None
            }
        }
    }

    fn reassemble(
        &mut self,
        pdu: &Pdu,
        ptype: PacketType,
        frame: u32,
        dir: Direction,
        stub: &[u8],
        sealed: bool,
    ) {
        let i = dir_index(dir);
        let (context_id, opnum, object) = match &pdu.body {
            Body::Request(r) => (r.context_id, Some(r.opnum), r.object),
            Body::Response(r) => (r.context_id, None, None),
            Body::Fault(f) => (f.context_id, None, None),
            _ => return,
        };
        if pdu.flags & PFC_FIRST_FRAG != 0 || ptype == PacketType::Fault {
            self.partial[i] = Some(Partial {
                call_id: pdu.call_id,
                context_id,
                opnum,
                object,
                sealed: false,
                frames: Vec::new(),
                stub: Vec::new(),
            });
        }
        let Some(p) = self.partial[i]
            .as_mut()
            .filter(|p| p.call_id == pdu.call_id)
        else {
            self.notes.push(format!(
                "frame {frame}: fragment of call_id {} without its first fragment",
                pdu.call_id
            ));
            return;
        };
        p.frames.push(frame);
        p.sealed |= sealed;
        if p.stub.len().saturating_add(stub.len()) > MAX_STUB {
            self.notes.push(format!(
                "frame {frame}: call_id {} stub above {MAX_STUB} bytes, not kept",
                pdu.call_id
            ));
            self.partial[i] = None;
            return;
        }
        p.stub.extend_from_slice(stub);
        if pdu.flags & PFC_LAST_FRAG == 0 && ptype != PacketType::Fault {
            return;
        }
        let Some(done) = self.partial[i].take() else {
            return;
        };
        let hex = |b: &[u8]| self.options.stub_hex.then(|| hex::encode(b));
        match dir {
            Direction::ClientToServer => self.calls.push(Call {
                call_id: done.call_id,
                context_id: done.context_id,
                opnum: done.opnum.unwrap_or(0),
                interface: self.contexts.get(&done.context_id).map(Into::into),
                request_frames: done.frames,
                response_frames: Vec::new(),
                request_len: done.stub.len(),
                response_len: None,
                fault: None,
                request_hex: hex(&done.stub),
                response_hex: None,
                dcom: None,
                object: done.object,
                request_sealed: done.sealed,
                response_sealed: false,
                request: done.stub,
                response: None,
            }),
            Direction::ServerToClient => {
                let fault = match &pdu.body {
                    Body::Fault(f) => Some(StatusRecord {
                        code: f.status,
                        name: status_name(f.status),
                    }),
                    _ => None,
                };
                let response_hex = hex(&done.stub);
                if let Some(call) = self
                    .calls
                    .iter_mut()
                    .rev()
                    .find(|c| c.call_id == done.call_id && c.response.is_none())
                {
                    call.response_frames = done.frames;
                    call.response_len = Some(done.stub.len());
                    call.fault = fault;
                    call.response_hex = response_hex;
                    call.response_sealed = done.sealed;
                    call.response = Some(done.stub);
                }
            }
        }
    }
}

/// Reads `data` as a capture and analyzes it, with a password so that the
/// passive NTLM path runs too (fuzzing entry point; results are discarded).
pub fn fuzz_analyze(data: &[u8]) {
    if let Ok(capture) = crate::capture::read_capture(data) {
        let options = Options {
            secret: Some(NtlmSecret::from_password("fuzz")),
            stub_hex: true,
            // A keytab with one key, so the passive Kerberos path runs too.
            keytab: Some(winv_auth::kerberos::files::Keytab {
                entries: vec![winv_auth::kerberos::files::KeytabEntry {
                    principal: winv_auth::kerberos::Principal::service("host/fuzz", "FUZZ"),
                    kvno: 1,
                    // INVARIANT: 32 bytes is an AES256 key.
                    key: winv_auth::kerberos::Key::new(winv_auth::kerberos::Etype::Aes256CtsHmacSha196, &[7; 32])
                        .expect("32-byte aes256 key"),
                }],
                skipped: 0,
            }),
        };
        let _ = analyze(&capture, &options);
    }
}
