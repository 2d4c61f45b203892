"""Websocket consumers, driven through the real ASGI application.

pytest-asyncio is not used: each test body is a coroutine that `in_event_loop` runs with
asgiref's `async_to_sync`, so database calls made with `database_sync_to_async` run on
the test's own thread and connection. Broadcasts happen on commit, hence transactional_db.
The channel layer is never flushed: every socket is a new channel, and a Redis flush
deletes every key under the prefix, including those of other runs whose prefix starts
the same way.
"""

import asyncio
import functools
import re

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from channels_app.consumers import CLOSE_TO_REJOIN, CLOSE_UNAUTHORISED
from channels_app.groups import user_group
from channels_app.models import LiveEvent
from contacts.services import get_or_create_identity
from conversations import services
from conversations.models import DeliveryStatus, Message
from inbox.models import Inbox, InboxKind, Role, User
from inbox.widget import sign_visitor_token

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fast_password_hashing"),
]

ORIGIN = (b"origin", b"http://127.0.0.1:8000")
FRAME_HEADER = re.compile(r"^<!-- live-event (\d+) (\w+) -->\n")
TIMEOUT = 3
QUIET = 0.3


def in_event_loop(test):
    """Run an async test body to completion in a fresh event loop, then end its sockets."""

    async def body_then_release(*args, **kwargs):
        try:
            return await test(*args, **kwargs)
        finally:
            await release_sockets()

    @functools.wraps(test)
    def run(*args, **kwargs):
        return async_to_sync(body_then_release)(*args, **kwargs)

    return run


async def release_sockets():
    """End the consumers a test left running (a socket the server closed stays open here).

    Ending one cancels its wait on the channel layer. A wait cancelled while the Redis
    client was in the middle of the layer's blocking pop was seen, now and then, to lose
    the cancellation and pop again every 5 s for ever, and the test's event loop waited on
    it at exit. Such a receive ends when a message arrives for its channel, so each
    channel still being received gets one.
    """
    current = asyncio.current_task()
    left = [task for task in asyncio.all_tasks() if task is not current]
    for task in left:
        task.cancel()
    if not left:
        return
    _done, pending = await asyncio.wait(left, timeout=2)
    if pending:
        layer = get_channel_layer()
        for channel in list(getattr(layer, "receive_buffer", {})):
            await layer.send(channel, {"type": "test.released"})
        _done, pending = await asyncio.wait(pending, timeout=10)
    assert not pending, f"consumers still running after the test: {pending}"


def header(html):
    event_id, part = FRAME_HEADER.match(html).groups()
    return int(event_id), part


def session_cookie(user):
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


async def connect_agent(application, user=None, origin=ORIGIN):
    headers = [origin]
    if user is not None:
        cookie = await database_sync_to_async(session_cookie)(user)
        headers.append((b"cookie", cookie.encode()))
    socket = WebsocketCommunicator(application, "/ws/agent/", headers=headers)
    connected, code = await socket.connect(timeout=TIMEOUT)
    return socket, connected, code


async def connect_visitor(application, inbox, token, last_event_id=0):
    socket = WebsocketCommunicator(
        application, f"/ws/widget/{inbox.public_token}/", headers=[ORIGIN]
    )
    connected, _subprotocol = await socket.connect(timeout=TIMEOUT)
    assert connected
    await socket.send_json_to({"type": "resume", "token": token, "last_event_id": last_event_id})
    return socket


async def frames(socket, until=None):
    """The live-event frames that arrive, in order.

    With `until` (an event id), waits as long as it takes for that event's frame; then,
    in every case, keeps reading until the socket has been quiet for a moment. Other
    frames (presence, counts, who is viewing) are small JSON signals and left out.
    """
    received = []
    while until is not None and not any(header(html)[0] >= until for html in received):
        text = await socket.receive_from(timeout=TIMEOUT)
        if FRAME_HEADER.match(text):
            received.append(text)
    while not await socket.receive_nothing(timeout=QUIET):
        text = await socket.receive_from(timeout=TIMEOUT)
        if FRAME_HEADER.match(text):
            received.append(text)
    return received


def event_id_of(message, kind="message.created"):
    """The id of the latest event of this kind about this message."""
    events = LiveEvent.objects.filter(message=message, kind=kind).order_by("-pk")
    return events.values_list("pk", flat=True).first()


async def receive_containing(socket, fragment):
    """The first frame that contains `fragment`, skipping the others."""
    while True:
        text = await socket.receive_from(timeout=TIMEOUT)
        if fragment in text:
            return text


