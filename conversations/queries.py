"""Read models for the workspace: a fixed number of queries whatever the data size."""

from dataclasses import dataclass

from django.db.models import Count, F, FilteredRelation, OuterRef, Q, Subquery
from django.http import Http404
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from conversations.fragments import (
    message_queryset,
    row_values,
    thread_message_queryset,
)
from conversations.models import (
    Activity,
    Conversation,
    ConversationRead,
    Label,
    Mention,
    Status,
)
from inbox.models import Inbox, Team

PAGE_SIZE = 50
THREAD_PAGE_SIZE = 50

FIXED_VIEWS = {
    "mine": _("Mine"),
    "unassigned": _("Unassigned"),
    "all": _("All"),
    "mentions": _("Mentions"),
}
SORTS = {
    "newest": _("Newest"),
    "waiting": _("Longest waiting"),
    "priority": _("Priority"),
}
STATUSES = [(value, label) for value, label in Status.choices]


@dataclass
class ListView:
    """Which conversations a list shows: a view, a status tab and a sort order."""

    key: str
    title: str
    condition: Q
    status: str
    sort: str


@dataclass
class ConversationPage:
    rows: list  # fragments.row_values
    next_cursor: str | None
    unread_ids: set


def resolve_view(user, key, status="open", sort="newest"):
    """Turn request parameters into a ListView; an inbox, team or label must be visible."""
    status = status if status in Status.values else Status.OPEN
    sort = sort if sort in SORTS else "newest"
    if key in FIXED_VIEWS:
        condition = {
            "mine": Q(assignee=user),
            "unassigned": Q(assignee__isnull=True),
            "all": Q(),
            "mentions": Q(messages__mentions__user=user),
        }[key]
        return ListView(key, FIXED_VIEWS[key], condition, status, sort)
    kind, _sep, pk = key.partition("-")
    if not pk.isdigit():
        raise Http404("No such view.")
    if kind == "inbox":
        inbox = Inbox.objects.visible_to(user).filter(pk=pk).first()
        if inbox:
            return ListView(key, inbox.name, Q(inbox=inbox), status, sort)
    elif kind == "team":
        team = Team.objects.filter(pk=pk).first()
        if team:
            return ListView(key, team.name, Q(team=team), status, sort)
    elif kind == "label":
        label = Label.objects.filter(pk=pk).first()
        if label:
            return ListView(key, label.name, Q(labels=label), status, sort)
    raise Http404("No such view.")


ORDERINGS = {
    "newest": ("-last_message_at", "-pk"),
    "waiting": (F("waiting_since").asc(nulls_last=True), "pk"),
    "priority": ("-priority", "-last_message_at", "-pk"),
}


def _cursor_of(row, sort):
    if sort == "waiting":
        stamp = row["waiting_since"].isoformat() if row["waiting_since"] else "none"
        return f"{stamp}_{row['pk']}"
    stamp = row["last_message_at"].isoformat()
    if sort == "priority":
        return f"{row['priority']}_{stamp}_{row['pk']}"
    return f"{stamp}_{row['pk']}"


def _after_cursor(sort, cursor):
    """The keyset condition for rows after `cursor` in this sort order, or None if invalid."""
    parts = (cursor or "").split("_")
    if not parts[-1].isdigit():
        return None
    pk = int(parts[-1])
    if sort == "waiting" and len(parts) == 2:
        if parts[0] == "none":
            return Q(waiting_since__isnull=True, pk__gt=pk)
        moment = parse_datetime(parts[0])
        if moment is None:
            return None
        return (
            Q(waiting_since__gt=moment)
            | Q(waiting_since=moment, pk__gt=pk)
            | Q(waiting_since__isnull=True)
        )
    if sort == "priority" and len(parts) == 3 and parts[0].isdigit():
        priority, moment = int(parts[0]), parse_datetime(parts[1])
        if moment is None:
            return None
        return (
            Q(priority__lt=priority)
            | Q(priority=priority, last_message_at__lt=moment)
            | Q(priority=priority, last_message_at=moment, pk__lt=pk)
        )
    if sort == "newest" and len(parts) == 2:
        moment = parse_datetime(parts[0])
        if moment is None:
            return None
        return Q(last_message_at__lt=moment) | Q(last_message_at=moment, pk__lt=pk)
    return None


def conversation_page(user, view, before=None):
    """One page of a list view, cursor-paginated in its sort order."""
    queryset = (
        Conversation.objects.visible_to(user)
        .filter(view.condition, status=view.status)
        .order_by(*ORDERINGS[view.sort])
    )
    if view.key == "mentions":
        queryset = queryset.distinct()
    if before:
        after = _after_cursor(view.sort, before)
        if after is not None:
            queryset = queryset.filter(after)
    rows = row_values(queryset, limit=PAGE_SIZE + 1, extra={"read_up_to": _read_up_to(user)})
    next_cursor = None
    if len(rows) > PAGE_SIZE:
        rows = rows[:PAGE_SIZE]
        next_cursor = _cursor_of(rows[-1], view.sort)
    return ConversationPage(rows, next_cursor, {row["pk"] for row in rows if is_unread(row)})


