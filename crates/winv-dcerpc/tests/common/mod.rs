//! A test-only security context: XOR "seal" and a keyed checksum with
//! per-direction sequence numbers. Not cryptography; it only lets the tests
//! see that the right bytes are signed and sealed.
#![allow(dead_code)]

use std::ops::Range;

use winv_auth::{AuthError, AuthType, SecurityContext, Step};

pub struct TestCtx {
    key: u8,
    established: bool,
    legs: u8,
    step_no: u8,
    send_seq: u32,
    recv_seq: u32,
}

impl TestCtx {
    /// A client needing `legs` round trips after the first token (1: NTLM-like, auth3).
    pub fn client(key: u8, legs: u8) -> Self {
        TestCtx {
            key,
            established: false,
            legs,
            step_no: 0,
            send_seq: 0,
            recv_seq: 0,
        }
    }
    /// An already established peer (the hand-written server side).
    pub fn server(key: u8) -> Self {
        TestCtx {
            key,
            established: true,
            legs: 0,
            step_no: 0,
            send_seq: 0,
            recv_seq: 0,
        }
    }
    fn checksum(&self, seq: u32, msg: &[u8]) -> Vec<u8> {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ u64::from(self.key) ^ (u64::from(seq) << 8);
        let mut out = Vec::with_capacity(16);
        for &b in msg {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        out.extend_from_slice(&h.to_le_bytes());
        out.extend_from_slice(&(h.rotate_left(17) ^ 0x5555).to_le_bytes());
        out
    }
}

impl SecurityContext for TestCtx {
    fn auth_type(&self) -> AuthType {
        AuthType::WinNt
    }
    fn step(&mut self, input: Option<&[u8]>) -> Result<Step, AuthError> {
        self.step_no += 1;
        match (self.step_no, input) {
            (1, None) => Ok(Step::Continue(b"NEGOTIATE".to_vec())),
            (2, Some(b"CHALLENGE")) if self.legs == 1 => {
                self.established = true;
                Ok(Step::Done(Some(b"AUTHENTICATE".to_vec())))
            }
            (2, Some(b"CHALLENGE")) => Ok(Step::Continue(b"LEG2".to_vec())),
            (3, Some(b"FINAL")) => {
                self.established = true;
                Ok(Step::Done(None))
            }
            _ => Err(AuthError::Malformed {
                message: "test",
                reason: "unexpected token",
            }),
        }
    }
    fn is_established(&self) -> bool {
        self.established
    }
    fn signature_len(&self) -> usize {
        16
    }
    fn protect(
        &mut self,
        message: &mut [u8],
        seal: Option<Range<usize>>,
    ) -> Result<Vec<u8>, AuthError> {
        let sig = self.checksum(self.send_seq, message);
        self.send_seq += 1;
        if let Some(r) = seal {
            for b in &mut message[r] {
                *b ^= self.key;
            }
        }
        Ok(sig)
    }
    fn unprotect(
        &mut self,
        message: &mut [u8],
        seal: Option<Range<usize>>,
        signature: &[u8],
    ) -> Result<(), AuthError> {
        if let Some(r) = seal {
            for b in &mut message[r] {
                *b ^= self.key;
            }
        }
        let sig = self.checksum(self.recv_seq, message);
        self.recv_seq += 1;
        if sig != signature {
            return Err(AuthError::BadSignature);
        }
        Ok(())
    }
}

pub fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}
