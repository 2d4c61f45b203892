"""The one way to go live: `publish()` an event from inside a service's transaction.

The event is stored as a LiveEvent row in the same transaction, so it exists exactly when
the change it describes does. After commit it is rendered once (once per language for
agents) and sent to the channel-layer groups of its audience. A client that missed it,
because the channel layer dropped it or its socket was down, gets it again from the table
when it reconnects (see `catch_up`).
"""

import logging
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, IntegerField, Q, When

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
    batch = getattr(_local, "batch", None)
    transaction.on_commit(lambda: _committed(event, batch))
    return event


def _committed(event, batch):
    # A transaction can commit after the block that published in it has ended (an outer
    # transaction): then the event goes out on its own.
    if batch is not None and batch.open:
        batch.events.append(event)
    else:
        broadcast(event)


_local = threading.local()  # .batch: the innermost open `batched_broadcasts()` block


@contextmanager
def batched_broadcasts():
    """Broadcast the events published inside the block together when it ends: one
    listeners query, one load of the rows they show and one trip to the channel layer for
    all of them. Wrap it around a transaction: events of a rolled-back transaction (or
    savepoint) never reach the list, as their on-commit callbacks never run."""
    batch, outer = _Batch(), getattr(_local, "batch", None)
    _local.batch = batch
    try:
        yield
    finally:
        _local.batch = outer
        batch.open = False
        if batch.events:
            broadcast_many(batch.events)


@dataclass
class _Batch:
    events: list = field(default_factory=list)
    open: bool = True


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


def frames_for(event, listeners=None):
    """Render an event once per part and language, addressed to its groups.

    Only for listeners: the list in the languages of agents with a socket open, the thread
    in the languages of those viewing the conversation. A generator, so the first group's
    frame goes out before the last one is rendered. `listeners` (from `Listeners.of`) is
    read here when not given.
    """
    if event.inbox_id:
        if listeners is None:
            listeners = Listeners.of([event])
        viewing = listeners.viewing(event.conversation_id)
        for language in listeners.languages:
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
        conversation = rendering.conversation_of(event)
        if conversation is not None:
            rendered = rendering.render(event, "visitor", rendering.visitor_language(conversation))
            if rendered:
                yield Frame(
                    visitor_group(conversation.contact_identity_id),
                    frame_html(event.pk, "visitor", rendered),
                )


@dataclass(frozen=True)
class Listeners:
    """Who is listening, read in one query for a set of events: the languages of agents
    with a socket open (in the order of settings.LANGUAGES) and, per conversation, the
    languages of those viewing it.

    No one listens to the other groups. A socket that opens (or starts viewing) after this
    was read asks for what it missed once it has joined, so it cannot lose an event
    rendered without its language.
    """

    languages: tuple
    viewers: dict  # conversation id -> frozenset of languages

    @classmethod
    def of(cls, events):
        conversation_ids = {e.conversation_id for e in events if e.inbox_id}
        if not conversation_ids:
            return cls((), {})
        watched = Case(
            When(viewing_id__in=conversation_ids, then=F("viewing_id")),
            default=None,
            output_field=IntegerField(),
        )
        rows = (
            AgentSocket.objects.annotate(watched=watched)
            .values_list("user__language", "watched")
            .distinct()
            .order_by()
        )
        languages, viewers = set(), {}
        for language, conversation_id in rows:
            languages.add(language)
            if conversation_id is not None:
                viewers.setdefault(conversation_id, set()).add(language)
        order = [code for code, _name in settings.LANGUAGES]
        return cls(
            tuple(code for code in order if code in languages),
            {pk: frozenset(codes) for pk, codes in viewers.items()},
        )

    def viewing(self, conversation_id):
        return self.viewers.get(conversation_id, frozenset())


def broadcast(event):
    """Send a committed event to its groups. A failure here loses nothing: clients catch up."""
    broadcast_many([event])


def broadcast_many(events):
    """Send committed events to their groups, in order, in one trip to the channel layer."""
    layer = get_channel_layer()
    try:
        listeners = Listeners.of(events)
        if listeners.languages or any(e.visible_to_visitor for e in events):
            rendering.preload(events, listeners)
        send_to_groups(
            layer,
            [
                (frame.group, {"type": "live.event", "html": frame.html})
                for event in events
                for frame in frames_for(event, listeners)
            ],
        )
    except Exception:
        logger.exception(
            "Broadcasting live events %s failed; clients will catch up",
            ", ".join(str(e.pk) for e in events),
        )


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
    events = events[:limit]
    rendering.preload(events)
    html = []
    for event in events:
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
