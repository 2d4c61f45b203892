"""The one way to go live: `publish()` an event from inside a service's transaction.

The event is stored as a LiveEvent row in the same transaction, so it exists exactly when
the change it describes does. After commit it is rendered once (once per language for
agents) and sent to the channel-layer groups of its audience. A client that missed it,
because the channel layer dropped it or its socket was down, gets it again from the table
when it reconnects (see `catch_up`).
"""

import logging
from dataclasses import dataclass, field

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q

from channels_app import rendering
from channels_app.groups import conversation_group, inbox_group, user_group, visitor_group
from channels_app.layer_sender import send_to_groups
from channels_app.models import AgentSocket, LiveEvent

logger = logging.getLogger(__name__)


def publish(
    kind, *, conversation=None, message=None, activity=None, user=None, agents=True, visitor=False
):
    """Record a live event and broadcast it once the current transaction commits.

    `agents`: the agents who may see the conversation's inbox get it.
    `visitor`: the customer of the conversation gets it on the website widget.
    `user`: one user gets it (notifications and other per-user updates).
    """
    if conversation is None and message is not None:
        conversation = message.conversation
    event = LiveEvent.objects.create(
        kind=kind,
        inbox_id=conversation.inbox_id if (agents and conversation) else None,
        conversation=conversation,
        message=message,
        activity=activity,
        user=user,
        visible_to_visitor=visitor,
    )
    transaction.on_commit(lambda: broadcast(event))
    return event


@dataclass
class Frame:
    group: str
    html: str


@dataclass
class Audience:
    """Who one socket speaks for: used to filter catch-up exactly like the groups do."""

    language: str
    inbox_ids: frozenset = frozenset()
    user_id: int | None = None
    conversation_id: int | None = None
    visitor_identity_id: int | None = None
    parts: tuple = field(default=("list", "thread", "user"))


def frame_html(event_id, part, html):
    # The comment tells the client which (event, part) a frame carries, so it can skip
    # what it has applied already. It is not an element, so htmx ignores it when swapping.
    return f"<!-- live-event {event_id} {part} -->\n{html}"


def frames_for(event):
    """Render an event once per part and language, addressed to its groups.

    Only for listeners: the list in the languages of agents with a socket open, the thread
    in the languages of those viewing the conversation. A generator, so the first group's
    frame goes out before the last one is rendered.
    """
    if event.inbox_id:
        listening, viewing = listening_languages(event.conversation_id)
        for language in listening:
            parts = [("list", inbox_group(event.inbox_id, language))]
            if language in viewing:
                parts.append(("thread", conversation_group(event.conversation_id, language)))
            for part, group in parts:
                rendered = rendering.render(event, part, language)
                if rendered:
                    yield Frame(group, frame_html(event.pk, part, rendered))
    if event.user_id:
        rendered = rendering.render(event, "user", event.user.language)
        if rendered:
            yield Frame(user_group(event.user_id), frame_html(event.pk, "user", rendered))
    if event.visible_to_visitor and event.conversation_id:
        conversation = event.conversation
        rendered = rendering.render(event, "visitor", rendering.visitor_language(conversation))
        if rendered:
            yield Frame(
                visitor_group(conversation.contact_identity_id),
                frame_html(event.pk, "visitor", rendered),
            )


def listening_languages(conversation_id):
    """Who is listening, in one query: (languages of agents with a socket open, languages
    of those viewing `conversation_id`), each in the order of settings.LANGUAGES.

    No one listens to the other groups. A socket that opens (or starts viewing) after this
    was read asks for what it missed once it has joined, so it cannot lose an event
    rendered without its language.
    """
    rows = AgentSocket.objects.values_list("user__language").annotate(
        viewers=Count("pk", filter=Q(viewing_id=conversation_id))
    )
    counts = dict(rows.order_by())
    order = [code for code, _name in settings.LANGUAGES]
    return (
        [code for code in order if code in counts],
        [code for code in order if counts.get(code)],
    )


def broadcast(event):
    """Send a committed event to its groups. A failure here loses nothing: clients catch up."""
    layer = get_channel_layer()
    try:
        send_to_groups(
            layer,
            [
                (frame.group, {"type": "live.event", "html": frame.html})
                for frame in frames_for(event)
            ],
        )
    except Exception:
        logger.exception("Broadcasting live event %s failed; clients will catch up", event.pk)


def catch_up(audience, last_event_id, *, conversation_id=None):
    """The frames this audience missed after `last_event_id`, oldest first.

    Returns (frames, complete). Ids are taken before commit, so an event with a smaller id
    can become visible after a larger one: events a little older than the last one applied
    are read again, and the client skips those it has.
    """
    anchor = LiveEvent.objects.filter(pk=last_event_id).values_list("created_at", flat=True).first()
    if anchor is None:
        # Pruned or unknown (or 0, a page rendered on an empty log): the client cannot be
        # caught up event by event and reloads its panes instead. Replaying the whole log
        # to whoever asks for "everything since 0" would let one socket cost a server
        # hundreds of renders.
        latest = LiveEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
        return [], latest is None or last_event_id >= latest
    start_id = window_start_id(anchor - settings.LIVE_EVENT_CATCHUP_WINDOW, last_event_id)
    if audience.visitor_identity_id is not None:
        scope = Q(
            visible_to_visitor=True, conversation__contact_identity_id=audience.visitor_identity_id
        )
    else:
        scope = Q(inbox_id__in=audience.inbox_ids) | Q(user_id=audience.user_id)
    if conversation_id is not None:
        scope &= Q(conversation_id=conversation_id)
    limit = settings.LIVE_EVENT_CATCHUP_LIMIT
    events = list(
        LiveEvent.objects.filter(scope, pk__gte=start_id)
        .select_related("conversation", "user")
        .order_by("pk")[: limit + 1]
    )
    complete = len(events) <= limit
    html = []
    for event in events[:limit]:
        for part in parts_for(audience, event, only_thread=conversation_id is not None):
            rendered = rendering.render(event, part, audience.language)
            if rendered:
                html.append(frame_html(event.pk, part, rendered))
    return html, complete


def window_start_id(window_start, last_event_id):
    """The smallest id the trailing window can reach, so the query stays on the primary key."""
    first = (
        LiveEvent.objects.filter(created_at__gte=window_start, pk__lte=last_event_id)
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    return first if first is not None else last_event_id


def parts_for(audience, event, only_thread=False):
    if audience.visitor_identity_id is not None:
        return ["visitor"] if event.visible_to_visitor else []
    parts = []
    if event.inbox_id in audience.inbox_ids:
        if not only_thread:
            parts.append("list")
        if event.conversation_id == audience.conversation_id:
            parts.append("thread")
    if not only_thread and event.user_id is not None and event.user_id == audience.user_id:
        parts.append("user")
    return parts
