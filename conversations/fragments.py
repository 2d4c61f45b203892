"""Partials shared by HTTP views and live pushes.

Every fragment has a stable id, so swapping it in twice is harmless. The `*_oob`
variants wrap a partial as an htmx out-of-band swap for websocket pushes and for
responses that update more than their target.
"""

import hashlib
import json

from django.core.cache import caches
from django.db.models import OuterRef, Subquery
from django.db.models.functions import JSONObject
from django.template.loader import render_to_string
from django.urls import get_script_prefix
from django.utils import timezone, translation
from django.utils.safestring import mark_safe
from django.utils.timesince import timesince

from contacts.models import Contact
from conversations.attachments import accept_attribute
from conversations.models import Conversation, Message, Priority, choice_label, files_in_order
from inbox.models import InboxKind, User

# Deferred where an inbox is shown by its name (and kind) only: its settings, and its
# secrets, which are decrypted when loaded.
INBOX_NAME_ONLY = ("inbox__provider_config", "inbox__provider_secrets")


def thread_conversation_queryset():
    """An open thread's conversation: its header, composer and contact panel show the
    contact, inbox and assignee, never the last message. Its labels are read with every
    label's (`contacts.fragments.labels_marking`)."""
    # The inbox's secrets are decrypted when loaded, and no fragment shows them.
    return Conversation.objects.select_related("contact", "inbox", "assignee").defer(
        "inbox__provider_secrets"
    )


def conversation_queryset():
    """A conversation with everything its row and its header show."""
    return (
        thread_conversation_queryset()
        .select_related("last_message", "last_message__author")
        .prefetch_related("labels")
    )


# What a row of the list (conversation_row.html) is made from, read as plain values: a page
# of the list is 50 rows, and building conversations, contacts, users and messages as model
# objects for them took longer than the query itself.
ROW_COLUMNS = (
    "pk",
    "status",
    "channel",
    "priority",
    "last_message_at",
    "waiting_since",
    "inbox_id",
    "team_id",
    "assignee_id",
    "last_message_id",
    "inbox__name",
    "contact_id",
    "contact__name",
    "contact__email",
    "contact__phone",
    "contact__anonymised_at",
    "assignee__display_name",
    "assignee__email",
    "assignee__availability",
)
# The last message's part of a row, read by a subquery as one JSON object: joined into the
# page's query, the message and its author made PostgreSQL spend 4.8 ms planning a query
# that ran in 0.7 (1.2 ms to plan this way).
LAST_MESSAGE_COLUMNS = {
    "author_type": "author_type",
    "direction": "direction",
    "body": "body",
    "author_name": "author__display_name",
    "author_email": "author__email",
}


def _last_message_shown():
    return Subquery(
        Message.objects.filter(pk=OuterRef("last_message_id")).values(
            shown=JSONObject(**LAST_MESSAGE_COLUMNS)
        )
    )


def row_values(conversations, *, limit=None, extra=None):
    """The rows of these conversations (a queryset, in its order): each a dict of
    `ROW_COLUMNS`, `last_message_shown` (`LAST_MESSAGE_COLUMNS` or None), `labels` as (pk, name)
    pairs by name, and the `extra` annotations (name: expression) asked for. Two queries."""
    extra = extra or {}
    queryset = conversations.annotate(last_message_shown=_last_message_shown(), **extra).values(
        *ROW_COLUMNS, "last_message_shown", *extra
    )
    rows = list(queryset[:limit] if limit is not None else queryset)
    if rows:
        by_pk = {row["pk"]: row for row in rows}
        for row in rows:
            last = row["last_message_shown"]
            # In the columns' order, whatever order the database's JSON keeps them in.
            row["last_message_shown"] = last and {key: last[key] for key in LAST_MESSAGE_COLUMNS}
            row["labels"] = ()
        marks = (
            Conversation.labels.through.objects.filter(conversation_id__in=by_pk)
            .order_by("label__name", "label_id")
            .values_list("conversation_id", "label_id", "label__name")
        )
        for conversation_id, label_id, name in marks:
            by_pk[conversation_id]["labels"] += ((label_id, name),)
    return rows


def row_of(conversation):
    """The row of a conversation already loaded with what its row shows
    (`conversation_queryset`): the same values `row_values` reads, with no query."""
    row = {column: _follow(conversation, column) for column in ROW_COLUMNS}
    last = conversation.last_message
    row["last_message_shown"] = last and {
        key: _follow(last, path) for key, path in LAST_MESSAGE_COLUMNS.items()
    }
    row["labels"] = tuple(
        (label.pk, label.name) for label in sorted(conversation.labels.all(), key=_by_name)
    )
    return row


