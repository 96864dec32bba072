//! Character-level scanning: a position-tracking cursor plus the lexers for
//! keys, scalar values, `include` paths and comments.
//!
//! Structure (maps, arrays, the top-level `{ … }` form, which character may
//! follow a value) is the parser's business; this module only turns the text
//! at the cursor into one key or one scalar. The rules, and the error
//! messages, follow what nats-server 2.14 does, including its oddities
//! (each one is marked "quirk" and was checked against the real server with
//! `nats-server -t`).

/// A 1-based line/column location inside the text being lexed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Loc {
    pub(super) line: u32,
    pub(super) col: u32,
}

/// A lexing error: where and what. The parser adds the file name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct LexError {
    pub(super) loc: Loc,
    pub(super) msg: String,
}

pub(super) type LResult<T> = Result<T, LexError>;

/// Cursor over the source text that keeps line and column up to date.
pub(super) struct Cursor<'a> {
    text: &'a str,
    off: usize,
    line: u32,
    col: u32,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Cursor {
            text,
            off: 0,
            line: 1,
            col: 1,
        }
    }

    pub(super) fn peek(&self) -> Option<char> {
        self.text[self.off..].chars().next()
    }

    /// The character after the next one.
    pub(super) fn peek2(&self) -> Option<char> {
        let mut it = self.text[self.off..].chars();
        it.next();
        it.next()
    }

    pub(super) fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.off += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    pub(super) fn loc(&self) -> Loc {
        Loc {
            line: self.line,
            col: self.col,
        }
    }

    pub(super) fn err<T>(&self, msg: impl Into<String>) -> LResult<T> {
        Err(LexError {
            loc: self.loc(),
            msg: msg.into(),
        })
    }

    /// Consumes characters while `f` holds.
    fn eat_while(&mut self, f: impl Fn(char) -> bool) {
        while self.peek().is_some_and(&f) {
            self.bump();
        }
    }

    /// Consumes a `#` or `//` comment up to (not including) the end of line.
    /// The caller has checked that a comment starts here.
    pub(super) fn skip_comment(&mut self) {
        self.eat_while(|c| !is_nl(c));
    }

    /// True if a comment (`#` or `//`) starts at the cursor.
    pub(super) fn at_comment(&self) -> bool {
        match self.peek() {
            Some('#') => true,
            Some('/') => self.peek2() == Some('/'),
            _ => false,
        }
    }
}

/// End of line as nats-server sees it (`\r` counts too).
pub(super) fn is_nl(c: char) -> bool {
    c == '\n' || c == '\r'
}

/// Blanks that may sit between a value and its terminator.
pub(super) fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Renders the character an error is about, the way nats-server's
/// `'%v'` does, except that invisible characters are escaped and the end
/// of input is spelled `EOF` (nats-server prints a NUL byte there).
pub(super) fn show(c: Option<char>) -> String {
    match c {
        None => "EOF".to_string(),
        Some('\n') => "'\\n'".to_string(),
        Some('\r') => "'\\r'".to_string(),
        Some('\t') => "'\\t'".to_string(),
        Some(c) if c.is_control() => format!("'\\u{{{:x}}}'", c as u32),
        Some(c) => format!("'{c}'"),
    }
}

/// A lexed value, or the opening bracket of a compound one.
#[derive(Debug, PartialEq)]
pub(super) enum Lexed {
    ArrayStart,
    MapStart,
    Str(String),
    Int(i64),
    /// An integer with a size suffix nats-server does not know (`1kbbb`).
    /// Quirk: nats-server silently drops such a value (the key is left
    /// without value and ignored); the parser does the same.
    UnknownSuffix,
    Float(f64),
    Bool(bool),
    Datetime(String),
    /// `$name`; holds `name`.
    Var(String),
}

/// Lexes one value at the cursor: skips blanks (not newlines) first.
/// Returns where the value starts and what it is.
pub(super) fn value(cur: &mut Cursor<'_>) -> LResult<(Loc, Lexed)> {
    cur.eat_while(is_blank);
    let loc = cur.loc();
    match value_at(cur) {
        Ok(lexed) => Ok((loc, lexed)),
        // Errors about the value as a whole (out of range, bad date) are
        // created without a location: they point at the value's start.
        Err(mut e) => {
            if e.loc.line == 0 {
                e.loc = loc;
            }
            Err(e)
        }
    }
}

