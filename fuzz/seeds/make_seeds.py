#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/seeds/<target>/ from the client side of
the transcripts in shared/spec/client-protocol.md §17 (nats-server 2.14).

Each target has its own input layout (see the top of its file in
fuzz_targets/); this script prefixes the transcript bytes accordingly.
Re-run it after changing a layout:  python3 fuzz/seeds/make_seeds.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

CONNECT = (b'CONNECT {"verbose":true,"pedantic":true,"headers":true,"no_responders":true,'
           b'"protocol":1,"name":"demo","lang":"raw","version":"0"}\r\n')

# §17, plain server: every C: line in order.
PLAIN = [
    CONNECT,
    b"PING\r\n",
    b"SUB greet.* 1\r\n",
    b"SUB greet.* workers 2\r\n",
    b"PUB greet.joe reply.1 5\r\nhello\r\n",
    b"HPUB greet.ann 21 23\r\nNATS/1.0\r\nX-Id: 7\r\n\r\nhi\r\n",
    b"SUB _INBOX.r1 3\r\n",
    b"PUB nobody.home _INBOX.r1 0\r\n\r\n",
    b"UNSUB 1 1\r\n",
    b"PUB greet.x 1\r\n!\r\n",
    b"PUB greet.* 1\r\n!\r\n",
    b"SUB bad..subject 9\r\n",
    b"PUB greet.y 2000000\r\n",
]

# §17, errors that close, each after CONNECT {"verbose":false}.
QUIET = b'CONNECT {"verbose":false}\r\n'
ERRORS = {
    "unknown_op": b"FOO bar\r\n",
    "bad_payload_end": b"PUB foo 5\r\nhelloXX\r\n",
    "pub_missing_size": b"PUB foo\r\n",
    "long_control_line": b"SUB " + b"a" * 4097 + b"\r\n",
    "invalid_protocol": b'CONNECT {"protocol":2}\r\n',
    "no_responders_without_headers": b'CONNECT {"no_responders":true,"headers":false}\r\n',
}

# §17, stale connection: a silent client (the server's PINGs go unanswered).
STALE = [QUIET]


def write(target, name, data):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def client_parser():
    write("client_parser", "transcript_plain", b"\x00" + b"".join(PLAIN))
    write("client_parser", "transcript_plain_tiny_limits", b"\x01" + b"".join(PLAIN))
    for name, err in ERRORS.items():
        write("client_parser", "error_" + name, b"\x00" + QUIET + err)
    write("client_parser", "ignored_tails", b"\x01" + b"PING xyz\r\nPONG\tabc\r\n+OK 1\r\nPINGpong\n")
    write("client_parser", "lowercase_tabs_lf", b"\x00" + b"sub\tgreet.*\t1\npub greet.joe  5 \nhello\r\nping\n")


def conn_seed(cfg, cuts, data):
    assert len(cuts) <= 32
    head = bytes([cfg, len(cuts)]) + b"".join(struct.pack("<H", c) for c in cuts)
    return head + data


def connection():
    plain = b"".join(PLAIN)
    # Cut at every frame boundary, and inside frames.
    bounds, pos = [], 0
    for frame in PLAIN:
        pos += len(frame)
        bounds.append(pos)
    inside = [len(CONNECT) + 3, len(CONNECT) + 8, bounds[4] - 4, bounds[5] - 9, bounds[5] - 1]
    write("connection", "transcript_plain", conn_seed(0, [], plain))
    write("connection", "transcript_plain_cut_frames", conn_seed(0, bounds[:-1], plain))
    write("connection", "transcript_plain_cut_inside", conn_seed(0, sorted(inside), plain))
    write("connection", "transcript_plain_tiny_limits", conn_seed(1, sorted(inside), plain))
    write("connection", "transcript_plain_unread", conn_seed(4 | 8, [], plain))
    write("connection", "transcript_plain_clock", conn_seed(16, bounds[:-1], plain))
    auth = b'CONNECT {"user":"u","pass":"p","verbose":true,"headers":true}\r\n' + b"".join(PLAIN[1:])
    write("connection", "transcript_auth", conn_seed(2, [], auth))
    write("connection", "auth_wrong_first_op", conn_seed(2, [], b"PING\r\n"))
    for name, err in ERRORS.items():
        write("connection", "error_" + name, conn_seed(0, [len(QUIET) + 2], QUIET + err))
    write("connection", "ignored_tails", conn_seed(1, [9], QUIET + b"PING xyz\r\nPONG\tabc\r\n+OK 1\r\nPINGpong\n"))
    # Stale connection: no input after CONNECT, the clock runs.
    write("connection", "stale_silent", conn_seed(16, list(range(1, 16)), b"".join(STALE)))


TOKENS = ["greet", "joe", "ann", "_INBOX", "r1", "a", "*", ">", "", "nobody"]


def subj(s):
    toks = s.split(".")
    assert 1 <= len(toks) <= 4
    return bytes([len(toks) - 1] + [TOKENS.index(t) for t in toks])


def ins(s, q=0):
    return b"\x00" + subj(s) + bytes([q])


def match(s):
    return b"\x06" + subj(s)


def remove(i):
    return b"\x04" + bytes([i])


def sublist():
    # The transcript's subscriptions and publishes.
    ops = [
        ins("greet.*"), ins("greet.*", 1), ins("_INBOX.r1"),
        match("greet.joe"), match("greet.ann"), match("nobody"), match("_INBOX.r1"),
        remove(0),
        match("greet.a"), match("greet.*"), match("greet..a"),
        ins(">"), ins("greet.>", 2), ins("*.joe", 1), match("greet.joe"), match("greet"),
        remove(1), remove(0), match("greet.joe"),
    ]
    write("sublist", "transcript", b"".join(ops))


if __name__ == "__main__":
    client_parser()
    connection()
    sublist()
