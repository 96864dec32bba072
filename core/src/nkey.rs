//! The text form of NATS public keys (server ids start with `N`, xkeys with
//! `X`, users with `U`): base32 without padding of prefix byte + 32 key
//! bytes + CRC-16; the decoding and the Ed25519 signature check that nkey
//! authentication needs.

/// Prefix byte of a server public key (`N...`).
pub const PREFIX_SERVER: u8 = 13 << 3;
/// Prefix byte of a curve (x25519) public key (`X...`).
pub const PREFIX_CURVE: u8 = 23 << 3;
/// Prefix byte of a user public key (`U...`).
pub const PREFIX_USER: u8 = 20 << 3;
/// First prefix byte of a seed (`S...`).
const PREFIX_SEED: u8 = 18 << 3;

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Encodes a 32-byte public key with its type prefix: 56 characters.
pub fn encode_public(prefix: u8, key: &[u8; 32]) -> String {
    let mut raw = Vec::with_capacity(35);
    raw.push(prefix);
    raw.extend_from_slice(key);
    let crc = crc16(&raw);
    raw.extend_from_slice(&crc.to_le_bytes());
    base32(&raw)
}

/// Decodes a public key of type `prefix`: 56 characters of base32, a valid
/// CRC-16 and the right prefix byte, as nats-server's `nkeys` checks them.
pub fn decode_public(prefix: u8, text: &str) -> Option<[u8; 32]> {
    let raw = unbase32(text.as_bytes())?;
    if raw.len() != 35 || raw[0] != prefix {
        return None;
    }
    let crc = u16::from_le_bytes([raw[33], raw[34]]);
    if crc16(&raw[..33]) != crc {
        return None;
    }
    raw[1..33].try_into().ok()
}

/// True if `text` is a well-formed user public key (`U...`).
pub fn is_valid_public_user_key(text: &str) -> bool {
    decode_public(PREFIX_USER, text).is_some()
}

/// Verifies an Ed25519 `signature` of `message` by the user key `nkey`
/// (its text form). False for a malformed key or signature.
pub fn verify(nkey: &str, message: &[u8], signature: &[u8]) -> bool {
    let Some(key) = decode_public(PREFIX_USER, nkey) else {
        return false;
    };
    let Ok(sig) = ed25519_compact::Signature::from_slice(signature) else {
        return false;
    };
    ed25519_compact::PublicKey::new(key)
        .verify(message, &sig)
        .is_ok()
}

/// Encodes a 32-byte Ed25519 seed as an nkey seed of type `prefix`
/// (`SU...` for users): what clients keep in their credentials.
pub fn encode_seed(prefix: u8, seed: &[u8; 32]) -> String {
    let mut raw = Vec::with_capacity(36);
    raw.push(PREFIX_SEED | (prefix >> 5));
    raw.push((prefix & 31) << 3);
    raw.extend_from_slice(seed);
    let crc = crc16(&raw);
    raw.extend_from_slice(&crc.to_le_bytes());
    base32(&raw)
}

fn unbase32(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in text {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        acc = (acc << 5) | v as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn base32(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in data {
        acc = (acc << 8) | b as u32;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// CRC-16/XMODEM, the checksum nkeys append.
fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_key_shape() {
        let id = encode_public(PREFIX_SERVER, &[7u8; 32]);
        assert_eq!(id.len(), 56);
        assert!(id.starts_with('N'));
        assert!(encode_public(PREFIX_CURVE, &[0u8; 32]).starts_with('X'));
    }

    #[test]
    fn decode_round_trip_and_checks() {
        let key = [9u8; 32];
        let text = encode_public(PREFIX_USER, &key);
        assert!(text.starts_with('U'));
        assert_eq!(decode_public(PREFIX_USER, &text), Some(key));
        assert!(is_valid_public_user_key(&text));
        assert_eq!(decode_public(PREFIX_SERVER, &text), None, "wrong prefix");
        let mut bad = text.clone().into_bytes();
        bad[10] = if bad[10] == b'A' { b'B' } else { b'A' };
        assert!(
            !is_valid_public_user_key(std::str::from_utf8(&bad).unwrap()),
            "crc"
        );
        assert!(!is_valid_public_user_key(&text[..55]));
        assert!(!is_valid_public_user_key(&text.to_lowercase()));
        // The user key from nats-server's documentation.
        assert!(is_valid_public_user_key(
            "UCPRTI4RLHGEKAZIHMCQ5GGBT2MZRQRG7OLOMNQJRCBBOG36ZWCUZCNV"
        ));
        assert!(!is_valid_public_user_key(
            "UCPRTI4RLHGEKAZIHMCQ5GGBT2MZRQRG7OLOMNQJRCBBOG36ZWCUZCNW"
        ));
        assert!(encode_seed(PREFIX_USER, &key).starts_with("SU"));
    }

    #[test]
    fn signatures() {
        let kp = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([3; 32]));
        let nkey = encode_public(PREFIX_USER, &kp.pk);
        let sig = kp.sk.sign(b"nonce", None);
        assert!(verify(&nkey, b"nonce", sig.as_ref()));
        assert!(!verify(&nkey, b"nonce2", sig.as_ref()));
        assert!(!verify(&nkey, b"nonce", &sig.as_ref()[..63]));
        let other = encode_public(PREFIX_USER, &[4; 32]);
        assert!(!verify(&other, b"nonce", sig.as_ref()));
    }

    #[test]
    fn crc_known_value() {
        assert_eq!(crc16(b"123456789"), 0x31C3);
    }
}
