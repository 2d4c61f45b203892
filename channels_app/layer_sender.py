"""Sending to the channel layer from synchronous code, cheaply.

`async_to_sync` called from a thread with no event loop above it (a Celery worker, a
management command) starts a fresh loop per call, and channels-redis keeps its Redis
connections per loop: every broadcast would open new connections. Here such processes get
one long-lived loop on a daemon thread, so the connections are reused. The in-memory layer
(embedded mode, one process) keeps `async_to_sync`: its queues belong to the server's loop.
"""

import asyncio
import threading

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer

_loop = None
_lock = threading.Lock()


def _background_loop():
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(
                target=loop.run_forever, name="channel-layer-sender", daemon=True
            ).start()
            _loop = loop
    return _loop


def send_to_groups(layer, messages, timeout=10):
    """Send (group, message) pairs in order, all in one trip to the event loop."""

    async def send_all():
        for group, message in messages:
            await layer.group_send(group, message)

    if isinstance(layer, InMemoryChannelLayer):
        async_to_sync(send_all)()
        return
    future = asyncio.run_coroutine_threadsafe(send_all(), _background_loop())
    future.result(timeout)
