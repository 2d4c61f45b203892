"""Websocket consumers. Sockets carry server-to-client updates, plus typing and read signals.

On connect the server joins a socket to the groups its user may see; a client asks to
follow a conversation and the server checks access before joining it to that group.
Every (re)connect starts with a catch-up from the LiveEvent table after the last event
id the client applied, so nothing shown to a user lives only in the channel layer.
"""

import json
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.template.loader import render_to_string
from django.utils import translation

from channels_app import events, presence
from channels_app.groups import conversation_group, inbox_group, user_group, visitor_group

logger = logging.getLogger(__name__)

CLOSE_UNAUTHORISED = 4401
# "Join again": the page reconnects at once (static/js/live.js), and a socket joins the
# groups its user may see when it connects. A server may close a websocket only with 1000
# or a code from 3000 to 4999 (daphne refuses 1012, "service restart", from a consumer).
CLOSE_TO_REJOIN = 4012


def _parse(text_data):
    try:
        data = json.loads(text_data)
    except (TypeError, ValueError, RecursionError):  # RecursionError: nested too deep
        return {}
    return data if isinstance(data, dict) else {}


def _as_int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class LiveConsumer(AsyncWebsocketConsumer):
    """What agent and visitor sockets share: joining groups and replaying missed events."""

    joined = ()

    async def dispatch(self, message):
        """Channels closes stale database connections before every handler, a hop to the
        server's thread for synchronous code per message. A socket gets a message per live
        update; every handler here that touches the database does it through
        `database_sync_to_async`, which does that cleanup itself, so the rest go straight
        to their handler."""
        if message["type"] == "live.event":
            await self.live_event(message)
        elif message["type"] == "live.missed":
            await self.live_missed(message)
        else:
            await super().dispatch(message)

    async def join(self, *groups):
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        self.joined = (*self.joined, *groups)

    async def leave(self, *groups):
        for group in groups:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.joined = tuple(g for g in self.joined if g not in groups)

    async def disconnect(self, code):
        await self.leave(*self.joined)

    async def live_event(self, message):
        await self.send(text_data=message["html"])

    async def live_missed(self, message):
        """This server fell so far behind that live updates for its sockets were dropped
        (channels_app/layer.py). The page cannot tell which, so it reloads what it shows
        (the workspace its list, the widget its messages)."""
        await self.send_resync()

    async def send_resync(self, scope="page"):
        """Have the page reload what it shows (static/js: "switchboard:resync"): `page`,
        or only the open `thread`."""
        await self.send(text_data=render_to_string("channels_app/resync.html", {"scope": scope}))

    async def send_catch_up(self, last_event_id, *, conversation_id=None):
        """What happened after `last_event_id`, for the page or (with `conversation_id`)
        for its open thread; what cannot be replayed is reloaded instead."""
        if last_event_id is None:
            return
        frames, complete = await database_sync_to_async(events.catch_up)(
            self.audience, last_event_id, conversation_id=conversation_id
        )
        for html in frames:
            await self.send(text_data=html)
        if not complete:
            await self.send_resync("page" if conversation_id is None else "thread")


class AgentConsumer(LiveConsumer):
    user = None

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=CLOSE_UNAUTHORISED)
            return
        self.user = user
        inbox_ids = await database_sync_to_async(_visible_inbox_ids)(user)
        self.audience = events.Audience(
            language=user.language, inbox_ids=frozenset(inbox_ids), user_id=user.pk
        )
        await self.join(
            *(inbox_group(pk, user.language) for pk in inbox_ids),
            user_group(user.pk),
            presence.STAFF_GROUP,
        )
        await self.accept()
        await database_sync_to_async(presence.socket_opened)(user, self.channel_name)

    async def disconnect(self, code):
        if self.user is not None:
            await self.announce_viewing(self.audience.conversation_id, "left")
            await database_sync_to_async(presence.socket_closed)(self.user, self.channel_name)
        await super().disconnect(code)

    async def receive(self, text_data=None, bytes_data=None):
        data = _parse(text_data)
        kind = data.get("type")
        if kind == "resume":
            await self.send_catch_up(_as_int(data.get("last_event_id")))
        elif kind == "open":
            await self.follow_conversation(
                _as_int(data.get("conversation")), _as_int(data.get("last_event_id"))
            )
        elif kind == "typing":
            await self.forward_typing(_as_int(data.get("conversation")))
        elif kind == "counts":
            await self.send_counts()
        elif kind == "idle":
            await database_sync_to_async(presence.went_idle)(self.user)
        elif kind == "active":
            await database_sync_to_async(presence.came_back)(self.user)
        elif kind == "ping":
            await database_sync_to_async(presence.socket_seen)(self.channel_name)

    async def follow_conversation(self, conversation_id, last_event_id):
        previous = self.audience.conversation_id
        if previous is not None and previous != conversation_id:
            await self.announce_viewing(previous, "left")
            await self.leave(conversation_group(previous, self.audience.language))
            self.audience.conversation_id = None
        if conversation_id is None:
            if previous is not None:
                await database_sync_to_async(presence.socket_views)(self.channel_name, None)
            return
        allowed = await database_sync_to_async(_open_and_mark_read)(
            self.user, conversation_id, self.channel_name
        )
        if not allowed:
            return
        self.audience.conversation_id = conversation_id
        await self.join(conversation_group(conversation_id, self.audience.language))
        await self.send_catch_up(last_event_id, conversation_id=conversation_id)
        await self.announce_viewing(conversation_id, "joined")
        await self.send_counts()

    async def send_counts(self):
        counts = await database_sync_to_async(_unread_counts)(self.user)
        await self.send(text_data=json.dumps({"type": "counts", "counts": counts}))

    async def announce_viewing(self, conversation_id, state):
        """Tell the others on this conversation who is looking at it, and who is replying."""
        if conversation_id is None:
            return
        signal = {
            "type": "viewer",
            "conversation": conversation_id,
            "user": self.user.pk,
            "name": self.user.display_name,
            "state": state,
        }
        for language in _languages():
            await self.channel_layer.group_send(
                conversation_group(conversation_id, language),
                {"type": "staff.signal", "signal": signal, "sender": self.channel_name},
            )

    async def access_changed(self, message):
        """What this user may see changed (inboxes, role, deactivation, language): the
        socket closes so the page reconnects and joins what the user may see now."""
        await self.close(code=CLOSE_TO_REJOIN)

    async def staff_signal(self, message):
        signal = message["signal"]
        if message.get("sender") == self.channel_name:
            return
        await self.send(text_data=json.dumps(signal))
        # Someone opened the conversation we are on: let them know we are here too.
        if signal.get("state") == "joined" and (
            signal.get("conversation") == self.audience.conversation_id
        ):
            await self.announce_viewing(self.audience.conversation_id, "present")

    async def forward_typing(self, conversation_id):
        if conversation_id is None or conversation_id != self.audience.conversation_id:
            return
        await self.announce_viewing(conversation_id, "replying")
        identity_id = await database_sync_to_async(_widget_identity_of)(conversation_id)
        if identity_id is None:
            return
        html = await database_sync_to_async(_render_agent_typing)(self.user, conversation_id)
        await self.channel_layer.group_send(
            visitor_group(identity_id), {"type": "live.event", "html": html}
        )


