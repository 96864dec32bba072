//! Client protocol framing: bytes in, one [`ClientOp`] at a time out.
//!
//! [`parse`] looks at the start of a buffer and either returns one complete
//! operation (borrowing subject, reply and payload from the buffer, so the
//! fast path copies nothing), or says how much more input the frame needs.
//! It holds no state: the connection keeps at most one partial frame and
//! completes it with exactly the bytes [`Need`] asks for, so input is never
//! re-scanned from the start of a large buffer.
//!
//! The parser only frames; what an operation means (auth, permissions,
//! whether headers were negotiated) is decided by the connection when it
//! applies it, with the options in force at that moment.

use crate::errors::{text, Fault};

/// Limits the parser enforces while framing.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest argument part of a control line (nats-server default 4096).
    pub max_control_line: usize,
    /// Largest PUB/HPUB payload (headers included).
    pub max_payload: usize,
}

/// One operation sent by a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientOp<'a> {
    /// `CONNECT <json>`.
    Connect(&'a [u8]),
    /// A client-sent `INFO <json>` (ignored when the JSON is valid).
    Info(&'a [u8]),
    /// `PUB <subject> [reply] <size>` and its payload.
    Pub {
        /// Publish subject.
        subject: &'a [u8],
        /// Reply subject, if any.
        reply: Option<&'a [u8]>,
        /// Message payload.
        payload: &'a [u8],
        /// The size field as sent (nats-server echoes it verbatim in MSG).
        size: &'a [u8],
    },
    /// `HPUB <subject> [reply] <hdr> <total>` and headers + payload.
    HPub {
        /// Publish subject.
        subject: &'a [u8],
        /// Reply subject, if any.
        reply: Option<&'a [u8]>,
        /// Length of the header block at the start of `message`.
        header_len: usize,
        /// Header block followed by payload.
        message: &'a [u8],
        /// The header and total size fields as sent.
        sizes: [&'a [u8]; 2],
    },
    /// `SUB <subject> [queue] <sid>`.
    Sub {
        /// Subscription subject (validated by the connection).
        subject: &'a [u8],
        /// Queue group.
        queue: Option<&'a [u8]>,
        /// Client-chosen subscription id.
        sid: &'a [u8],
    },
    /// `UNSUB <sid> [max]`.
    Unsub {
        /// Subscription id.
        sid: &'a [u8],
        /// `None`: remove now. `Some(n)`: remove after `n` deliveries in total
        /// (a non-numeric max reads as 0, i.e. remove now, as nats-server).
        max: Option<u64>,
    },
    /// `PING`.
    Ping,
    /// `PONG`.
    Pong,
    /// `+OK` (ignored).
    Ok,
    /// `-ERR ...` from a client: the server closes the connection.
    Err,
}

/// What the parser needs before it can produce the next operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The control line is not complete: more bytes up to the next `\n`.
    Line,
    /// The frame is `n` bytes long in total (control line + payload + CRLF).
    Frame(usize),
}

/// Result of one [`parse`] step.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// A complete operation that used the first `usize` bytes of the input.
    Op(ClientOp<'a>, usize),
    /// Not enough input yet.
    Partial(Need),
}

/// The op names a client may send, for recognising a prefix before its
/// line is complete.
const OP_NAMES: [&[u8]; 10] = [
    b"PUB", b"HPUB", b"SUB", b"UNSUB", b"PING", b"PONG", b"CONNECT", b"INFO", b"+OK", b"-ERR",
];

/// Ops whose name is followed by a blank and arguments.
const ARG_OPS: [&[u8]; 6] = [b"PUB", b"HPUB", b"SUB", b"UNSUB", b"CONNECT", b"INFO"];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pub,
    HPub,
    Sub,
    Unsub,
    Ping,
    Pong,
    Connect,
    Info,
    Ok,
    Err,
}

/// Parses the operation at the start of `buf`.
#[inline]
pub fn parse<'a>(buf: &'a [u8], limits: &Limits) -> Result<Parsed<'a>, Fault> {
    if buf.len() > 4
        && buf[0] | 0x20 == b'p'
        && buf[1] | 0x20 == b'u'
        && buf[2] | 0x20 == b'b'
        && (buf[3] == b' ' || buf[3] == b'\t')
    {
        if let Some(parsed) = parse_pub_fast(buf, limits) {
            return Ok(parsed);
        }
    }
    parse_general(buf, limits)
}

