//! Kerberos encryption and checksums for the AES enctypes, [RFC 3961] (the
//! simplified profile) and [RFC 3962] (AES-CTS-HMAC-SHA1-96): n-fold, key
//! derivation, string-to-key, CBC with ciphertext stealing, keyed checksums.
//!
//! RC4-HMAC (etype 23, [RFC 4757]) is deliberately absent: it is refused
//! before any key is made (see [`super::Etype`]).

use aes::cipher::{Array, BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::{Etype, KrbError};

/// AES block size.
const BLOCK: usize = 16;
/// Length of the truncated HMAC-SHA1 in ciphertexts and checksums.
pub const HMAC_LEN: usize = 12;
/// Confounder length (one cipher block).
pub const CONFOUNDER_LEN: usize = 16;
/// Default PBKDF2 iteration count, [RFC 3962] 4.
pub const DEFAULT_ITERATIONS: u32 = 4096;

/// A Kerberos key: its enctype and its bytes.
///
/// INVARIANT: `Debug` prints the enctype only, never the key bytes; the key
/// is wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    etype: Etype,
    bytes: Vec<u8>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({}, <redacted>)", self.etype.name())
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        self.bytes.iter_mut().for_each(|b| *b = 0);
    }
}

impl Key {
    /// A key of `etype` from its bytes; the length must match the enctype.
    pub fn new(etype: Etype, bytes: &[u8]) -> Result<Key, KrbError> {
        let len = etype.key_len().ok_or(KrbError::UnsupportedEtype(etype.to_i32()))?;
        if bytes.len() != len {
            return Err(KrbError::Malformed("key length does not match its enctype"));
        }
        Ok(Key {
            etype,
            bytes: bytes.to_vec(),
        })
    }

    /// The enctype.
    pub fn etype(&self) -> Etype {
        self.etype
    }

    /// The raw key bytes (for encoding a ccache or an EncryptionKey).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// [RFC 3962] 4: `random-to-key(PBKDF2-HMAC-SHA1(password, salt,
    /// iterations, keylen))` then `DK(tkey, "kerberos")`.
    pub fn from_password(
        etype: Etype,
        password: &str,
        salt: &[u8],
        iterations: u32,
    ) -> Result<Key, KrbError> {
        let len = etype.key_len().ok_or(KrbError::UnsupportedEtype(etype.to_i32()))?;
        if iterations == 0 || iterations > 10_000_000 {
            return Err(KrbError::Malformed("string-to-key iteration count out of range"));
        }
        let mut tkey = vec![0u8; len];
        pbkdf2::pbkdf2_hmac::<Sha1>(password.as_bytes(), salt, iterations, &mut tkey);
        let base = Key { etype, bytes: tkey };
        let bytes = base.dk(&nfold(b"kerberos", BLOCK))?;
        Ok(Key { etype, bytes })
    }

    /// A fresh random key of `etype` (a subkey).
    pub fn random(etype: Etype) -> Result<Key, KrbError> {
        let len = etype.key_len().ok_or(KrbError::UnsupportedEtype(etype.to_i32()))?;
        let mut bytes = vec![0u8; len];
        getrandom::fill(&mut bytes).map_err(|_| KrbError::Random)?;
        Ok(Key { etype, bytes })
    }

    /// DR then random-to-key (the identity for AES), [RFC 3961] 5.1:
    /// `DK(key, constant)`.
    fn dk(&self, constant: &[u8]) -> Result<Vec<u8>, KrbError> {
        let len = self.bytes.len();
        let mut block = if constant.len() == BLOCK {
            constant.to_vec()
        } else {
            nfold(constant, BLOCK)
        };
        let mut out = Vec::with_capacity(len + BLOCK);
        while out.len() < len {
            block = ecb_encrypt(&self.bytes, &block)?;
            out.extend_from_slice(&block);
        }
        out.truncate(len);
        Ok(out)
    }

    fn usage_key(&self, usage: u32, kind: u8) -> Result<Vec<u8>, KrbError> {
        let mut c = usage.to_be_bytes().to_vec();
        c.push(kind);
        self.dk(&c)
    }

    /// Encrypts `plain` for key usage `usage`, [RFC 3961] 5.3: a random
    /// confounder, AES-CTS under Ke, then HMAC-SHA1-96 under Ki of the
    /// plaintext.
    pub fn encrypt(&self, usage: u32, plain: &[u8]) -> Result<Vec<u8>, KrbError> {
        let mut conf = [0u8; CONFOUNDER_LEN];
        getrandom::fill(&mut conf).map_err(|_| KrbError::Random)?;
        self.encrypt_with_confounder(usage, &conf, plain)
    }

