//! NTLMv2 key derivation and session security, [MS-NLMP] 3.3.2 and 3.4.
//!
//! One core shared by the client, server and passive roles.

use std::ops::Range;

use hmac::{Hmac, KeyInit, Mac};
use md4::Md4;
use md5::{Digest, Md5};
use rc4::{Rc4, StreamCipher};

use super::flags;
use crate::AuthError;

type HmacMd5 = Hmac<Md5>;

/// A user's NT one-way function output (MD4 of the UTF-16LE password),
/// [MS-NLMP] 3.3.1 `NTOWFv1`: the long-term secret NTLMv2 is built on.
///
/// INVARIANT: `Debug` never prints the hash.
#[derive(Clone, PartialEq, Eq)]
pub struct NtlmSecret([u8; 16]);

impl NtlmSecret {
    /// From a clear-text password: `MD4(UNICODE(Passwd))`, [MS-NLMP] 3.3.1.
    pub fn from_password(password: &str) -> Self {
        NtlmSecret(nt_hash(password))
    }

    /// From an NT hash already known.
    pub fn from_nt_hash(hash: [u8; 16]) -> Self {
        NtlmSecret(hash)
    }

    /// From an NT hash in hex (32 hex digits), as tools print it.
    pub fn from_nt_hash_hex(hex: &str) -> Option<Self> {
        let hex = hex.trim();
        if hex.len() != 32 || !hex.is_ascii() {
            return None;
        }
        let mut out = [0u8; 16];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(NtlmSecret(out))
    }

    /// The NT hash bytes.
    pub fn nt_hash(&self) -> &[u8; 16] {
        &self.0
    }
}

impl std::fmt::Debug for NtlmSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NtlmSecret(<redacted>)")
    }
}

/// `NTOWFv1(Passwd) = MD4(UNICODE(Passwd))`, [MS-NLMP] 3.3.1.
pub fn nt_hash(password: &str) -> [u8; 16] {
    let mut h = Md4::new();
    h.update(super::messages::utf16le(password));
    to16(&h.finalize())
}

/// `NTOWFv2 = HMAC_MD5(MD4(UNICODE(Passwd)), UNICODE(ConcatenationOf(Uppercase(User), UserDom)))`,
/// [MS-NLMP] 3.3.2. `LMOWFv2` is the same function.
pub fn ntowfv2(nt_hash: &[u8; 16], user: &str, domain: &str) -> [u8; 16] {
    let mut s = user.to_uppercase();
    s.push_str(domain);
    hmac_md5(nt_hash, &[&super::messages::utf16le(&s)])
}

/// `HMAC_MD5(K, M)` over the concatenation of `parts`, [MS-NLMP] 6.
pub fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    // INVARIANT: HMAC accepts keys of any length.
    let mut mac = <HmacMd5 as KeyInit>::new_from_slice(key).expect("hmac takes any key length");
    for p in parts {
        mac.update(p);
    }
    to16(&mac.finalize().into_bytes())
}

fn md5(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    to16(&h.finalize())
}

