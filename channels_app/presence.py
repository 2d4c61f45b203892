"""Who is around: availability set by agents, away when idle, offline with no sockets open.

An agent's own choice is never overridden; Switchboard changes only what it set itself
(`availability_is_automatic`). Changes go to every agent socket as a small JSON frame:
presence is shown as it is now, and a reconnecting page reloads it with the page.
"""

import json
from datetime import timedelta

from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import timezone

from channels_app.layer_sender import send_to_groups
from channels_app.models import AgentSocket
from inbox.models import Availability, User

STAFF_GROUP = "staff"
STALE_AFTER = timedelta(minutes=3)


def presence_frame(user):
    return json.dumps({"type": "presence", "user": user.pk, "availability": user.availability})


def _announce(user):
    frame = presence_frame(user)
    layer = get_channel_layer()
    transaction.on_commit(
        lambda: send_to_groups(layer, [(STAFF_GROUP, {"type": "live.event", "html": frame})])
    )


def _set(user, availability, automatic):
    User.objects.filter(pk=user.pk).update(
        availability=availability, availability_is_automatic=automatic
    )
    user.availability = availability
    user.availability_is_automatic = automatic
    _announce(user)


@transaction.atomic
def set_availability(user, availability):
    """The agent chose online, away or offline."""
    if availability not in Availability.values:
        raise ValueError(f"Unknown availability {availability!r}")
    _set(user, availability, automatic=False)
    return user


def _fresh(user):
    return User.objects.select_for_update().get(pk=user.pk)


@transaction.atomic
def socket_opened(user, channel_name):
    AgentSocket.objects.update_or_create(
        channel_name=channel_name, defaults={"user": user, "seen_at": timezone.now()}
    )
    user = _fresh(user)
    if user.availability_is_automatic and user.availability != Availability.ONLINE:
        _set(user, Availability.ONLINE, automatic=True)


@transaction.atomic
def socket_closed(user, channel_name):
    AgentSocket.objects.filter(channel_name=channel_name).delete()
    _offline_without_sockets(user)


def _offline_without_sockets(user):
    if AgentSocket.objects.filter(user=user).exists():
        return
    user = _fresh(user)
    if user.availability != Availability.OFFLINE:
        _set(user, Availability.OFFLINE, automatic=True)


def socket_views(channel_name, conversation):
    """The socket follows `conversation` (None: no thread): its thread updates are
    rendered for this socket's language from now on."""
    AgentSocket.objects.filter(channel_name=channel_name).update(viewing=conversation)


def socket_seen(channel_name):
    AgentSocket.objects.filter(channel_name=channel_name).update(seen_at=timezone.now())


@transaction.atomic
def went_idle(user):
    user = _fresh(user)
    if user.availability == Availability.ONLINE:
        _set(user, Availability.AWAY, automatic=True)


@transaction.atomic
def came_back(user):
    user = _fresh(user)
    if user.availability_is_automatic and user.availability == Availability.AWAY:
        _set(user, Availability.ONLINE, automatic=True)


def sweep_stale_sockets(now=None):
    """Sockets whose process died never said goodbye: forget them after STALE_AFTER."""
    cutoff = (now or timezone.now()) - STALE_AFTER
    stale = list(AgentSocket.objects.filter(seen_at__lt=cutoff).select_related("user"))
    for socket in stale:
        with transaction.atomic():
            socket.delete()
            _offline_without_sockets(socket.user)
    return len(stale)


def set_notifications(user, *, enabled):
    """Whether this user's browser shows notifications for their conversations and mentions."""
    user.notifications_enabled = enabled
    user.save(update_fields=["notifications_enabled"])
    return user
