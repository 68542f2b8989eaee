//! A sans-I/O client association, [C706] 12.6 and [MS-RPCE] 3.3.1: no
//! sockets, no async. The caller moves bytes: it sends what the association
//! produces and feeds every received PDU (framed with
//! [`crate::framer::next_pdu_len`]) to [`ClientAssociation::receive`].

use std::collections::BTreeSet;

use uuid::Uuid;
use winv_auth::{AuthLevel, SecurityContext, Step};

use crate::error::{Error, ErrorKind, Result};
use crate::frag::{fragment_request, Reassembler, DEFAULT_MAX_RESPONSE_STUB};
use crate::interfaces::NDR;
use crate::pdu::{
    features, result, AuthVerifier, Bind, BindAck, Body, ContextElement, Header, PacketType, Pdu,
    SyntaxId, PFC_DID_NOT_EXECUTE, PFC_FIRST_FRAG, PFC_LAST_FRAG, PFC_SUPPORT_HEADER_SIGN,
};
use crate::secure::{decode_protected, Protection};
use crate::status::{reject_reason_name, status_name};

/// Settings of a [`ClientAssociation`] ([C706] 12.6.4.3, [MS-RPCE] 3.3.1.5).
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// `max_xmit_frag` we offer (default 4280, what Windows uses over TCP).
    pub max_xmit_frag: u16,
    /// `max_recv_frag` we offer (default 4280).
    pub max_recv_frag: u16,
    /// The authentication level.
    pub auth_level: AuthLevel,
    /// `auth_context_id` in our security trailers.
    pub auth_context_id: u32,
    /// `assoc_group_id` to join (0: a new group).
    pub assoc_group_id: u32,
    /// Offer bind time feature negotiation ([MS-RPCE] 3.3.1.5.3).
    pub feature_negotiation: bool,
    /// Set `PFC_SUPPORT_HEADER_SIGN` in an authenticated bind ([MS-RPCE] 2.2.2.3).
    pub header_signing: bool,
    /// Cap on one reassembled response stub (default
    /// [`DEFAULT_MAX_RESPONSE_STUB`](crate::frag::DEFAULT_MAX_RESPONSE_STUB), 4 MiB: the
    /// largest legitimate response, see there).
    pub max_response_stub: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            max_xmit_frag: 4280,
            max_recv_frag: 4280,
            auth_level: AuthLevel::None,
            auth_context_id: 0,
            assoc_group_id: 0,
            feature_negotiation: true,
            header_signing: true,
            max_response_stub: DEFAULT_MAX_RESPONSE_STUB,
        }
    }
}

/// What a received PDU meant ([MS-RPCE] 3.3.2.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The bind (or an authentication leg) completed and `context_id` is
    /// usable; send `send` (an auth3 PDU) first when present.
    Bound {
        /// The accepted presentation context.
        context_id: u16,
        /// A PDU to send now (NTLM's third leg), if any.
        send: Option<Vec<u8>>,
    },
    /// The security context needs another leg: send this alter_context and
    /// feed the reply to [`ClientAssociation::receive`].
    AuthContinue {
        /// The alter_context PDU.
        send: Vec<u8>,
    },
    /// A presentation context added with [`ClientAssociation::alter_context`]
    /// was accepted.
    ContextAdded {
        /// Its id.
        context_id: u16,
    },
    /// A non-final response fragment was accepted; keep receiving.
    Fragment {
        /// The call.
        call_id: u32,
    },
    /// A whole response stub.
    Response {
        /// The call.
        call_id: u32,
        /// Reassembled plaintext stub.
        stub: Vec<u8>,
    },
    /// The server answered a call (or the bind) with a fault.
    Fault {
        /// The call.
        call_id: u32,
        /// The status.
        status: u32,
        /// Its name, from [`status_name`].
        name: Option<&'static str>,
        /// `PFC_DID_NOT_EXECUTE` was set.
        did_not_execute: bool,
    },
    /// The server rejected the bind.
    BindNak {
        /// `provider_reject_reason`.
        reason: u16,
        /// Its name.
        name: Option<&'static str>,
    },
    /// The server asked to shut the connection down ([C706] 12.6.4.11).
    Shutdown,
}

