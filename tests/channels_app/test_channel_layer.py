"""The Redis channel layer as configured: sockets must not die of their own idle waits, and
a server process takes the messages waiting for its sockets off Redis many at a time."""

import asyncio

import pytest
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.conf import settings
from redis.asyncio import Redis

from channels_app.layer import BatchReceiveChannelLayer

pytestmark = pytest.mark.integration


def layer_for(prefix, **config):
    """The configured layer, on keys of its own."""
    return BatchReceiveChannelLayer(
        **{**settings.CHANNEL_LAYERS["default"]["CONFIG"], "prefix": prefix, **config}
    )


def run_then_clear(layer, scenario):
    """Run `scenario()` in an event loop of its own, then delete the layer's keys and close
    its connections."""

    async def run():
        try:
            return await scenario()
        finally:
            await layer.flush()
            await layer.close_pools()

    return asyncio.run(run())


async def sockets_in(layer, group, count):
    """`count` new sockets of this process, in `group`."""
    sockets = [await layer.new_channel() for _ in range(count)]
    for socket in sockets:
        await layer.group_add(group, socket)
    return sockets


async def send_numbered(layer, group, count):
    for n in range(count):
        await layer.group_send(group, {"type": "live.event", "html": str(n)})


async def read_all(layer, socket, timeout=1):
    """What `socket` receives until nothing more comes."""
    received = []
    while True:
        try:
            message = await asyncio.wait_for(layer.receive(socket), timeout)
        except TimeoutError:
            return received
        received.append(message.get("html", message["type"]))


def test_reads_wait_longer_than_the_layers_blocking_pop():
    # A socket's receive blocks in Redis for brpop_timeout seconds. With a read timeout of
    # the same length the client gave up first under load, and the consumer died.
    [host] = settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"]
    assert host["socket_timeout"] >= RedisChannelLayer.brpop_timeout + 5
    assert host["socket_connect_timeout"] <= 5


def test_a_receive_outlasts_an_empty_blocking_pop():
    assert isinstance(get_channel_layer(), BatchReceiveChannelLayer)
    layer = layer_for("layer-spec")
    layer.brpop_timeout = 1  # one empty pop, then the message

    async def receive_after_an_idle_pop():
        channel = await layer.new_channel()
        receiving = asyncio.ensure_future(layer.receive(channel))
        await asyncio.sleep(layer.brpop_timeout + 0.5)
        await layer.send(channel, {"type": "live.event", "html": "late"})
        try:
            return await asyncio.wait_for(receiving, 5)
        finally:
            await layer.close_pools()

    assert asyncio.run(receive_after_an_idle_pop())["html"] == "late"


def test_a_server_process_that_falls_behind_keeps_thousands_of_updates_for_its_sockets():
    # Every socket of a process shares one Redis queue, so the layer's capacity bounds how
    # far behind a whole process may fall, not one socket. At 1,500 a busy server dropped
    # live updates for its sockets while the worker pushed a backlog out.
    layer = layer_for("layer-capacity-spec")
    behind_by = 5_000

    async def fall_behind_then_read():
        sockets = await sockets_in(layer, "inbox-1.en", 20)
        await send_numbered(layer, "inbox-1.en", behind_by)
        received = []
        while len(received) < behind_by:
            try:
                message = await asyncio.wait_for(layer.receive(sockets[-1]), 2)
            except TimeoutError:
                break  # dropped: nothing more is coming
            received.append(int(message["html"]))
        return received

    assert run_then_clear(layer, fall_behind_then_read) == list(range(behind_by))


def test_a_server_process_takes_its_waiting_messages_off_redis_many_at_a_time(monkeypatch):
    # The library took each message off with four round trips in sequence; a busy server
    # could not keep up and its queue overflowed.
    layer = layer_for("layer-batch-spec")
    commands = []
    real_execute = Redis.execute_command

    async def counted(self, *args, **options):
        commands.append(args[0])
        return await real_execute(self, *args, **options)

    async def fall_behind_then_read():
        sockets = await sockets_in(layer, "inbox-1.en", 3)
        await send_numbered(layer, "inbox-1.en", 500)
        monkeypatch.setattr(Redis, "execute_command", counted)
        received = {socket: [] for socket in sockets}
        for socket in sockets:
            while len(received[socket]) < 500:
                message = await asyncio.wait_for(layer.receive(socket), 2)
                received[socket].append(int(message["html"]))
        monkeypatch.undo()
        return received

    received = run_then_clear(layer, fall_behind_then_read)

    assert all(numbers == list(range(500)) for numbers in received.values())
    assert len(commands) <= 500 / BatchReceiveChannelLayer.receive_batch + 1


def test_a_socket_that_closes_while_messages_are_taken_loses_none_for_the_others():
    # The batch is taken for the whole process: a receiver cancelled meanwhile (its socket
    # closed) leaves it to the next one.
    layer = layer_for("layer-cancel-spec")

    async def cancel_one_receiver_then_read():
        closing = await layer.new_channel()
        [staying] = await sockets_in(layer, "inbox-1.en", 1)
        waiting = asyncio.ensure_future(layer.receive(closing))
        await asyncio.sleep(0.2)  # it holds the process's receive, waiting on Redis
        await send_numbered(layer, "inbox-1.en", 3)
        waiting.cancel()
        return await read_all(layer, staying)

    assert run_then_clear(layer, cancel_one_receiver_then_read) == ["0", "1", "2"]


def test_a_process_whose_queue_dropped_updates_tells_each_of_its_sockets_once():
    # Past its capacity the queue drops what does not fit, and no page could tell: it has
    # applied later updates. Each socket of the process in a group learns of the loss
    # after what was kept, and its consumer has the page reload its panes.
    layer = layer_for("layer-loss-spec", capacity=5)

    async def overflow_then_read():
        agent, supervisor = await sockets_in(layer, "inbox-1.en", 2)
        await layer.group_add("inbox-2.en", supervisor)
        await send_numbered(layer, "inbox-1.en", 8)
        return await asyncio.gather(read_all(layer, agent), read_all(layer, supervisor))

    for received in run_then_clear(layer, overflow_then_read):
        assert received == ["0", "1", "2", "3", "4", "live.missed"]


def test_updates_that_waited_past_the_expiry_are_a_loss_the_process_learns_of():
    layer = layer_for("layer-expiry-spec", expiry=1)

    async def fall_behind_past_the_expiry_then_read():
        [socket] = await sockets_in(layer, "inbox-1.en", 1)
        await layer.group_send("inbox-1.en", {"type": "live.event", "html": "stale"})
        await asyncio.sleep(1.5)
        await layer.group_send("inbox-1.en", {"type": "live.event", "html": "fresh"})
        return await read_all(layer, socket)

    assert run_then_clear(layer, fall_behind_past_the_expiry_then_read) == [
        "fresh",
        "live.missed",
    ]


def test_a_socket_that_left_its_groups_is_not_told_of_later_losses():
    layer = layer_for("layer-left-spec", capacity=1)

    async def leave_then_overflow():
        leaving, staying = await sockets_in(layer, "inbox-1.en", 2)
        await layer.group_discard("inbox-1.en", leaving)
        await send_numbered(layer, "inbox-1.en", 3)
        return await read_all(layer, staying), await read_all(layer, leaving, timeout=0.5)

    assert run_then_clear(layer, leave_then_overflow) == (["0", "live.missed"], [])
