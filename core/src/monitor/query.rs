//! Query parameters as Go's `url.Values` reads them, and nats-server's
//! typed decoders with their exact 400 texts.

use super::http::percent_decode;
use super::{bad_request, Reply};

/// Decoded `name=value` pairs in order.
pub(super) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Splits on `&`; pairs with a `;` or a malformed escape are dropped,
    /// as Go's `URL.Query()` does.
    pub(super) fn parse(raw: &str) -> Query {
        let pairs = raw
            .split('&')
            .filter(|p| !p.is_empty() && !p.contains(';'))
            .filter_map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                Some((percent_decode(k, true)?, percent_decode(v, true)?))
            })
            .collect();
        Query { pairs }
    }

    /// The first value of `name`, or `""`.
    pub(super) fn get(&self, name: &str) -> &str {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// A boolean in Go's `strconv.ParseBool` forms; absent or empty is false.
    pub(super) fn bool(&self, name: &str) -> Result<bool, Reply> {
        let v = self.get(name);
        match v {
            "" => Ok(false),
            "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
            "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
            _ => Err(bad_request(format!(
                "Error decoding boolean for '{name}': strconv.ParseBool: parsing {}: invalid syntax",
                go_quote(v)
            ))),
        }
    }

    /// An `int` as `strconv.Atoi`; absent or empty is 0.
    pub(super) fn int(&self, name: &str) -> Result<i64, Reply> {
        let v = self.get(name);
        if v.is_empty() {
            return Ok(0);
        }
        v.parse::<i64>().map_err(|e| {
            bad_request(format!(
                "Error decoding int for '{name}': strconv.Atoi: parsing {}: {}",
                go_quote(v),
                num_error(&e)
            ))
        })
    }

    /// A `uint64` as `strconv.ParseUint` (no sign allowed); absent is 0.
    pub(super) fn uint64(&self, name: &str) -> Result<u64, Reply> {
        let v = self.get(name);
        if v.is_empty() {
            return Ok(0);
        }
        let parsed = if v.starts_with(['+', '-']) {
            "x".parse::<u64>()
        } else {
            v.parse::<u64>()
        };
        parsed.map_err(|e| {
            bad_request(format!(
                "Error decoding uint64 for '{name}': strconv.ParseUint: parsing {}: {}",
                go_quote(v),
                num_error(&e)
            ))
        })
    }

    /// `subs`: `detail` (any case) or a boolean. Returns (list, detail).
    pub(super) fn subs(&self) -> Result<(bool, bool), Reply> {
        if self.get("subs").eq_ignore_ascii_case("detail") {
            return Ok((false, true));
        }
        Ok((self.bool("subs")?, false))
    }
}

fn num_error(e: &std::num::ParseIntError) -> &'static str {
    match e.kind() {
        std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
            "value out of range"
        }
        _ => "invalid syntax",
    }
}

/// Go's `strconv.Quote`: double quotes, with quotes, backslashes and
/// non-printable characters escaped.
pub(super) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(r: Reply) -> String {
        match r {
            Reply::Text(400, t) => t,
            _ => panic!("not a 400"),
        }
    }

    #[test]
    fn values_and_decoders() {
        let q =
            Query::parse("a=1&a=2&b=%3E+x&c&bad=%zz&semi=1;x=2&limit=-5&big=99999999999999999999");
        assert_eq!(
            (
                q.get("a"),
                q.get("b"),
                q.get("c"),
                q.get("bad"),
                q.get("semi")
            ),
            ("1", "> x", "", "", "")
        );
        assert_eq!(q.int("limit").ok(), Some(-5));
        assert_eq!(q.int("missing").ok(), Some(0));
        assert!(text(q.int("big").err().unwrap()).ends_with("value out of range"));
        assert!(text(q.uint64("limit").err().unwrap()).ends_with(r#"parsing "-5": invalid syntax"#));
        assert!(Query::parse("cid=+5").uint64("cid").is_err());
        assert_eq!(Query::parse("x=True").bool("x").ok(), Some(true));
        assert_eq!(Query::parse("subs=DeTail").subs().ok(), Some((false, true)));
        assert_eq!(Query::parse("subs=1").subs().ok(), Some((true, false)));
        assert_eq!(go_quote("a\"b\\\n\u{1}é"), r#""a\"b\\\n\x01é""#);
    }
}