fn value_at(cur: &mut Cursor<'_>) -> LResult<Lexed> {
    Ok(match cur.peek() {
        // Quirk: a separator followed by the end of input is an empty string.
        None => Lexed::Str(String::new()),
        Some('[') => {
            cur.bump();
            Lexed::ArrayStart
        }
        Some('{') => {
            cur.bump();
            Lexed::MapStart
        }
        Some('\'') => {
            cur.bump();
            Lexed::Str(raw_string(cur)?)
        }
        Some('"') => {
            cur.bump();
            Lexed::Str(quoted_string(cur)?)
        }
        Some('-') => {
            cur.bump();
            negative_number(cur)?
        }
        Some('(') => {
            cur.bump();
            Lexed::Str(block_string(cur)?)
        }
        Some(c) if c.is_ascii_digit() => number(cur)?,
        Some('.') => return cur.err("Floats must start with a digit"),
        Some(c) if is_nl(c) => return cur.err("Expected value but found new line"),
        Some(_) => unquoted(cur, String::new())?,
    })
}

/// `'…'`: raw, no escapes, may span lines. The opening quote is consumed.
fn raw_string(cur: &mut Cursor<'_>) -> LResult<String> {
    let start = cur.off;
    loop {
        match cur.peek() {
            None => return cur.err("Unexpected EOF."),
            Some('\'') => {
                let s = cur.text[start..cur.off].to_string();
                cur.bump();
                return Ok(s);
            }
            Some(_) => {
                cur.bump();
            }
        }
    }
}

/// `"…"` with escapes, may span lines. The opening quote is consumed.
fn quoted_string(cur: &mut Cursor<'_>) -> LResult<String> {
    // Bytes, because `\xHH` produces single bytes that may only make sense
    // together (`\xc3\xa9` is "é").
    let mut buf = Vec::new();
    loop {
        match cur.peek() {
            None => return cur.err("Unexpected EOF."),
            Some('"') => {
                cur.bump();
                return Ok(bytes_to_string(buf));
            }
            Some('\\') => {
                cur.bump();
                escape(cur, &mut buf)?;
            }
            Some(c) => {
                cur.bump();
                push_char(&mut buf, c);
            }
        }
    }
}

fn push_char(buf: &mut Vec<u8>, c: char) {
    let mut tmp = [0u8; 4];
    buf.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
}