def _follow(instance, path):
    for name in path.split("__"):
        instance = getattr(instance, name) if instance is not None else None
    return instance


def _by_name(label):
    return (label.name, label.pk)


def message_queryset():
    return Message.objects.select_related("author", "conversation__contact").prefetch_related(
        files_in_order()
    )


def thread_message_queryset(conversation):
    """A thread's messages, each pointing at `conversation` itself (with its contact) rather
    than at a copy joined and loaded again per message: half the time of a page of 50."""
    return conversation.messages.select_related("author").prefetch_related(files_in_order())


def _by_pk(queryset, pk):
    # At most one row, so no ORDER BY (first() would add one).
    return next(iter(queryset.filter(pk=pk)), None) if pk else None


def load_conversation(pk):
    return _by_pk(conversation_queryset(), pk)


def load_message(pk):
    return _by_pk(message_queryset(), pk)


def row_shown(row, now):
    """What a row (`row_values`) shows at `now`, for conversation_row.html: names and words
    in the active language, and how long it has waited said as of `now` (the key's minute)."""
    contact = Contact(
        pk=row["contact_id"],
        name=row["contact__name"],
        email=row["contact__email"],
        phone=row["contact__phone"],
        anonymised_at=row["contact__anonymised_at"],
    )
    waiting = row["waiting_since"]
    last = row["last_message_shown"] or {}
    outbound = last.get("direction") == "outbound"
    body = last.get("body") or ""
    return {
        "pk": row["pk"],
        "status": row["status"],
        "inbox_id": row["inbox_id"],
        "inbox_name": row["inbox__name"],
        "team_id": row["team_id"],
        "channel": row["channel"],
        "channel_label": choice_label(InboxKind, row["channel"]),
        "priority": row["priority"],
        "priority_label": choice_label(Priority, row["priority"]),
        "label_ids": "".join(f"{pk} " for pk, _name in row["labels"]),
        "label_names": [name for _pk, name in row["labels"]],
        "contact_name": contact.display_name,
        "initials": contact.initials,
        "last_message_at": row["last_message_at"],
        "waiting_since": waiting,
        "waiting_for": timesince(waiting, now) if waiting else "",
        "assignee_id": row["assignee_id"],
        "assignee_name": _short_name(row["assignee__display_name"], row["assignee__email"]),
        "assignee_availability": row["assignee__availability"] or "",
        "has_last": bool(last),
        "last_from": last.get("author_type") or "",
        "last_is_outbound": outbound,
        "last_outbound_by": outbound and _short_name(last["author_name"], last["author_email"]),
        "last_body": body,
    }


def _short_name(display_name, email):
    if display_name is None and email is None:
        return ""
    return User(display_name=display_name, email=email).get_short_name()


ROW_TEMPLATE = "conversations/partials/conversation_row.html"


def rendered_in():
    """What a reused rendering also depends on: the language, time zone and URL prefix."""
    return (
        translation.get_language(),
        timezone.get_current_timezone_name(),
        get_script_prefix(),
    )


def _fragment_key(kind, *made_of):
    """The `fragments` cache key of a rendering made of `made_of` (plain values, whose
    repr says them whole)."""
    return f"{kind}:" + hashlib.blake2b(repr(made_of).encode(), digest_size=16).hexdigest()


