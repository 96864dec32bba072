//! The few Go standard-library text formats that nats-server's messages
//! and option values are made of: `time.ParseDuration`,
//! `time.Duration.String`, `%v` of a float64 and `strconv.Quote`-style
//! quoting. Written from their documented behaviour.

use std::time::Duration;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Go's `time.ParseDuration`: a possibly signed sequence of decimal numbers,
/// each with optional fraction and a unit suffix (`ns`, `us`, `µs`, `μs`,
/// `ms`, `s`, `m`, `h`), e.g. `"300ms"`, `"-1.5h"`, `"2h45m"`; `"0"` alone
/// needs no unit.
///
/// Returns nanoseconds (negative allowed), or Go's error text
/// (`time: invalid duration "xx"`, `time: unknown unit "x" in duration "1x"`,
/// `time: missing unit in duration "1"`).
pub fn parse_duration(orig: &str) -> Result<i128, String> {
    let invalid = || format!("time: invalid duration {}", quote(orig));
    let mut s = orig;
    let mut neg = false;
    if let Some(c) = s.chars().next() {
        if c == '-' || c == '+' {
            neg = c == '-';
            s = &s[1..];
        }
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    const LIMIT: u128 = 1 << 63;
    let mut total: u128 = 0;
    while !s.is_empty() {
        let first = s.as_bytes()[0];
        if !(first == b'.' || first.is_ascii_digit()) {
            return Err(invalid());
        }
        // The integer part.
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        let pre = digits > 0;
        let mut v: u128 = 0;
        for b in s[..digits].bytes() {
            v = v * 10 + u128::from(b - b'0');
            if v > LIMIT {
                return Err(invalid());
            }
        }
        s = &s[digits..];
        // The fraction: digits beyond what fits are consumed and ignored.
        // The scale is a float, as in Go: leading zeros keep `frac` at 0
        // while the scale grows past any integer (`0.000…0004s`).
        let (mut frac, mut scale, mut post) = (0u128, 1f64, false);
        if let Some(rest) = s.strip_prefix('.') {
            let n = rest.bytes().take_while(u8::is_ascii_digit).count();
            post = n > 0;
            let mut overflow = false;
            for b in rest[..n].bytes() {
                if overflow {
                    continue;
                }
                let next = frac * 10 + u128::from(b - b'0');
                if next > LIMIT {
                    overflow = true;
                    continue;
                }
                frac = next;
                scale *= 10.0;
            }
            s = &rest[n..];
        }
        if !pre && !post {
            return Err(invalid());
        }
        // The unit runs to the next digit or dot.
        let unit_len = s
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        let unit = &s[..unit_len];
        if unit.is_empty() {
            return Err(format!("time: missing unit in duration {}", quote(orig)));
        }
        let per: u128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => NANOS_PER_SEC,
            "m" => 60 * NANOS_PER_SEC,
            "h" => 3600 * NANOS_PER_SEC,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    quote(unit),
                    quote(orig)
                ))
            }
        };
        s = &s[unit_len..];
        if v > LIMIT / per {
            return Err(invalid());
        }
        v *= per;
        if frac > 0 {
            v += (frac as f64 * (per as f64 / scale)) as u128;
            if v > LIMIT {
                return Err(invalid());
            }
        }
        total += v;
        if total > LIMIT {
            return Err(invalid());
        }
    }
    if neg {
        return Ok(-(total as i128));
    }
    if total > LIMIT - 1 {
        return Err(invalid());
    }
    Ok(total as i128)
}

/// Go's `time.Duration.String` for a signed number of nanoseconds:
/// `0s`, `1.5µs`, `500ms`, `1.5s`, `2m0s`, `1h0m0s`, `-1s`.
pub fn duration_string_nanos(n: i128) -> String {
    let sign = if n < 0 { "-" } else { "" };
    let u = n.unsigned_abs();
    if u == 0 {
        return "0s".into();
    }
    let body = if u < NANOS_PER_SEC {
        if u < 1_000 {
            format!("{u}ns")
        } else if u < 1_000_000 {
            format!("{}µs", frac(u, 3))
        } else {
            format!("{}ms", frac(u, 6))
        }
    } else {
        let secs = u / NANOS_PER_SEC;
        let mut out = String::new();
        if secs >= 3600 {
            out.push_str(&format!("{}h", secs / 3600));
        }
        if secs >= 60 {
            out.push_str(&format!("{}m", secs / 60 % 60));
        }
        out.push_str(&frac(secs % 60 * NANOS_PER_SEC + u % NANOS_PER_SEC, 9));
        out.push('s');
        out
    };
    format!("{sign}{body}")
}

/// [`duration_string_nanos`] of a [`Duration`].
pub fn duration_string(d: Duration) -> String {
    duration_string_nanos(d.as_nanos() as i128)
}