    /// [`Key::encrypt`] with a given confounder (tests, and GSS wrap which
    /// draws its own).
    pub fn encrypt_with_confounder(
        &self,
        usage: u32,
        conf: &[u8; CONFOUNDER_LEN],
        plain: &[u8],
    ) -> Result<Vec<u8>, KrbError> {
        let ke = self.usage_key(usage, 0xAA)?;
        let ki = self.usage_key(usage, 0x55)?;
        let mut data = Vec::with_capacity(CONFOUNDER_LEN + plain.len() + HMAC_LEN);
        data.extend_from_slice(conf);
        data.extend_from_slice(plain);
        let mac = hmac_sha1_96(&ki, &[&data]);
        cts_encrypt(&ke, &mut data)?;
        data.extend_from_slice(&mac);
        Ok(data)
    }

    /// Decrypts and verifies a ciphertext of [`Key::encrypt`]; a wrong key or
    /// a tampered ciphertext is [`KrbError::Integrity`].
    pub fn decrypt(&self, usage: u32, cipher: &[u8]) -> Result<Vec<u8>, KrbError> {
        if cipher.len() < CONFOUNDER_LEN + HMAC_LEN {
            return Err(KrbError::Malformed("ciphertext too short"));
        }
        let (body, mac) = cipher.split_at(cipher.len() - HMAC_LEN);
        let ke = self.usage_key(usage, 0xAA)?;
        let ki = self.usage_key(usage, 0x55)?;
        let mut data = body.to_vec();
        cts_decrypt(&ke, &mut data)?;
        let expected = hmac_sha1_96(&ki, &[&data]);
        if !ct_eq(&expected, mac) {
            return Err(KrbError::Integrity);
        }
        Ok(data.split_off(CONFOUNDER_LEN))
    }

    /// The derived keys of one usage for GSS wrap: (Ke, Ki).
    pub(crate) fn seal_keys(&self, usage: u32) -> Result<(Vec<u8>, Vec<u8>), KrbError> {
        Ok((self.usage_key(usage, 0xAA)?, self.usage_key(usage, 0x55)?))
    }

    /// Keyed checksum hmac-sha1-96-aes128/256 over the concatenation of
    /// `parts`, [RFC 3962] 6 (Kc = DK(key, usage | 0x99)).
    pub fn checksum(&self, usage: u32, parts: &[&[u8]]) -> Result<[u8; HMAC_LEN], KrbError> {
        let kc = self.usage_key(usage, 0x99)?;
        Ok(hmac_sha1_96(&kc, parts))
    }

    /// The checksum type of this key's enctype ([RFC 3962] 7: 15 for AES128,
    /// 16 for AES256).
    pub fn checksum_type(&self) -> i32 {
        match self.etype {
            Etype::Aes128CtsHmacSha196 => 15,
            _ => 16,
        }
    }
}

/// HMAC-SHA1 truncated to 96 bits over the concatenation of `parts`.
pub(crate) fn hmac_sha1_96(key: &[u8], parts: &[&[u8]]) -> [u8; HMAC_LEN] {
    // INVARIANT: HMAC accepts keys of any length.
    let mut mac = <Hmac<Sha1> as hmac::KeyInit>::new_from_slice(key).expect("hmac takes any key length");
    for p in parts {
        mac.update(p);
    }
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; HMAC_LEN];
    out.copy_from_slice(&full[..HMAC_LEN]);
    out
}

/// Constant-time comparison.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

enum Aes {
    A128(aes::Aes128),
    A256(aes::Aes256),
}

impl Aes {
    fn new(key: &[u8]) -> Result<Aes, KrbError> {
        match key.len() {
            16 => Ok(Aes::A128(aes::Aes128::new(&Array::try_from(key).map_err(|_| KrbError::Malformed("aes key length"))?))),
            32 => Ok(Aes::A256(aes::Aes256::new(&Array::try_from(key).map_err(|_| KrbError::Malformed("aes key length"))?))),
            _ => Err(KrbError::Malformed("aes key length")),
        }
    }

    fn enc(&self, b: &mut [u8; BLOCK]) {
        let mut blk = Array::from(*b);
        match self {
            Aes::A128(c) => c.encrypt_block(&mut blk),
            Aes::A256(c) => c.encrypt_block(&mut blk),
        }
        b.copy_from_slice(&blk);
    }

    fn dec(&self, b: &mut [u8; BLOCK]) {
        let mut blk = Array::from(*b);
        match self {
            Aes::A128(c) => c.decrypt_block(&mut blk),
            Aes::A256(c) => c.decrypt_block(&mut blk),
        }
        b.copy_from_slice(&blk);
    }
}

