#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/seeds/<target>/ from the client side of
the transcripts in shared/spec/client-protocol.md §17 (nats-server 2.14),
for `config` from the Helm chart configs in shared/data/helm/ (NATSD_SHARED
names the shared folder if it is not ../../../shared from here) and the
examples of shared/spec/config.md, for `http_request` from real monitoring
requests (curl, Go's net/http, a browser).

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


# shared/spec/config.md §6, and grammar corners from config/mod.rs.
CONFIGS = {
    "spec_single_user": b"""# classic single user
port: 4222
http_port: 8222
authorization { user: admin, password: "$2a$11$..." , timeout: 2 }
""",
    "spec_accounts": b"""listen: 0.0.0.0:4222
server_name: n1
max_payload: 8MB
max_pending: 128MB
ping_interval: "20s"
ping_max: 3
write_deadline: "5s"
log_file: "/var/log/nats/nats.log"
logtime: true
pid_file: "/var/run/nats/nats.pid"
accounts {
  APP: { users: [ {user: app, password: $APP_PASSWORD} ] }
  SYS: { users: [ {user: sys, password: $SYS_PASSWORD} ] }
}
system_account: SYS
include "tls.conf"
""",
    "grammar_corners": b"""// comments both ways
# sizes, booleans, floats, datetimes
a = 2m; b: 1kb, c 10GiB
yes_ = YES
f: 1.5
d: 2006-01-02T15:04:05Z
s1: "esc \\t \\x41 \\" \\\\"
s2: 'raw \\n'
bcrypt: $2a$11$abcdefghijklmnopqrstuv
mp = 4096
max_payload: $mp
from_env: $MP
map_env: $MAPV
block: (
  line one
  line two
)
arr: [1, "two", 3.0, [ ], {x: y}, ]
nested { deep { deeper { k: v } } }
"quoted key": 1
'single': 2
cluster{ port: 6222 }
include nested.conf
include 'dir/inner.conf'
""",
    "include_cycle": b"include cycle.conf\n",
    "include_bad": b"port: 1\ninclude bad.conf\n",
    "include_missing": b"include nowhere.conf\n",
    "error_duration": b"port: 1m30s\n",
    "error_unclosed": b"a: [1, 2\nb: {\n",
    "error_env": b"x: $BAD\ny: $UNSET\n",
    # Found by this target: bare-only keys (both quotes) per depth.
    "regression_bare_only_keys": b"]a\"b'c: 1\n}a\"b'c = 2\nm { {a\"b'c: 4, [x\"'y: 5 }\n",
    # Found by this target: a percent escape before a multi-byte character.
    "regression_route_url_percent": "cluster {\n  port: 6222\n  routes: [\"nats://u%\u00e9:p%4\u00e9@h:6222\"]\n}\n".encode(),
    # Found by this target: a duration fraction with many leading zeros.
    "regression_long_fraction": b'write_deadline: "3.' + b"0" * 80 + b'4s"\n',
    "json_wrapped": b'{\n  "port": 4222,\n  "server_name": $SERVER_NAME,\n  include params.conf;\n}\n',
}


def config():
    for name, text in CONFIGS.items():
        write("config", name, text)
    shared = os.environ.get("NATSD_SHARED", os.path.join(HERE, "..", "..", "..", "shared"))
    helm = os.path.join(shared, "data", "helm")
    if not os.path.isdir(helm):
        print(f"make_seeds: {helm} not found, config seeds from the Helm chart skipped")
        return
    for case in sorted(os.listdir(helm)):
        if not os.path.isdir(os.path.join(helm, case)):
            continue
        for f in sorted(os.listdir(os.path.join(helm, case))):
            if f.endswith(".conf"):
                with open(os.path.join(helm, case, f), "rb") as src:
                    write("config", "helm_" + case + "_" + f.replace(".", "_"), src.read())


REQUESTS = {
    "curl_varz": b"GET /varz HTTP/1.1\r\nHost: 127.0.0.1:8222\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n",
    "go_connz_subs": b"GET /connz?subs=detail&sort=msgs_to&limit=2&offset=0&state=any HTTP/1.1\r\n"
                     b"Host: 127.0.0.1:8222\r\nUser-Agent: Go-http-client/1.1\r\nAccept-Encoding: gzip\r\n\r\n",
    "closed_by_reason": b"GET /connz?state=closed&sort=reason&auth=true HTTP/1.0\r\n\r\n",
    "cid": b"GET /connz?cid=2&subs=1 HTTP/1.0\r\n\r\n",
    "subsz_test": b"GET /subsz?subs=1&test=foo.a&limit=1 HTTP/1.1\r\nHost: x\r\n\r\n",
    "accountz": b"GET /accountz?acc=%24G HTTP/1.1\r\nHost: x\r\n\r\n",
    "accstatz_unused": b"GET /accstatz?unused=1&accounts=$G HTTP/1.0\r\n\r\n",
    "healthz_jsonp": b"GET /healthz?js-enabled-only=true&callback=cb HTTP/1.0\r\n\r\n",
    "jsz": b"GET /jsz?accounts=true&streams=1&config=1 HTTP/1.0\r\n\r\n",
    "routez_gatewayz_leafz": b"GET /routez?subs=1 HTTP/1.0\r\n\r\n",
    "head_index": b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n",
    "absolute_target": b"GET http://127.0.0.1:8222/varz?x=%3E+y HTTP/1.1\r\nHost: h\r\n\r\n",
    "browser": b"GET /connz HTTP/1.1\r\nHost: localhost:8222\r\nConnection: keep-alive\r\n"
               b"Accept: text/html,application/xhtml+xml\r\nAccept-Language: en-US,en;q=0.9\r\n\r\n",
    "bare_lf_with_body": b"POST /varz HTTP/1.0\nContent-Length: 3\n\nabc",
    "http2_preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "bad_escape": b"GET /%zz HTTP/1.0\r\n\r\n",
}


def http_request():
    for name, req in REQUESTS.items():
        write("http_request", name, bytes([0, 0]) + req)
    # Split inside the request line and between headers; and under /mon.
    req = REQUESTS["go_connz_subs"]
    cuts = [3, 4, 20, req.index(b"\r\n") + 1, len(req) - 2]
    write("http_request", "go_connz_subs_cut",
          bytes([0, len(cuts)]) + b"".join(struct.pack("<H", c) for c in cuts) + req)
    write("http_request", "base_path_varz", bytes([1, 0]) + b"GET /mon/varz HTTP/1.0\r\n\r\n")


if __name__ == "__main__":
    client_parser()
    connection()
    sublist()
    config()
    http_request()
