//! The text form of NATS public keys (server ids start with `N`, xkeys with
//! `X`): base32 without padding of prefix byte + 32 key bytes + CRC-16.
//! Only encoding lives here; signature checks arrive with nkey auth.

/// Prefix byte of a server public key (`N...`).
pub const PREFIX_SERVER: u8 = 13 << 3;
/// Prefix byte of a curve (x25519) public key (`X...`).
pub const PREFIX_CURVE: u8 = 23 << 3;

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
    fn crc_known_value() {
        assert_eq!(crc16(b"123456789"), 0x31C3);
    }
}