impl Event {
    /// Turns a fault into [`Error::Fault`] and a bind_nak into
    /// [`Error::BindRejected`]; other events pass through.
    pub fn check(self) -> Result<Event> {
        match self {
            Event::Fault {
                call_id,
                status,
                name,
                ..
            } => Err(Error::Fault {
                call_id,
                status,
                name: name.unwrap_or("unknown"),
            }),
            Event::BindNak { reason, name } => Err(Error::BindRejected {
                reason,
                name: name.unwrap_or("unknown"),
            }),
            e => Ok(e),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Idle,
    BindSent { call_id: u32 },
    AlterSent { call_id: u32, auth_leg: bool },
    Bound,
    Failed,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::Idle => "idle",
            State::BindSent { .. } => "waiting for bind_ack",
            State::AlterSent { .. } => "waiting for alter_context_resp",
            State::Bound => "bound",
            State::Failed => "failed",
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct PresContext {
    id: u16,
    accepted: bool,
}

/// One pending entry of the last bind / alter_context, in result order.
#[derive(Clone, Copy, Debug)]
enum Pending {
    Context(u16),
    FeatureNegotiation,
}

/// A client association on one connection, [C706] 12.6 / [MS-RPCE] 3.3.1: it
/// builds bind / alter_context / auth3 / request PDUs and consumes the
/// server's PDUs, verifying signatures at signing levels.
pub struct ClientAssociation {
    config: ClientConfig,
    security: Option<Box<dyn SecurityContext>>,
    state: State,
    next_call_id: u32,
    next_context_id: u16,
    max_xmit_frag: u16,
    max_recv_frag: u16,
    assoc_group_id: u32,
    features: Option<u8>,
    secondary_address: Option<String>,
    contexts: Vec<PresContext>,
    pending: Vec<Pending>,
    outstanding: BTreeSet<u32>,
    reassembler: Reassembler,
    interface: Option<SyntaxId>,
}

impl std::fmt::Debug for ClientAssociation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientAssociation")
            .field("state", &self.state)
            .field("auth_level", &self.config.auth_level)
            .field("has_security", &self.security.is_some())
            .field("max_xmit_frag", &self.max_xmit_frag)
            .field("max_recv_frag", &self.max_recv_frag)
            .field("outstanding", &self.outstanding)
            .finish()
    }
}

impl ClientAssociation {
    /// A new association. A level of `CONNECT` or above needs `security`.
    pub fn new(config: ClientConfig, security: Option<Box<dyn SecurityContext>>) -> Result<Self> {
        if config.auth_level >= AuthLevel::Connect && security.is_none() {
            return Err(Error::NoSecurityContext(config.auth_level.name()));
        }
        if config.auth_level <= AuthLevel::None && security.is_some() {
            return Err(Error::State("security context given at auth level none"));
        }
        let mut security = security;
        if let Some(sec) = &mut security {
            sec.set_auth_level(config.auth_level);
        }
        Ok(ClientAssociation {
            max_xmit_frag: config.max_xmit_frag,
            max_recv_frag: config.max_recv_frag,
            assoc_group_id: config.assoc_group_id,
            reassembler: Reassembler::new(config.max_response_stub),
            config,
            security,
            state: State::Idle,
            next_call_id: 1,
            next_context_id: 0,
            features: None,
            secondary_address: None,
            contexts: Vec::new(),
            pending: Vec::new(),
            outstanding: BTreeSet::new(),
            interface: None,
        })
    }

    /// Negotiated `max_xmit_frag` (what we may send).
    pub fn max_xmit_frag(&self) -> u16 {
        self.max_xmit_frag
    }

    /// Negotiated `max_recv_frag`.
    pub fn max_recv_frag(&self) -> u16 {
        self.max_recv_frag
    }

    /// `assoc_group_id` the server assigned.
    pub fn assoc_group_id(&self) -> u32 {
        self.assoc_group_id
    }

    /// Features the server acknowledged with `negotiate_ack`, if it did.
    pub fn features(&self) -> Option<u8> {
        self.features
    }

    /// The secondary address (port) from the bind_ack.
    pub fn secondary_address(&self) -> Option<&str> {
        self.secondary_address.as_deref()
    }

