//! A fixed, portable pseudo-random generator (splitmix64) so that generated data is the
//! same on every machine and every Rust version.

/// splitmix64 (Steele, Lea, Flood 2014): 64-bit state, one addition and a mix per output.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// A generator derived from a seed and a label (so that streams do not overlap).
    pub fn derive(seed: u64, label: &str) -> Self {
        let mut h = seed ^ 0x9E37_79B9_7F4A_7C15;
        for b in label.bytes() {
            h = mix(h ^ u64::from(b));
        }
        SplitMix64::new(h)
    }

    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.state)
    }

    /// A number in `0..n` (`n == 0` gives 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo).saturating_add(1))
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One item of a non-empty slice (the first for an empty one is impossible: returns
    /// `None`).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        let n = items.len() as u64;
        items.get(self.below(n) as usize)
    }

    /// `len` upper-case alphanumeric characters.
    pub fn alnum(&mut self, len: usize) -> String {
        const SET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";
        (0..len)
            .map(|_| char::from(SET[self.below(SET.len() as u64) as usize]))
            .collect()
    }

    /// `len` upper-case hex digits.
    pub fn hex(&mut self, len: usize) -> String {
        const SET: &[u8] = b"0123456789ABCDEF";
        (0..len)
            .map(|_| char::from(SET[self.below(16) as usize]))
            .collect()
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
