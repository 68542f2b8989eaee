//! A sans-I/O server association, [C706] 12.6 and [MS-RPCE] 3.3.2: the
//! mirror of [`crate::ClientAssociation`], for the simulator of Windows hosts.
//!
//! The caller frames received bytes into PDUs (with [`crate::framer`]), feeds
//! each to [`ServerAssociation::receive`], sends the PDUs it returns, and
//! answers each whole [`Incoming::Call`] with [`ServerAssociation::respond`] or
//! [`ServerAssociation::fault`].
//!
//! Several security contexts may live on one connection, told apart by their
//! `auth_context_id` ([MS-RPCE] 3.3.1.5.4, security context multiplexing):
//! impacket opens a new one with every `alter_context`. Every request is
//! verified (and unsealed) with the context its trailer names; its response is
//! protected with the same one.

use std::collections::BTreeMap;

use uuid::Uuid;
use winv_auth::{AuthLevel, AuthType, SecurityContext, Step};

use crate::error::{Error, Result};
use crate::frag::{fragment_response, Reassembler, DEFAULT_MAX_STUB};
use crate::interfaces::NDR;
use crate::pdu::{
    features, result, split_auth, AuthVerifier, Bind, BindAck, BindNak, Body, ContextResult, Fault,
    Header, PacketType, Pdu, SyntaxId, PFC_DID_NOT_EXECUTE, PFC_FIRST_FRAG, PFC_LAST_FRAG,
    PFC_SUPPORT_HEADER_SIGN,
};
use crate::secure::{decode_protected, Protection};
use crate::status::reject;

/// `nca_s_fault_access_denied` / `rpc_s_access_denied` (0x00000005), what
/// Windows answers to a call on a security context whose logon failed.
pub const STATUS_ACCESS_DENIED: u32 = 0x0000_0005;
/// The nca codes the server answers with ([C706] appendix E), defined in [`crate::status`].
pub use crate::status::{NCA_S_OP_RNG_ERROR, NCA_S_PROTO_ERROR, NCA_S_UNK_IF};

/// Settings of a [`ServerAssociation`] ([C706] 12.6.4.4).
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Largest fragment we send and accept (default 5840, what Windows
    /// offers over TCP); the negotiated sizes are the minimum of ours and the
    /// client's.
    pub max_frag: u16,
    /// `assoc_group_id` given to a client that asks for a new group.
    pub assoc_group_id: u32,
    /// The secondary address (the port, as text) put in the bind_ack.
    pub secondary_address: String,
    /// Acknowledge `PFC_SUPPORT_HEADER_SIGN` when the client offers it.
    pub header_signing: bool,
    /// Answer the bind time feature negotiation ([MS-RPCE] 3.3.1.5.3).
    pub feature_negotiation: bool,
    /// Cap on one reassembled request stub.
    pub max_request_stub: usize,
    /// Cap on security contexts kept per connection; beyond it the oldest
    /// idle one is forgotten (a later call on it is refused).
    pub max_security_contexts: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_frag: 5840,
            assoc_group_id: 0x0001_0000,
            secondary_address: "135".into(),
            header_signing: true,
            feature_negotiation: true,
            max_request_stub: DEFAULT_MAX_STUB,
            max_security_contexts: 64,
        }
    }
}

/// What the server accepts on an association: which interfaces, and a
/// security context for an authentication type.
pub trait ServerPolicy: Send {
    /// Whether a presentation context for `interface` is accepted.
    fn accepts(&self, interface: &SyntaxId) -> bool;
    /// A fresh acceptor for `auth_type`, or `None` when the type is not
    /// supported (the bind is then refused).
    fn security(&mut self, auth_type: AuthType) -> Option<Box<dyn SecurityContext>>;
    /// Whether a bind may join the association group `assoc_group_id` (non-zero).
    /// [MS-RPCE] 3.3.1.5.2 (on [C706] 12.6.4.3): a server MUST let a connection from the
    /// machine that created the group join it, and SHOULD NOT let another; a group that
    /// does not exist cannot be joined. Refused, the bind gets a bind_nak. Default: any.
    fn joins(&self, assoc_group_id: u32) -> bool {
        let _ = assoc_group_id;
        true
    }
}

/// The authentication of one call: which security context and at which level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallAuth {
    /// The authentication type of the context.
    pub auth_type: AuthType,
    /// Its level.
    pub level: AuthLevel,
    /// Its `auth_context_id`.
    pub context_id: u32,
}

