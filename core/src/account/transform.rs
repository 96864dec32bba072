//! Subject transforms: how a subject matching a source pattern is
//! rewritten into a destination. Used by subject mappings, stream import
//! prefixes and `to` subjects, and service import `to` subjects.
//!
//! A destination token is a literal, `*` (the next `*` of the source, by
//! position), `>` (what the source's `>` matched), `$N` or
//! `{{wildcard(N)}}` (the N-th `*` of the source, from 1), or
//! `{{partition(n[,N…])}}` (a stable bucket in `0..n` of the named
//! wildcards, or of the whole subject). nats-server's other functions
//! (`split`, `slice…`, `random`) are refused at configuration time.

use std::fmt;

/// One compiled transform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transform {
    /// The source pattern's tokens.
    source: Vec<Box<[u8]>>,
    dest: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(Box<[u8]>),
    /// The N-th `*` of the source (0-based here).
    Wildcard(usize),
    /// What the source's trailing `>` matched.
    Rest,
    /// A bucket in `0..n` of the given wildcards (all of the subject when
    /// empty).
    Partition(u32, Vec<usize>),
}

/// Why a destination was refused (nats-server's wording after
/// `invalid mapping destination: `).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformError(pub String);

impl fmt::Display for TransformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Transform {
    /// Compiles `source` → `dest`.
    pub fn new(source: &str, dest: &str) -> Result<Transform, TransformError> {
        let source: Vec<Box<[u8]>> = source.split('.').map(|t| t.as_bytes().into()).collect();
        let stars = source.iter().filter(|t| &***t == b"*").count();
        let has_rest = source.last().is_some_and(|t| &**t == b">");
        let mut next_star = 0;
        let mut parts = Vec::new();
        for tok in dest.split('.') {
            let part = if tok == "*" {
                next_star += 1;
                if next_star > stars {
                    return Err(TransformError(format!(
                        "wildcard index out of range in {tok}: [{next_star}]"
                    )));
                }
                Part::Wildcard(next_star - 1)
            } else if tok == ">" {
                if !has_rest {
                    return Err(TransformError(
                        "the '>' wildcard is not in the source subject".into(),
                    ));
                }
                Part::Rest
            } else if let Some(n) = tok.strip_prefix('$') {
                let n: usize = n
                    .parse()
                    .map_err(|_| TransformError(format!("invalid wildcard index in {tok}")))?;
                Part::Wildcard(index(tok, n, stars)?)
            } else if tok.starts_with("{{") && tok.ends_with("}}") {
                function(tok, stars)?
            } else {
                Part::Literal(tok.as_bytes().into())
            };
            parts.push(part);
        }
        Ok(Transform {
            source,
            dest: parts,
        })
    }

    /// True if the literal `subject` matches the source pattern.
    pub fn matches(&self, subject: &[u8]) -> bool {
        let mut toks = subject.split(|&b| b == b'.');
        for (i, want) in self.source.iter().enumerate() {
            if &**want == b">" {
                return i < self.source.len() && toks.next().is_some();
            }
            match toks.next() {
                Some(t) if &**want == b"*" || **want == *t => {}
                _ => return false,
            }
        }
        toks.next().is_none()
    }

    /// Rewrites `subject`, which must match the source pattern, into
    /// `out` (cleared first).
    pub fn apply_into(&self, subject: &[u8], out: &mut Vec<u8>) {
        let mut stars: smallvec::SmallVec<[&[u8]; 8]> = smallvec::SmallVec::new();
        let mut rest: &[u8] = b"";
        let mut offset = 0;
        for want in self.source.iter() {
            let remaining = &subject[offset.min(subject.len())..];
            if &**want == b">" {
                rest = remaining;
                break;
            }
            let end = memchr::memchr(b'.', remaining).unwrap_or(remaining.len());
            if &**want == b"*" {
                stars.push(&remaining[..end]);
            }
            offset += end + 1;
        }
        out.clear();
        for (i, part) in self.dest.iter().enumerate() {
            if i > 0 {
                out.push(b'.');
            }
            match part {
                Part::Literal(l) => out.extend_from_slice(l),
                Part::Wildcard(n) => out.extend_from_slice(stars.get(*n).copied().unwrap_or(b"")),
                Part::Rest => out.extend_from_slice(rest),
                Part::Partition(buckets, of) => {
                    let mut h = Fnv32::new();
                    if of.is_empty() {
                        h.write(subject);
                    } else {
                        for n in of {
                            h.write(stars.get(*n).copied().unwrap_or(b""));
                        }
                    }
                    let mut num = itoa::Buffer::new();
                    out.extend_from_slice(num.format(h.0 % buckets).as_bytes());
                }
            }
        }
    }