/// `v / 10^prec` with the fraction's trailing zeros (and a bare dot) removed.
fn frac(v: u128, prec: u32) -> String {
    let p = 10u128.pow(prec);
    let (int, f) = (v / p, v % p);
    if f == 0 {
        return int.to_string();
    }
    let digits = format!("{f:0width$}", width = prec as usize);
    format!("{int}.{}", digits.trim_end_matches('0'))
}

/// Go's `%v` of a float64: `%g` with the shortest representation, in
/// exponent form when the exponent is below -4 or at least 6, e.g. `100`,
/// `1.5`, `123456`, `1e+06`, `1e-05`.
pub fn float_v(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let e = format!("{x:e}");
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    format!("{x}")
}

/// Go's `%f` of a float64 (six decimals).
pub fn float_f(x: f64) -> String {
    format!("{x:.6}")
}

/// A double-quoted string as Go's `strconv.Quote` writes simple text:
/// `"` and `\` escaped, control characters as `\n`, `\t`, `\xNN`. The
/// same escapes are what a double-quoted config-file string accepts, so the
/// config printer uses it too.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse() {
        let s = NANOS_PER_SEC as i128;
        assert_eq!(parse_duration("2s"), Ok(2 * s));
        assert_eq!(parse_duration("1h30m"), Ok(5400 * s));
        assert_eq!(parse_duration("1.5h"), Ok(5400 * s));
        assert_eq!(parse_duration("500ms"), Ok(s / 2));
        assert_eq!(parse_duration("-1s"), Ok(-s));
        assert_eq!(parse_duration("+.5s"), Ok(s / 2));
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("1µs"), Ok(1000));
        assert_eq!(parse_duration("1μs2us3ns"), Ok(3003));
        assert_eq!(
            parse_duration("xx").unwrap_err(),
            r#"time: invalid duration "xx""#
        );
        assert_eq!(
            parse_duration("").unwrap_err(),
            r#"time: invalid duration """#
        );
        assert_eq!(
            parse_duration("1").unwrap_err(),
            r#"time: missing unit in duration "1""#
        );
        assert_eq!(
            parse_duration("1x").unwrap_err(),
            r#"time: unknown unit "x" in duration "1x""#
        );
        assert_eq!(
            parse_duration(".s").unwrap_err(),
            r#"time: invalid duration ".s""#
        );
        assert!(parse_duration("9999999999h").is_err());
        assert_eq!(
            parse_duration("2562047h47m16.854775807s"),
            Ok(i64::MAX as i128)
        );
        assert!(parse_duration("2562047h47m16.854775808s").is_err());
        assert_eq!(
            parse_duration("-2562047h47m16.854775808s"),
            Ok(i64::MIN as i128)
        );
    }

    /// Found by the `config` fuzz target: many leading zeros in a
    /// fraction overflowed the integer scale (a panic with overflow checks).
    #[test]
    fn long_zero_fractions() {
        let zeros = "0".repeat(60);
        assert_eq!(parse_duration(&format!("0.{zeros}4s")), Ok(0));
        assert_eq!(
            parse_duration(&format!("1.{zeros}9h")),
            Ok(3_600_000_000_000)
        );
        assert_eq!(parse_duration(&format!("2.5{zeros}ms")), Ok(2_500_000));
    }

    #[test]
    fn format() {
        let s = NANOS_PER_SEC as i128;
        assert_eq!(duration_string_nanos(0), "0s");
        assert_eq!(duration_string_nanos(1), "1ns");
        assert_eq!(duration_string_nanos(1500), "1.5µs");
        assert_eq!(duration_string_nanos(s / 2), "500ms");
        assert_eq!(duration_string_nanos(s * 3 / 2), "1.5s");
        assert_eq!(duration_string_nanos(120 * s), "2m0s");
        assert_eq!(duration_string_nanos(3600 * s), "1h0m0s");
        assert_eq!(duration_string_nanos(3723 * s + 1), "1h2m3.000000001s");
        assert_eq!(duration_string_nanos(-10 * s), "-10s");
        for text in ["1h2m3.5s", "10s", "2m0s", "999ms", "1ns"] {
            assert_eq!(duration_string_nanos(parse_duration(text).unwrap()), text);
        }
    }

    #[test]
    fn floats() {
        assert_eq!(float_v(100.0), "100");
        assert_eq!(float_v(100.5), "100.5");
        assert_eq!(float_v(123456.0), "123456");
        assert_eq!(float_v(1_000_000.0), "1e+06");
        assert_eq!(float_v(1_234_567.0), "1.234567e+06");
        assert_eq!(float_v(0.0001), "0.0001");
        assert_eq!(float_v(0.00001), "1e-05");
        assert_eq!(float_f(100.0), "100.000000");
    }
}