/// One pass over a well-formed, complete `PUB` control line: finds the
/// argument boundaries and the line end together. Anything unusual (an
/// incomplete line, a wrong argument count, a bad size, a line over the
/// limit, a payload without its CRLF) returns `None` and the general parser
/// decides, so the two can never disagree.
#[inline]
fn parse_pub_fast<'a>(buf: &'a [u8], limits: &Limits) -> Option<Parsed<'a>> {
    let mut spans = [(0usize, 0usize); 3];
    let mut n = 0;
    let mut i = 4;
    let end = loop {
        let b = *buf.get(i)?;
        match b {
            b' ' | b'\t' => i += 1,
            b'\r' | b'\n' => break i,
            _ => {
                if n == 3 {
                    return None;
                }
                let start = i;
                while i < buf.len() && !matches!(buf[i], b' ' | b'\t' | b'\r' | b'\n') {
                    i += 1;
                }
                spans[n] = (start, i);
                n += 1;
            }
        }
    };
    let after = if buf[end] == b'\r' {
        if *buf.get(end + 1)? != b'\n' {
            return None;
        }
        end + 2
    } else {
        end + 1
    };
    if end - 4 > limits.max_control_line {
        return None;
    }
    let tok = |k: usize| &buf[spans[k].0..spans[k].1];
    let (subject, reply, size_text) = match n {
        2 => (tok(0), None, tok(1)),
        3 => (tok(0), Some(tok(1)), tok(2)),
        _ => return None,
    };
    let size = parse_size(size_text)?;
    if size > limits.max_payload {
        return None;
    }
    let frame_end = after + size + 2;
    if buf.len() < frame_end {
        return Some(Parsed::Partial(Need::Frame(frame_end)));
    }
    if &buf[after + size..frame_end] != b"\r\n" {
        return None;
    }
    let payload = &buf[after..after + size];
    Some(Parsed::Op(
        ClientOp::Pub {
            subject,
            reply,
            payload,
            size: size_text,
        },
        frame_end,
    ))
}

/// The general parser: every op, every error.
fn parse_general<'a>(buf: &'a [u8], limits: &Limits) -> Result<Parsed<'a>, Fault> {
    let Some(nl) = memchr::memchr(b'\n', buf) else {
        check_partial_line(buf, limits)?;
        return Ok(Parsed::Partial(Need::Line));
    };
    let mut line = &buf[..nl];
    if let [rest @ .., b'\r'] = line {
        line = rest;
    }
    let (kind, name_len) = classify(line)?;
    let after = line_after(nl);
    match kind {
        Kind::Ping => return Ok(Parsed::Op(ClientOp::Ping, after)),
        Kind::Pong => return Ok(Parsed::Op(ClientOp::Pong, after)),
        Kind::Ok => return Ok(Parsed::Op(ClientOp::Ok, after)),
        _ => {}
    }
    let args = skip_ws(&line[name_len..]);
    if args.len() > limits.max_control_line {
        return Err(Fault::ErrClose(text::MAX_CONTROL_LINE));
    }
    let args = trim_ws_end(args);
    match kind {
        Kind::Err => Ok(Parsed::Op(ClientOp::Err, after)),
        Kind::Connect => Ok(Parsed::Op(ClientOp::Connect(args), after)),
        Kind::Info => Ok(Parsed::Op(ClientOp::Info(args), after)),
        Kind::Pub => {
            let a = split_args::<3>(args);
            let (subject, reply, size) = match a.as_slice() {
                [s, n] => (*s, None, *n),
                [s, r, n] => (*s, Some(*r), *n),
                _ => return Err(Fault::Silent("processPub Parse Error")),
            };
            let size_text = size;
            let size = parse_size(size).ok_or(Fault::Silent("processPub Bad or Missing Size"))?;
            if size > limits.max_payload {
                return Err(Fault::ErrClose(text::MAX_PAYLOAD));
            }
            let payload = match payload(buf, after, size)? {
                Ok(p) => p,
                Err(need) => return Ok(Parsed::Partial(need)),
            };
            Ok(Parsed::Op(
                ClientOp::Pub {
                    subject,
                    reply,
                    payload,
                    size: size_text,
                },
                after + size + 2,
            ))
        }
        Kind::HPub => {
            let a = split_args::<4>(args);
            let (subject, reply, hdr, total) = match a.as_slice() {
                [s, h, t] => (*s, None, *h, *t),
                [s, r, h, t] => (*s, Some(*r), *h, *t),
                _ => return Err(Fault::Silent("processHeaderPub Parse Error")),
            };
            let sizes = [hdr, total];
            let hdr = parse_size(hdr)
                .ok_or(Fault::Silent("processHeaderPub Bad or Missing Header Size"))?;
            let total = parse_size(total)
                .ok_or(Fault::Silent("processHeaderPub Bad or Missing Total Size"))?;
            if hdr > total {
                return Err(Fault::Silent(
                    "processHeaderPub Header Size larger then TotalSize",
                ));
            }
            if total > limits.max_payload {
                return Err(Fault::ErrClose(text::MAX_PAYLOAD));
            }
            let message = match payload(buf, after, total)? {
                Ok(p) => p,
                Err(need) => return Ok(Parsed::Partial(need)),
            };
            Ok(Parsed::Op(
                ClientOp::HPub {
                    subject,
                    reply,
                    header_len: hdr,
                    message,
                    sizes,
                },
                after + total + 2,
            ))
        }
        Kind::Sub => {
            let a = split_args::<3>(args);
            let op = match a.as_slice() {
                [s, sid] => ClientOp::Sub {
                    subject: s,
                    queue: None,
                    sid,
                },
                [s, q, sid] => ClientOp::Sub {
                    subject: s,
                    queue: Some(q),
                    sid,
                },
                _ => return Err(Fault::Silent("processSub Parse Error")),
            };
            Ok(Parsed::Op(op, after))
        }
        Kind::Unsub => {
            let a = split_args::<2>(args);
            let op = match a.as_slice() {
                [sid] => ClientOp::Unsub { sid, max: None },
                [sid, max] => ClientOp::Unsub {
                    sid,
                    max: Some(parse_size(max).unwrap_or(0) as u64),
                },
                _ => return Err(Fault::Silent("processUnsub Parse Error")),
            };
            Ok(Parsed::Op(op, after))
        }
        Kind::Ping | Kind::Pong | Kind::Ok => unreachable!("handled above"),
    }
}