fn to16(b: &[u8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out.copy_from_slice(&b[..16]);
    out
}

fn rc4_new(key: &[u8; 16]) -> Rc4 {
    // INVARIANT: RC4 takes keys of 1 to 256 bytes; ours are 16.
    <Rc4 as rc4::KeyInit>::new_from_slice(key).expect("16-byte rc4 key")
}

/// One-shot `RC4K(K, D)`, [MS-NLMP] 6: used to encrypt and decrypt the
/// exported session key with the key exchange key.
pub fn rc4k(key: &[u8; 16], data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    rc4_new(key).apply_keystream(&mut out);
    out
}

/// Constant-time equality for MACs.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The NTLMv2 `temp` blob ([MS-NLMP] 3.3.2, NTLMv2_CLIENT_CHALLENGE 2.2.2.7):
/// `0x01 0x01 Z(6) Time ClientChallenge Z(4) ServerName Z(4)`, where
/// `server_name` is the encoded AV pair list including its EOL.
pub fn ntlmv2_temp(time: u64, client_challenge: &[u8; 8], server_name: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(28 + server_name.len() + 4);
    t.extend_from_slice(&[1, 1, 0, 0, 0, 0, 0, 0]);
    t.extend_from_slice(&time.to_le_bytes());
    t.extend_from_slice(client_challenge);
    t.extend_from_slice(&[0; 4]);
    t.extend_from_slice(server_name);
    t.extend_from_slice(&[0; 4]);
    t
}

/// `NTProofStr = HMAC_MD5(ResponseKeyNT, ConcatenationOf(ServerChallenge, temp))`, [MS-NLMP] 3.3.2.
pub fn nt_proof_str(
    response_key_nt: &[u8; 16],
    server_challenge: &[u8; 8],
    temp: &[u8],
) -> [u8; 16] {
    hmac_md5(response_key_nt, &[server_challenge, temp])
}

/// `SessionBaseKey = HMAC_MD5(ResponseKeyNT, NTProofStr)`, [MS-NLMP] 3.3.2.
/// With NTLMv2, `KXKEY` returns it unchanged ([MS-NLMP] 3.4.5.1).
pub fn session_base_key(response_key_nt: &[u8; 16], nt_proof: &[u8; 16]) -> [u8; 16] {
    hmac_md5(response_key_nt, &[nt_proof])
}

/// `LMv2 response = HMAC_MD5(ResponseKeyLM, ServerChallenge || ClientChallenge) || ClientChallenge`,
/// [MS-NLMP] 3.3.2 / 2.2.2.4.
pub fn lmv2_response(
    response_key_lm: &[u8; 16],
    server_challenge: &[u8; 8],
    client_challenge: &[u8; 8],
) -> Vec<u8> {
    let mut r = hmac_md5(response_key_lm, &[server_challenge, client_challenge]).to_vec();
    r.extend_from_slice(client_challenge);
    r
}

const C2S_SIGN: &[u8] = b"session key to client-to-server signing key magic constant\0";
const S2C_SIGN: &[u8] = b"session key to server-to-client signing key magic constant\0";
const C2S_SEAL: &[u8] = b"session key to client-to-server sealing key magic constant\0";
const S2C_SEAL: &[u8] = b"session key to server-to-client sealing key magic constant\0";

/// Which way a [`DirectionKeys`] protects traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Client (initiator) to server (acceptor).
    ClientToServer,
    /// Server to client.
    ServerToClient,
}

impl Direction {
    /// The other direction.
    pub fn reverse(self) -> Self {
        match self {
            Direction::ClientToServer => Direction::ServerToClient,
            Direction::ServerToClient => Direction::ClientToServer,
        }
    }
}

/// `SIGNKEY`, [MS-NLMP] 3.4.5.2 (extended session security).
pub fn sign_key(exported_session_key: &[u8; 16], dir: Direction) -> [u8; 16] {
    let magic = match dir {
        Direction::ClientToServer => C2S_SIGN,
        Direction::ServerToClient => S2C_SIGN,
    };
    md5(&[exported_session_key, magic])
}

/// `SEALKEY`, [MS-NLMP] 3.4.5.3 (extended session security): the session key
/// cut to 16, 7 or 5 bytes by NTLMSSP_NEGOTIATE_128 / _56, then hashed with
/// the direction's magic constant.
pub fn seal_key(exported_session_key: &[u8; 16], negotiate_flags: u32, dir: Direction) -> [u8; 16] {
    let n = if negotiate_flags & flags::NEGOTIATE_128 != 0 {
        16
    } else if negotiate_flags & flags::NEGOTIATE_56 != 0 {
        7
    } else {
        5
    };
    let magic = match dir {
        Direction::ClientToServer => C2S_SEAL,
        Direction::ServerToClient => S2C_SEAL,
    };
    md5(&[&exported_session_key[..n], magic])
}

/// The session-security state of one direction in connection-oriented mode:
/// signing key, the persistent RC4 sealing handle and the sequence number,
/// [MS-NLMP] 3.4.2–3.4.4.
pub struct DirectionKeys {
    sign_key: [u8; 16],
    handle: Rc4,
    seq: u32,
    key_exch: bool,
}

impl std::fmt::Debug for DirectionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectionKeys")
            .field("seq", &self.seq)
            .field("key_exch", &self.key_exch)
            .finish_non_exhaustive()
    }
}

/// Length of NTLMSSP_MESSAGE_SIGNATURE, [MS-NLMP] 2.2.2.9.1.
pub const SIGNATURE_LEN: usize = 16;

fn check_range(len: usize, seal: &Option<Range<usize>>) -> Result<(), AuthError> {
    match seal {
        Some(r) if r.start > r.end || r.end > len => {
            Err(AuthError::State("seal range outside message"))
        }
        _ => Ok(()),
    }
}

impl DirectionKeys {
    /// Keys for `dir` from the exported session key and the negotiated flags.
    pub fn new(exported_session_key: &[u8; 16], negotiate_flags: u32, dir: Direction) -> Self {
        DirectionKeys {
            sign_key: sign_key(exported_session_key, dir),
            handle: rc4_new(&seal_key(exported_session_key, negotiate_flags, dir)),
            seq: 0,
            key_exch: negotiate_flags & flags::NEGOTIATE_KEY_EXCH != 0,
        }
    }