    /// Rewrites `subject` (see [`Transform::apply_into`]).
    pub fn apply(&self, subject: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(subject.len() + 16);
        self.apply_into(subject, &mut out);
        out
    }
}

fn index(tok: &str, n: usize, stars: usize) -> Result<usize, TransformError> {
    if n == 0 || n > stars {
        return Err(TransformError(format!(
            "wildcard index out of range in {tok}: [{n}]"
        )));
    }
    Ok(n - 1)
}

/// A `{{name(args)}}` destination token.
fn function(tok: &str, stars: usize) -> Result<Part, TransformError> {
    let inner = tok[2..tok.len() - 2].trim();
    let (name, args) = inner
        .split_once('(')
        .and_then(|(n, a)| Some((n.trim(), a.strip_suffix(')')?)))
        .ok_or_else(|| TransformError(format!("invalid transform function in {tok}")))?;
    let nums: Result<Vec<usize>, _> = args
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::parse::<usize>)
        .collect();
    let nums = nums.map_err(|_| TransformError(format!("invalid arguments in {tok}")))?;
    match name.to_ascii_lowercase().as_str() {
        "wildcard" => match nums.as_slice() {
            [n] => Ok(Part::Wildcard(index(tok, *n, stars)?)),
            _ => Err(TransformError(format!("invalid arguments in {tok}"))),
        },
        "partition" => match nums.split_first() {
            Some((&buckets, of)) if buckets > 0 && buckets <= u32::MAX as usize => {
                let of = of
                    .iter()
                    .map(|&n| index(tok, n, stars))
                    .collect::<Result<_, _>>()?;
                Ok(Part::Partition(buckets as u32, of))
            }
            _ => Err(TransformError(format!("invalid arguments in {tok}"))),
        },
        other => Err(TransformError(format!(
            "transform function {other} is not supported yet"
        ))),
    }
}

/// 32-bit FNV-1a: a stable hash for partitions (the same on every server
/// and across restarts).
struct Fnv32(u32);

impl Fnv32 {
    fn new() -> Fnv32 {
        Fnv32(0x811c_9dc5)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u32::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0193);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(src: &str, dst: &str, subject: &str) -> String {
        let t = Transform::new(src, dst).unwrap();
        assert!(t.matches(subject.as_bytes()), "{src} ~ {subject}");
        String::from_utf8(t.apply(subject.as_bytes())).unwrap()
    }

    #[test]
    fn rewrites() {
        assert_eq!(
            t(
                "orders.*.*",
                "bytype.{{wildcard(2)}}.{{wildcard(1)}}",
                "orders.us.new"
            ),
            "bytype.new.us"
        );
        assert_eq!(t("old.>", "new.>", "old.a.b"), "new.a.b");
        assert_eq!(
            t("events.>", "fromA.events.>", "events.x"),
            "fromA.events.x"
        );
        assert_eq!(t("ahelp.>", "help.>", "ahelp.q"), "help.q");
        assert_eq!(t("a.*.b.*", "x.*.*", "a.1.b.2"), "x.1.2");
        assert_eq!(t("a.*.*", "x.$2.$1", "a.1.2"), "x.2.1");
        assert_eq!(t("foo", "bar", "foo"), "bar");
        let p = t("p.*", "q.{{partition(4,1)}}", "p.abc");
        assert!(["q.0", "q.1", "q.2", "q.3"].contains(&p.as_str()));
        assert_eq!(p, t("p.*", "q.{{partition(4,1)}}", "p.abc"));
    }

    #[test]
    fn matching() {
        let x = Transform::new("a.*.>", "b.>").unwrap();
        assert!(x.matches(b"a.b.c"));
        assert!(x.matches(b"a.b.c.d"));
        assert!(!x.matches(b"a.b"));
        assert!(!x.matches(b"b.b.c"));
        let y = Transform::new("a.*", "b").unwrap();
        assert!(!y.matches(b"a.b.c"));
        assert!(y.matches(b"a.b"));
    }

    #[test]
    fn refusals() {
        assert_eq!(
            Transform::new("a.*", "b.{{wildcard(2)}}").unwrap_err().0,
            "wildcard index out of range in {{wildcard(2)}}: [2]"
        );
        assert!(Transform::new("a.*", "b.>").is_err());
        assert!(Transform::new("a.*", "b.{{split(1,-)}}").is_err());
        assert!(Transform::new("a.*", "b.{{partition(0,1)}}").is_err());
    }
}
