"""Partials shared by HTTP views and live pushes.

Every fragment has a stable id, so swapping it in twice is harmless. The `*_oob`
variants wrap a partial as an htmx out-of-band swap for websocket pushes and for
responses that update more than their target.
"""

import json

from django.db.models import Prefetch
from django.template.loader import render_to_string

from conversations.attachments import accept_attribute
from conversations.models import Attachment, Conversation, Message

# Deferred where an inbox is shown by its name (and kind) only: its settings, and its
# secrets, which are decrypted when loaded.
INBOX_NAME_ONLY = ("inbox__provider_config", "inbox__provider_secrets")


def thread_conversation_queryset():
    """An open thread's conversation: its header, composer and contact panel show the
    contact, inbox, assignee and labels, never the last message."""
    # The inbox's secrets are decrypted when loaded, and no fragment shows them.
    return (
        Conversation.objects.select_related("contact", "inbox", "assignee")
        .defer("inbox__provider_secrets")
        .prefetch_related("labels")
    )


def conversation_queryset():
    """A conversation with everything its row and its header show."""
    return thread_conversation_queryset().select_related("last_message", "last_message__author")


# What a row of the list (conversation_row.html) shows, and nothing more: a page of the list
# loads 50 rows, and loading whole conversations, contacts, users and messages for them took
# twice as long as the rows themselves.
ROW_FIELDS = (
    "channel",
    "status",
    "priority",
    "last_message_at",
    "waiting_since",
    "team_id",
    "inbox__name",
    "contact__name",
    "contact__email",
    "contact__phone",
    "contact__anonymised_at",
    "assignee__display_name",
    "assignee__email",
    "assignee__availability",
    "last_message__author_type",
    "last_message__direction",
    "last_message__body",
    "last_message__author__display_name",
    "last_message__author__email",
)


def conversation_row_queryset():
    return conversation_queryset().only(*ROW_FIELDS)


def _attachments_in_order():
    return Prefetch("attachments", queryset=Attachment.objects.order_by("pk"))


def message_queryset():
    return Message.objects.select_related("author", "conversation__contact").prefetch_related(
        _attachments_in_order()
    )


def thread_message_queryset(conversation):
    """A thread's messages, each pointing at `conversation` itself (with its contact) rather
    than at a copy joined and loaded again per message: half the time of a page of 50."""
    return conversation.messages.select_related("author").prefetch_related(_attachments_in_order())


def _by_pk(queryset, pk):
    # At most one row, so no ORDER BY (first() would add one).
    return next(iter(queryset.filter(pk=pk)), None) if pk else None


def load_conversation(pk):
    return _by_pk(conversation_queryset(), pk)


def load_message(pk):
    return _by_pk(message_queryset(), pk)


def conversation_row_oob(conversation, *, move_to_top):
    return render_to_string(
        "conversations/partials/conversation_row_oob.html",
        {"conversation": conversation, "move_to_top": move_to_top},
    )


def message_oob(message):
    return render_to_string("conversations/partials/message_oob.html", {"message": message})


def people_who_can_see(conversation):
    """Who the header offers as assignees and the composer as people to mention."""
    from conversations.access import users_who_can_see

    return list(users_who_can_see(conversation).order_by("display_name"))


def thread_header_context(conversation, people=None, labels=None):
    """`people` and `labels` (every label, by name), when the caller has read them already."""
    from conversations.models import Label, Priority
    from inbox.models import Team

    return {
        "conversation": conversation,
        "assignable_users": people_who_can_see(conversation) if people is None else people,
        "teams": list(Team.objects.order_by("name")),
        "labels": list(Label.objects.order_by("name")) if labels is None else labels,
        "conversation_labels": list(conversation.labels.all()),
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
