"""What an idle agent socket costs one daphne process, and how many it holds.

A fresh daphne (no other load) takes a few warm-up sockets, then its RSS is read; then
`idle` more agent sockets connect (each sends its resume, as live.js does) and sit idle,
and the RSS is read again: the difference over `idle` is the memory per socket. Then
sockets are added up to `held`; after a pause every one is pinged, and the sockets that
are still open and answer within 30 s are the ones the process holds.
"""

import asyncio
import json
import time

from bench.app import rss_kib
from bench.push import create_sessions
from bench.wsclient import Closed, HandshakeFailed, WebSocket


async def _open(port, session_key):
    ws = await WebSocket.connect(
        "127.0.0.1",
        port,
        "/ws/agent/",
        headers=[
            ("Origin", f"http://127.0.0.1:{port}"),
            ("Cookie", f"sessionid={session_key}"),
        ],
        timeout=60,
    )
    await ws.send(json.dumps({"type": "resume", "last_event_id": 0}))
    # Read from the start: the server pings every 20 s and closes a socket that has not
    # answered within 30 s, and opening two thousand can take longer than that.
    ws.draining = asyncio.create_task(_drain(ws))
    return ws


async def _drain(ws):
    """Read (and drop) what the server sends, so pongs are seen and buffers stay empty."""
    try:
        while True:
            await ws.recv()
    except Closed:
        return


async def _open_many(port, keys, count, batch=50):
    sockets, failures = [], 0
    for start in range(0, count, batch):
        results = await asyncio.gather(
            *(_open(port, keys[(start + k) % len(keys)]) for k in range(min(batch, count - start))),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, (HandshakeFailed, OSError, TimeoutError)):
                failures += 1
            elif isinstance(result, Exception):
                raise result
            else:
                sockets.append(result)
    return sockets, failures


async def _measure(app, keys, idle, held, log):
    port, pid = app.ports[0], app.web_pids[0]
    warm, _ = await _open_many(port, keys, 20)
    await asyncio.sleep(3)
    before = rss_kib(pid)
    started = time.perf_counter()
    idle_sockets, idle_failures = await _open_many(port, keys, idle)
    await asyncio.sleep(5)
    after = rss_kib(pid)
    log(
        f"sockets: {len(idle_sockets)} idle sockets in {time.perf_counter() - started:.1f} s, "
        f"RSS {before / 1024:.0f} → {after / 1024:.0f} MiB"
    )
    more, more_failures = await _open_many(port, keys, max(0, held - idle - len(warm)))
    everything = warm + idle_sockets + more
    await asyncio.sleep(10)
    closed_while_idle = sum(1 for ws in everything if ws.closed)
    for ws in everything:
        if not ws.closed:
            await ws.ping()
    deadline = time.monotonic() + 30  # a busy server answers late: late is still held
    while time.monotonic() < deadline:
        if all(ws.closed or not ws.pongs.empty() for ws in everything):
            break
        await asyncio.sleep(0.5)
    answering = sum(1 for ws in everything if not ws.closed and not ws.pongs.empty())
    peak = rss_kib(pid)
    for ws in everything:
        ws.draining.cancel()
    await asyncio.gather(*(ws.close() for ws in everything), return_exceptions=True)
    return {
        "socket_kib_each": round((after - before) / max(1, len(idle_sockets)), 1),
        "sockets_held": answering,
        "details": {
            "idle_sockets": len(idle_sockets),
            "rss_before_kib": before,
            "rss_after_idle_kib": after,
            "rss_at_held_kib": peak,
            "tried": held,
            "connect_failures": idle_failures + more_failures,
            "closed_by_server_while_idle": closed_while_idle,
            "open_without_pong_after_30_s": sum(
                1 for ws in everything if not ws.closed and ws.pongs.empty()
            ),
            "server_errors_in_log": app.errors(),
        },
    }


def measure(app, dataset, idle, held, log=print):
    users = [*dataset.agent_ids, *dataset.supervisor_ids]
    keys = list(create_sessions(users).values())
    return asyncio.run(_measure(app, keys, idle, held, log))
