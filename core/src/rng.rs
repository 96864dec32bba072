//! A small seeded PRNG. The core draws no randomness of its own: every
//! generator starts from a seed the caller handed in, so a failing simulation
//! can be replayed. [`Rng`] (xoshiro) is fast and not for secrets;
//! [`CsRng`] (ChaCha20) is for what must stay unpredictable (nonces).

/// xoshiro256** seeded through splitmix64.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator whose whole sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Rng {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng {
            s: [next(), next(), next(), next()],
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// A number in `0..n` (`n > 0`), by multiply-shift (bias is negligible
    /// for the small `n` of queue groups).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// A ChaCha20 keystream used as a cryptographically secure generator, for
/// what must not be predictable from the outside: nkey nonces, and the
/// server's own identity and per-connection seeds (so that the public
/// server id reveals nothing about the key).
///
/// The 256-bit key is expanded from the caller's 64-bit seed with ChaCha20
/// itself (block 0 of a fixed stream keyed by the seed), so it is a one-way
/// function of the seed; the strength is therefore that of the seed's 64
/// bits of entropy, which the host draws from the operating system.
#[derive(Clone)]
pub struct CsRng {
    key: [u32; 8],
    counter: u64,
    block: [u8; 64],
    used: usize,
}

impl std::fmt::Debug for CsRng {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsRng { .. }")
    }
}

/// "expand 32-byte k".
const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

#[inline]
fn quarter(s: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(16);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(12);
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(8);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(7);
}

/// The ChaCha20 block function (RFC 8439 §2.3): key, 32-bit counter and
/// 96-bit nonce in, 64 bytes of keystream out.
pub fn chacha20_block(key: &[u32; 8], counter: u32, nonce: [u32; 3]) -> [u8; 64] {
    let mut init = [0u32; 16];
    init[..4].copy_from_slice(&SIGMA);
    init[4..12].copy_from_slice(key);
    init[12] = counter;
    init[13..].copy_from_slice(&nonce);
    let mut s = init;
    for _ in 0..10 {
        quarter(&mut s, 0, 4, 8, 12);
        quarter(&mut s, 1, 5, 9, 13);
        quarter(&mut s, 2, 6, 10, 14);
        quarter(&mut s, 3, 7, 11, 15);
        quarter(&mut s, 0, 5, 10, 15);
        quarter(&mut s, 1, 6, 11, 12);
        quarter(&mut s, 2, 7, 8, 13);
        quarter(&mut s, 3, 4, 9, 14);
    }
    let mut out = [0u8; 64];
    for (i, w) in s.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&w.wrapping_add(init[i]).to_le_bytes());
    }
    out
}

impl CsRng {
    /// A generator whose whole sequence is fixed by `seed`.
    pub fn new(seed: u64) -> CsRng {
        let mut k = [0u32; 8];
        k[0] = seed as u32;
        k[1] = (seed >> 32) as u32;
        // Domain separation: "natsd-csprng".
        let block = chacha20_block(&k, 0, [0x7374_616e, 0x7363_2d64, 0x676e_7270]);
        let mut key = [0u32; 8];
        for (i, w) in key.iter_mut().enumerate() {
            *w = u32::from_le_bytes(block[i * 4..i * 4 + 4].try_into().expect("4 bytes"));
        }
        CsRng {
            key,
            counter: 0,
            block: [0; 64],
            used: 64,
        }
    }

    fn refill(&mut self) {
        // A 64-bit block counter split over ChaCha's counter word and the
        // first nonce word: the stream never repeats in practice.
        self.block = chacha20_block(
            &self.key,
            self.counter as u32,
            [(self.counter >> 32) as u32, 0, 0],
        );
        self.counter += 1;
        self.used = 0;
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        let mut at = 0;
        while at < buf.len() {
            if self.used == 64 {
                self.refill();
            }
            let n = (buf.len() - at).min(64 - self.used);
            buf[at..at + n].copy_from_slice(&self.block[self.used..self.used + n]);
            self.used += n;
            at += n;
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill(&mut b);
        u64::from_le_bytes(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8439 §2.3.2 test vector.
    #[test]
    fn chacha20_block_rfc8439() {
        let mut key = [0u32; 8];
        for (i, w) in key.iter_mut().enumerate() {
            let b = (i * 4) as u8;
            *w = u32::from_le_bytes([b, b + 1, b + 2, b + 3]);
        }
        let out = chacha20_block(&key, 1, [0x0900_0000, 0x4a00_0000, 0]);
        let want = "10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e\
                    d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e";
        let hex: String = out.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, want);
    }

    #[test]
    fn csrng_is_deterministic_and_seed_dependent() {
        let (mut a, mut b, mut c) = (CsRng::new(1), CsRng::new(1), CsRng::new(2));
        let (mut x, mut y, mut z) = ([0u8; 100], [0u8; 100], [0u8; 100]);
        a.fill(&mut x[..7]);
        a.fill(&mut x[7..]);
        b.fill(&mut y);
        c.fill(&mut z);
        assert_eq!(x, y);
        assert_ne!(x, z);
        assert_ne!(a.next_u64(), c.next_u64());
    }
}