def navigation(user):
    """The left pane: fixed views, visible inboxes, teams and labels with open counts."""
    visible = Conversation.objects.visible_to(user).filter(status=Status.OPEN)
    mentioned = Mention.objects.filter(user=user, is_read=False).values("message__conversation")
    rows, counts = _per_inbox(
        visible,
        mine=Count("pk", filter=Q(assignee=user)),
        unassigned=Count("pk", filter=Q(assignee__isnull=True)),
        all=Count("pk"),
        # A hashed subquery, not a join through messages: counting distinct conversations
        # over every open conversation's messages took 200 ms at 1,000,000 messages.
        mentions=Count("pk", filter=Q(pk__in=mentioned)),
    )
    per_inbox = {row["inbox"]: row["all"] for row in rows}
    unread = unread_counts(user)
    return {
        "fixed": [
            (key, title, counts[key], unread.get(key, 0)) for key, title in FIXED_VIEWS.items()
        ],
        "inboxes": [
            (
                f"inbox-{inbox.pk}",
                inbox.name,
                per_inbox.get(inbox.pk, 0),
                unread.get(f"inbox-{inbox.pk}", 0),
            )
            for inbox in Inbox.objects.visible_to(user).only("pk", "name")
        ],
        "title_unread": unread["title"],
        "teams": [(f"team-{team.pk}", team.name) for team in Team.objects.only("pk", "name")],
        "labels": [(f"label-{label.pk}", label.name) for label in Label.objects.all()],
    }


def view_counts(user):
    """Open conversations per fixed view, in one query."""
    return {key: count for key, _title, count, _unread in navigation(user)["fixed"]}


def thread_context(conversation, before=None):
    """The latest messages of a thread (or those before a cursor) with activities between."""
    messages = thread_message_queryset(conversation).order_by("-pk")
    if before is not None:
        messages = messages.filter(pk__lt=before)
    messages = list(messages[: THREAD_PAGE_SIZE + 1])
    has_older = len(messages) > THREAD_PAGE_SIZE
    messages = list(reversed(messages[:THREAD_PAGE_SIZE]))
    activities = Activity.objects.filter(conversation=conversation).select_related("actor")
    if has_older and messages:
        activities = activities.filter(created_at__gte=messages[0].created_at)
    if before is not None:
        newer = message_queryset().filter(pk=before).values_list("created_at", flat=True).first()
        if newer is not None:
            activities = activities.filter(created_at__lt=newer)
    activities = list(activities.order_by("-created_at")[: THREAD_PAGE_SIZE * 2])
    items = sorted(
        [("message", m.created_at, m) for m in messages]
        + [("activity", a.created_at, a) for a in activities],
        key=lambda item: item[1],
    )
    return {
        "thread_items": items,
        "oldest_message_id": messages[0].pk if (messages and has_older) else None,
    }


def _per_inbox(conversations, **counts):
    """`counts` for each inbox, in one grouped query, and their totals over all inboxes."""
    rows = list(conversations.values("inbox").annotate(**counts).order_by())
    return rows, {name: sum(row[name] for row in rows) for name in counts}


def unread_conversations(user):
    """Open conversations with a message this user has not seen (per ConversationRead)."""
    # Joined, not a subquery per conversation: the user's read marks are read once.
    return (
        Conversation.objects.visible_to(user)
        .filter(status=Status.OPEN, last_message__isnull=False)
        .annotate(own_read=FilteredRelation("reads", condition=Q(reads__user=user)))
        .filter(
            Q(own_read__last_read_message__isnull=True)
            | Q(last_message_id__gt=F("own_read__last_read_message_id"))
        )
    )


def unread_counts(user):
    """Unread conversations per view and inbox, for the navigation and the tab title: two
    queries."""
    rows, counts = _per_inbox(
        unread_conversations(user),
        mine=Count("pk", filter=Q(assignee=user)),
        unassigned=Count("pk", filter=Q(assignee__isnull=True)),
        all=Count("pk"),
    )
    counts["mentions"] = (
        Mention.objects.filter(user=user, is_read=False)
        .values("message__conversation")
        .distinct()
        .count()
    )
    for row in rows:
        counts[f"inbox-{row['inbox']}"] = row["all"]
    counts["title"] = counts["mine"] + counts["mentions"]
    return counts


def _read_up_to(user):
    """The last message `user` has read in a conversation, read with each row of a page:
    one index lookup per row, not a query of its own."""
    return Subquery(
        ConversationRead.objects.filter(user=user, conversation=OuterRef("pk")).values(
            "last_read_message_id"
        )[:1]
    )


def is_unread(row):
    """The rule of `unread_conversations`, applied to a row read with `_read_up_to`."""
    if row["status"] != Status.OPEN or row["last_message_id"] is None:
        return False
    return row["read_up_to"] is None or row["last_message_id"] > row["read_up_to"]


def visible_conversations_by_ids(user, ids):
    return Conversation.objects.visible_to(user).filter(pk__in=ids).order_by("pk")