    /// Whether the association is bound and ready for requests.
    pub fn is_bound(&self) -> bool {
        self.state == State::Bound
    }

    /// Calls awaiting their response.
    pub fn outstanding_calls(&self) -> impl Iterator<Item = u32> + '_ {
        self.outstanding.iter().copied()
    }

    fn new_call_id(&mut self) -> u32 {
        let id = self.next_call_id;
        self.next_call_id = self.next_call_id.wrapping_add(1).max(1);
        id
    }

    fn new_context_id(&mut self) -> Result<u16> {
        let id = self.next_context_id;
        self.next_context_id = id
            .checked_add(1)
            .ok_or(Error::State("presentation context ids exhausted"))?;
        Ok(id)
    }

    fn auth_verifier(&self, token: Vec<u8>) -> Option<AuthVerifier> {
        self.security.as_ref().map(|s| AuthVerifier {
            auth_type: s.auth_type(),
            auth_level: self.config.auth_level as u8,
            pad_length: 0,
            context_id: self.config.auth_context_id,
            value: token,
        })
    }

    fn bind_flags(&self) -> u8 {
        let mut flags = PFC_FIRST_FRAG | PFC_LAST_FRAG;
        if self.security.is_some() && self.config.header_signing {
            flags |= PFC_SUPPORT_HEADER_SIGN;
        }
        flags
    }

    /// Builds the bind PDU for `interface` over NDR (plus the bind time
    /// feature negotiation context when configured) with the first
    /// authentication token. Returns the new presentation context id and the PDU.
    pub fn bind(&mut self, interface: SyntaxId) -> Result<(u16, Vec<u8>)> {
        if self.state != State::Idle {
            return Err(Error::State("bind after the association started"));
        }
        let ctx_id = self.new_context_id()?;
        self.interface = Some(interface);
        let mut contexts = vec![ContextElement {
            context_id: ctx_id,
            abstract_syntax: interface,
            transfer_syntaxes: vec![NDR],
        }];
        self.pending = vec![Pending::Context(ctx_id)];
        self.contexts.push(PresContext {
            id: ctx_id,
            accepted: false,
        });
        if self.config.feature_negotiation {
            let feat_id = self.new_context_id()?;
            contexts.push(ContextElement {
                context_id: feat_id,
                abstract_syntax: interface,
                transfer_syntaxes: vec![features::syntax(
                    features::SECURITY_CONTEXT_MULTIPLEXING | features::KEEP_CONNECTION_ON_ORPHAN,
                )],
            });
            self.pending.push(Pending::FeatureNegotiation);
        }
        let auth = match &mut self.security {
            Some(sec) => {
                let token = match sec.step(None)? {
                    Step::Continue(t) => t,
                    Step::Done(t) => t.unwrap_or_default(),
                };
                self.auth_verifier(token)
            }
            None => None,
        };
        let call_id = self.new_call_id();
        let pdu = Pdu {
            flags: self.bind_flags(),
            call_id,
            body: Body::Bind(Bind {
                max_xmit_frag: self.config.max_xmit_frag,
                max_recv_frag: self.config.max_recv_frag,
                assoc_group_id: self.config.assoc_group_id,
                contexts,
            }),
            auth,
        };
        let bytes = pdu.encode()?;
        self.state = State::BindSent { call_id };
        Ok((ctx_id, bytes))
    }

    /// Builds an alter_context PDU adding a presentation context for
    /// `interface` on the bound association. Returns its id and the PDU.
    pub fn alter_context(&mut self, interface: SyntaxId) -> Result<(u16, Vec<u8>)> {
        let (ids, bytes) = self.alter_contexts(&[interface])?;
        let id = ids
            .first()
            .copied()
            .ok_or(Error::State("no context offered"))?;
        Ok((id, bytes))
    }