/// nats-server keeps arbitrary bytes; Rust strings must be UTF-8, so a
/// `\xHH` sequence that does not form valid UTF-8 is replaced by U+FFFD.
fn bytes_to_string(buf: Vec<u8>) -> String {
    match String::from_utf8(buf) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// One escape sequence; the backslash is already consumed.
fn escape(cur: &mut Cursor<'_>, buf: &mut Vec<u8>) -> LResult<()> {
    let loc = cur.loc();
    let c = cur.bump();
    let plain = match c {
        Some('t') => b'\t',
        Some('n') => b'\n',
        Some('r') => b'\r',
        Some('"') => b'"',
        Some('\\') => b'\\',
        Some('x') => {
            let hi = cur.bump();
            let lo = cur.bump();
            match (hi, lo) {
                (Some(h), Some(l)) if !is_nl(h) && !is_nl(l) => {
                    match (h.to_digit(16), l.to_digit(16)) {
                        (Some(h), Some(l)) => (h * 16 + l) as u8,
                        _ => {
                            return Err(LexError {
                                loc,
                                msg: format!(
                                    "Expected two hexadecimal digits after '\\x', but got '{h}{l}'"
                                ),
                            })
                        }
                    }
                }
                _ => {
                    return Err(LexError {
                        loc,
                        msg: "Expected two hexadecimal digits after '\\x', but hit end of line"
                            .to_string(),
                    })
                }
            }
        }
        other => {
            return Err(LexError {
                loc,
                msg: format!(
                    "Invalid escape character {}. Only the following escape characters \
                     are allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\.",
                    show(other)
                ),
            })
        }
    };
    buf.push(plain);
    Ok(())
}

/// Ends an unquoted string (and is not part of it).
fn ends_unquoted(c: char) -> bool {
    is_nl(c) || is_blank(c) || matches!(c, ';' | ',' | ']' | '}')
}

/// Ends a number (and is not part of it). Note `]` is missing: quirk, an
/// integer directly followed by `]` turns into a string that swallows the
/// `]` (`[1]` is a parse error in nats-server, `[1 ]` is fine).
fn ends_number(c: char) -> bool {
    is_nl(c) || is_blank(c) || matches!(c, ';' | ',' | '}')
}

fn is_size_suffix(c: char) -> bool {
    matches!(c.to_ascii_lowercase(), 'k' | 'm' | 'g' | 't' | 'p' | 'e')
}

/// An unquoted string. `prefix` holds what a number lexer already consumed
/// before deciding this is a string after all (`2s`, `127.0.0.1x`).
///
/// Unquoted strings honour the same escapes as double-quoted ones; one with
/// an escape is always a string, never a boolean or a variable.
fn unquoted(cur: &mut Cursor<'_>, prefix: String) -> LResult<Lexed> {
    let mut buf = prefix.into_bytes();
    let mut escaped = false;
    loop {
        match cur.peek() {
            None => break,
            Some(c) if ends_unquoted(c) => break,
            Some('\'') => {
                // Quirk: a single quote ends an unquoted string and is
                // dropped (`foo'` is "foo"); the result is always a string.
                cur.bump();
                return Ok(Lexed::Str(bytes_to_string(buf)));
            }
            Some('\\') => {
                cur.bump();
                escape(cur, &mut buf)?;
                escaped = true;
            }
            Some(c) => {
                cur.bump();
                push_char(&mut buf, c);
            }
        }
    }
    let s = bytes_to_string(buf);
    if escaped {
        return Ok(Lexed::Str(s));
    }
    if let Some(b) = parse_bool(&s) {
        return Ok(Lexed::Bool(b));
    }
    if let Some(name) = s.strip_prefix('$') {
        // bcrypt hashes (`$2a$11$…`) are so common as passwords that
        // nats-server takes them literally; `$2b$`/`$2y$` are variables.
        if !name.starts_with("2a$") {
            return Ok(Lexed::Var(name.to_string()));
        }
    }
    Ok(Lexed::Str(s))
}

fn parse_bool(s: &str) -> Option<bool> {
    const TRUE: [&str; 3] = ["true", "yes", "on"];
    const FALSE: [&str; 3] = ["false", "no", "off"];
    if TRUE.iter().any(|w| s.eq_ignore_ascii_case(w)) {
        Some(true)
    } else if FALSE.iter().any(|w| s.eq_ignore_ascii_case(w)) {
        Some(false)
    } else {
        None
    }
}

/// A value starting with a digit: integer (maybe with size suffix), float,
/// dotted address (`127.0.0.1:4222`), datetime, or a string that merely
/// starts with digits (`2s`, `500ms`).
fn number(cur: &mut Cursor<'_>) -> LResult<Lexed> {
    let start = cur.off;
    cur.eat_while(|c| c.is_ascii_digit());
    match cur.peek() {
        Some('-') => {
            if cur.off - start != 4 {
                return cur.err("All ISO8601 dates must be in full Zulu form.");
            }
            datetime(cur, start)
        }
        Some('.') => {
            cur.bump();
            float(cur, start)
        }
        Some(c) if is_size_suffix(c) => sized_integer(cur, start),
        None => integer(&cur.text[start..cur.off]),
        Some(c) if ends_number(c) => integer(&cur.text[start..cur.off]),
        Some(_) => {
            // Not a number after all: the character is taken into the
            // string unconditionally (hence the `[1]` quirk).
            cur.bump();
            let prefix = cur.text[start..cur.off].to_string();
            unquoted(cur, prefix)
        }
    }
}

/// After `-`: digits, then optional fraction or size suffix. Unlike the
/// positive case, anything else simply ends the integer (`-1x` is -1 then
/// an error about `x`).
fn negative_number(cur: &mut Cursor<'_>) -> LResult<Lexed> {
    let start = cur.off - 1;
    match cur.peek() {
        Some(c) if c.is_ascii_digit() => {}
        Some('.') => return cur.err("Floats must start with a digit, not '.'."),
        other => return cur.err(format!("Expected a digit but got {}.", show(other))),
    }
    cur.eat_while(|c| c.is_ascii_digit());
    match cur.peek() {
        Some('.') => {
            cur.bump();
            float(cur, start)
        }
        Some(c) if is_size_suffix(c) => sized_integer(cur, start),
        _ => integer(&cur.text[start..cur.off]),
    }
}

/// After the integer part and its `.`: the fraction; a second `.` makes it
/// a dotted address string instead.
fn float(cur: &mut Cursor<'_>, start: usize) -> LResult<Lexed> {
    match cur.peek() {
        Some(c) if c.is_ascii_digit() => {}
        other => {
            return cur.err(format!(
                "Floats must have a digit after the '.', but got {} instead.",
                show(other)
            ))
        }
    }
    cur.eat_while(|c| c.is_ascii_digit());
    if cur.peek() == Some('.') {
        cur.eat_while(|c| c.is_ascii_digit() || matches!(c, '.' | ':' | '-'));
        return Ok(Lexed::Str(cur.text[start..cur.off].to_string()));
    }
    let text = &cur.text[start..cur.off];
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(Lexed::Float(x)),
        _ => cur.err(format!("float '{text}' is out of the range")),
    }
}

