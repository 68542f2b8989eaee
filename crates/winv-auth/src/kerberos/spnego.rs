//! SPNEGO tokens, [RFC 4178] 4.2, as far as a Kerberos initiator needs them
//! (NegTokenInit with a mechanism token, NegTokenResp both ways).

use super::der::{self, explicit, octets, seq, tag, Reader};
use super::KrbError;

/// OID 1.3.6.1.5.5.2 (SPNEGO), DER content.
pub const OID_SPNEGO: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];

/// negState, [RFC 4178] 4.2.2.
pub mod neg_state {
    /// accept-completed.
    pub const ACCEPT_COMPLETED: u8 = 0;
    /// accept-incomplete.
    pub const ACCEPT_INCOMPLETE: u8 = 1;
    /// reject.
    pub const REJECT: u8 = 2;
    /// request-mic.
    pub const REQUEST_MIC: u8 = 3;
}

/// The DER of a MechTypeList (what a mechListMIC covers).
pub fn mech_type_list(mechs: &[&[u8]]) -> Vec<u8> {
    let items: Vec<Vec<u8>> = mechs.iter().map(|m| der::tlv(tag::OID, m)).collect();
    seq(&items)
}

/// `[APPLICATION 0] { spnego, [0] NegTokenInit { mechTypes, mechToken } }`.
pub fn encode_init(mech_types_der: &[u8], mech_token: &[u8]) -> Vec<u8> {
    let init = seq(&[explicit(0, mech_types_der), explicit(2, &octets(mech_token))]);
    let mut inner = der::tlv(tag::OID, OID_SPNEGO);
    inner.extend_from_slice(&explicit(0, &init));
    der::tlv(0x60, &inner)
}

/// `[1] NegTokenResp { [neg_state], [responseToken], [mechListMIC] }`.
pub fn encode_resp(state: Option<u8>, token: Option<&[u8]>, mic: Option<&[u8]>) -> Vec<u8> {
    let mut items = Vec::new();
    if let Some(s) = state {
        items.push(explicit(0, &der::tlv(tag::ENUMERATED, &[s])));
    }
    if let Some(t) = token {
        items.push(explicit(2, &octets(t)));
    }
    if let Some(m) = mic {
        items.push(explicit(3, &octets(m)));
    }
    explicit(1, &seq(&items))
}

/// A decoded SPNEGO token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NegToken {
    /// NegTokenInit: the mechanisms offered and the optimistic token.
    Init {
        /// The OIDs (DER contents).
        mech_types: Vec<Vec<u8>>,
        /// The mechanism token.
        token: Option<Vec<u8>>,
    },
    /// NegTokenResp.
    Resp {
        /// negState.
        state: Option<u8>,
        /// supportedMech (DER content of the OID).
        mech: Option<Vec<u8>>,
        /// responseToken.
        token: Option<Vec<u8>>,
        /// mechListMIC.
        mic: Option<Vec<u8>>,
    },
}

impl NegToken {
    /// From DER.
    pub fn decode(buf: &[u8]) -> Result<NegToken, KrbError> {
        let mut r = Reader::new(buf);
        match r.peek_tag() {
            Some(0x60) => {
                let c = r.expect(0x60, "spnego framing")?;
                let mut inner = Reader::new(c);
                if inner.expect(tag::OID, "spnego oid")? != OID_SPNEGO {
                    return Err(KrbError::Malformed("not spnego"));
                }
                let init = inner.field(0, "spnego neg token init")?;
                let mut s = der::sequence(init, "spnego neg token init")?;
                let types = s.field(0, "spnego mech types")?;
                let mech_types = der::read_seq_of(types, 32)?
                    .into_iter()
                    .map(|o| Reader::new(o).expect(tag::OID, "spnego mech type").map(<[u8]>::to_vec))
                    .collect::<Result<Vec<_>, _>>()?;
                let _flags = s.optional(1)?;
                let token = s.optional(2)?.map(der::read_octets).transpose()?.map(<[u8]>::to_vec);
                Ok(NegToken::Init { mech_types, token })
            }
            Some(0xa1) => {
                let c = r.expect(0xa1, "spnego neg token resp")?;
                let mut s = der::sequence(c, "spnego neg token resp")?;
                let state = match s.optional(0)? {
                    Some(e) => {
                        let v = Reader::new(e).expect(tag::ENUMERATED, "spnego neg state")?;
                        match v {
                            [b] => Some(*b),
                            _ => return Err(KrbError::Malformed("spnego neg state")),
                        }
                    }
                    None => None,
                };
                let mech = s
                    .optional(1)?
                    .map(|o| Reader::new(o).expect(tag::OID, "spnego supported mech").map(<[u8]>::to_vec))
                    .transpose()?;
                let token = s.optional(2)?.map(der::read_octets).transpose()?.map(<[u8]>::to_vec);
                let mic = s.optional(3)?.map(der::read_octets).transpose()?.map(<[u8]>::to_vec);
                Ok(NegToken::Resp {
                    state,
                    mech,
                    token,
                    mic,
                })
            }
            _ => Err(KrbError::Malformed("not a spnego token")),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn init_and_resp_round_trip() {
        let types = mech_type_list(&[crate::kerberos::gss::OID_MS_KRB5, crate::kerberos::gss::OID_KRB5]);
        let t = encode_init(&types, b"tok");
        match NegToken::decode(&t).unwrap() {
            NegToken::Init { mech_types, token } => {
                assert_eq!(mech_types.len(), 2);
                assert_eq!(token.as_deref(), Some(&b"tok"[..]));
            }
            other => panic!("{other:?}"),
        }
        let r = encode_resp(Some(neg_state::ACCEPT_COMPLETED), Some(b"x"), Some(b"mic"));
        assert_eq!(
            NegToken::decode(&r).unwrap(),
            NegToken::Resp {
                state: Some(0),
                mech: None,
                token: Some(b"x".to_vec()),
                mic: Some(b"mic".to_vec())
            }
        );
        assert!(NegToken::decode(b"\x05\x00").is_err());
    }
}