def _row_key(row, now, context):
    """Everything a rendered row is made from: its values, how long it has waited (the row
    says it to the minute) and the language, time zone and URL prefix it was rendered in."""
    waiting = row["waiting_since"]
    waited = int((now - waiting).total_seconds() // 60) if waiting else None
    values = tuple(row[column] for column in ROW_COLUMNS)
    return _fragment_key("row", context, waited, values, row["last_message_shown"], row["labels"])


def conversation_rows(rows):
    """The list's rows (`row_values`), rendered. A row is rendered once for what it is made
    of and then reused from this process's `fragments` cache: rendering was two thirds of a
    list page's time. The key is the whole of what the row is made of, so a cached row is
    never a stale one, and a changed row is simply another key."""
    now = timezone.now()
    context = rendered_in()
    keys = [_row_key(row, now, context) for row in rows]
    cache = caches["fragments"]
    found = cache.get_many(keys)
    rendered = {}
    for key, row in zip(keys, rows, strict=True):
        if key not in found and key not in rendered:
            rendered[key] = render_to_string(ROW_TEMPLATE, {"row": row_shown(row, now)})
    if rendered:
        cache.set_many(rendered)
    # Each is the template's output, escaped by it (the cache keeps strings, not their kind).
    return [mark_safe(found.get(key) or rendered[key]) for key in keys]  # noqa: S308


def conversation_row_oob(row, *, move_to_top):
    return render_to_string(
        "conversations/partials/conversation_row_oob.html",
        {"row_html": conversation_rows([row])[0], "move_to_top": move_to_top},
    )


MESSAGE_TEMPLATE = "conversations/partials/message.html"


def _stored(instance):
    """An object's stored values, every column of its row."""
    return tuple(getattr(instance, field.attname) for field in instance._meta.concrete_fields)


def message_html(message, context=None):
    """A message of a thread, rendered (message.html), and reused from this process's
    `fragments` cache while what it is made of is unchanged: rendering 50 messages was a
    third of opening a thread. The key is the whole of that: every stored value of the
    message and of its files, its author's and its contact's names, and the language, time
    zone and URL prefix (`context`: `rendered_in()`, when the caller has it). A message
    changed in any way is another key."""
    author = message.author.display_name if message.author_id else None
    key = _fragment_key(
        "message",
        context or rendered_in(),
        _stored(message),
        [_stored(attachment) for attachment in message.files],
        author,
        message.conversation.contact.display_name,
    )
    cache = caches["fragments"]
    html = cache.get(key)
    if html is None:
        html = render_to_string(MESSAGE_TEMPLATE, {"message": message})
        cache.set(key, html)
    return mark_safe(html)  # noqa: S308 - the template's output, escaped by it.


def message_oob(message):
    return render_to_string("conversations/partials/message_oob.html", {"message": message})


def people_who_can_see(conversation):
    """Who the header offers as assignees and the composer as people to mention."""
    from conversations.access import users_who_can_see

    # Only what the header's menu and the composer's mentions show: not each user's
    # password hash and settings, compared row by row for DISTINCT.
    return list(
        users_who_can_see(conversation).only("display_name", "email").order_by("display_name")
    )


def thread_header_context(conversation, people=None, labels=None):
    """`people` and `labels` (every label, by name, each marked `on_conversation`:
    `labels_marking(contact, conversation)`), when the caller has read them already."""
    from conversations.models import Label, Priority
    from inbox.models import Team

    if labels is None:
        labels, on_conversation = list(Label.objects.order_by("name")), conversation.labels.all()
    else:
        on_conversation = [label for label in labels if label.on_conversation]
    return {
        "conversation": conversation,
        "assignable_users": people_who_can_see(conversation) if people is None else people,
        "teams": list(Team.objects.order_by("name")),
        "labels": labels,
        "conversation_labels": list(on_conversation),
        "priorities": Priority.choices,
    }


def composer_context(conversation, user, people=None):
    """The composer is rendered for one agent, never pushed: it may hold their own data."""
    from conversations.models import CannedResponse

    if people is None:
        people = people_who_can_see(conversation)
    canned = CannedResponse.objects.available_to(user).order_by("shortcut")[:500]
    contact = conversation.contact
    return {
        "conversation": conversation,
        "canned": json.dumps(
            [{"shortcut": c.shortcut, "title": c.title, "body": c.body} for c in canned]
        ),
        "placeholders": json.dumps(
            {
                "contact.first_name": contact.display_name.split(" ")[0],
                "contact.name": contact.display_name,
                "contact.email": contact.email,
                "agent.first_name": user.get_short_name(),
                "agent.name": user.display_name,
            }
        ),
        # An attribute, not a JSON <script>: htmx drops script elements from swapped HTML.
        "mentionable": json.dumps(
            [{"name": person.display_name, "email": person.email} for person in people]
        ),
        "attachment_accept": accept_attribute(),
        **reply_window_context(conversation),
    }


def reply_window_context(conversation):
    """What the channel allows now (window, consent) and the templates it offers."""
    from conversations.channel_rules import reply_window
    from inbox.templates import approved_templates

    window = reply_window(conversation)
    templates = []
    if conversation.inbox.kind == "whatsapp" and window.allows_templates:
        templates = [
            # Each field is named by the placeholder it fills, as the preview shows it.
            {
                "template": t,
                "fields": ["{{" + str(n) + "}}" for n in range(1, t.parameter_count + 1)],
            }
            for t in approved_templates(conversation.inbox)
        ]
    return {"window": window, "templates": templates}


def thread_header_oob(conversation):
    return render_to_string(
        "conversations/partials/thread_header.html",
        {**thread_header_context(conversation), "oob": True},
    )


def activity_oob(activity):
    return render_to_string("conversations/partials/activity_oob.html", {"activity": activity})


def visitor_message_oob(message):
    return render_to_string("widget/partials/message_oob.html", {"message": message})