fn ecb_encrypt(key: &[u8], block: &[u8]) -> Result<Vec<u8>, KrbError> {
    let aes = Aes::new(key)?;
    let mut b = [0u8; BLOCK];
    b.copy_from_slice(block);
    aes.enc(&mut b);
    Ok(b.to_vec())
}

fn xor(a: &mut [u8; BLOCK], b: &[u8]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x ^= y;
    }
}

/// AES-CBC with ciphertext stealing (CS3, the last two blocks swapped) and a
/// zero IV, in place, [RFC 3962] 5. A single block is plain AES.
pub fn cts_encrypt(key: &[u8], data: &mut [u8]) -> Result<(), KrbError> {
    let n = data.len();
    if n < BLOCK {
        return Err(KrbError::Malformed("cts input shorter than a block"));
    }
    let aes = Aes::new(key)?;
    let mut prev = [0u8; BLOCK];
    if n == BLOCK {
        let mut b = [0u8; BLOCK];
        b.copy_from_slice(data);
        aes.enc(&mut b);
        data.copy_from_slice(&b);
        return Ok(());
    }
    let nblocks = n.div_ceil(BLOCK);
    let tail = n - (nblocks - 1) * BLOCK; // 1..=16 bytes in the last block
    // Plain CBC over every block before the last two.
    for i in 0..nblocks - 2 {
        let mut b = [0u8; BLOCK];
        b.copy_from_slice(&data[i * BLOCK..(i + 1) * BLOCK]);
        xor(&mut b, &prev);
        aes.enc(&mut b);
        data[i * BLOCK..(i + 1) * BLOCK].copy_from_slice(&b);
        prev = b;
    }
    let p = (nblocks - 2) * BLOCK;
    let mut c1 = [0u8; BLOCK];
    c1.copy_from_slice(&data[p..p + BLOCK]);
    xor(&mut c1, &prev);
    aes.enc(&mut c1); // E(P_{n-1} ^ C_{n-2})
    let mut last = [0u8; BLOCK];
    last[..tail].copy_from_slice(&data[p + BLOCK..]);
    xor(&mut last, &c1); // zero-padded P_n ^ c1
    aes.enc(&mut last);
    data[p..p + BLOCK].copy_from_slice(&last);
    data[p + BLOCK..].copy_from_slice(&c1[..tail]);
    Ok(())
}

/// The inverse of [`cts_encrypt`].
pub fn cts_decrypt(key: &[u8], data: &mut [u8]) -> Result<(), KrbError> {
    let n = data.len();
    if n < BLOCK {
        return Err(KrbError::Malformed("cts input shorter than a block"));
    }
    let aes = Aes::new(key)?;
    if n == BLOCK {
        let mut b = [0u8; BLOCK];
        b.copy_from_slice(data);
        aes.dec(&mut b);
        data.copy_from_slice(&b);
        return Ok(());
    }
    let nblocks = n.div_ceil(BLOCK);
    let tail = n - (nblocks - 1) * BLOCK;
    let mut prev = [0u8; BLOCK];
    for i in 0..nblocks - 2 {
        let mut c = [0u8; BLOCK];
        c.copy_from_slice(&data[i * BLOCK..(i + 1) * BLOCK]);
        let mut b = c;
        aes.dec(&mut b);
        xor(&mut b, &prev);
        data[i * BLOCK..(i + 1) * BLOCK].copy_from_slice(&b);
        prev = c;
    }
    let p = (nblocks - 2) * BLOCK;
    // data[p..p+16] = E(Pn ^ c1) ; data[p+16..] = c1[..tail]
    let mut d = [0u8; BLOCK];
    d.copy_from_slice(&data[p..p + BLOCK]);
    aes.dec(&mut d); // = Pn(padded) ^ c1
    let mut c1 = [0u8; BLOCK];
    c1[..tail].copy_from_slice(&data[p + BLOCK..]);
    c1[tail..].copy_from_slice(&d[tail..]); // the stolen bytes: Pn pad is zero
    let mut pn = d;
    xor(&mut pn, &c1);
    let mut pn1 = c1;
    aes.dec(&mut pn1);
    xor(&mut pn1, &prev);
    data[p..p + BLOCK].copy_from_slice(&pn1);
    data[p + BLOCK..].copy_from_slice(&pn[..tail]);
    Ok(())
}

