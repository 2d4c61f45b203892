"""The websocket routes: no socket receives data its owner may not see, and foreign pages
cannot open one. The routes are listed in test_authorization_matrix.WEBSOCKET_EXPECTATIONS.

Each socket asks for a catch-up from the very first event, so a missing access check in
the replay would show as well as one in the live groups.
"""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from channels_app.models import LiveEvent
from conversations import services
from tests.channels_app.test_consumers import (
    TIMEOUT,
    connect_agent,
    connect_visitor,
    event_id_of,
    frames,
    in_event_loop,
)
from tests.security.conftest import AGENT_ONLY, MARK_A, MARK_A2, MARK_B, build_world

pytestmark = pytest.mark.django_db(transaction=True)

write = database_sync_to_async
FOREIGN = (b"origin", b"https://evil.example")


@pytest.fixture
def world(transactional_db, media_root, fast_hashing):
    return build_world()


def first_event_id():
    return LiveEvent.objects.order_by("pk").values_list("pk", flat=True).first()


def new_activity_in_a(world):
    """A customer message, a private note and a reply on visitor A1's conversation."""
    side = world.a
    agent = world.users["agent_in"]
    services.add_note(agent, side.conversation, f"{AGENT_ONLY} later note {MARK_A}")
    services.send_reply(agent, side.conversation, f"reply for {MARK_A}")
    return services.record_inbound_message(
        side.inbox, side.identity, body=f"again {MARK_A}"
    ).message


@in_event_loop
async def test_agent_socket_never_streams_a_conversation_of_another_inbox(application, world):
    start = await write(first_event_id)()
    outsider, connected, _code = await connect_agent(application, world.users["agent_out"])
    member, _connected, _code = await connect_agent(application, world.users["agent_in"])
    assert connected
    for socket in (outsider, member):
        await socket.send_json_to({"type": "resume", "last_event_id": start})
        await socket.send_json_to(
            {"type": "open", "conversation": world.a.conversation.pk, "last_event_id": start}
        )
    before = "\n".join(await frames(outsider))

    last = await write(new_activity_in_a)(world)

    after = "\n".join(await frames(outsider))
    for marker in (MARK_A, MARK_A2):
        assert marker not in before + after
    assert MARK_B in before  # the outsider's own inbox does come through
    seen_by_member = "\n".join(await frames(member, until=await write(event_id_of)(last)))
    assert MARK_A in seen_by_member
    assert AGENT_ONLY in seen_by_member
    assert MARK_B not in seen_by_member
    await outsider.disconnect()
    await member.disconnect()


@in_event_loop
async def test_visitor_socket_gets_nothing_of_another_session_nor_agent_only_events(
    application, world
):
    start = await write(first_event_id)()
    owner = await connect_visitor(
        application, world.a.inbox, await write(world.token)(world.a), start
    )
    other = await connect_visitor(
        application, world.a.inbox, await write(world.token)(world.a2), start
    )

    last = await write(new_activity_in_a)(world)

    own = "\n".join(await frames(owner, until=await write(event_id_of)(last)))
    theirs = "\n".join(await frames(other))
    assert f"reply for {MARK_A}" in own
    assert f"again {MARK_A}" in own
    assert AGENT_ONLY not in own
    assert MARK_A2 not in own
    assert MARK_B not in own
    assert MARK_A not in theirs
    assert AGENT_ONLY not in theirs
    assert MARK_B not in theirs
    await owner.disconnect()
    await other.disconnect()


@in_event_loop
async def test_a_visitor_socket_cannot_follow_an_agent_conversation(application, world):
    start = await write(first_event_id)()
    socket = await connect_visitor(
        application, world.a.inbox, await write(world.token)(world.a2), start
    )
    await socket.send_json_to({"type": "open", "conversation": world.a.conversation.pk})
    await socket.send_json_to({"type": "resume", "token": await write(world.token)(world.a)})

    await write(new_activity_in_a)(world)

    assert MARK_A not in "\n".join(await frames(socket))
    await socket.disconnect()


@pytest.mark.parametrize("path", ["/ws/agent/", "/ws/widget/{token}/"])
@in_event_loop
async def test_a_socket_from_a_foreign_origin_is_refused(application, world, path):
    socket = WebsocketCommunicator(
        application, path.format(token=world.a.inbox.public_token), headers=[FOREIGN]
    )
    connected, _code = await socket.connect(timeout=TIMEOUT)
    assert connected is False


@in_event_loop
async def test_a_socket_without_an_origin_is_refused(application, world):
    socket = WebsocketCommunicator(application, f"/ws/widget/{world.a.inbox.public_token}/")
    connected, _code = await socket.connect(timeout=TIMEOUT)
    assert connected is False
