//! An HTTP/1.x request-head reader for the monitoring port: method, path
//! and query, nothing else (no bodies, no keep-alive: one request per
//! connection, as the runtimes answer and close).
//!
//! [`HeadReader`] takes bytes as they arrive and reports
//! [`Parse::Partial`] until the blank line that ends the head, scanning
//! each byte once; heads beyond [`MAX_HEAD`] bytes are refused. The rules
//! follow Go's `net/http` where a client could notice: one request line
//! `METHOD SP TARGET SP HTTP/1.x`, header lines `Name: value`, bare `\n`
//! accepted as a line end, `Host` required for HTTP/1.1, and percent-escapes
//! in the path decoded.

/// The largest request head accepted (request line and headers).
pub const MAX_HEAD: usize = 16 * 1024;

/// The HTTP version of a request, echoed in the response status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `HTTP/1.0`.
    Http10,
    /// `HTTP/1.1` (and any other `HTTP/1.x`).
    Http11,
}

/// One request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `HEAD`, `POST`, ... (any method is served, as nats-server does).
    pub method: String,
    /// The path, percent-decoded: `/connz`.
    pub path: String,
    /// The raw query after `?` (decoded per parameter by the endpoints).
    pub query: String,
    /// The request's HTTP version.
    pub version: Version,
}

impl Request {
    /// A `GET` for `target` (`/connz?subs=1`), for tests and embedders.
    pub fn get(target: &str) -> Request {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Request {
            method: "GET".into(),
            path: path.into(),
            query: query.into(),
            version: Version::Http11,
        }
    }
}

/// Why a head was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// Malformed request line, header, target or escape: `400 Bad Request`.
    BadRequest,
    /// Longer than [`MAX_HEAD`]: `431 Request Header Fields Too Large`.
    TooLarge,
    /// Not HTTP/1.x: `505 HTTP Version Not Supported`.
    VersionNotSupported,
}

/// The state of a head after some bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parse {
    /// The blank line has not arrived yet.
    Partial,
    /// A complete, valid head.
    Complete(Request),
    /// A complete or over-long head that cannot be served.
    Error(HeadError),
}

/// Collects a request head across reads. Bytes after the head (a body)
/// are ignored.
#[derive(Debug, Default)]
pub struct HeadReader {
    buf: Vec<u8>,
    /// Bytes before this index hold no line end that starts the blank line.
    scanned: usize,
    done: bool,
}

impl HeadReader {
    /// An empty reader.
    pub fn new() -> HeadReader {
        HeadReader::default()
    }

    /// Adds bytes read from the socket. Once this returned `Complete` or
    /// `Error`, further calls return `Error(BadRequest)`.
    pub fn push(&mut self, data: &[u8]) -> Parse {
        if self.done {
            return Parse::Error(HeadError::BadRequest);
        }
        let room = (MAX_HEAD + 4).saturating_sub(self.buf.len());
        self.buf.extend_from_slice(&data[..data.len().min(room)]);
        let (end, scanned) = find_end(&self.buf, self.scanned);
        self.scanned = scanned;
        let parse = match end {
            Some(end) if end > MAX_HEAD => Parse::Error(HeadError::TooLarge),
            Some(end) => parse_head(&self.buf[..end]),
            None if self.buf.len() > MAX_HEAD => Parse::Error(HeadError::TooLarge),
            None => return Parse::Partial,
        };
        self.done = true;
        self.buf = Vec::new();
        parse
    }
}

/// Finds the end of the head (just past the blank line) searching from
/// `from`; also returns where the next search may start.
fn find_end(buf: &[u8], from: usize) -> (Option<usize>, usize) {
    let mut i = from;
    while let Some(p) = memchr::memchr(b'\n', &buf[i..]) {
        let nl = i + p;
        match (buf.get(nl + 1), buf.get(nl + 2)) {
            (Some(b'\n'), _) => return (Some(nl + 2), nl),
            (Some(b'\r'), Some(b'\n')) => return (Some(nl + 3), nl),
            (None, _) | (Some(b'\r'), None) => return (None, nl),
            _ => i = nl + 1,
        }
    }
    (None, buf.len())
}

/// Parses one whole head (ending with its blank line).
pub fn parse_head(head: &[u8]) -> Parse {
    match parse_lines(head) {
        Ok(r) => Parse::Complete(r),
        Err(e) => Parse::Error(e),
    }
}

