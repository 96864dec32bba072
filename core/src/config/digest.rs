//! The configuration digest nats-server prints as `sha256:<hex>` (in `-t`
//! output, in `Using configuration file: f (sha256:…)`, after a reload and
//! in varz `config_digest`).
//!
//! It is the SHA-256 of the parsed top-level map encoded as Go's
//! `encoding/json` encodes a `map[string]interface{}`: keys sorted
//! byte-wise, no spaces, HTML-escaped strings (`<` → `\u003c`), floats in
//! Go's shortest form (`1e-7`, `1.5e+21`), datetimes as their RFC 3339
//! text, and a trailing newline. Keys used only as variables are included,
//! as in nats-server 2.14.

use std::fmt::Write as _;

use super::value::{Map, Value, ValueKind};

/// `sha256:<64 hex digits>` of `map` (see the module docs).
pub fn digest(map: &Map) -> String {
    let mut json = String::new();
    write_map(&mut json, map);
    json.push('\n');
    let mut out = String::from("sha256:");
    for b in sha256(json.as_bytes()) {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// `map` as Go's `json.Marshal` of the parsed `map[string]interface{}`
/// (without the trailing newline the digest adds).
pub fn go_json(map: &Map) -> String {
    let mut out = String::new();
    write_map(&mut out, map);
    out
}

fn write_map(out: &mut String, map: &Map) {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_by(|a, b| a.key.as_bytes().cmp(b.key.as_bytes()));
    out.push('{');
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, &e.key);
        out.push(':');
        write_value(out, &e.value);
    }
    out.push('}');
}

fn write_value(out: &mut String, v: &Value) {
    match &v.kind {
        ValueKind::String(s) | ValueKind::Datetime(s) => write_string(out, s),
        ValueKind::Integer(n) => {
            let _ = write!(out, "{n}");
        }
        ValueKind::Float(x) => write_float(out, *x),
        ValueKind::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        ValueKind::Map(m) => write_map(out, m),
        ValueKind::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, x);
            }
            out.push(']');
        }
    }
}

/// Go's float encoding: shortest decimal, exponent form below 1e-6 and from
/// 1e21 on, with a signed exponent of at least one digit (`1e-7`, `1e+21`).
fn write_float(out: &mut String, x: f64) {
    if !x.is_finite() {
        // Go refuses to encode these; the grammar never produces them.
        out.push_str("null");
        return;
    }
    let abs = x.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let e = format!("{x:e}");
        match e.split_once('e') {
            Some((m, exp)) if !exp.starts_with('-') => {
                let _ = write!(out, "{m}e+{exp}");
            }
            _ => out.push_str(&e),
        }
    } else {
        let _ = write!(out, "{x}");
    }
}

/// A JSON string as Go writes it with HTML escaping on.
fn write_string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 || matches!(c, '<' | '>' | '&') => {
                let b = c as u32 as usize;
                out.push_str("\\u00");
                out.push(HEX[b >> 4] as char);
                out.push(HEX[b & 0xf] as char);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// SHA-256 (FIPS 180-4).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (i, x) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse, MapLoader};

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn sha256_vectors() {
        assert_eq!(
            hex(&sha256(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&sha256(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        assert_eq!(
            hex(&sha256(&[b'a'; 1000])),
            "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"
        );
    }

    fn d(text: &str) -> String {
        digest(&parse(text, "t.conf", &mut MapLoader::new(), &|_| None).unwrap())
    }

    /// Digests printed by nats-server 2.14.0 `-t` for the same files.
    #[test]
    fn matches_nats_server() {
        assert_eq!(
            d("port: 4222\n"),
            "sha256:797533ebd0dfba7d34a0f9337ecf147e442871f48ddfd07ed751575a5737267e"
        );
        assert_eq!(
            d("max_payload: 4096\n"),
            "sha256:5e971b5940aafd6defef96f8cacbd80b5cdd41ab87463769669a512c85c0f654"
        );
        assert_eq!(
            d("mp = 4096\nmax_payload: $mp\n"),
            "sha256:2e5da63f00b36e5527abe6aecc839acd41645913971ea0eafe12ac7314c9da5d"
        );
        let text = "client_advertise: \"a<b>&c\\x01\\x08\\x0c\\t\\x7f é \u{2028} \\\\ \\\" /\"\n\
                    authorization { timeout: 0.0000001 }\nserver_tags: [b, a]\n\
                    server_metadata { z: \"1\", a: \"2\" }\nPort: 4222\n";
        assert_eq!(
            d(text),
            "sha256:2e05335463ab9ddd1c016bc993786750ff6260d5c69ee360923579e754fe13c4"
        );
    }

    #[test]
    fn go_json_forms() {
        let m = parse("b: 1.5\na: [1, \"x\", {z: true}]\nc: 2006-01-02T15:04:05Z\nf: 123456789012345678901234.5\n", "t", &mut MapLoader::new(), &|_| None).unwrap();
        assert_eq!(
            go_json(&m),
            r#"{"a":[1,"x",{"z":true}],"b":1.5,"c":"2006-01-02T15:04:05Z","f":1.2345678901234569e+23}"#
        );
    }
}