#[inline]
fn line_after(nl: usize) -> usize {
    nl + 1
}

/// The payload of `size` bytes starting at `start`, followed by CRLF; or how
/// many bytes the whole frame needs.
#[inline]
fn payload(buf: &[u8], start: usize, size: usize) -> Result<Result<&[u8], Need>, Fault> {
    let end = start + size;
    if buf.len() < end + 2 {
        return Ok(Err(Need::Frame(end + 2)));
    }
    if &buf[end..end + 2] != b"\r\n" {
        return Err(Fault::ErrClose(text::UNKNOWN_OP));
    }
    Ok(Ok(&buf[start..end]))
}

/// Recognises the op name at the start of a complete line.
fn classify(line: &[u8]) -> Result<(Kind, usize), Fault> {
    let unknown = Err(Fault::ErrClose(text::UNKNOWN_OP));
    let Some(&first) = line.first() else {
        return unknown;
    };
    // An op that takes arguments must be followed by a space or tab.
    let with_args = |name: &[u8], kind: Kind| -> Result<(Kind, usize), Fault> {
        if starts_with_ci(line, name)
            && line
                .get(name.len())
                .is_some_and(|&b| b == b' ' || b == b'\t')
        {
            Ok((kind, name.len()))
        } else {
            Err(Fault::ErrClose(text::UNKNOWN_OP))
        }
    };
    match first.to_ascii_uppercase() {
        b'P' => {
            if starts_with_ci(line, b"PING") {
                Ok((Kind::Ping, 4))
            } else if starts_with_ci(line, b"PONG") {
                Ok((Kind::Pong, 4))
            } else {
                with_args(b"PUB", Kind::Pub)
            }
        }
        b'H' => with_args(b"HPUB", Kind::HPub),
        b'S' => with_args(b"SUB", Kind::Sub),
        b'U' => with_args(b"UNSUB", Kind::Unsub),
        // CONNECT and INFO take their JSON with or without a space.
        b'C' if starts_with_ci(line, b"CONNECT") && line.len() > 7 => Ok((Kind::Connect, 7)),
        b'I' if starts_with_ci(line, b"INFO") && line.len() > 4 => Ok((Kind::Info, 4)),
        b'+' if starts_with_ci(line, b"+OK") => Ok((Kind::Ok, 3)),
        b'-' if starts_with_ci(line, b"-ERR") => Ok((Kind::Err, 4)),
        _ => unknown,
    }
}

