"""Drives a server with nats-py, the official Python client, the way an
application would: pub/sub, queue groups, request/reply, headers, and a
reconnect after the server restarts. Usage: python_client.py SERVER_BINARY"""
import asyncio
import collections
import sys

import nats
from nats.errors import NoRespondersError

from common_server import Server

T = 20  # seconds any single step may take (generous: CI machines are shared)


async def check(binary):
    srv = Server(binary).start()
    try:
        reconnected = asyncio.Event()

        async def on_reconnect():
            reconnected.set()

        nc = await nats.connect(srv.url, connect_timeout=10, reconnect_time_wait=0.1, max_reconnect_attempts=-1,
                                reconnected_cb=on_reconnect)
        other = await nats.connect(srv.url, connect_timeout=10)

        # pub/sub with wildcards
        sub = await nc.subscribe("py.*.x")
        full = await nc.subscribe("py.>")
        await nc.flush()
        await other.publish("py.a.x", b"one")
        m = await sub.next_msg(timeout=T)
        assert (m.subject, m.data) == ("py.a.x", b"one"), m
        m = await full.next_msg(timeout=T)
        assert m.data == b"one"

        # queue group: each message once, spread over members
        counts = collections.Counter()
        qsubs = []
        for i in range(3):
            async def cb(msg, i=i):
                counts[i] += 1
            qsubs.append(await nc.subscribe("py.q", queue="workers", cb=cb))
        await nc.flush()
        for _ in range(300):
            await other.publish("py.q", b"w")
        await other.flush()
        for _ in range(400):
            if sum(counts.values()) >= 300:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        assert sum(counts.values()) == 300, counts
        assert all(counts[i] > 30 for i in range(3)), counts

        # request/reply with headers
        async def responder(msg):
            await msg.respond(b"pong:" + msg.data + msg.headers.get("X-Id", "").encode())
        await other.subscribe("py.svc", cb=responder)
        await other.flush()
        r = await nc.request("py.svc", b"ping", timeout=T, headers={"X-Id": "7"})
        assert r.data == b"pong:ping7", r.data

        # no responders
        try:
            await nc.request("nobody.py", b"?", timeout=T)
            raise AssertionError("expected NoRespondersError")
        except NoRespondersError:
            pass

        # reconnect after a restart on the same port
        await other.close()
        srv.stop()
        srv.start()
        await asyncio.wait_for(reconnected.wait(), T * 2)
        after = await nc.subscribe("py.after")
        await nc.flush()
        await nc.publish("py.after", b"back")
        m = await after.next_msg(timeout=T)
        assert m.data == b"back"
        await nc.close()
    finally:
        srv.stop()
    print(f"python client (nats-py): all checks passed against {binary}")


if __name__ == "__main__":
    asyncio.run(asyncio.wait_for(check(sys.argv[1]), 110))
