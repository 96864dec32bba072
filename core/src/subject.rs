//! Subject syntax: tokens separated by `.`, `*` and `>` wildcards.

/// True if `s` is a valid subscription subject: non-empty, no empty tokens,
/// no whitespace in tokens, `*`/`>` only as whole tokens and `>` last.
pub fn is_valid_subscription(s: &[u8]) -> bool {
    if s.is_empty() {
        return false;
    }
    let mut tokens = s.split(|&b| b == b'.').peekable();
    while let Some(t) = tokens.next() {
        if t.is_empty() || t.iter().any(|&b| is_ws(b)) {
            return false;
        }
        if t == b">" && tokens.peek().is_some() {
            return false;
        }
    }
    true
}

/// True if `s` is a valid literal (publish) subject: valid and no wildcard
/// tokens. Only checked for pedantic clients, as nats-server does.
pub fn is_valid_literal(s: &[u8]) -> bool {
    is_valid_subscription(s) && s.split(|&b| b == b'.').all(|t| t != b"*" && t != b">")
}

#[inline]
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_subjects() {
        for ok in ["a", "a.b", "a.*", "a.>", ">", "*", "foo*.bar", "a.*.c"] {
            assert!(is_valid_subscription(ok.as_bytes()), "{ok}");
        }
        for bad in ["", ".a", "a.", "a..b", "a.>.b", "a b", ">.a"] {
            assert!(!is_valid_subscription(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn literal_subjects() {
        assert!(is_valid_literal(b"a.b"));
        assert!(is_valid_literal(b"foo*"));
        assert!(!is_valid_literal(b"a.*"));
        assert!(!is_valid_literal(b">"));
        assert!(!is_valid_literal(b"a..b"));
    }
}