/// At a size-suffix letter after the digits (`1k`, `2MB`, `10Gi`, `1m30s`).
fn sized_integer(cur: &mut Cursor<'_>, start: usize) -> LResult<Lexed> {
    cur.bump();
    cur.eat_while(|c| matches!(c, 'b' | 'B' | 'i' | 'I'));
    match cur.peek() {
        // A digit ends it too: `1m30s` is the integer `1m` followed by
        // garbage, which the caller reports (nats-server's exact error).
        Some(c) if !ends_number(c) && !c.is_ascii_digit() => {
            // `1ms`, `5min`: a string; the character is re-examined by the
            // string lexer, so `[1k]` is the string "1k" then `]`.
            let prefix = cur.text[start..cur.off].to_string();
            unquoted(cur, prefix)
        }
        _ => integer(&cur.text[start..cur.off]),
    }
}

/// Converts `-?digits[suffix]` to an integer. Errors carry no location
/// (line 0): [`value`] fills in the value's start.
fn integer(text: &str) -> LResult<Lexed> {
    let digits_end = text
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
        .map_or(text.len(), |(i, _)| i);
    let out_of_range = || LexError {
        loc: Loc { line: 0, col: 0 },
        msg: format!("integer '{text}' is out of the range"),
    };
    let n: i64 = text[..digits_end].parse().map_err(|_| out_of_range())?;
    let mult: i64 = match text[digits_end..].to_ascii_lowercase().as_str() {
        "" => 1,
        "k" => 1_000,
        "kb" | "ki" | "kib" => 1 << 10,
        "m" => 1_000_000,
        "mb" | "mi" | "mib" => 1 << 20,
        "g" => 1_000_000_000,
        "gb" | "gi" | "gib" => 1 << 30,
        "t" => 1_000_000_000_000,
        "tb" | "ti" | "tib" => 1 << 40,
        "p" => 1_000_000_000_000_000,
        "pb" | "pi" | "pib" => 1 << 50,
        "e" => 1_000_000_000_000_000_000,
        "eb" | "ei" | "eib" => 1 << 60,
        _ => return Ok(Lexed::UnknownSuffix),
    };
    // nats-server lets the multiplication wrap around silently (`10e` is a
    // negative number there); an error is the only sane reading.
    n.checked_mul(mult).map(Lexed::Int).ok_or_else(out_of_range)
}