fn parse_lines(head: &[u8]) -> Result<Request, HeadError> {
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let line = lines.next().ok_or(HeadError::BadRequest)?;
    let text = std::str::from_utf8(line).map_err(|_| HeadError::BadRequest)?;
    let mut parts = text.splitn(3, ' ');
    let (method, target, proto) = match (parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(p)) => (m, t, p),
        _ => return Err(HeadError::BadRequest),
    };
    if method.is_empty()
        || !method.bytes().all(is_token)
        || target.is_empty()
        || target.contains(' ')
    {
        return Err(HeadError::BadRequest);
    }
    let version = parse_version(proto)?;
    let mut host = false;
    for line in lines {
        if line.is_empty() {
            break;
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(HeadError::BadRequest)?;
        let name = &line[..colon];
        if name.is_empty() || !name.iter().copied().all(is_token) {
            return Err(HeadError::BadRequest);
        }
        if line[colon + 1..]
            .iter()
            .any(|&b| b < 0x20 && b != b'\t' || b == 0x7f)
        {
            return Err(HeadError::BadRequest);
        }
        host |= name.eq_ignore_ascii_case(b"host");
    }
    if version == Version::Http11 && !host {
        return Err(HeadError::BadRequest);
    }
    let (path, query) = split_target(target)?;
    let path = percent_decode(path, false).ok_or(HeadError::BadRequest)?;
    Ok(Request {
        method: method.into(),
        path,
        query: query.into(),
        version,
    })
}

fn parse_version(proto: &str) -> Result<Version, HeadError> {
    let rest = proto.strip_prefix("HTTP/").ok_or(HeadError::BadRequest)?;
    let (major, minor) = rest.split_once('.').ok_or(HeadError::BadRequest)?;
    let digits = |s: &str| !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(major) || !digits(minor) {
        return Err(HeadError::BadRequest);
    }
    match (major.parse::<u32>(), minor.parse::<u32>()) {
        (Ok(1), Ok(0)) => Ok(Version::Http10),
        (Ok(1), Ok(_)) => Ok(Version::Http11),
        _ => Err(HeadError::VersionNotSupported),
    }
}

/// Splits `/path?query` (or an absolute `http://host/path?query`).
fn split_target(target: &str) -> Result<(&str, &str), HeadError> {
    let rest = if target.starts_with('/') || target == "*" {
        target
    } else {
        let lower = target.get(..8).unwrap_or(target).to_ascii_lowercase();
        let skip = if lower.starts_with("http://") {
            7
        } else if lower.starts_with("https://") {
            8
        } else {
            return Err(HeadError::BadRequest);
        };
        let after = &target[skip..];
        match after.find(['/', '?']) {
            Some(i) if after.as_bytes()[i] == b'/' => &after[i..],
            Some(i) => return Ok(("/", &after[i + 1..])),
            None => "/",
        }
    };
    Ok(rest.split_once('?').unwrap_or((rest, "")))
}

