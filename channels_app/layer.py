"""The Redis channel layer: a server process's messages taken off Redis in batches, and a
process that lost some tells its sockets.

channels-redis keeps one Redis queue per server process for all of its sockets (a group
message is stored once per process, naming the sockets it is for). The library takes
that queue's messages off one at a time, each with four round trips in sequence (its
backup-queue script, BZPOPMIN, ZADD, ZPOPMIN), holding a lock meanwhile: a process could
take no more messages a second than those round trips allowed. Here the waiting messages
are taken in one round trip, up to `receive_batch` at a time, and handed on in order.

The library's backup queue kept a message safe while the socket taking it was cancelled
(closed). Here the batch is taken by a task of its own, shielded from the receiver: if
that socket closes meanwhile, the batch still arrives and the next receiver hands it on.
Messages taken but not yet handed over are lost only with the process itself, and its
sockets with them; their pages catch up from the event table when they reconnect.

A process that falls far behind still loses messages: the queue drops what does not fit
(`capacity`) and what waited longer than `expiry`. A page cannot find such a gap by
itself (it has applied later events), so the sender marks the queue, the process reads
the mark as it takes its next batch, and every socket of the process in a group gets
`{"type": "live.missed"}`; the consumers tell their pages to reload (the resync).
"""

import asyncio
import collections
import time

from channels_redis.core import RedisChannelLayer

MISSED = {"type": "live.missed"}

# KEYS: the processes' queues, then each queue's mark of loss. ARGV: the message for each
# queue, each queue's capacity, then the time and the expiry.
_GROUP_SEND = """
local n = #KEYS / 2
local now = tonumber(ARGV[2 * n + 1])
local expiry = tonumber(ARGV[2 * n + 2])
local dropped = 0
for i = 1, n do
    local lost = redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, now - expiry) > 0
    if redis.call('ZCARD', KEYS[i]) < tonumber(ARGV[n + i]) then
        redis.call('ZADD', KEYS[i], now, ARGV[i])
        -- Longer than a message's expiry, so an expired message is removed (and marked)
        -- here rather than gone unnoticed with the whole queue.
        redis.call('EXPIRE', KEYS[i], expiry * 10)
    else
        lost = true
        dropped = dropped + 1
    end
    if lost then
        redis.call('SET', KEYS[n + i], 1, 'EX', expiry * 10)
    end
end
return dropped
"""

# KEYS: a process's queue and its mark of loss. ARGV: how many to take.
_TAKE = """
local taken = redis.call('ZPOPMIN', KEYS[1], ARGV[1])
local lost = redis.call('GETDEL', KEYS[2])
return {lost and 1 or 0, taken}
"""


def _mark_of_loss(queue_key):
    return f"{queue_key}:lost"


class BatchReceiveChannelLayer(RedisChannelLayer):
    receive_batch = 200

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._taken_by_loop = {}  # event loop -> _Taken
        self._group_members = collections.defaultdict(set)  # local channel -> its groups

    # -- groups: who in this process is listening ---------------------------------------

    async def group_add(self, group, channel):
        await super().group_add(group, channel)
        self._group_members[channel].add(group)

    async def group_discard(self, group, channel):
        await super().group_discard(group, channel)
        groups = self._group_members.get(channel)
        if groups is not None:
            groups.discard(group)
            if not groups:
                del self._group_members[channel]

    async def group_send(self, group, message):
        """As the library's, in one script per Redis host that also marks each queue that
        lost a message (dropped for lack of room, or removed as expired)."""
        assert self.require_valid_group_name(group), "Group name not valid"
        key = self._group_key(group)
        connection = self.connection(self.consistent_hash(group))
        await connection.zremrangebyscore(key, min=0, max=int(time.time()) - self.group_expiry)
        channel_names = [name.decode("utf8") for name in await connection.zrange(key, 0, -1)]
        by_connection, message_for, capacity_for = self._map_channel_keys_to_connection(
            channel_names, message
        )
        for index, queues in by_connection.items():
            await self.connection(index).eval(
                _GROUP_SEND,
                2 * len(queues),
                *queues,
                *(_mark_of_loss(queue) for queue in queues),
                *(message_for[queue] for queue in queues),
                *(capacity_for[queue] for queue in queues),
                time.time(),
                int(self.expiry),
            )

    # -- receiving -----------------------------------------------------------------------

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

    async def _take_batch(self, channel, into):
        """Wait for messages on the process's queue and take up to `receive_batch` of them,
        oldest first, appending (channel or channels, message) pairs to `into`; if the queue
        lost messages, then a `MISSED` for every socket of the process in a group."""
        connection = self.connection(self.consistent_hash(channel))
        queue = self.prefix + channel
        while True:
            lost, flat = await connection.eval(
                _TAKE, 2, queue, _mark_of_loss(queue), self.receive_batch
            )
            members = flat[0::2]
            if members or lost:
                break
            popped = await connection.bzpopmin(queue, timeout=self.brpop_timeout)
            if popped is not None:
                members = [popped[1]]
                break
        for member in members:
            message = self.deserialize(member)
            into.append((message.pop("__asgi_channel__", channel), message))
        if lost and self._group_members:
            into.append((list(self._group_members), dict(MISSED)))

    async def flush(self):
        for taken in self._taken_by_loop.values():
            if taken.task is not None:
                taken.task.cancel()
        self._taken_by_loop.clear()
        self._group_members.clear()
        await super().flush()


class _Taken:
    def __init__(self):
        self.messages = collections.deque()
        self.task = None


def _retrieve_exception(task):
    # A batch whose receiver was cancelled may fail with no one awaiting it; the next
    # receiver starts another.
    if not task.cancelled():
        task.exception()