class VisitorConsumer(LiveConsumer):
    """A website visitor's socket: it joins only that visitor's own group.

    The visitor proves who they are with the signed token in the first message, since
    the widget runs in a cross-site iframe where cookies are not available.
    """

    async def connect(self):
        self.inbox_token = self.scope["url_route"]["kwargs"]["inbox_token"]
        self.identity = None
        await self.accept()

    async def receive(self, text_data=None, bytes_data=None):
        data = _parse(text_data)
        kind = data.get("type")
        if self.identity is None:
            if kind != "resume":
                await self.close(code=CLOSE_UNAUTHORISED)
                return
            await self.authenticate(data.get("token"))
            if self.identity is None:
                return
            await self.send_catch_up(_as_int(data.get("last_event_id")))
        elif kind == "read":
            message_id = _as_int(data.get("message"))
            if message_id is not None:
                await database_sync_to_async(_mark_read)(self.identity, message_id)
        elif kind == "typing":
            await self.forward_typing()

    async def authenticate(self, token):
        from inbox.widget import identity_from_token

        identity = await database_sync_to_async(identity_from_token)(self.inbox_token, token)
        if identity is None:
            await self.close(code=CLOSE_UNAUTHORISED)
            return
        self.identity = identity
        self.audience = events.Audience(
            language=identity.contact.language or "en", visitor_identity_id=identity.pk
        )
        await self.join(visitor_group(identity.pk))

    async def forward_typing(self):
        conversation_id, frames = await database_sync_to_async(_render_visitor_typing)(
            self.identity
        )
        for language, html in frames:
            await self.channel_layer.group_send(
                conversation_group(conversation_id, language), {"type": "live.event", "html": html}
            )


def _visible_inbox_ids(user):
    from inbox.models import Inbox

    return list(Inbox.objects.visible_to(user).values_list("pk", flat=True))


def _open_and_mark_read(user, conversation_id, channel_name):
    """Check access to a conversation being opened, record that this socket views it (its
    thread updates are rendered from now on) and mark it read; False if not visible."""
    from conversations.models import Conversation
    from conversations.services import mark_conversation_read

    conversation = Conversation.objects.visible_to(user).filter(pk=conversation_id).first()
    presence.socket_views(channel_name, conversation)
    if conversation is None:
        return False
    mark_conversation_read(user, conversation)
    return True


def _unread_counts(user):
    from conversations.queries import unread_counts

    return unread_counts(user)


def _languages():
    from django.conf import settings

    return [code for code, _name in settings.LANGUAGES]


def _widget_identity_of(conversation_id):
    from conversations.models import Conversation

    return (
        Conversation.objects.filter(pk=conversation_id, channel="web_widget")
        .values_list("contact_identity_id", flat=True)
        .first()
    )


def _render_agent_typing(user, conversation_id):
    return render_to_string("widget/partials/typing.html", {"agent_name": user.get_short_name()})


def _render_visitor_typing(identity):
    from django.conf import settings

    from conversations.models import Conversation

    conversation_id = (
        Conversation.objects.filter(
            contact_identity=identity, status__in=("open", "pending", "snoozed")
        )
        .order_by("-last_message_at")
        .values_list("pk", flat=True)
        .first()
    )
    if conversation_id is None:
        return None, []
    frames = []
    for language, _name in settings.LANGUAGES:
        with translation.override(language):
            frames.append(
                (
                    language,
                    render_to_string(
                        "conversations/partials/typing.html", {"conversation_id": conversation_id}
                    ),
                )
            )
    return conversation_id, frames


def _mark_read(identity, message_id):
    from conversations.services import mark_read_by_visitor

    mark_read_by_visitor(identity, message_id)
