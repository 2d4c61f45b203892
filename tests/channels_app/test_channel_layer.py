"""The Redis channel layer as configured: sockets must not die of their own idle waits."""

import asyncio

import pytest
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.conf import settings

pytestmark = pytest.mark.integration


def test_reads_wait_longer_than_the_layers_blocking_pop():
    # A socket's receive blocks in Redis for brpop_timeout seconds. With a read timeout of
    # the same length the client gave up first under load, and the consumer died.
    [host] = settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"]
    assert host["socket_timeout"] >= RedisChannelLayer.brpop_timeout + 5
    assert host["socket_connect_timeout"] <= 5


def test_a_receive_outlasts_an_empty_blocking_pop():
    assert isinstance(get_channel_layer(), RedisChannelLayer)
    config = {**settings.CHANNEL_LAYERS["default"]["CONFIG"], "prefix": "layer-spec"}
    layer = RedisChannelLayer(**config)
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
    config = {**settings.CHANNEL_LAYERS["default"]["CONFIG"], "prefix": "layer-capacity-spec"}
    layer = RedisChannelLayer(**config)
    behind_by = 5_000

    async def fall_behind_then_read():
        sockets = [await layer.new_channel() for _ in range(20)]
        for socket in sockets:
            await layer.group_add("inbox-1.en", socket)
        try:
            for n in range(behind_by):
                await layer.group_send("inbox-1.en", {"type": "live.event", "html": str(n)})
            received = []
            while len(received) < behind_by:
                try:
                    message = await asyncio.wait_for(layer.receive(sockets[-1]), 2)
                except TimeoutError:
                    break  # dropped: nothing more is coming
                received.append(int(message["html"]))
            return received
        finally:
            await layer.flush()
            await layer.close_pools()

    assert asyncio.run(fall_behind_then_read()) == list(range(behind_by))
