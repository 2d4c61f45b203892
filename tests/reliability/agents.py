"""An agent's live socket as the workspace's scripts drive it (static/js/live.js).

It signs in, takes the last event id the page was rendered with, and on every (re)connect
sends `resume` (and `open` for the conversation on screen) with the last event id it
applied, then keeps every frame it is sent, per connection. The socket runs on an event
loop in a thread of its own, so the test stays synchronous.
"""

import asyncio
import json
import re
import threading
import time

import aiohttp

from tests.integration.test_live_app import signed_in_client

FRAME = re.compile(r"^<!-- live-event (\d+) (\w+) -->")
LAST_EVENT = re.compile(r'id="workspace"[^>]*data-last-event-id="(\d+)"')


class AgentSocket:
    def __init__(self, stack, email, conversation=None):
        self.stack = stack
        client = signed_in_client(stack, email)
        page = client.get(f"/conversations/{conversation}/" if conversation else "/")
        self.last_event_id = int(LAST_EVENT.search(page.text).group(1))
        self.cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
        client.close()
        self.conversation = conversation
        self.connections = []  # per connection: the frames it carried
        self.applied = set()
        self._ws = None
        self._session = None
        self._reader = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def _run(self, coroutine, timeout=20):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    # -- connection ----------------------------------------------------------------------------

    def connect(self):
        """Open the socket and resume from the last event applied. True if it opened."""
        return self._run(self._connect())

    async def _connect(self):
        await self._drop()
        self._session = aiohttp.ClientSession(
            headers={"Cookie": self.cookie, "Origin": self.stack.url}
        )
        try:
            self._ws = await asyncio.wait_for(
                self._session.ws_connect(f"{self.stack.url.replace('http', 'ws', 1)}/ws/agent/"),
                5,
            )
        except (aiohttp.ClientError, TimeoutError):
            await self._drop()
            return False
        frames = []
        self.connections.append(frames)
        await self._ws.send_str(json.dumps({"type": "resume", "last_event_id": self.last_event_id}))
        if self.conversation:
            await self._ws.send_str(
                json.dumps(
                    {
                        "type": "open",
                        "conversation": self.conversation,
                        "last_event_id": self.last_event_id,
                    }
                )
            )
        self._reader = asyncio.ensure_future(self._read(self._ws, frames))
        return True

    async def _read(self, ws, frames):
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            match = FRAME.match(message.data)
            if not match:
                continue
            key = (int(match.group(1)), match.group(2))
            frames.append((*key, message.data))
            if key not in self.applied:
                self.applied.add(key)
                self.last_event_id = max(self.last_event_id, key[0])

    async def _drop(self):
        if self._ws is not None:
            await self._ws.close()
            self._ws = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def open(self):
        return self._ws is not None and not self._ws.closed

    def reconnect(self, timeout=30):
        """Reconnect until the server takes the socket, as the page does after a drop."""
        deadline = time.monotonic() + timeout
        while not self.connect():
            if time.monotonic() > deadline:
                raise AssertionError("the agent socket could not reconnect")
            time.sleep(0.3)

    def close(self):
        self._run(self._drop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    # -- what it was sent ------------------------------------------------------------------------

    def frames(self, connection=-1, part=None):
        return [html for _id, p, html in self.connections[connection] if part in (None, p)]

    def wait_until_dropped(self, timeout=15):
        """The server closed the socket (the page then reconnects by itself)."""
        deadline = time.monotonic() + timeout
        while self.open:
            if time.monotonic() > deadline:
                raise AssertionError("the agent socket stayed open")
            time.sleep(0.1)

    def wait_for_frames(self, check, connection=-1, timeout=15):
        deadline = time.monotonic() + timeout
        while not check(self.frames(connection)):
            if time.monotonic() > deadline:
                raise AssertionError("the agent was never sent the frames expected")
            time.sleep(0.1)
