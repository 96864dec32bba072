//! Route protocol framing: bytes in, one [`RouteOp`] at a time out.
//!
//! Like the client parser ([`crate::client::parser`]) it is stateless: it
//! looks at the start of a buffer and returns one complete operation,
//! borrowing from the buffer, or says how much more input the frame needs
//! ([`Need`]), so a frame may be split at any byte.
//!
//! Arguments are separated by runs of spaces or tabs (2.9.10 writes an
//! empty origin in `LS-` as a double space).

use smallvec::SmallVec;

use crate::client::parser::{Limits, Need};
use crate::errors::{text, Fault};

/// One operation received on a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteOp<'a> {
    /// `CONNECT <json>` (the first line a solicitor sends).
    Connect(&'a [u8]),
    /// `INFO <json>`.
    Info(&'a [u8]),
    /// `RS+ <account> <subject> [<queue> <weight>]`, or the same with a
    /// leading origin cluster as `LS+`.
    Sub {
        /// `LS+` origin cluster.
        origin: Option<&'a [u8]>,
        /// Account name.
        account: &'a [u8],
        /// Subject (may hold wildcards).
        subject: &'a [u8],
        /// Queue group and its weight (members on the peer).
        queue: Option<(&'a [u8], u32)>,
    },
    /// `RS- <account> <subject> [<queue>]` (also `LS-`, which peers send
    /// without an origin to a server that did not advertise `lnocu`).
    Unsub {
        /// Account name.
        account: &'a [u8],
        /// Subject.
        subject: &'a [u8],
        /// Queue group.
        queue: Option<&'a [u8]>,
    },
    /// `RMSG`/`HMSG`/`LMSG` and its payload.
    Msg(RoutedMsg<'a>),
    /// `PING`.
    Ping,
    /// `PONG`.
    Pong,
    /// `+OK`.
    Ok,
    /// `-ERR '<text>'`: the text without quotes.
    Err(&'a [u8]),
}

/// A routed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutedMsg<'a> {
    /// `LMSG` origin cluster.
    pub origin: Option<&'a [u8]>,
    /// Account name.
    pub account: &'a [u8],
    /// Subject.
    pub subject: &'a [u8],
    /// Reply subject.
    pub reply: Option<&'a [u8]>,
    /// The queue groups the receiver must serve, separated by blanks
    /// (empty: plain subscribers only). See [`RoutedMsg::queues`].
    pub queue_list: &'a [u8],
    /// Size of the header block at the start of `message` (0: none).
    pub header_len: usize,
    /// Headers followed by payload.
    pub message: &'a [u8],
    /// The size fields as written (`[b"", total]` without headers).
    pub sizes: [&'a [u8]; 2],
}

impl<'a> RoutedMsg<'a> {
    /// The queue group names the receiver must serve.
    pub fn queues(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.queue_list
            .split(|&b| b == b' ' || b == b'\t')
            .filter(|q| !q.is_empty())
    }
}

/// Result of one [`parse`] step.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// A complete operation that used the first `usize` bytes of the input.
    Op(RouteOp<'a>, usize),
    /// Not enough input yet.
    Partial(Need),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Connect,
    Info,
    RsPlus,
    RsMinus,
    LsPlus,
    LsMinus,
    Rmsg,
    Hmsg,
    Lmsg,
    Ping,
    Pong,
    Ok,
    Err,
}

const NAMES: [(&[u8], Kind); 13] = [
    (b"CONNECT", Kind::Connect),
    (b"INFO", Kind::Info),
    (b"RS+", Kind::RsPlus),
    (b"RS-", Kind::RsMinus),
    (b"LS+", Kind::LsPlus),
    (b"LS-", Kind::LsMinus),
    (b"RMSG", Kind::Rmsg),
    (b"HMSG", Kind::Hmsg),
    (b"LMSG", Kind::Lmsg),
    (b"PING", Kind::Ping),
    (b"PONG", Kind::Pong),
    (b"+OK", Kind::Ok),
    (b"-ERR", Kind::Err),
];

fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn starts_with_ci(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn classify(line: &[u8]) -> Option<(Kind, usize)> {
    for (name, kind) in NAMES {
        if !starts_with_ci(line, name) {
            continue;
        }
        let next = line.get(name.len()).copied();
        let ok = match kind {
            Kind::Ping | Kind::Pong | Kind::Ok => true,
            Kind::Connect | Kind::Info | Kind::Err => true,
            _ => next.is_some_and(is_ws),
        };
        if ok {
            return Some((kind, name.len()));
        }
    }
    None
}

fn parse_size(s: &[u8]) -> Option<usize> {
    if s.is_empty() || s.len() > 10 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0usize, |n, &d| {
        n.checked_mul(10)?.checked_add((d - b'0') as usize)
    })
}

/// Parses the operation at the start of `buf`.
pub fn parse<'a>(buf: &'a [u8], limits: &Limits) -> Result<Parsed<'a>, Fault> {
    let Some(nl) = memchr::memchr(b'\n', buf) else {
        return partial_line(buf, limits);
    };
    let mut line = &buf[..nl];
    if let [rest @ .., b'\r'] = line {
        line = rest;
    }
    let after = nl + 1;
    let (kind, name_len) = classify(line).ok_or(Fault::ErrClose(text::UNKNOWN_OP))?;
    let args = &line[name_len..];
    let start = args.iter().position(|&b| !is_ws(b)).unwrap_or(args.len());
    let args = &args[start..];
    let end = args.iter().rposition(|&b| !is_ws(b)).map_or(0, |i| i + 1);
    let args = &args[..end];
    if args.len() > limits.max_control_line {
        return Err(Fault::ErrClose(text::MAX_CONTROL_LINE));
    }
    let toks = || -> SmallVec<[&'a [u8]; 8]> {
        args.split(|&b| is_ws(b))
            .filter(|t| !t.is_empty())
            .collect()
    };
    let op = match kind {
        Kind::Ping => RouteOp::Ping,
        Kind::Pong => RouteOp::Pong,
        Kind::Ok => RouteOp::Ok,
        Kind::Connect => RouteOp::Connect(args),
        Kind::Info => RouteOp::Info(args),
        Kind::Err => {
            let t = args.strip_prefix(b"'").unwrap_or(args);
            RouteOp::Err(t.strip_suffix(b"'").unwrap_or(t))
        }
        Kind::RsPlus | Kind::LsPlus => {
            let t = toks();
            let (origin, t) = if kind == Kind::LsPlus {
                match t.split_first() {
                    Some((o, rest)) => (Some(*o), rest),
                    None => return Err(Fault::Silent("processRemoteSub Parse Error")),
                }
            } else {
                (None, &t[..])
            };
            match t {
                [account, subject] => RouteOp::Sub {
                    origin,
                    account,
                    subject,
                    queue: None,
                },
                [account, subject, queue, weight] => {
                    let w = parse_size(weight)
                        .and_then(|w| u32::try_from(w).ok())
                        .ok_or(Fault::Silent("processRemoteSub Bad Queue Weight"))?;
                    RouteOp::Sub {
                        origin,
                        account,
                        subject,
                        queue: Some((queue, w)),
                    }
                }
                // A queue without weight counts as one member.
                [account, subject, queue] => RouteOp::Sub {
                    origin,
                    account,
                    subject,
                    queue: Some((queue, 1)),
                },
                _ => return Err(Fault::Silent("processRemoteSub Parse Error")),
            }
        }
        Kind::RsMinus | Kind::LsMinus => match toks().as_slice() {
            [account, subject] => RouteOp::Unsub {
                account,
                subject,
                queue: None,
            },
            [account, subject, queue] => RouteOp::Unsub {
                account,
                subject,
                queue: Some(queue),
            },
            _ => return Err(Fault::Silent("processRemoteUnsub Parse Error")),
        },
        Kind::Rmsg | Kind::Hmsg | Kind::Lmsg => {
            let t = toks();
            let (origin, t) = if kind == Kind::Lmsg {
                match t.split_first() {
                    Some((o, rest)) => (Some(*o), rest),
                    None => return Err(Fault::Silent("processRoutedMsgArgs Parse Error")),
                }
            } else {
                (None, &t[..])
            };
            let headers = kind != Kind::Rmsg;
            let nsizes = if headers { 2 } else { 1 };
            if t.len() < 2 + nsizes {
                return Err(Fault::Silent("processRoutedMsgArgs Parse Error"));
            }
            let (account, subject) = (t[0], t[1]);
            let middle = &t[2..t.len() - nsizes];
            let size_toks = &t[t.len() - nsizes..];
            let (reply, queue_list) = match middle {
                [] => (None, &b""[..]),
                [r] => (Some(*r), &b""[..]),
                [mark, rest @ ..] if *mark == b"+" && rest.len() >= 2 => {
                    (Some(rest[0]), span(args, rest[1], rest[rest.len() - 1]))
                }
                [mark, rest @ ..] if *mark == b"|" && !rest.is_empty() => {
                    (None, span(args, rest[0], rest[rest.len() - 1]))
                }
                _ => return Err(Fault::Silent("processRoutedMsgArgs Parse Error")),
            };
            let (header_len, total, sizes) = if headers {
                let h = parse_size(size_toks[0])
                    .ok_or(Fault::Silent("processRoutedMsgArgs Bad Header Size"))?;
                let n = parse_size(size_toks[1])
                    .ok_or(Fault::Silent("processRoutedMsgArgs Bad Size"))?;
                if h > n {
                    return Err(Fault::Silent("processRoutedMsgArgs Bad Header Size"));
                }
                (h, n, [size_toks[0], size_toks[1]])
            } else {
                let n = parse_size(size_toks[0])
                    .ok_or(Fault::Silent("processRoutedMsgArgs Bad Size"))?;
                (0, n, [&b""[..], size_toks[0]])
            };
            if total > limits.max_payload {
                return Err(Fault::ErrClose(text::MAX_PAYLOAD));
            }
            let frame_end = after + total + 2;
            if buf.len() < frame_end {
                return Ok(Parsed::Partial(Need::Frame(frame_end)));
            }
            if &buf[after + total..frame_end] != b"\r\n" {
                return Err(Fault::ErrClose(text::UNKNOWN_OP));
            }
            return Ok(Parsed::Op(
                RouteOp::Msg(RoutedMsg {
                    origin,
                    account,
                    subject,
                    reply,
                    queue_list,
                    header_len,
                    message: &buf[after..after + total],
                    sizes,
                }),
                frame_end,
            ));
        }
    };
    Ok(Parsed::Op(op, after))
}

/// A line without its `\n` yet: fail early on what no op starts with and on
/// an argument part already over the limit (so a peer cannot make us buffer
/// without bound), giving the verdict the complete line would get.
fn partial_line<'a>(buf: &[u8], limits: &Limits) -> Result<Parsed<'a>, Fault> {
    if buf.is_empty() {
        return Ok(Parsed::Partial(Need::Line));
    }
    let Some(name_len) = NAMES
        .iter()
        .find(|(n, _)| starts_with_ci(buf, n))
        .map(|(n, _)| n.len())
    else {
        if NAMES
            .iter()
            .any(|(n, _)| buf.len() < n.len() && starts_with_ci(n, buf))
        {
            return Ok(Parsed::Partial(Need::Line));
        }
        return Err(Fault::ErrClose(text::UNKNOWN_OP));
    };
    let rest = &buf[name_len..];
    let args = &rest[rest.iter().position(|&b| !is_ws(b)).unwrap_or(rest.len())..];
    // What the complete line's arguments will at least hold.
    let end = args
        .iter()
        .rposition(|&b| !is_ws(b) && b != b'\r')
        .map_or(0, |i| i + 1);
    if end > limits.max_control_line {
        return Err(Fault::ErrClose(text::MAX_CONTROL_LINE));
    }
    Ok(Parsed::Partial(Need::Line))
}

/// The part of `whole` from the start of token `first` to the end of token
/// `last` (both sub-slices of `whole`).
fn span<'a>(whole: &'a [u8], first: &[u8], last: &[u8]) -> &'a [u8] {
    let base = whole.as_ptr() as usize;
    let from = first.as_ptr() as usize - base;
    let to = last.as_ptr() as usize - base + last.len();
    &whole[from..to]
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_control_line: 4096,
        max_payload: 1 << 20,
    };

    fn one(s: &[u8]) -> RouteOp<'_> {
        match parse(s, &LIMITS) {
            Ok(Parsed::Op(op, used)) => {
                assert_eq!(used, s.len(), "{:?}", String::from_utf8_lossy(s));
                op
            }
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(s)),
        }
    }

    #[test]
    fn interest_lines() {
        assert_eq!(
            one(b"RS+ $G foo\r\n"),
            RouteOp::Sub {
                origin: None,
                account: b"$G",
                subject: b"foo",
                queue: None
            }
        );
        assert_eq!(
            one(b"RS+ $G bar q1 2\r\n"),
            RouteOp::Sub {
                origin: None,
                account: b"$G",
                subject: b"bar",
                queue: Some((b"q1", 2))
            }
        );
        assert_eq!(
            one(b"RS- $G bar q1\r\n"),
            RouteOp::Unsub {
                account: b"$G",
                subject: b"bar",
                queue: Some(b"q1")
            }
        );
        assert_eq!(
            one(b"LS-  $G foo\r\n"),
            RouteOp::Unsub {
                account: b"$G",
                subject: b"foo",
                queue: None
            }
        );
        assert_eq!(
            one(b"LS+ LC1 $G work q 1\r\n"),
            RouteOp::Sub {
                origin: Some(b"LC1"),
                account: b"$G",
                subject: b"work",
                queue: Some((b"q", 1))
            }
        );
    }

    #[test]
    fn messages() {
        let RouteOp::Msg(m) = one(b"RMSG $G foo rep.1 5\r\nhello\r\n") else {
            panic!()
        };
        assert_eq!(
            (m.subject, m.reply, m.message),
            (&b"foo"[..], Some(&b"rep.1"[..]), &b"hello"[..])
        );
        let RouteOp::Msg(m) = one(b"HMSG $G foo 20 23\r\nNATS/1.0\r\nX-K: v\r\n\r\nhdr\r\n") else {
            panic!()
        };
        assert_eq!((m.header_len, m.message.len()), (20, 23));
        let RouteOp::Msg(m) = one(b"RMSG $G bar | q1 5\r\nq-msg\r\n") else {
            panic!()
        };
        assert_eq!(m.reply, None);
        assert_eq!(m.queues().collect::<Vec<_>>(), vec![&b"q1"[..]]);
        let RouteOp::Msg(m) = one(b"RMSG $G work + r.2 q  p 2\r\nw3\r\n") else {
            panic!()
        };
        assert_eq!(m.reply, Some(&b"r.2"[..]));
        assert_eq!(m.queues().collect::<Vec<_>>(), vec![&b"q"[..], &b"p"[..]]);
        let RouteOp::Msg(m) = one(b"LMSG l2 $G foo 0 7\r\nfrom-l2\r\n") else {
            panic!()
        };
        assert_eq!((m.origin, m.header_len), (Some(&b"l2"[..]), 0));
        assert!(parse(b"RMSG $G foo x y 5\r\nhello\r\n", &LIMITS).is_err());
        assert!(parse(b"RMSG $G 5\r\nhello\r\n", &LIMITS).is_err());
    }

    #[test]
    fn split_anywhere() {
        let all: &[u8] = b"INFO {\"server_id\":\"X\"} \r\nRS+ $G a.* q 3\r\nRMSG $G a.b | q 2\r\nhi\r\nPING\r\n-ERR 'oops'\r\n";
        let mut want = Vec::new();
        let mut rest = all;
        while !rest.is_empty() {
            match parse(rest, &LIMITS).unwrap() {
                Parsed::Op(op, used) => {
                    want.push(format!("{op:?}"));
                    rest = &rest[used..];
                }
                Parsed::Partial(n) => panic!("{n:?}"),
            }
        }
        for cut in 0..all.len() {
            // Every prefix parses to the ops it holds, then a partial.
            let mut got = Vec::new();
            let mut rest = &all[..cut];
            while let Parsed::Op(op, used) = parse(rest, &LIMITS).unwrap() {
                got.push(format!("{op:?}"));
                rest = &rest[used..];
                if rest.is_empty() {
                    break;
                }
            }
            assert!(want.starts_with(&got), "cut {cut}");
        }
        assert_eq!(one(b"-ERR 'oops'\r\n"), RouteOp::Err(b"oops"));
        assert!(parse(b"XYZ", &LIMITS).is_err());
        assert!(parse(b"PUB foo 1\r\n", &LIMITS).is_err());
    }
}
