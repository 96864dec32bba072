//! Outbound frames, formatted straight into an outbox buffer with an integer
//! formatter: no allocation per message.

/// Appends a MSG or HMSG for one subscriber.
///
/// `message` is headers followed by payload, `header_len` the size of the
/// header block (0: none). A subscriber without header support gets a plain
/// MSG with only the payload, as nats-server does.
///
/// `sizes` are the header and total size fields as the publisher wrote them
/// (`[b"", total]` for PUB; empty to compute them): nats-server copies them
/// verbatim, leading zeros included, unless it strips the headers.
#[inline]
#[allow(clippy::too_many_arguments)]
pub fn write_msg(
    out: &mut Vec<u8>,
    subject: &[u8],
    sid: &[u8],
    reply: Option<&[u8]>,
    header_len: usize,
    message: &[u8],
    subscriber_headers: bool,
    sizes: [&[u8]; 2],
) {
    let mut num = itoa::Buffer::new();
    let (with_headers, body) = if header_len > 0 && subscriber_headers {
        (true, message)
    } else {
        (false, &message[header_len.min(message.len())..])
    };
    out.reserve(subject.len() + sid.len() + reply.map_or(0, |r| r.len() + 1) + body.len() + 32);
    out.extend_from_slice(if with_headers { b"HMSG " } else { b"MSG " });
    out.extend_from_slice(subject);
    out.push(b' ');
    out.extend_from_slice(sid);
    out.push(b' ');
    if let Some(r) = reply {
        out.extend_from_slice(r);
        out.push(b' ');
    }
    let verbatim = !sizes[1].is_empty() && (with_headers || header_len == 0);
    if with_headers {
        if verbatim {
            out.extend_from_slice(sizes[0]);
        } else {
            out.extend_from_slice(num.format(header_len).as_bytes());
        }
        out.push(b' ');
    }
    if verbatim {
        out.extend_from_slice(sizes[1]);
    } else {
        out.extend_from_slice(num.format(body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\n");
}

/// Appends the no-responders status message nats-server 2.14 sends to the
/// requester's reply subscription.
pub fn write_no_responders(out: &mut Vec<u8>, reply: &[u8], sid: &[u8], subject: &[u8]) {
    let mut num = itoa::Buffer::new();
    let len = num.format(32 + subject.len());
    out.extend_from_slice(b"HMSG ");
    out.extend_from_slice(reply);
    out.push(b' ');
    out.extend_from_slice(sid);
    out.push(b' ');
    out.extend_from_slice(len.as_bytes());
    out.push(b' ');
    out.extend_from_slice(len.as_bytes());
    out.extend_from_slice(b"\r\nNATS/1.0 503\r\nNats-Subject: ");
    out.extend_from_slice(subject);
    out.extend_from_slice(b"\r\n\r\n\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msg_forms() {
        let mut o = Vec::new();
        write_msg(
            &mut o,
            b"greet.joe",
            b"1",
            Some(b"reply.1"),
            0,
            b"hello",
            true,
            [b"", b""],
        );
        assert_eq!(o, b"MSG greet.joe 1 reply.1 5\r\nhello\r\n");
        o.clear();
        let m = b"NATS/1.0\r\nX-Id: 7\r\n\r\nhi";
        write_msg(&mut o, b"greet.ann", b"1", None, 21, m, true, [b"", b""]);
        assert_eq!(
            o,
            b"HMSG greet.ann 1 21 23\r\nNATS/1.0\r\nX-Id: 7\r\n\r\nhi\r\n"
        );
        o.clear();
        write_msg(&mut o, b"hh", b"1", None, 21, m, false, [b"021", b"023"]);
        assert_eq!(o, b"MSG hh 1 2\r\nhi\r\n");
        o.clear();
        write_msg(&mut o, b"hh", b"1", None, 21, m, true, [b"021", b"023"]);
        assert_eq!(o, b"HMSG hh 1 021 023\r\nNATS/1.0\r\nX-Id: 7\r\n\r\nhi\r\n");
        o.clear();
        write_msg(&mut o, b"p", b"1", None, 0, b"abc", false, [b"", b"003"]);
        assert_eq!(o, b"MSG p 1 003\r\nabc\r\n");
    }

    #[test]
    fn no_responders_form() {
        let mut o = Vec::new();
        write_no_responders(&mut o, b"_INBOX.r1", b"3", b"nobody.home");
        assert_eq!(
            o,
            b"HMSG _INBOX.r1 3 43 43\r\nNATS/1.0 503\r\nNats-Subject: nobody.home\r\n\r\n\r\n"
                .as_slice()
        );
    }
}