    /// Builds one alter_context PDU offering a presentation context for each of
    /// `interfaces` (a `p_cont_list` of several elements, [C706] 12.6.3.1: the server
    /// answers each in its `p_result_list`, in order). Returns their ids, in order, and
    /// the PDU. The answer is [`Event::ContextAdded`] with the first id when the first is
    /// accepted, whatever became of the others ([`ClientAssociation::is_accepted`] tells),
    /// and [`Error::ContextRejected`] when the first is not.
    pub fn alter_contexts(&mut self, interfaces: &[SyntaxId]) -> Result<(Vec<u16>, Vec<u8>)> {
        if self.state != State::Bound {
            return Err(Error::State(
                "alter_context before the association is bound",
            ));
        }
        if interfaces.is_empty() || interfaces.len() > usize::from(u8::MAX) {
            return Err(Error::State("an alter_context offers 1 to 255 contexts"));
        }
        let mut offered = Vec::with_capacity(interfaces.len());
        for interface in interfaces {
            let id = self.new_context_id()?;
            self.contexts.push(PresContext {
                id,
                accepted: false,
            });
            offered.push((id, *interface));
        }
        let bytes = self.send_alter_context(&offered, PFC_FIRST_FRAG | PFC_LAST_FRAG, None)?;
        Ok((offered.into_iter().map(|(id, _)| id).collect(), bytes))
    }

    /// Whether the server accepted presentation context `context_id`.
    pub fn is_accepted(&self, context_id: u16) -> bool {
        self.contexts
            .iter()
            .any(|c| c.id == context_id && c.accepted)
    }

    /// Encodes an alter_context offering each `(context_id, interface)` of `offered`
    /// over NDR and moves to [`State::AlterSent`]; with `auth`, it is an
    /// authentication leg ([MS-RPCE] 3.3.1.5.6).
    fn send_alter_context(
        &mut self,
        offered: &[(u16, SyntaxId)],
        flags: u8,
        auth: Option<AuthVerifier>,
    ) -> Result<Vec<u8>> {
        let call_id = self.new_call_id();
        let auth_leg = auth.is_some();
        let pdu = Pdu {
            flags,
            call_id,
            body: Body::AlterContext(Bind {
                max_xmit_frag: self.max_xmit_frag,
                max_recv_frag: self.max_recv_frag,
                assoc_group_id: self.assoc_group_id,
                contexts: offered
                    .iter()
                    .map(|(context_id, interface)| ContextElement {
                        context_id: *context_id,
                        abstract_syntax: *interface,
                        transfer_syntaxes: vec![NDR],
                    })
                    .collect(),
            }),
            auth,
        };
        let bytes = pdu.encode()?;
        self.pending = offered
            .iter()
            .map(|(id, _)| Pending::Context(*id))
            .collect();
        self.state = State::AlterSent { call_id, auth_leg };
        Ok(bytes)
    }