/// After `YYYY` (4 digits, checked by the caller) at the `-`: the rest of
/// `YYYY-MM-DDTHH:MM:SSZ`, then a calendar check.
fn datetime(cur: &mut Cursor<'_>, start: usize) -> LResult<Lexed> {
    cur.bump(); // the '-' after the year
    for want in "00-00T00:00:00Z".chars() {
        let got = cur.peek();
        let ok = match want {
            '0' => got.is_some_and(|c| c.is_ascii_digit()),
            w => got == Some(w),
        };
        if !ok {
            return cur.err(if want == '0' {
                format!(
                    "Expected digit in ISO8601 datetime, but found {} instead.",
                    show(got)
                )
            } else {
                format!(
                    "Expected '{want}' in ISO8601 datetime, but found {} instead.",
                    show(got)
                )
            });
        }
        cur.bump();
    }
    let text = &cur.text[start..cur.off];
    if !valid_zulu(text) {
        return Err(LexError {
            loc: Loc { line: 0, col: 0 },
            msg: format!("expected Zulu formatted DateTime, but got '{text}'"),
        });
    }
    Ok(Lexed::Datetime(text.to_string()))
}

/// Calendar validation of `YYYY-MM-DDTHH:MM:SSZ` (digits already checked),
/// as Go's `time.Parse` does it: no month 13, no February 30, no second 60.
fn valid_zulu(s: &str) -> bool {
    let n = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or(u32::MAX);
    let (year, month, day) = (n(0..4), n(5..7), n(8..10));
    let (hour, min, sec) = (n(11..13), n(14..16), n(17..19));
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day) && hour < 24 && min < 60 && sec < 60
}

/// `( … )`: everything after `(` up to a line holding only `)`. The text
/// keeps the newline before the `)`. The `)` must be at the very start of
/// its line and directly followed by `\n` or the end of input (so CRLF
/// files cannot close a block). Quirk: when the `)` is the last character
/// of the input it is kept in the string.
fn block_string(cur: &mut Cursor<'_>) -> LResult<String> {
    let start = cur.off;
    loop {
        let Some(c) = cur.bump() else {
            return cur.err("Unexpected EOF processing block.");
        };
        // `)` is one byte, so the byte before it is at off - 2.
        let after_newline = cur.off >= start + 2 && cur.text.as_bytes()[cur.off - 2] == b'\n';
        if c == ')' && after_newline {
            match cur.peek() {
                None => return Ok(cur.text[start..cur.off].to_string()),
                Some('\n') => return Ok(cur.text[start..cur.off - 1].to_string()),
                Some(_) => {}
            }
        }
    }
}

/// How a bare key ended.
pub(super) struct BareKey {
    pub(super) key: String,
    /// Ended by white space (including a newline): only then can the word
    /// be the `include` keyword.
    pub(super) by_space: bool,
}

/// A key without quotes: runs up to white space (any Unicode white space,
/// newlines included), `=`, `:` or the end of input. Everything else,
/// braces and commas included, is part of the key (quirk: `cluster{` is a
/// key). `eof_msg`: error if the input ends inside the key (in a map); at
/// top level (None) the key simply ends.
pub(super) fn bare_key(cur: &mut Cursor<'_>, eof_msg: Option<&str>) -> LResult<BareKey> {
    let start = cur.off;
    loop {
        match cur.peek() {
            None => {
                if let Some(msg) = eof_msg {
                    return cur.err(msg);
                }
                return Ok(BareKey {
                    key: cur.text[start..cur.off].to_string(),
                    by_space: false,
                });
            }
            Some(c) if c.is_whitespace() || c == '=' || c == ':' => {
                return Ok(BareKey {
                    key: cur.text[start..cur.off].to_string(),
                    by_space: c.is_whitespace(),
                });
            }
            Some(_) => {
                cur.bump();
            }
        }
    }
}

/// A quoted key, the opening quote consumed: raw up to the matching quote
/// (no escapes; may contain spaces and newlines).
pub(super) fn quoted_key(cur: &mut Cursor<'_>, quote: char, eof_msg: &str) -> LResult<String> {
    let start = cur.off;
    loop {
        match cur.peek() {
            None => return cur.err(eof_msg),
            Some(c) if c == quote => {
                let key = cur.text[start..cur.off].to_string();
                cur.bump();
                return Ok(key);
            }
            Some(_) => {
                cur.bump();
            }
        }
    }
}