async def closed_with(socket):
    output = await socket.receive_output(timeout=TIMEOUT)
    assert output["type"] == "websocket.close"
    return output.get("code")


async def closed_with_after_signals(socket):
    """The close code, once the socket closes after whatever small signals came first."""
    while True:
        output = await socket.receive_output(timeout=TIMEOUT)
        if output["type"] == "websocket.close":
            return output.get("code")


async def rejoined_after(application, user, change):
    """Connect `user`, apply `change(user)`: the socket closes to rejoin; the new one."""
    socket, connected, _code = await connect_agent(application, user)
    assert connected
    await write(change)(user)
    assert await closed_with_after_signals(socket) == CLOSE_TO_REJOIN
    again, connected, _code = await connect_agent(application, user)
    assert connected
    return again


def last_event_id():
    return LiveEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


write = database_sync_to_async


# --- Agents -----------------------------------------------------------------------------------


@in_event_loop
async def test_anonymous_agent_socket_is_closed_with_4401(application):
    _socket, connected, code = await connect_agent(application)

    assert (connected, code) == (False, CLOSE_UNAUTHORISED)


@in_event_loop
async def test_an_inactive_agent_socket_is_closed_with_4401(application, agent):
    await write(User.objects.filter(pk=agent.pk).update)(is_active=False)

    _socket, connected, code = await connect_agent(application, agent)

    assert (connected, code) == (False, CLOSE_UNAUTHORISED)


@in_event_loop
async def test_agent_socket_from_a_foreign_origin_is_refused(application, agent):
    _socket, connected, _code = await connect_agent(
        application, agent, origin=(b"origin", b"https://evil.example")
    )

    assert connected is False


@in_event_loop
async def test_agent_receives_a_row_for_a_new_message_in_their_inbox(
    application, agent, widget_inbox, customer_writes
):
    socket, connected, _code = await connect_agent(application, agent)
    assert connected

    message = await write(customer_writes)(widget_inbox, "Do you ship to Lisbon?")

    event_id = await write(event_id_of)(message)
    received = await frames(socket, until=event_id)
    assert [header(html) for html in received] == [(event_id, "list")]
    assert f'id="conversation-{message.conversation_id}"' in received[0]
    assert "Do you ship to Lisbon?" in received[0]
    await socket.disconnect()


@in_event_loop
async def test_a_live_update_goes_out_without_a_trip_to_the_database_thread(
    application, agent, widget_inbox, customer_writes, monkeypatch
):
    socket, connected, _code = await connect_agent(application, agent)
    assert connected
    cleanups = []

    async def count_cleanup():
        cleanups.append(1)

    monkeypatch.setattr("channels.consumer.aclose_old_connections", count_cleanup)

    message = await write(customer_writes)(widget_inbox, "Is the blue one back in stock?")

    received = await frames(socket, until=await write(event_id_of)(message))
    assert "Is the blue one back in stock?" in received[0]
    assert cleanups == []
    await socket.disconnect()


@in_event_loop
async def test_told_that_its_server_dropped_live_updates_the_page_reloads_its_panes(
    application, agent
):
    # The channel layer tells every socket of a server process that fell so far behind
    # that updates were dropped (channels_app/layer.py); no page can tell which it missed.
    socket, connected, _code = await connect_agent(application, agent)
    assert connected

    await get_channel_layer().group_send(user_group(agent.pk), {"type": "live.missed"})

    resync = await receive_containing(socket, "live-resync")
    assert 'id="live-resync"' in resync
    assert 'data-resync="page"' in resync
    await socket.disconnect()


@in_event_loop
async def test_an_agent_taken_off_an_inbox_rejoins_and_gets_nothing_more_from_it(
    application, agent, widget_inbox, customer_writes
):
    again = await rejoined_after(application, agent, widget_inbox.members.remove)

    await write(customer_writes)(widget_inbox, "For the inbox's agents only")
    assert await frames(again) == []
    await again.disconnect()


@in_event_loop
async def test_an_agent_added_to_an_inbox_rejoins_and_gets_its_updates(
    application, agent, other_inbox, customer_writes
):
    again = await rejoined_after(application, agent, other_inbox.members.add)

    message = await write(customer_writes)(other_inbox, "Hello, other brand")
    received = await frames(again, until=await write(event_id_of)(message))
    assert "Hello, other brand" in received[-1]
    await again.disconnect()