    fn protection(&mut self) -> Option<Protection<'_>> {
        let level = self.config.auth_level;
        let context_id = self.config.auth_context_id;
        match &mut self.security {
            Some(sec) if level.signs() => Some(Protection {
                ctx: sec.as_mut(),
                level,
                context_id,
            }),
            _ => None,
        }
    }

    /// Builds the fragments of a request on presentation context
    /// `context_id`, each at most the negotiated `max_xmit_frag` and
    /// protected at signing levels. Returns the new call id and the fragments.
    pub fn request(
        &mut self,
        context_id: u16,
        opnum: u16,
        object: Option<Uuid>,
        stub: &[u8],
    ) -> Result<(u32, Vec<Vec<u8>>)> {
        if !matches!(
            self.state,
            State::Bound
                | State::AlterSent {
                    auth_leg: false,
                    ..
                }
        ) {
            return Err(Error::State(if self.state == State::Failed {
                "request on a failed association"
            } else {
                "request before the association is bound"
            }));
        }
        if !self
            .contexts
            .iter()
            .any(|c| c.id == context_id && c.accepted)
        {
            return Err(Error::UnknownContext(context_id));
        }
        let call_id = self.new_call_id();
        let max = self.max_xmit_frag;
        let frags = fragment_request(
            call_id,
            context_id,
            opnum,
            object,
            stub,
            max,
            self.protection().as_mut(),
        )?;
        self.outstanding.insert(call_id);
        Ok((call_id, frags))
    }

    /// Consumes one whole PDU from the server.
    pub fn receive(&mut self, buf: &[u8]) -> Result<Event> {
        let h = Header::decode(buf)?;
        let unexpected = |state: State| Error::UnexpectedPdu {
            ptype: h.ptype.name(),
            state: state.name(),
        };
        match h.ptype {
            PacketType::BindAck | PacketType::AlterContextResp => {
                let expected = match (self.state, h.ptype) {
                    (State::BindSent { call_id }, PacketType::BindAck) => call_id,
                    (State::AlterSent { call_id, .. }, PacketType::AlterContextResp) => call_id,
                    (s, _) => return Err(unexpected(s)),
                };
                if h.call_id != expected {
                    return Err(Error::UnknownCall(h.call_id));
                }
                let pdu = Pdu::decode(buf)?;
                match pdu.body {
                    Body::BindAck(ack) | Body::AlterContextResp(ack) => {
                        self.on_bind_ack(h.ptype, h.call_id, pdu.flags, ack, pdu.auth)
                    }
                    _ => Err(Error::Malformed("bind_ack body")),
                }
            }
            PacketType::BindNak => {
                if !matches!(self.state, State::BindSent { .. }) {
                    return Err(unexpected(self.state));
                }
                let pdu = Pdu::decode(buf)?;
                let Body::BindNak(nak) = pdu.body else {
                    return Err(Error::Malformed("bind_nak body"));
                };
                self.state = State::Failed;
                Ok(Event::BindNak {
                    reason: nak.reason,
                    name: reject_reason_name(nak.reason),
                })
            }
            PacketType::Response => {
                if !self.outstanding.contains(&h.call_id) {
                    return Err(Error::UnknownCall(h.call_id));
                }
                let pdu = self.verified(buf)?;
                let Body::Response(resp) = pdu.body else {
                    return Err(Error::Malformed("response body"));
                };
                match self.reassembler.push(h.call_id, pdu.flags, &resp.stub) {
                    Ok(Some(stub)) => {
                        self.outstanding.remove(&h.call_id);
                        Ok(Event::Response {
                            call_id: h.call_id,
                            stub,
                        })
                    }
                    Ok(None) => Ok(Event::Fragment { call_id: h.call_id }),
                    Err(e) => {
                        if !matches!(e, Error::InterleavedCall { .. }) {
                            self.outstanding.remove(&h.call_id);
                        }
                        Err(e)
                    }
                }
            }
            PacketType::Fault => {
                let bind_call = match self.state {
                    State::BindSent { call_id } | State::AlterSent { call_id, .. } => Some(call_id),
                    _ => None,
                };
                let is_bind = bind_call == Some(h.call_id);
                if !is_bind && !self.outstanding.contains(&h.call_id) {
                    return Err(Error::UnknownCall(h.call_id));
                }
                // Faults may come unsigned (the server may not have the
                // context); verify those that carry a trailer.
                let pdu = if h.auth_length > 0 && !is_bind {
                    self.verified(buf)?
                } else {
                    Pdu::decode(buf)?
                };
                let Body::Fault(f) = pdu.body else {
                    return Err(Error::Malformed("fault body"));
                };
                if is_bind {
                    self.state = State::Failed;
                } else {
                    self.outstanding.remove(&h.call_id);
                    self.reassembler.abort(h.call_id);
                }
                Ok(Event::Fault {
                    call_id: h.call_id,
                    status: f.status,
                    name: status_name(f.status),
                    did_not_execute: pdu.flags & PFC_DID_NOT_EXECUTE != 0,
                })
            }
            PacketType::Shutdown => {
                Pdu::decode(buf)?;
                Ok(Event::Shutdown)
            }
            _ => Err(unexpected(self.state)),
        }
    }

    /// Verifies and decodes a signed response or fault. A PDU that fails verification
    /// fails the association: the receiving sequence number (and, sealed, the key stream)
    /// has moved past what the server used, so no later PDU on it could verify.
    fn verified(&mut self, buf: &[u8]) -> Result<Pdu> {
        let r = decode_protected(buf, self.protection().as_mut());
        if matches!(&r, Err(e) if e.kind() == ErrorKind::Security) {
            self.state = State::Failed;
        }
        r
    }

    fn on_bind_ack(
        &mut self,
        ptype: PacketType,
        call_id: u32,
        pdu_flags: u8,
        ack: BindAck,
        auth: Option<AuthVerifier>,
    ) -> Result<Event> {
        let auth_leg = matches!(self.state, State::AlterSent { auth_leg: true, .. });
        if ptype == PacketType::BindAck {
            // [MS-RPCE] 3.3.1.5.2.2: header signing is on when we offered it
            // and the server's bind_ack echoes the flag.
            let header_signing =
                self.config.header_signing && pdu_flags & PFC_SUPPORT_HEADER_SIGN != 0;
            if let Some(sec) = &mut self.security {
                sec.set_header_signing(header_signing);
            }
            if ack.max_recv_frag < 16 || ack.max_xmit_frag < 16 {
                self.state = State::Failed;
                return Err(Error::Malformed("bind_ack fragment sizes"));
            }
            self.max_xmit_frag = self.config.max_xmit_frag.min(ack.max_recv_frag);
            self.max_recv_frag = self.config.max_recv_frag.min(ack.max_xmit_frag);
            self.assoc_group_id = ack.assoc_group_id;
            self.secondary_address = ack.secondary_address().map(str::to_owned);
        }
        if ack.results.len() != self.pending.len() {
            self.state = State::Failed;
            return Err(Error::Malformed("p_result_list count"));
        }
        let mut first_ctx = None;
        for (p, r) in self.pending.clone().iter().zip(&ack.results) {
            match *p {
                Pending::FeatureNegotiation => {
                    if r.result == result::NEGOTIATE_ACK {
                        // INVARIANT: only the low octet carries defined bits.
                        self.features = Some((r.reason & 0xff) as u8);
                    }
                }
                Pending::Context(id) => {
                    let first = *first_ctx.get_or_insert(id) == id;
                    if r.result == result::ACCEPTANCE && r.transfer_syntax == NDR {
                        if let Some(c) = self.contexts.iter_mut().find(|c| c.id == id) {
                            c.accepted = true;
                        }
                    } else if !first {
                        // Another context of a several-context alter_context: it stays
                        // not accepted ([`ClientAssociation::is_accepted`]), the caller
                        // asks for it alone when it needs it.
                    } else if !auth_leg {
                        self.state = if ptype == PacketType::BindAck {
                            State::Failed
                        } else {
                            State::Bound
                        };
                        return Err(Error::ContextRejected {
                            context_id: id,
                            result: r.result,
                            reason: r.reason,
                        });
                    }
                }
            }
        }
        let context_id = first_ctx.ok_or(Error::Malformed("p_result_list"))?;
        if ptype == PacketType::AlterContextResp && !auth_leg {
            self.state = State::Bound;
            return Ok(Event::ContextAdded { context_id });
        }
        // Authentication legs. A context that is established already sent
        // its last leg in the alter_context this answers (Kerberos' third
        // leg, [MS-KILE] 3.4.5.1): the reply carries no token to feed it.
        let established = self.security.as_ref().is_none_or(|s| s.is_established());
        if established {
            self.state = State::Bound;
            return Ok(Event::Bound {
                context_id,
                send: None,
            });
        }
        let Some(v) = auth else {
            self.state = State::Failed;
            return Err(Error::TrailerMismatch("bind_ack carries no auth token"));
        };
        let step = match &mut self.security {
            Some(sec) => sec.step(Some(&v.value)),
            None => return Err(Error::State("no security context")),
        };
        let step = match step {
            Ok(s) => s,
            Err(e) => {
                self.state = State::Failed;
                return Err(e.into());
            }
        };
        match step {
            Step::Done(token) => {
                self.state = State::Bound;
                let send = match token {
                    Some(t) => Some(
                        Pdu {
                            flags: self.bind_flags(),
                            call_id,
                            body: Body::Auth3,
                            auth: self.auth_verifier(t),
                        }
                        .encode()?,
                    ),
                    None => None,
                };
                Ok(Event::Bound { context_id, send })
            }
            Step::Continue(t) => {
                // The alter_context re-offers the bound presentation context.
                let interface = self.interface.unwrap_or(NDR);
                let flags = self.bind_flags();
                let auth = self.auth_verifier(t);
                let bytes = self.send_alter_context(&[(context_id, interface)], flags, auth)?;
                Ok(Event::AuthContinue { send: bytes })
            }
        }
    }
}