/// The path after the `include` keyword: quoted (no escapes) or bare. A
/// bare path ends at white space, a newline, `;`, `}` or the end of input;
/// note that `,` does not end it.
pub(super) fn include_path(cur: &mut Cursor<'_>) -> LResult<(Loc, String)> {
    cur.eat_while(is_blank);
    let loc = cur.loc();
    let bad = |what: &str| format!("Expected include value but found {what}");
    match cur.peek() {
        Some('\'') => {
            cur.bump();
            quoted_key(cur, '\'', "Unexpected EOF in quoted include").map(|p| (loc, p))
        }
        Some('"') => {
            cur.bump();
            quoted_key(cur, '"', "Unexpected EOF in double quoted include").map(|p| (loc, p))
        }
        Some('[') => cur.err(bad("start of an array")),
        Some('{') => cur.err(bad("start of a map")),
        Some('(') => cur.err(bad("start of a block")),
        Some(c) if c.is_ascii_digit() || c == '-' => cur.err(bad("start of a number")),
        Some('\\') => cur.err(bad("escape sequence")),
        Some(c) if is_nl(c) => cur.err(bad("new line")),
        _ => {
            let start = cur.off;
            loop {
                match cur.peek() {
                    None => break,
                    Some(c) if is_nl(c) || is_blank(c) || c == ';' || c == '}' => break,
                    Some('\'') => {
                        // Quirk (as for unquoted strings): a quote ends the
                        // path and is dropped.
                        let path = cur.text[start..cur.off].to_string();
                        cur.bump();
                        return Ok((loc, path));
                    }
                    Some(_) => {
                        cur.bump();
                    }
                }
            }
            Ok((loc, cur.text[start..cur.off].to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex(s: &str) -> Result<Lexed, String> {
        let mut c = Cursor::new(s);
        value(&mut c).map(|(_, l)| l).map_err(|e| e.msg)
    }

    /// Lexes one value and returns it with the text left over.
    fn lex_rest(s: &str) -> (Lexed, &str) {
        let mut c = Cursor::new(s);
        let (_, l) = value(&mut c).unwrap();
        (l, &s[c.off..])
    }

    fn s(x: &str) -> Lexed {
        Lexed::Str(x.to_string())
    }

    #[test]
    fn integers_and_suffixes() {
        assert_eq!(lex("4222"), Ok(Lexed::Int(4222)));
        assert_eq!(lex("-12"), Ok(Lexed::Int(-12)));
        assert_eq!(lex("1k"), Ok(Lexed::Int(1000)));
        assert_eq!(lex("1K"), Ok(Lexed::Int(1000)));
        assert_eq!(lex("1kb"), Ok(Lexed::Int(1024)));
        assert_eq!(lex("1KiB"), Ok(Lexed::Int(1024)));
        assert_eq!(lex("2m"), Ok(Lexed::Int(2_000_000)));
        assert_eq!(lex("1MB"), Ok(Lexed::Int(1 << 20)));
        assert_eq!(lex("10Gi"), Ok(Lexed::Int(10 << 30)));
        assert_eq!(lex("1t"), Ok(Lexed::Int(1_000_000_000_000)));
        assert_eq!(lex("1pb"), Ok(Lexed::Int(1 << 50)));
        assert_eq!(lex("1e"), Ok(Lexed::Int(1_000_000_000_000_000_000)));
        assert_eq!(lex("1eib"), Ok(Lexed::Int(1 << 60)));
        assert_eq!(lex("-1k"), Ok(Lexed::Int(-1000)));
        assert_eq!(lex("1kbbb"), Ok(Lexed::UnknownSuffix));
        assert_eq!(
            lex("99999999999999999999"),
            Err("integer '99999999999999999999' is out of the range".into())
        );
        assert_eq!(lex("10e"), Err("integer '10e' is out of the range".into()));
        assert_eq!(lex("-9223372036854775808"), Ok(Lexed::Int(i64::MIN)));
    }

    #[test]
    fn strings_that_start_with_digits() {
        assert_eq!(lex("2s"), Ok(s("2s")));
        assert_eq!(lex("500ms"), Ok(s("500ms")));
        assert_eq!(lex("1h"), Ok(s("1h")));
        assert_eq!(lex("1bi"), Ok(s("1bi")));
        assert_eq!(lex("127.0.0.1:4222"), Ok(s("127.0.0.1:4222")));
        assert_eq!(lex("1_000"), Ok(s("1_000")));
        // `]` swallowed after a plain integer, not after a suffix.
        assert_eq!(lex_rest("1] x"), (s("1]"), " x"));
        assert_eq!(lex_rest("1k]"), (s("1k"), "]"));
        // `1m30s`: the integer 1m, the rest is left for the caller.
        assert_eq!(lex_rest("1m30s"), (Lexed::Int(1_000_000), "30s"));
    }

    #[test]
    fn floats() {
        assert_eq!(lex("1.5"), Ok(Lexed::Float(1.5)));
        assert_eq!(lex("-0.25"), Ok(Lexed::Float(-0.25)));
        assert_eq!(lex_rest("1.5s"), (Lexed::Float(1.5), "s"));
        assert_eq!(
            lex("1."),
            Err("Floats must have a digit after the '.', but got EOF instead.".into())
        );
        assert_eq!(lex(".5"), Err("Floats must start with a digit".into()));
        assert_eq!(
            lex("-.5"),
            Err("Floats must start with a digit, not '.'.".into())
        );
        assert_eq!(lex("-x"), Err("Expected a digit but got 'x'.".into()));
    }

    #[test]
    fn datetimes() {
        assert_eq!(
            lex("2006-01-02T15:04:05Z"),
            Ok(Lexed::Datetime("2006-01-02T15:04:05Z".into()))
        );
        assert!(lex("2024-02-29T00:00:00Z").is_ok());
        assert_eq!(
            lex("2023-02-29T00:00:00Z"),
            Err("expected Zulu formatted DateTime, but got '2023-02-29T00:00:00Z'".into())
        );
        assert_eq!(
            lex("12-3"),
            Err("All ISO8601 dates must be in full Zulu form.".into())
        );
        assert_eq!(
            lex("2020-01-01X00:00:00Z"),
            Err("Expected 'T' in ISO8601 datetime, but found 'X' instead.".into())
        );
    }

    #[test]
    fn quoted_and_escapes() {
        assert_eq!(lex(r#""a\tb\n\r\"\\\x41""#), Ok(s("a\tb\n\r\"\\A")));
        assert_eq!(lex(r#""\xc3\xa9""#), Ok(s("é")));
        assert_eq!(lex(r"'a\qb'"), Ok(s(r"a\qb")));
        assert!(lex(r#""\q""#)
            .unwrap_err()
            .starts_with("Invalid escape character 'q'."));
        assert_eq!(
            lex(r#""\x4g""#),
            Err("Expected two hexadecimal digits after '\\x', but got '4g'".into())
        );
        assert_eq!(lex("\"abc"), Err("Unexpected EOF.".into()));
        assert_eq!(lex("'abc"), Err("Unexpected EOF.".into()));
    }

    #[test]
    fn unquoted_words() {
        assert_eq!(lex("YES"), Ok(Lexed::Bool(true)));
        assert_eq!(lex("Off"), Ok(Lexed::Bool(false)));
        assert_eq!(lex("truex"), Ok(s("truex")));
        assert_eq!(lex("$mp"), Ok(Lexed::Var("mp".into())));
        assert_eq!(lex("$2a$11$abc"), Ok(s("$2a$11$abc")));
        assert_eq!(lex("$2b$11$abc"), Ok(Lexed::Var("2b$11$abc".into())));
        assert_eq!(lex(r"tru\x65"), Ok(s("true")));
        assert_eq!(lex(r"a\tb"), Ok(s("a\tb")));
        assert_eq!(lex_rest("foo'bar"), (s("foo"), "bar"));
        assert_eq!(lex("foo#bar"), Ok(s("foo#bar")));
        assert_eq!(lex(""), Ok(s("")));
    }

    #[test]
    fn blocks() {
        assert_eq!(lex("(\nabc\n)\n"), Ok(s("\nabc\n")));
        assert_eq!(lex("(\nabc\n  )\n)\n"), Ok(s("\nabc\n  )\n")));
        assert_eq!(lex("(\nabc\n)"), Ok(s("\nabc\n)")));
        assert_eq!(
            lex("(abc)\n"),
            Err("Unexpected EOF processing block.".into())
        );
    }
}