@in_event_loop
async def test_a_deactivated_agent_s_socket_closes_and_cannot_come_back(application, agent):
    socket, connected, _code = await connect_agent(application, agent)
    assert connected

    def deactivate():
        agent.is_active = False
        agent.save()

    await write(deactivate)()

    assert await closed_with_after_signals(socket) == CLOSE_TO_REJOIN
    _again, connected, code = await connect_agent(application, agent)
    assert (connected, code) == (False, CLOSE_UNAUTHORISED)


@in_event_loop
async def test_saving_what_does_not_change_access_leaves_sockets_alone(application, agent):
    socket, connected, _code = await connect_agent(application, agent)
    assert connected
    while not await socket.receive_nothing(timeout=QUIET):  # the signals a new socket gets
        await socket.receive_output(timeout=TIMEOUT)

    await write(agent.save)(update_fields=["last_login"])

    assert await socket.receive_nothing(timeout=QUIET * 3)
    await socket.disconnect()


@in_event_loop
async def test_agent_receives_nothing_for_an_inbox_they_are_not_a_member_of(
    application, agent, other_inbox, customer_writes
):
    socket, _connected, _code = await connect_agent(application, agent)

    await write(customer_writes)(other_inbox, "Hello, other brand")

    assert await frames(socket) == []
    await socket.disconnect()


@in_event_loop
async def test_supervisor_receives_rows_of_every_inbox(
    application, make_user, other_inbox, customer_writes
):
    supervisor = await write(make_user)(Role.SUPERVISOR)
    socket, _connected, _code = await connect_agent(application, supervisor)

    message = await write(customer_writes)(other_inbox, "Hello, other brand")

    event_id = await write(event_id_of)(message)
    assert [header(html) for html in await frames(socket, until=event_id)] == [(event_id, "list")]
    await socket.disconnect()


@in_event_loop
async def test_an_opened_conversation_streams_its_thread(
    application, agent, widget_inbox, customer_writes
):
    first = await write(customer_writes)(widget_inbox, "Hi", visitor="visitor:emma")
    socket, _connected, _code = await connect_agent(application, agent)
    await socket.send_json_to({"type": "open", "conversation": first.conversation_id})
    assert await frames(socket) == []

    second = await write(customer_writes)(widget_inbox, "Anyone there?", visitor="visitor:emma")

    received = await frames(socket, until=await write(event_id_of)(second))
    assert sorted(header(html)[1] for html in received) == ["list", "thread"]
    thread = next(html for html in received if header(html)[1] == "thread")
    assert f'id="message-{second.pk}"' in thread

    # Back to the list: the thread is no longer rendered for anyone.
    await socket.send_json_to({"type": "open", "conversation": None})
    await frames(socket)
    third = await write(customer_writes)(widget_inbox, "Hello?", visitor="visitor:emma")
    received = await frames(socket, until=await write(event_id_of)(third))
    assert [header(html)[1] for html in received] == ["list"]
    await socket.disconnect()


@in_event_loop
async def test_an_open_thread_that_missed_more_than_can_be_replayed_is_told_to_reload_itself(
    application, agent, widget_inbox, customer_writes, settings
):
    first = await write(customer_writes)(widget_inbox, "Hi", visitor="visitor:emma")
    rendered_with = await write(event_id_of)(first)
    for n in range(3):
        await write(customer_writes)(widget_inbox, f"Still there? {n}", visitor="visitor:emma")
    settings.LIVE_EVENT_CATCHUP_LIMIT = 2
    socket, _connected, _code = await connect_agent(application, agent)

    await socket.send_json_to(
        {"type": "open", "conversation": first.conversation_id, "last_event_id": rendered_with}
    )

    # Only the thread is reloaded: the rest of the page has no gap.
    assert 'data-resync="thread"' in await receive_containing(socket, "live-resync")
    await socket.disconnect()


@in_event_loop
async def test_opening_a_conversation_of_another_inbox_joins_nothing(
    application, agent, other_inbox, customer_writes
):
    theirs = await write(customer_writes)(other_inbox, "Hi", visitor="visitor:them")
    seen = await write(last_event_id)()
    socket, _connected, _code = await connect_agent(application, agent)

    await socket.send_json_to(
        {"type": "open", "conversation": theirs.conversation_id, "last_event_id": seen - 1}
    )
    await write(customer_writes)(other_inbox, "Private stuff", visitor="visitor:them")

    assert await frames(socket) == []
    await socket.disconnect()


