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

/// True if some token of `s` is `*` or `>`.
pub fn has_wildcard(s: &[u8]) -> bool {
    s.split(|&b| b == b'.').any(|t| t == b"*" || t == b">")
}

/// True if every subject `subject` stands for is also one `test` stands
/// for (both may have wildcards): `foo.*` is a subset of `>`, `*.*` and
/// `foo.*`, not of `foo.bar`.
pub fn is_subset_match(subject: &[u8], test: &[u8]) -> bool {
    let s: smallvec::SmallVec<[&[u8]; 16]> = subject.split(|&b| b == b'.').collect();
    let t: smallvec::SmallVec<[&[u8]; 16]> = test.split(|&b| b == b'.').collect();
    for (i, t2) in t.iter().enumerate() {
        let Some(t1) = s.get(i) else {
            return false;
        };
        if t2.is_empty() {
            return false;
        }
        if *t2 == b">" {
            return true;
        }
        if t1.is_empty() || *t1 == b">" {
            return false;
        }
        if *t1 == b"*" {
            if *t2 != b"*" {
                return false;
            }
            continue;
        }
        if *t2 != b"*" && t1 != t2 {
            return false;
        }
    }
    s.len() == t.len()
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
    fn subsets() {
        for (s, t) in [
            ("foo.*", ">"),
            ("foo.*", "*.*"),
            ("foo.*", "foo.*"),
            ("a.b", "a.*"),
            ("a.b.c", "a.>"),
            ("q.a", "q.*"),
        ] {
            assert!(is_subset_match(s.as_bytes(), t.as_bytes()), "{s} in {t}");
        }
        for (s, t) in [
            ("foo.*", "foo.bar"),
            ("foo.>", "foo.*"),
            ("a", "a.>"),
            ("a.b", "a"),
            ("q", "q.*"),
        ] {
            assert!(
                !is_subset_match(s.as_bytes(), t.as_bytes()),
                "{s} not in {t}"
            );
        }
        assert!(has_wildcard(b"a.*") && has_wildcard(b">") && !has_wildcard(b"a*.b"));
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