/// What a received PDU meant.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    /// PDUs to send now (bind_ack, alter_context_resp, bind_nak, or a fault
    /// for a call that cannot be executed).
    Send(Vec<Vec<u8>>),
    /// Nothing to do (an auth3, a non-final request fragment, a cancel).
    Nothing,
    /// A whole request, to be answered with [`ServerAssociation::respond`] or
    /// [`ServerAssociation::fault`].
    Call(Call),
}

/// One whole request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// The call id.
    pub call_id: u32,
    /// The presentation context.
    pub context_id: u16,
    /// The interface of that presentation context.
    pub interface: SyntaxId,
    /// The operation number.
    pub opnum: u16,
    /// The object UUID (DCOM puts the IPID here).
    pub object: Option<Uuid>,
    /// The reassembled plaintext stub.
    pub stub: Vec<u8>,
    /// The security context the request was verified with, if any.
    pub auth: Option<CallAuth>,
}

enum AuthState {
    Negotiating,
    Established,
    Failed,
}

struct SecContext {
    ctx: Box<dyn SecurityContext>,
    level: AuthLevel,
    state: AuthState,
}

/// A server association on one connection, [C706] 12.6 / [MS-RPCE] 3.3.2.
pub struct ServerAssociation {
    config: ServerConfig,
    policy: Box<dyn ServerPolicy>,
    bound: bool,
    max_xmit_frag: u16,
    max_recv_frag: u16,
    assoc_group_id: u32,
    header_signing: bool,
    contexts: BTreeMap<u16, SyntaxId>,
    security: BTreeMap<u32, SecContext>,
    /// Calls received and not answered yet: call id -> (context id, auth).
    pending: BTreeMap<u32, (u16, Option<CallAuth>)>,
    /// The request being reassembled: its header fields.
    partial: Option<(u16, u16, Option<Uuid>, Option<u32>)>,
    reassembler: Reassembler,
}