@in_event_loop
async def test_resume_delivers_missed_frames_in_order_exactly_once(
    application, agent, widget_inbox, other_inbox, customer_writes
):
    first = await write(customer_writes)(widget_inbox, "Hi", visitor="visitor:emma")
    page_loaded_at = await write(last_event_id)()
    socket, _connected, _code = await connect_agent(application, agent)
    await socket.send_json_to({"type": "resume", "last_event_id": page_loaded_at})
    await frames(socket)
    await socket.disconnect()

    missed = []
    for text in ("Are you there?", "Hello??", "Last try"):
        missed.append(await write(customer_writes)(widget_inbox, text, visitor="visitor:emma"))
    await write(customer_writes)(other_inbox, "Not for Ana", visitor="visitor:them")
    missed_ids = [
        await write(LiveEvent.objects.values_list("pk", flat=True).get)(message=m) for m in missed
    ]

    socket, _connected, _code = await connect_agent(application, agent)
    await socket.send_json_to({"type": "resume", "last_event_id": page_loaded_at})
    listed = [header(html) for html in await frames(socket, until=missed_ids[-1])]
    await socket.send_json_to(
        {"type": "open", "conversation": first.conversation_id, "last_event_id": page_loaded_at}
    )
    threaded = [header(html) for html in await frames(socket, until=missed_ids[-1])]
    await socket.disconnect()

    # Catch-up may repeat events up to the one applied (the client skips those); every
    # missed event comes exactly once per part, oldest first, and nothing from elsewhere.
    assert [h for h in listed if h[0] > page_loaded_at] == [(pk, "list") for pk in missed_ids]
    assert [h for h in threaded if h[0] > page_loaded_at] == [(pk, "thread") for pk in missed_ids]
    assert all(pk <= page_loaded_at for pk, _part in listed[: len(listed) - len(missed_ids)])
    assert listed == sorted(listed)


@in_event_loop
async def test_agent_typing_reaches_the_visitor_of_the_open_conversation(
    application, agent, widget_inbox, visitor
):
    inbound = await write(services.record_inbound_message)(widget_inbox, visitor, body="Hi")
    message = inbound.message
    token = await write(sign_visitor_token)(visitor)
    visitor_socket = await connect_visitor(application, widget_inbox, token)
    await frames(visitor_socket)
    agent_socket, _connected, _code = await connect_agent(application, agent)

    await agent_socket.send_json_to({"type": "typing", "conversation": message.conversation_id})
    assert await visitor_socket.receive_nothing(timeout=QUIET)

    await agent_socket.send_json_to({"type": "open", "conversation": message.conversation_id})
    await agent_socket.send_json_to({"type": "typing", "conversation": message.conversation_id})
    typing = await visitor_socket.receive_from(timeout=TIMEOUT)
    assert 'id="widget-typing"' in typing
    assert "Ana is typing" in typing

    await visitor_socket.send_json_to({"type": "typing"})
    shown = await receive_containing(agent_socket, f'id="typing-{message.conversation_id}"')
    assert "The visitor is typing" in shown
    await agent_socket.disconnect()
    await visitor_socket.disconnect()


# --- Visitors ---------------------------------------------------------------------------------


@in_event_loop
async def test_visitor_socket_closes_4401_unless_the_first_message_is_a_resume(
    application, widget_inbox, visitor
):
    token = await write(sign_visitor_token)(visitor)
    socket = WebsocketCommunicator(
        application, f"/ws/widget/{widget_inbox.public_token}/", headers=[ORIGIN]
    )
    await socket.connect(timeout=TIMEOUT)

    await socket.send_json_to({"type": "read", "message": 1, "token": token})

    assert await closed_with(socket) == CLOSE_UNAUTHORISED


@pytest.mark.parametrize("token", ["", "forged.token.value", None, 42])
@in_event_loop
async def test_visitor_socket_without_a_valid_token_closes_4401(application, widget_inbox, token):
    socket = await connect_visitor(application, widget_inbox, token)

    assert await closed_with(socket) == CLOSE_UNAUTHORISED


@in_event_loop
async def test_a_visitor_token_of_another_inbox_is_refused(application, widget_inbox):
    elsewhere = await write(Inbox.objects.create)(name="Shop B", kind=InboxKind.WEB_WIDGET)
    identity, _ = await write(get_or_create_identity)(elsewhere, "visitor:b")
    token = await write(sign_visitor_token)(identity)

    socket = await connect_visitor(application, widget_inbox, token)

    assert await closed_with(socket) == CLOSE_UNAUTHORISED