/// n-fold, [RFC 3961] 5.1: folds `input` to `out_len` bytes.
pub fn nfold(input: &[u8], out_len: usize) -> Vec<u8> {
    let inbits = input.len();
    let outbits = out_len;
    if inbits == 0 || outbits == 0 {
        return vec![0; out_len];
    }
    let (mut a, mut b) = (outbits, inbits);
    while b != 0 {
        let c = b;
        b = a % b;
        a = c;
    }
    let lcm = outbits * inbits / a;
    let mut out = vec![0u8; outbits];
    let mut byte: usize = 0;
    for i in (0..lcm).rev() {
        let msbit = (((inbits << 3) - 1)
            + (((inbits << 3) + 13) * (i / inbits))
            + ((inbits - (i % inbits)) << 3))
            % (inbits << 3);
        let hi = usize::from(input[((inbits - 1) - (msbit >> 3)) % inbits]);
        let lo = usize::from(input[(inbits - (msbit >> 3)) % inbits]);
        byte += (((hi << 8) | lo) >> ((msbit & 7) + 1)) & 0xff;
        byte += usize::from(out[i % outbits]);
        out[i % outbits] = (byte & 0xff) as u8;
        byte >>= 8;
    }
    if byte != 0 {
        for i in (0..outbits).rev() {
            byte += usize::from(out[i]);
            out[i] = (byte & 0xff) as u8;
            byte >>= 8;
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    #[test]
    fn nfold_rfc3961_vectors() {
        assert_eq!(nfold(b"012345", 8), h("be072631276b1955"));
        assert_eq!(nfold(b"password", 7), h("78a07b6caf85fa"));
        assert_eq!(nfold(b"Rough Consensus, and Running Code", 8), h("bb6ed30870b7f0e0"));
        assert_eq!(
            nfold(b"password", 21),
            h("59e4a8ca7c0385c3c37b3f6d2000247cb6e6bd5b3e")
        );
        assert_eq!(nfold(b"kerberos", 8), h("6b65726265726f73"));
        assert_eq!(nfold(b"kerberos", 16), h("6b65726265726f737b9b5b2b93132b93"));
    }

    #[test]
    fn string_to_key_rfc3962_vectors() {
        let salt = b"ATHENA.MIT.EDUraeburn";
        let k = Key::from_password(Etype::Aes128CtsHmacSha196, "password", salt, 1).unwrap();
        assert_eq!(k.bytes(), h("42263c6e89f4fc28b8df68ee09799f15"));
        let k = Key::from_password(Etype::Aes256CtsHmacSha196, "password", salt, 1).unwrap();
        assert_eq!(
            k.bytes(),
            h("fe697b52bc0d3ce14432ba036a92e65bbb52280990a2fa27883998d72af30161")
        );
        let k = Key::from_password(Etype::Aes128CtsHmacSha196, "password", salt, 2).unwrap();
        assert_eq!(k.bytes(), h("c651bf29e2300ac27fa469d693bdda13"));
        let k = Key::from_password(Etype::Aes128CtsHmacSha196, "password", salt, 1200).unwrap();
        assert_eq!(k.bytes(), h("4c01cd46d632d01e6dbe230a01ed642a"));
    }

    #[test]
    fn cts_rfc3962_vector() {
        let key = h("636869636b656e207465726979616b69");
        let mut data = b"I would like the ".to_vec();
        cts_encrypt(&key, &mut data).unwrap();
        assert_eq!(data, h("c6353568f2bf8cb4d8a580362da7ff7f97"));
        cts_decrypt(&key, &mut data).unwrap();
        assert_eq!(data, b"I would like the ");
    }

    #[test]
    fn cts_round_trips_every_length() {
        let key = [7u8; 32];
        for n in 16..80 {
            let plain: Vec<u8> = (0..n).map(|i| i as u8).collect();
            let mut d = plain.clone();
            cts_encrypt(&key, &mut d).unwrap();
            assert_ne!(d, plain);
            cts_decrypt(&key, &mut d).unwrap();
            assert_eq!(d, plain, "length {n}");
        }
    }

    #[test]
    fn encrypt_decrypt_and_tamper() {
        let k = Key::random(Etype::Aes256CtsHmacSha196).unwrap();
        let c = k.encrypt(11, b"hello kerberos").unwrap();
        assert_eq!(k.decrypt(11, &c).unwrap(), b"hello kerberos");
        assert_eq!(k.decrypt(12, &c), Err(KrbError::Integrity));
        let mut t = c.clone();
        t[20] ^= 1;
        assert_eq!(k.decrypt(11, &t), Err(KrbError::Integrity));
        let other = Key::random(Etype::Aes256CtsHmacSha196).unwrap();
        assert_eq!(other.decrypt(11, &c), Err(KrbError::Integrity));
        assert!(k.decrypt(11, &c[..20]).is_err());
    }

    #[test]
    fn key_debug_is_redacted() {
        let k = Key::new(Etype::Aes128CtsHmacSha196, &[0xab; 16]).unwrap();
        let s = format!("{k:?}");
        assert!(!s.to_lowercase().contains("ab, "), "{s}");
        assert!(!s.contains("171"), "{s}");
        assert!(s.contains("redacted"));
    }
}