impl std::fmt::Debug for ServerAssociation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerAssociation")
            .field("bound", &self.bound)
            .field("contexts", &self.contexts)
            .field("security_contexts", &self.security.len())
            .field("pending", &self.pending.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl ServerAssociation {
    /// A new association awaiting its bind.
    pub fn new(config: ServerConfig, policy: Box<dyn ServerPolicy>) -> Self {
        ServerAssociation {
            max_xmit_frag: config.max_frag,
            max_recv_frag: config.max_frag,
            assoc_group_id: config.assoc_group_id,
            reassembler: Reassembler::new(config.max_request_stub),
            config,
            policy,
            bound: false,
            header_signing: false,
            contexts: BTreeMap::new(),
            security: BTreeMap::new(),
            pending: BTreeMap::new(),
            partial: None,
        }
    }

    /// The policy, for callers that keep per-connection state in it.
    pub fn policy(&self) -> &dyn ServerPolicy {
        self.policy.as_ref()
    }

    /// The `assoc_group_id` of the association.
    pub fn assoc_group_id(&self) -> u32 {
        self.assoc_group_id
    }

    /// The highest level among the established security contexts.
    pub fn max_auth_level(&self) -> AuthLevel {
        self.security
            .values()
            .filter(|s| matches!(s.state, AuthState::Established))
            .map(|s| s.level)
            .max()
            .unwrap_or(AuthLevel::None)
    }

    /// Consumes one whole PDU from the client.
    ///
    /// An `Err` means the connection is unusable (a malformed PDU, a request
    /// whose signature does not verify): the caller closes it.
    pub fn receive(&mut self, buf: &[u8]) -> Result<Incoming> {
        let h = Header::decode(buf)?;
        match h.ptype {
            PacketType::Bind | PacketType::AlterContext => {
                let pdu = Pdu::decode(buf)?;
                let (Body::Bind(b) | Body::AlterContext(b)) = pdu.body else {
                    return Err(Error::Malformed("bind body"));
                };
                if h.ptype == PacketType::Bind && self.bound {
                    return Err(Error::UnexpectedPdu {
                        ptype: "bind",
                        state: "bound",
                    });
                }
                if h.ptype == PacketType::AlterContext && !self.bound {
                    return Err(Error::UnexpectedPdu {
                        ptype: "alter_context",
                        state: "waiting for bind",
                    });
                }
                self.on_bind(h.ptype, pdu.flags, pdu.call_id, b, pdu.auth)
            }
            PacketType::Auth3 => {
                let pdu = Pdu::decode(buf)?;
                let Some(v) = pdu.auth else {
                    return Err(Error::TrailerMismatch("auth3 carries no auth token"));
                };
                let Some(sec) = self.security.get_mut(&v.context_id) else {
                    return Err(Error::TrailerMismatch(
                        "auth3 for an unknown auth_context_id",
                    ));
                };
                if !matches!(sec.state, AuthState::Negotiating) {
                    return Err(Error::State("auth3 after the context completed"));
                }
                sec.state = match sec.ctx.step(Some(&v.value)) {
                    Ok(Step::Done(_)) if sec.ctx.is_established() => AuthState::Established,
                    // A failed logon is not a protocol error: Windows answers
                    // the next call on the context with access denied.
                    _ => AuthState::Failed,
                };
                Ok(Incoming::Nothing)
            }
            PacketType::Request => self.on_request(buf, &h),
            PacketType::CoCancel | PacketType::Orphaned => {
                Pdu::decode(buf)?;
                Ok(Incoming::Nothing)
            }
            _ => Err(Error::UnexpectedPdu {
                ptype: h.ptype.name(),
                state: if self.bound {
                    "bound"
                } else {
                    "waiting for bind"
                },
            }),
        }
    }

    fn nak(&mut self, call_id: u32, reason: u16) -> Result<Incoming> {
        let pdu = Pdu::new(
            call_id,
            Body::BindNak(BindNak {
                reason,
                versions: vec![(5, 0)],
            }),
        );
        Ok(Incoming::Send(vec![pdu.encode()?]))
    }

    fn on_bind(
        &mut self,
        ptype: PacketType,
        flags: u8,
        call_id: u32,
        bind: Bind,
        auth: Option<AuthVerifier>,
    ) -> Result<Incoming> {
        let is_bind = ptype == PacketType::Bind;
        if is_bind {
            if bind.max_xmit_frag < 16 || bind.max_recv_frag < 16 {
                return self.nak(call_id, reject::REASON_NOT_SPECIFIED);
            }
            // What we send is bounded by what the client receives.
            self.max_xmit_frag = self.config.max_frag.min(bind.max_recv_frag);
            self.max_recv_frag = self.config.max_frag.min(bind.max_xmit_frag);
            if bind.assoc_group_id != 0 {
                if !self.policy.joins(bind.assoc_group_id) {
                    return self.nak(call_id, reject::REASON_NOT_SPECIFIED);
                }
                self.assoc_group_id = bind.assoc_group_id;
            }
            self.header_signing = self.config.header_signing
                && auth.is_some()
                && flags & PFC_SUPPORT_HEADER_SIGN != 0;
        }
        // Authentication leg first: an unsupported type refuses the bind.
        let reply_auth = match auth {
            None => None,
            Some(v) => match self.auth_leg(&v) {
                Ok(token) => token,
                Err(reason) if is_bind => return self.nak(call_id, reason),
                Err(_) => return Err(Error::TrailerMismatch("alter_context authentication")),
            },
        };
        let mut results = Vec::with_capacity(bind.contexts.len());
        for c in &bind.contexts {
            let r = if let Some(offered) = features::offered(
                c.transfer_syntaxes
                    .first()
                    .unwrap_or(&SyntaxId::new(Uuid::nil(), 0, 0)),
            ) {
                let supported =
                    features::SECURITY_CONTEXT_MULTIPLEXING | features::KEEP_CONNECTION_ON_ORPHAN;
                if self.config.feature_negotiation {
                    ContextResult {
                        result: result::NEGOTIATE_ACK,
                        reason: u16::from(offered & supported),
                        transfer_syntax: SyntaxId::new(Uuid::nil(), 0, 0),
                    }
                } else {
                    rejected(2)
                }
            } else if !self.policy.accepts(&c.abstract_syntax) {
                rejected(1)
            } else if !c.transfer_syntaxes.contains(&NDR) {
                rejected(2)
            } else {
                match self.contexts.get(&c.context_id) {
                    Some(existing) if *existing != c.abstract_syntax => rejected(0),
                    _ => {
                        self.contexts.insert(c.context_id, c.abstract_syntax);
                        ContextResult {
                            result: result::ACCEPTANCE,
                            reason: 0,
                            transfer_syntax: NDR,
                        }
                    }
                }
            };
            results.push(r);
        }
        self.bound = true;
        let mut out_flags = PFC_FIRST_FRAG | PFC_LAST_FRAG;
        if self.header_signing {
            out_flags |= PFC_SUPPORT_HEADER_SIGN;
        }
        let ack = BindAck {
            max_xmit_frag: self.max_xmit_frag,
            max_recv_frag: self.max_recv_frag,
            assoc_group_id: self.assoc_group_id,
            sec_addr: if is_bind {
                let mut a = self.config.secondary_address.clone().into_bytes();
                a.push(0);
                a
            } else {
                Vec::new()
            },
            results,
        };
        let pdu = Pdu {
            flags: out_flags,
            call_id,
            body: if is_bind {
                Body::BindAck(ack)
            } else {
                Body::AlterContextResp(ack)
            },
            auth: reply_auth,
        };
        Ok(Incoming::Send(vec![pdu.encode()?]))
    }

    /// Runs one authentication leg of a bind / alter_context; returns the
    /// verifier to put in the reply, or a bind_nak reason.
    fn auth_leg(&mut self, v: &AuthVerifier) -> std::result::Result<Option<AuthVerifier>, u16> {
        let level = AuthLevel::from_u8(v.auth_level)
            .filter(|l| *l >= AuthLevel::Connect)
            .ok_or(reject::REASON_NOT_SPECIFIED)?;
        if !self.security.contains_key(&v.context_id) {
            if self.security.len() >= self.config.max_security_contexts {
                // Clients that open a context per alter_context (impacket)
                // use only their newest: forget the one with the lowest
                // auth_context_id that no outstanding call needs.
                let busy: Vec<u32> = self
                    .pending
                    .values()
                    .filter_map(|(_, a)| a.map(|a| a.context_id))
                    .collect();
                let oldest = self
                    .security
                    .keys()
                    .copied()
                    .find(|id| !busy.contains(id))
                    .ok_or(reject::LOCAL_LIMIT_EXCEEDED)?;
                self.security.remove(&oldest);
            }
            let mut ctx = self
                .policy
                .security(v.auth_type)
                .ok_or(reject::AUTHENTICATION_TYPE_NOT_RECOGNIZED)?;
            ctx.set_header_signing(self.header_signing);
            if let Some(l) = AuthLevel::from_u8(v.auth_level) {
                ctx.set_auth_level(l);
            }
            self.security.insert(
                v.context_id,
                SecContext {
                    ctx,
                    level,
                    state: AuthState::Negotiating,
                },
            );
        }
        let sec = self
            .security
            .get_mut(&v.context_id)
            .ok_or(reject::REASON_NOT_SPECIFIED)?;
        if !matches!(sec.state, AuthState::Negotiating) || sec.ctx.auth_type() != v.auth_type {
            return Err(reject::REASON_NOT_SPECIFIED);
        }
        let token = match sec.ctx.step(Some(&v.value)) {
            Ok(Step::Continue(t)) => Some(t),
            Ok(Step::Done(t)) => {
                sec.state = if sec.ctx.is_established() {
                    AuthState::Established
                } else {
                    AuthState::Failed
                };
                t
            }
            Err(_) => {
                sec.state = AuthState::Failed;
                return Err(reject::REASON_NOT_SPECIFIED);
            }
        };
        Ok(token.map(|value| AuthVerifier {
            auth_type: v.auth_type,
            auth_level: v.auth_level,
            pad_length: 0,
            context_id: v.context_id,
            value,
        }))
    }

    fn on_request(&mut self, buf: &[u8], h: &Header) -> Result<Incoming> {
        if !self.bound {
            return Err(Error::UnexpectedPdu {
                ptype: "request",
                state: "waiting for bind",
            });
        }
        // Which security context: the one the trailer names.
        let auth_ctx = split_auth(buf, h)?.1.map(|a| a.context_id);
        let (pdu, call_auth) = match auth_ctx {
            Some(id) => {
                let Some(sec) = self.security.get_mut(&id) else {
                    return Err(Error::TrailerMismatch("unknown auth_context_id"));
                };
                match sec.state {
                    AuthState::Established => {}
                    AuthState::Failed => {
                        return self.refuse(h.call_id, STATUS_ACCESS_DENIED);
                    }
                    AuthState::Negotiating => {
                        return Err(Error::State("request before the logon completed"));
                    }
                }
                let level = sec.level;
                let auth_type = sec.ctx.auth_type();
                let pdu = if level.signs() {
                    decode_protected(
                        buf,
                        Some(&mut Protection {
                            ctx: sec.ctx.as_mut(),
                            level,
                            context_id: id,
                        }),
                    )?
                } else {
                    Pdu::decode(buf)?
                };
                (
                    pdu,
                    Some(CallAuth {
                        auth_type,
                        level,
                        context_id: id,
                    }),
                )
            }
            None => {
                // No trailer: a call at level none or connect. A failed
                // logon at connect level still refuses the call.
                if let Some((id, sec)) = self
                    .security
                    .iter()
                    .find(|(_, s)| !matches!(s.state, AuthState::Negotiating))
                {
                    match sec.state {
                        AuthState::Failed => return self.refuse(h.call_id, STATUS_ACCESS_DENIED),
                        _ if sec.level.signs() => return Err(Error::MissingSignature),
                        _ => {
                            let auth = CallAuth {
                                auth_type: sec.ctx.auth_type(),
                                level: sec.level,
                                context_id: *id,
                            };
                            (Pdu::decode(buf)?, Some(auth))
                        }
                    }
                } else {
                    (Pdu::decode(buf)?, None)
                }
            }
        };
        let Body::Request(req) = pdu.body else {
            return Err(Error::Malformed("request body"));
        };
        if pdu.flags & PFC_FIRST_FRAG != 0 {
            self.partial = Some((req.context_id, req.opnum, req.object, auth_ctx));
        }
        match self.reassembler.push(h.call_id, pdu.flags, &req.stub)? {
            None => Ok(Incoming::Nothing),
            Some(stub) => {
                let (context_id, opnum, object, _) = self
                    .partial
                    .take()
                    .ok_or(Error::MissingFirstFragment(h.call_id))?;
                let Some(interface) = self.contexts.get(&context_id).copied() else {
                    return self.refuse_on(h.call_id, context_id, NCA_S_UNK_IF);
                };
                self.pending.insert(h.call_id, (context_id, call_auth));
                Ok(Incoming::Call(Call {
                    call_id: h.call_id,
                    context_id,
                    interface,
                    opnum,
                    object,
                    stub,
                    auth: call_auth,
                }))
            }
        }
    }

    fn refuse(&mut self, call_id: u32, status: u32) -> Result<Incoming> {
        self.refuse_on(call_id, 0, status)
    }

    fn refuse_on(&mut self, call_id: u32, context_id: u16, status: u32) -> Result<Incoming> {
        self.reassembler.abort(call_id);
        self.partial = None;
        Ok(Incoming::Send(vec![fault_pdu(
            call_id, context_id, status, true,
        )?]))
    }

    /// The fragments of the response to `call_id`, protected with the
    /// call's security context.
    pub fn respond(&mut self, call_id: u32, stub: &[u8]) -> Result<Vec<Vec<u8>>> {
        let (context_id, auth) = self
            .pending
            .remove(&call_id)
            .ok_or(Error::UnknownCall(call_id))?;
        let max = self.max_xmit_frag;
        match auth {
            Some(a) if a.level.signs() => {
                let sec = self
                    .security
                    .get_mut(&a.context_id)
                    .ok_or(Error::State("security context gone"))?;
                fragment_response(
                    call_id,
                    context_id,
                    stub,
                    max,
                    Some(&mut Protection {
                        ctx: sec.ctx.as_mut(),
                        level: a.level,
                        context_id: a.context_id,
                    }),
                )
            }
            _ => fragment_response(call_id, context_id, stub, max, None),
        }
    }

    /// A fault PDU answering `call_id` with `status` (unsigned, as Windows
    /// sends most faults).
    pub fn fault(&mut self, call_id: u32, status: u32, did_not_execute: bool) -> Result<Vec<u8>> {
        let (context_id, _) = self
            .pending
            .remove(&call_id)
            .ok_or(Error::UnknownCall(call_id))?;
        fault_pdu(call_id, context_id, status, did_not_execute)
    }

    /// Forgets an outstanding call that will never be answered (a simulated
    /// hang), so that the association does not keep it.
    pub fn abandon(&mut self, call_id: u32) {
        self.pending.remove(&call_id);
    }
}

fn rejected(reason: u16) -> ContextResult {
    ContextResult {
        result: result::PROVIDER_REJECTION,
        reason,
        transfer_syntax: SyntaxId::new(Uuid::nil(), 0, 0),
    }
}

fn fault_pdu(call_id: u32, context_id: u16, status: u32, did_not_execute: bool) -> Result<Vec<u8>> {
    let mut pdu = Pdu::new(
        call_id,
        Body::Fault(Fault {
            alloc_hint: 32,
            context_id,
            cancel_count: 0,
            flags: 0,
            status,
            stub: Vec::new(),
        }),
    );
    if did_not_execute {
        pdu.flags |= PFC_DID_NOT_EXECUTE;
    }
    pdu.encode()
}