/// On a line without its `\n` yet: fail early on a name no op starts with,
/// and on an argument part already over the limit, so garbage and slowloris
/// input cannot make the connection buffer without bound. The verdict must
/// be the one the complete line will get, whatever the read boundaries.
fn check_partial_line(buf: &[u8], limits: &Limits) -> Result<(), Fault> {
    if buf.is_empty() || ignores_tail(buf).is_some() {
        return Ok(());
    }
    if starts_with_ci(buf, b"-ERR") {
        return check_args_len(&buf[4..], limits);
    }
    // CONNECT and INFO take their argument right after the name, separator
    // or not (`CONNECT{...}`).
    for op in [&b"CONNECT"[..], b"INFO"] {
        if buf.len() > op.len() && starts_with_ci(buf, op) {
            return check_args_len(&buf[op.len()..], limits);
        }
    }
    match buf.iter().position(|&b| matches!(b, b' ' | b'\t' | b'{')) {
        // Still inside the op name: it must be the start of one.
        None => {
            if OP_NAMES
                .iter()
                .any(|op| buf.len() <= op.len() && starts_with_ci(op, buf))
            {
                Ok(())
            } else {
                Err(Fault::ErrClose(text::UNKNOWN_OP))
            }
        }
        // A separator ends the name: only a complete name may stand there.
        Some(i) => {
            let name = &buf[..i];
            let complete = if buf[i] == b'{' {
                name.eq_ignore_ascii_case(b"CONNECT") || name.eq_ignore_ascii_case(b"INFO")
            } else {
                ARG_OPS.iter().any(|op| name.eq_ignore_ascii_case(op))
            };
            if !complete {
                return Err(Fault::ErrClose(text::UNKNOWN_OP));
            }
            check_args_len(&buf[i..], limits)
        }
    }
}

fn check_args_len(rest: &[u8], limits: &Limits) -> Result<(), Fault> {
    let args = skip_ws(rest);
    let args = args.strip_suffix(b"\r").unwrap_or(args);
    if args.len() > limits.max_control_line {
        return Err(Fault::ErrClose(text::MAX_CONTROL_LINE));
    }
    Ok(())
}

/// For `PING`, `PONG` and `+OK`, whose rest of line is ignored: the length
/// of the op name, so a connection can drop the tail instead of buffering
/// it (nats-server skips those bytes without a limit).
pub fn ignores_tail(buf: &[u8]) -> Option<usize> {
    if starts_with_ci(buf, b"PING") || starts_with_ci(buf, b"PONG") {
        Some(4)
    } else if starts_with_ci(buf, b"+OK") {
        Some(3)
    } else {
        None
    }
}

#[inline]
fn starts_with_ci(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

#[inline]
fn skip_ws(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
    &s[n..]
}

#[inline]
fn trim_ws_end(s: &[u8]) -> &[u8] {
    let n = s
        .iter()
        .rev()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    &s[..s.len() - n]
}

/// The arguments of a control line, split on runs of spaces/tabs.
struct Args<'a> {
    items: [&'a [u8]; 5],
    len: usize,
}

impl<'a> Args<'a> {
    #[inline]
    fn as_slice(&self) -> &[&'a [u8]] {
        &self.items[..self.len]
    }
}

/// Splits on runs of spaces/tabs in one pass. Collects up to `N + 1`
/// pieces so a caller can tell "too many" from "exactly N" without
/// allocating. `s` has no leading or trailing whitespace.
#[inline]
fn split_args<const N: usize>(s: &[u8]) -> Args<'_> {
    let mut args = Args {
        items: [&[]; 5],
        len: 0,
    };
    let mut i = 0;
    while i < s.len() && args.len <= N {
        while i < s.len() && (s[i] == b' ' || s[i] == b'\t') {
            i += 1;
        }
        let start = i;
        while i < s.len() && s[i] != b' ' && s[i] != b'\t' {
            i += 1;
        }
        if i > start {
            args.items[args.len] = &s[start..i];
            args.len += 1;
        }
    }
    args
}