    /// The sequence number the next message will use.
    pub fn seq(&self) -> u32 {
        self.seq
    }

    /// `HMAC_MD5(SigningKey, SeqNum || Message)`, the first half of `MAC()`
    /// with extended session security, [MS-NLMP] 3.4.4.2.
    fn digest(&self, message: &[u8]) -> [u8; 16] {
        hmac_md5(&self.sign_key, &[&self.seq.to_le_bytes(), message])
    }

    /// The second half of `MAC()`: version 1, the digest's first 8 bytes
    /// RC4-encrypted with the handle under KEY_EXCH, then SeqNum; advances
    /// SeqNum.
    fn signature(&mut self, digest: &[u8; 16]) -> [u8; SIGNATURE_LEN] {
        let mut checksum = [0u8; 8];
        checksum.copy_from_slice(&digest[..8]);
        if self.key_exch {
            self.handle.apply_keystream(&mut checksum);
        }
        let mut sig = [0u8; SIGNATURE_LEN];
        sig[..4].copy_from_slice(&1u32.to_le_bytes());
        sig[4..12].copy_from_slice(&checksum);
        sig[12..].copy_from_slice(&self.seq.to_le_bytes());
        self.seq = self.seq.wrapping_add(1);
        sig
    }

    /// `SIGN` / `SEAL`, [MS-NLMP] 3.4.3: the signature is computed over the
    /// whole plaintext `message`; when sealing, `message[seal]` is encrypted
    /// with the handle first and the checksum after it.
    pub fn protect(
        &mut self,
        message: &mut [u8],
        seal: Option<Range<usize>>,
    ) -> Result<[u8; SIGNATURE_LEN], AuthError> {
        check_range(message.len(), &seal)?;
        let digest = self.digest(message);
        if let Some(r) = seal {
            // INVARIANT: check_range validated r against message.
            self.handle.apply_keystream(&mut message[r]);
        }
        Ok(self.signature(&digest))
    }

    /// The receiving side of [`DirectionKeys::protect`]: decrypts
    /// `message[seal]`, then recomputes the signature (with the expected
    /// sequence number) and compares it in constant time.
    pub fn unprotect(
        &mut self,
        message: &mut [u8],
        seal: Option<Range<usize>>,
        signature: &[u8],
    ) -> Result<(), AuthError> {
        check_range(message.len(), &seal)?;
        if let Some(r) = seal {
            // INVARIANT: check_range validated r against message.
            self.handle.apply_keystream(&mut message[r]);
        }
        let digest = self.digest(message);
        let expected = self.signature(&digest);
        if ct_eq(&expected, signature) {
            Ok(())
        } else {
            Err(AuthError::BadSignature)
        }
    }
}

/// Both directions of an established session, from one side's point of view:
/// what it sends and what it receives. Client and server hold one each.
#[derive(Debug)]
pub struct Session {
    send: DirectionKeys,
    recv: DirectionKeys,
}

impl Session {
    /// Keys for the side that sends in direction `sends`.
    pub fn new(exported_session_key: &[u8; 16], negotiate_flags: u32, sends: Direction) -> Self {
        Session {
            send: DirectionKeys::new(exported_session_key, negotiate_flags, sends),
            recv: DirectionKeys::new(exported_session_key, negotiate_flags, sends.reverse()),
        }
    }

    /// Next (send, receive) sequence numbers.
    pub fn sequence_numbers(&self) -> (u32, u32) {
        (self.send.seq(), self.recv.seq())
    }

    /// Protects an outgoing message, see [`DirectionKeys::protect`].
    pub fn protect(
        &mut self,
        message: &mut [u8],
        seal: Option<Range<usize>>,
    ) -> Result<Vec<u8>, AuthError> {
        Ok(self.send.protect(message, seal)?.to_vec())
    }

    /// Checks an incoming message, see [`DirectionKeys::unprotect`].
    pub fn unprotect(
        &mut self,
        message: &mut [u8],
        seal: Option<Range<usize>>,
        signature: &[u8],
    ) -> Result<(), AuthError> {
        self.recv.unprotect(message, seal, signature)
    }
}

/// Current time as a FILETIME (100 ns ticks since 1601-01-01).
pub fn filetime_now() -> u64 {
    const EPOCH_DIFF: u64 = 116_444_736_000_000_000;
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    EPOCH_DIFF
        .saturating_add(d.as_secs().saturating_mul(10_000_000))
        .saturating_add(u64::from(d.subsec_nanos() / 100))
}

/// Fresh random bytes for challenges and session keys.
pub fn random<const N: usize>() -> Result<[u8; N], AuthError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|_| AuthError::State("no randomness available"))?;
    Ok(b)
}
