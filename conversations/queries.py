"""Read models for the workspace: a fixed number of queries whatever the data size."""

from dataclasses import dataclass

from django.db.models import Count, Q
from django.utils.dateparse import parse_datetime

from conversations.fragments import conversation_queryset, message_queryset
from conversations.models import Activity, Conversation, Status

PAGE_SIZE = 50
THREAD_PAGE_SIZE = 50


@dataclass
class ConversationPage:
    conversations: list
    next_cursor: str | None


def view_filter(user, view):
    if view == "mine":
        return Q(assignee=user)
    if view == "unassigned":
        return Q(assignee__isnull=True)
    return Q()


def view_counts(user):
    """Open conversations per navigation view, in one query."""
    open_visible = Conversation.objects.visible_to(user).filter(status=Status.OPEN)
    return open_visible.aggregate(
        mine=Count("pk", filter=Q(assignee=user)),
        unassigned=Count("pk", filter=Q(assignee__isnull=True)),
        all=Count("pk"),
    )


def conversation_page(user, view, before=None):
    """Open conversations, newest activity first, cursor-paginated on (last_message_at, id)."""
    queryset = (
        conversation_queryset()
        .visible_to(user)
        .filter(view_filter(user, view), status=Status.OPEN)
        .order_by("-last_message_at", "-pk")
    )
    if before:
        stamp, _sep, pk = before.rpartition("_")
        moment = parse_datetime(stamp)
        if moment is not None and pk.isdigit():
            queryset = queryset.filter(
                Q(last_message_at__lt=moment) | Q(last_message_at=moment, pk__lt=int(pk))
            )
    rows = list(queryset[: PAGE_SIZE + 1])
    next_cursor = None
    if len(rows) > PAGE_SIZE:
        rows = rows[:PAGE_SIZE]
        last = rows[-1]
        next_cursor = f"{last.last_message_at.isoformat()}_{last.pk}"
    return ConversationPage(rows, next_cursor)


def thread_context(conversation, before=None):
    """The latest messages of a thread (or those before a cursor) with activities between."""
    messages = message_queryset().filter(conversation=conversation).order_by("-pk")
    if before is not None:
        messages = messages.filter(pk__lt=before)
    messages = list(messages[: THREAD_PAGE_SIZE + 1])
    has_older = len(messages) > THREAD_PAGE_SIZE
    messages = list(reversed(messages[:THREAD_PAGE_SIZE]))
    activities = Activity.objects.filter(conversation=conversation).select_related("actor")
    if messages:
        if has_older:
            activities = activities.filter(created_at__gte=messages[0].created_at)
        if before is not None:
            activities = activities.filter(created_at__lt=messages[-1].created_at)
    items = sorted(
        [("message", m.created_at, m) for m in messages]
        + [("activity", a.created_at, a) for a in activities[: THREAD_PAGE_SIZE * 2]],
        key=lambda item: item[1],
    )
    return {
        "thread_items": items,
        "oldest_message_id": messages[0].pk if (messages and has_older) else None,
    }
