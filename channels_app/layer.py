"""The Redis channel layer, with a server process's messages taken off Redis in batches.

channels-redis keeps one Redis queue per server process for all of its sockets (a group
message is stored once per process, naming the sockets it is for). The library takes
that queue's messages off one at a time, each with four round trips in sequence (its
backup-queue script, BZPOPMIN, ZADD, ZPOPMIN), holding a lock meanwhile: a process could
take no more messages a second than those round trips allowed, and past the layer's
capacity the queue dropped live updates. Here the waiting messages are taken in one round
trip, up to `receive_batch` at a time, and handed to the sockets in order.

The library's backup queue kept a message safe while the socket taking it was cancelled
(closed). Here the batch is taken by a task of its own, shielded from the receiver: if
that socket closes meanwhile, the batch still arrives and the next receiver hands it on.
Messages taken but not yet handed over are lost only with the process itself, and its
sockets with them; their pages catch up from the event table when they reconnect.
"""

import asyncio
import collections

from channels_redis.core import RedisChannelLayer


class BatchReceiveChannelLayer(RedisChannelLayer):
    receive_batch = 200

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._taken_by_loop = {}  # event loop -> _Taken

    async def receive_single(self, channel):
        if "!" not in channel:  # not a server process's queue: as the library does it
            return await super().receive_single(channel)
        taken = self._taken_by_loop.setdefault(asyncio.get_running_loop(), _Taken())
        while not taken.messages:
            if taken.task is None or taken.task.done():
                taken.task = asyncio.ensure_future(self._take_batch(channel, taken.messages))
                taken.task.add_done_callback(_retrieve_exception)
            await asyncio.shield(taken.task)
        return taken.messages.popleft()

    async def flush(self):
        for taken in self._taken_by_loop.values():
            if taken.task is not None:
                taken.task.cancel()
        self._taken_by_loop.clear()
        await super().flush()

    async def _take_batch(self, channel, into):
        """Wait for messages on the process's queue and take up to `receive_batch` of them,
        oldest first, appending (channel or channels, message) pairs to `into`."""
        connection = self.connection(self.consistent_hash(channel))
        key = self.prefix + channel
        while True:
            members = await connection.zpopmin(key, self.receive_batch)
            if members:
                break
            popped = await connection.bzpopmin(key, timeout=self.brpop_timeout)
            if popped is not None:
                members = [popped[1:]]
                break
        for member, _score in members:
            message = self.deserialize(member)
            into.append((message.pop("__asgi_channel__", channel), message))


class _Taken:
    def __init__(self):
        self.messages = collections.deque()
        self.task = None


def _retrieve_exception(task):
    # A batch whose receiver was cancelled may fail with no one awaiting it; the next
    # receiver starts another.
    if not task.cancelled():
        task.exception()