@in_event_loop
async def test_visitor_gets_only_their_own_conversation_never_notes(
    application, agent, widget_inbox, visitor
):
    other, _ = await write(get_or_create_identity)(widget_inbox, "visitor:other")
    mine = await write(services.record_inbound_message)(widget_inbox, visitor, body="Hi")
    theirs = await write(services.record_inbound_message)(widget_inbox, other, body="Yo")
    start = await write(last_event_id)()
    me = await connect_visitor(
        application, widget_inbox, await write(sign_visitor_token)(visitor), start
    )
    them = await connect_visitor(
        application, widget_inbox, await write(sign_visitor_token)(other), start
    )
    await frames(me)
    await frames(them)

    conversation = mine.message.conversation
    reply = await write(services.send_reply)(agent, conversation, "Hello Vera!")
    await write(services.add_note)(agent, conversation, "VIP customer, be nice")
    await write(services.send_reply)(agent, theirs.message.conversation, "Hello other!")
    thanks = await write(services.record_inbound_message)(widget_inbox, visitor, body="Thanks")

    mine_received = await frames(me, until=await write(event_id_of)(thanks.message))
    text = "\n".join(mine_received)
    assert {header(html)[1] for html in mine_received} == {"visitor"}
    assert f'id="widget-message-{reply.pk}"' in text
    assert "Hello Vera!" in text
    assert "Thanks" in text
    assert "VIP customer" not in text
    assert "Hello other!" not in text
    assert "Hello Vera!" not in "\n".join(await frames(them))
    await me.disconnect()
    await them.disconnect()


@in_event_loop
async def test_visitor_resume_catches_up_on_missed_replies(
    application, agent, widget_inbox, visitor
):
    mine = await write(services.record_inbound_message)(widget_inbox, visitor, body="Hi")
    seen = await write(last_event_id)()
    reply = await write(services.send_reply)(agent, mine.message.conversation, "Sorry, I was out")

    socket = await connect_visitor(
        application, widget_inbox, await write(sign_visitor_token)(visitor), seen
    )

    sent = await write(event_id_of)(reply, kind="message.updated")
    text = "\n".join(await frames(socket, until=sent))
    assert f'id="widget-message-{reply.pk}"' in text
    await socket.disconnect()


@in_event_loop
async def test_visitor_read_marks_the_agents_sent_reply_read(
    application, agent, widget_inbox, visitor
):
    mine = await write(services.record_inbound_message)(widget_inbox, visitor, body="Hi")
    conversation = mine.message.conversation
    reply = await write(services.send_reply)(agent, conversation, "Hello Vera!")
    assert (await write(Message.objects.get)(pk=reply.pk)).status == DeliveryStatus.SENT
    agent_socket, _connected, _code = await connect_agent(application, agent)
    await agent_socket.send_json_to({"type": "open", "conversation": conversation.pk})
    await frames(agent_socket)
    visitor_socket = await connect_visitor(
        application, widget_inbox, await write(sign_visitor_token)(visitor)
    )
    await frames(visitor_socket)

    await visitor_socket.send_json_to({"type": "read", "message": reply.pk})

    seen = await visitor_socket.receive_from(timeout=TIMEOUT)
    assert f'id="widget-message-{reply.pk}"' in seen
    assert "Seen" in seen
    assert (await write(Message.objects.get)(pk=reply.pk)).status == DeliveryStatus.READ
    read = await write(event_id_of)(reply, kind="message.updated")
    tick = [html for html in await frames(agent_socket, until=read) if header(html)[1] == "thread"]
    assert len(tick) == 1
    assert "delivery-read" in tick[0]
    await agent_socket.disconnect()
    await visitor_socket.disconnect()


@in_event_loop
async def test_a_visitor_cannot_mark_someone_elses_reply_read(
    application, agent, widget_inbox, visitor
):
    other, _ = await write(get_or_create_identity)(widget_inbox, "visitor:other")
    theirs = await write(services.record_inbound_message)(widget_inbox, other, body="Hi")
    reply = await write(services.send_reply)(agent, theirs.message.conversation, "Hello!")
    socket = await connect_visitor(
        application, widget_inbox, await write(sign_visitor_token)(visitor)
    )
    await frames(socket)

    await socket.send_json_to({"type": "read", "message": reply.pk})

    assert await socket.receive_nothing(timeout=QUIET)
    assert (await write(Message.objects.get)(pk=reply.pk)).status == DeliveryStatus.SENT
    await socket.disconnect()
