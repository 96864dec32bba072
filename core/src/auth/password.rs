//! Password and token comparison: plain text, or a bcrypt hash as
//! nats-server recognises one (`^\$2[abxy]\$\d{2}\$.*`) and Go's
//! `bcrypt.CompareHashAndPassword` checks it.

/// The bcrypt alphabet (`./A–Za–z0–9`), no padding.
const ALPHABET: &[u8; 64] = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// True if a configured password or token is a bcrypt hash.
pub fn is_bcrypt(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 7
        && b[0] == b'$'
        && b[1] == b'2'
        && matches!(b[2], b'a' | b'b' | b'x' | b'y')
        && b[3] == b'$'
        && b[4].is_ascii_digit()
        && b[5].is_ascii_digit()
        && b[6] == b'$'
}

/// nats-server's `comparePasswords`: bcrypt when the configured value is a
/// hash, else an exact (constant-time) comparison.
pub fn compare_passwords(configured: &str, given: &str) -> bool {
    if is_bcrypt(configured) {
        bcrypt_matches(configured, given.as_bytes())
    } else {
        constant_time_eq(configured.as_bytes(), given.as_bytes())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Go's `CompareHashAndPassword` for a hash that passed [`is_bcrypt`]:
/// `$2?$cc$` + 22 salt characters + the 31-character hash; the password
/// with a trailing NUL, of which blowfish uses the first 72 bytes; cost 4
/// to 31.
fn bcrypt_matches(hash: &str, password: &[u8]) -> bool {
    let b = hash.as_bytes();
    // `$2a$10$` (7) + salt (22) + hash (31): Go refuses shorter input.
    if b.len() < 59 {
        return false;
    }
    let cost = u32::from(b[4] - b'0') * 10 + u32::from(b[5] - b'0');
    if !(4..=31).contains(&cost) {
        return false;
    }
    let (salt_text, stored) = b[7..].split_at(22);
    let Some(salt) = decode_salt(salt_text) else {
        return false;
    };
    let mut key = Vec::with_capacity(password.len() + 1);
    key.extend_from_slice(password);
    key.push(0);
    key.truncate(72);
    let out = bcrypt::bcrypt(cost, salt, &key);
    let computed = encode(&out[..23]);
    let ok = constant_time_eq(computed.as_bytes(), stored);
    key.fill(0);
    ok
}

fn value(c: u8) -> Option<u32> {
    ALPHABET.iter().position(|&a| a == c).map(|p| p as u32)
}

/// 22 characters to 16 bytes (the last character's low bits are ignored,
/// as Go's decoder does).
fn decode_salt(text: &[u8]) -> Option<[u8; 16]> {
    let mut out = [0u8; 16];
    let (mut acc, mut bits, mut n) = (0u32, 0u32, 0usize);
    for &c in text {
        acc = (acc << 6) | value(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            if n < 16 {
                out[n] = (acc >> bits) as u8;
                n += 1;
            }
            acc &= (1 << bits) - 1;
        }
    }
    (n == 16).then_some(out)
}

fn encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len() * 4 / 3 + 1);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &d in data {
        acc = (acc << 8) | u32::from(d);
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            out.push(ALPHABET[((acc >> bits) & 63) as usize] as char);
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (6 - bits)) & 63) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcrypt_variants() {
        // Made with the bcrypt crate's hasher (cost 4) for "pw".
        for h in [
            "$2a$04$iPPurYVCxEpc2OvvPDqL5eM88Zz2wXyaE6sESzqzCOs/MnZYCuqK6",
            "$2b$04$UaWhvnipwndrrg/ZynB0tuqZOQZUjLVgXxuCWazal7dGd9UBxon2e",
            "$2y$04$efLyL7Ee0zKcpQUlKX10JOhN8p1w11xAOxTbysyHrAfL0UZFaC1TK",
            "$2x$04$KOzGI07lXuwcnKNZ63KfuOTg7YzA97JMzI8nJHOh5UH3bWyYtEpaa",
        ] {
            assert!(is_bcrypt(h));
            assert!(compare_passwords(h, "pw"), "{h}");
            assert!(!compare_passwords(h, "pw "), "{h}");
            assert!(!compare_passwords(h, ""), "{h}");
            assert!(!compare_passwords(&format!("{h}x"), "pw"), "trailing junk");
            assert!(!compare_passwords(&h[..58], "pw"), "too short");
        }
        // jBCrypt's test vector: "abc", cost 6.
        assert!(compare_passwords(
            "$2a$06$If6bvum7DFjUnE9p2uDeDu0YHzrHM6tf.iqN8.yx.jNN1ILEf7h0i",
            "abc"
        ));
        assert!(
            !compare_passwords(
                "$2a$03$If6bvum7DFjUnE9p2uDeDu0YHzrHM6tf.iqN8.yx.jNN1ILEf7h0i",
                "abc"
            ),
            "cost below 4"
        );
    }

    #[test]
    fn plain_and_prefix_rules() {
        assert!(compare_passwords("secret", "secret"));
        assert!(!compare_passwords("secret", "secreT"));
        assert!(!compare_passwords("secret", "secret2"));
        for not in ["$2a$4$x", "$2c$04$x", "$1a$04$x", "2a$04$x", "$2a$0a$x"] {
            assert!(!is_bcrypt(not), "{not}");
            assert!(compare_passwords(not, not), "compared as text: {not}");
        }
    }
}