/// nats-server's `parseSize`: 1 to 9 ASCII digits, nothing else.
#[inline]
pub fn parse_size(s: &[u8]) -> Option<usize> {
    if s.is_empty() || s.len() > 9 {
        return None;
    }
    let mut n = 0usize;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + (b - b'0') as usize;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limits = Limits {
        max_control_line: 4096,
        max_payload: 1024 * 1024,
    };

    fn op(buf: &[u8]) -> ClientOp<'_> {
        match parse(buf, &L).unwrap() {
            Parsed::Op(op, n) => {
                assert_eq!(n, buf.len());
                op
            }
            p => panic!("partial: {p:?}"),
        }
    }

    #[test]
    fn pub_forms() {
        assert_eq!(
            op(b"PUB foo 5\r\nhello\r\n"),
            ClientOp::Pub {
                subject: b"foo",
                reply: None,
                payload: b"hello",
                size: b"5"
            }
        );
        assert_eq!(
            op(b"pub\tfoo  bar 0  \r\n\r\n"),
            ClientOp::Pub {
                subject: b"foo",
                reply: Some(b"bar"),
                payload: b"",
                size: b"0"
            }
        );
        assert_eq!(
            op(b"PUB foo 000000001\nx\r\n"),
            ClientOp::Pub {
                subject: b"foo",
                reply: None,
                payload: b"x",
                size: b"000000001"
            }
        );
    }

    #[test]
    fn errors() {
        let e = |b: &[u8]| parse(b, &L).unwrap_err();
        assert_eq!(e(b"FOO bar\r\n"), Fault::ErrClose(text::UNKNOWN_OP));
        assert_eq!(e(b"\r\n"), Fault::ErrClose(text::UNKNOWN_OP));
        assert_eq!(e(b" PUB foo 1\r\n"), Fault::ErrClose(text::UNKNOWN_OP));
        assert_eq!(e(b"PUBfoo 1\r\n"), Fault::ErrClose(text::UNKNOWN_OP));
        assert_eq!(e(b"UNSUB\r\n"), Fault::ErrClose(text::UNKNOWN_OP));
        assert_eq!(e(b"MSG foo 1 1\r\n"), Fault::ErrClose(text::UNKNOWN_OP));
        assert_eq!(
            e(b"PUB foo 5\r\nhelloXX\r\n"),
            Fault::ErrClose(text::UNKNOWN_OP)
        );
        assert!(matches!(e(b"PUB foo\r\n"), Fault::Silent(_)));
        assert!(matches!(e(b"PUB foo -1\r\n"), Fault::Silent(_)));
        assert!(matches!(e(b"PUB foo 1234567890\r\n"), Fault::Silent(_)));
        assert!(matches!(e(b"HPUB foo 5 3\r\n"), Fault::Silent(_)));
        assert_eq!(
            e(b"PUB foo 2000000\r\n"),
            Fault::ErrClose(text::MAX_PAYLOAD)
        );
        assert_eq!(e(b"FOO"), Fault::ErrClose(text::UNKNOWN_OP));
    }

    #[test]
    fn control_line_limit() {
        let mut ok = b"SUB ".to_vec();
        ok.extend(std::iter::repeat_n(b'a', 4096));
        ok.extend_from_slice(b"\r\n");
        assert!(matches!(
            parse(&ok, &L),
            Ok(Parsed::Op(..)) | Err(Fault::Silent(_))
        ));
        let mut bad = b"SUB ".to_vec();
        bad.extend(std::iter::repeat_n(b'a', 4097));
        assert_eq!(
            parse(&bad, &L).unwrap_err(),
            Fault::ErrClose(text::MAX_CONTROL_LINE)
        );
        bad.extend_from_slice(b"\r\n");
        assert_eq!(
            parse(&bad, &L).unwrap_err(),
            Fault::ErrClose(text::MAX_CONTROL_LINE)
        );
    }

    #[test]
    fn pings_ignore_rest() {
        assert_eq!(op(b"PINGxyz\r\n"), ClientOp::Ping);
        assert_eq!(op(b"ping\n"), ClientOp::Ping);
        assert_eq!(op(b"PONG foo\r\n"), ClientOp::Pong);
        assert_eq!(op(b"CONNECT{}\r\n"), ClientOp::Connect(b"{}"));
        assert_eq!(op(b"INFOT\n"), ClientOp::Info(b"T"));
        assert_eq!(parse(b"INFOT", &L).unwrap(), Parsed::Partial(Need::Line));
        assert_eq!(
            parse(b"CONNECTxy", &L).unwrap(),
            Parsed::Partial(Need::Line)
        );
    }

    #[test]
    fn partial_needs() {
        assert_eq!(parse(b"PU", &L).unwrap(), Parsed::Partial(Need::Line));
        assert_eq!(
            parse(b"PUB foo 5\r\nhel", &L).unwrap(),
            Parsed::Partial(Need::Frame(18))
        );
        assert_eq!(parse(b"", &L).unwrap(), Parsed::Partial(Need::Line));
    }

    #[test]
    fn unsub_max() {
        assert_eq!(
            op(b"UNSUB 1 5\r\n"),
            ClientOp::Unsub {
                sid: b"1",
                max: Some(5)
            }
        );
        assert_eq!(
            op(b"UNSUB 1 x\r\n"),
            ClientOp::Unsub {
                sid: b"1",
                max: Some(0)
            }
        );
        assert_eq!(
            op(b"UNSUB 1\r\n"),
            ClientOp::Unsub {
                sid: b"1",
                max: None
            }
        );
    }
}