/// Decodes `%XX` escapes (and `+` as a space when `plus` is set, as in
/// query strings). `None` for a malformed escape.
pub(super) fn percent_decode(s: &str, plus: bool) -> Option<String> {
    if !(s.contains('%') || plus && s.contains('+')) {
        return Some(s.to_string());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b.get(i + 1..i + 3)?;
                let hi = (hex[0] as char).to_digit(16)?;
                let lo = (hex[1] as char).to_digit(16)?;
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// RFC 9110 `tchar`.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(head: &[u8]) -> Request {
        match HeadReader::new().push(head) {
            Parse::Complete(r) => r,
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(head)),
        }
    }

    fn error(head: &[u8]) -> HeadError {
        match HeadReader::new().push(head) {
            Parse::Error(e) => e,
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(head)),
        }
    }

    #[test]
    fn request_line_and_target() {
        let r = complete(
            b"GET /connz?subs=1&sort=msgs_to HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n",
        );
        assert_eq!(r, Request::get("/connz?subs=1&sort=msgs_to"));
        let r = complete(b"HEAD /varz HTTP/1.0\r\n\r\n");
        assert_eq!(
            (r.method.as_str(), r.path.as_str(), r.version),
            ("HEAD", "/varz", Version::Http10)
        );
        assert_eq!(complete(b"GET /a%20b%3F?x=%3E HTTP/1.0\n\n").path, "/a b?");
        assert_eq!(complete(b"GET /a%20b%3F?x=%3E HTTP/1.0\n\n").query, "x=%3E");
        let r = complete(b"GET http://h:8222/subsz?test=a HTTP/1.0\r\n\r\n");
        assert_eq!((r.path.as_str(), r.query.as_str()), ("/subsz", "test=a"));
        assert_eq!(complete(b"GET http://h:8222 HTTP/1.0\r\n\r\n").path, "/");
        assert_eq!(
            complete(b"GET / HTTP/1.2\r\nhost: x\r\n\r\n").version,
            Version::Http11
        );
        assert_eq!(complete(b"OPTIONS * HTTP/1.0\r\n\r\n").path, "*");
    }

    #[test]
    fn bad_requests() {
        for bad in [
            &b"\r\n\r\n"[..],
            b"GET\r\n\r\n",
            b"GET /\r\n\r\n",
            b"GET / HTTP/1.0 extra\r\n\r\n",
            b"GET  / HTTP/1.0\r\n\r\n",
            b"G(T / HTTP/1.0\r\n\r\n",
            b"GET varz HTTP/1.0\r\n\r\n",
            b"GET /%zz HTTP/1.0\r\n\r\n",
            b"GET /%4 HTTP/1.0\r\n\r\n",
            b"GET / FTP/1.0\r\n\r\n",
            b"GET / HTTP/x.y\r\n\r\n",
            b"GET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.0\r\nno colon\r\n\r\n",
            b"GET / HTTP/1.0\r\n: empty name\r\n\r\n",
            b"GET / HTTP/1.0\r\nBad Name: x\r\n\r\n",
            b"GET / HTTP/1.0\r\nX: a\x01b\r\n\r\n",
            b"\xff / HTTP/1.0\r\n\r\n",
        ] {
            assert_eq!(
                error(bad),
                HeadError::BadRequest,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            error(b"GET / HTTP/2.0\r\n\r\n"),
            HeadError::VersionNotSupported
        );
        assert_eq!(
            error(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
            HeadError::VersionNotSupported
        );
    }

    #[test]
    fn split_at_every_byte() {
        let heads: [&[u8]; 4] = [
            b"GET /connz?subs=detail HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n",
            b"GET /varz HTTP/1.0\n\n",
            b"GET /x HTTP/1.0\r\nA: b\n\r\n",
            b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
        ];
        for head in heads {
            let whole = HeadReader::new().push(head);
            assert_ne!(whole, Parse::Partial);
            // Byte by byte: Partial until the very last byte.
            let mut r = HeadReader::new();
            for (i, b) in head.iter().enumerate() {
                let p = r.push(&[*b]);
                if i + 1 < head.len() {
                    assert_eq!(
                        p,
                        Parse::Partial,
                        "{:?} at {i}",
                        String::from_utf8_lossy(head)
                    );
                } else {
                    assert_eq!(p, whole);
                }
            }
            // Every split into two reads, with a body byte after the head.
            for cut in 0..=head.len() {
                let mut r = HeadReader::new();
                let first = r.push(&head[..cut]);
                if cut < head.len() {
                    assert_eq!(first, Parse::Partial);
                    let mut rest = head[cut..].to_vec();
                    rest.push(b'Z');
                    assert_eq!(r.push(&rest), whole);
                } else {
                    assert_eq!(first, whole);
                }
            }
        }
    }

    #[test]
    fn bounded() {
        let mut r = HeadReader::new();
        let line = format!("GET /{} HTTP/1.0\r\n", "a".repeat(100));
        let mut result = Parse::Partial;
        for _ in 0..MAX_HEAD / line.len() + 2 {
            result = r.push(line.as_bytes());
            if result != Parse::Partial {
                break;
            }
        }
        assert_eq!(result, Parse::Error(HeadError::TooLarge));
        assert!(r.buf.capacity() <= 2 * MAX_HEAD);
        let mut big = format!("GET / HTTP/1.0\r\nX: {}\r\n\r\n", "b".repeat(MAX_HEAD)).into_bytes();
        assert_eq!(
            HeadReader::new().push(&big),
            Parse::Error(HeadError::TooLarge)
        );
        big.truncate(MAX_HEAD - 10);
        assert_eq!(HeadReader::new().push(&big), Parse::Partial);
        assert_eq!(
            r.push(b"\r\n\r\n"),
            Parse::Error(HeadError::BadRequest),
            "done readers refuse more"
        );
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a+b%2Bc%3e", true).unwrap(), "a b+c>");
        assert_eq!(percent_decode("a+b", false).unwrap(), "a+b");
        assert_eq!(percent_decode("%", true), None);
        assert_eq!(percent_decode("%g0", true), None);
    }
}
