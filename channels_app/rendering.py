"""Turn a LiveEvent into the HTML fragment one part of its audience receives.

Parts: "list" (agents' conversation lists), "thread" (agents viewing the conversation),
"user" (one user), "visitor" (the customer's widget). Fragments are the same partials
the HTTP views render, wrapped as htmx out-of-band swaps, and carry nothing specific to
one viewer, so one render serves every socket of a group.
"""

from django.conf import settings
from django.utils import translation

from conversations import fragments
from conversations.models import Conversation


def visitor_language(conversation):
    return conversation.contact.language or settings.LANGUAGE_CODE


def _once(event, attribute, load, argument):
    """Fetch an object for an event's fragments once, whatever parts render it, and only
    when a part asks for it."""
    if not hasattr(event, attribute):
        setattr(event, attribute, load(argument))
    return getattr(event, attribute)


def conversation_of(event):
    return _once(
        event, "_fragment_conversation", fragments.load_conversation, event.conversation_id
    )


def row_of(event):
    """The event's conversation as its row in the list shows it (`fragments.row_values`)."""
    return _once(event, "_fragment_row", _row_of_conversation, event)


def _row_of_conversation(event):
    conversation = conversation_of(event)
    return fragments.row_of(conversation) if conversation else None


def _message(event):
    return _once(event, "_fragment_message", fragments.load_message, event.message_id)


def preload(events, listeners=None):
    """Load what the events' fragments show in one query per kind of row (plus their
    prefetches), instead of one per event.

    With `listeners` (who is listening, `events.Listeners`), only what will be rendered
    is loaded: a message only for a part that shows it (the thread of a conversation
    someone views, the visitor's widget, a mention), and for a conversation only its row
    when the list is all that shows it. Without, everything any part could show.
    """
    if listeners is None:
        full = {e.conversation_id for e in events if e.conversation_id}
        rows = set()
        with_message = [e for e in events if e.message_id]
    else:
        full = {e.conversation_id for e in events if _shows_conversation(e, listeners)}
        rows = {
            e.conversation_id
            for e in events
            if e.conversation_id and e.inbox_id and listeners.languages
        } - full
        with_message = [e for e in events if _shows_message(e, listeners)]
    conversations = fragments.conversation_queryset().in_bulk(full) if full else {}
    row_only = (
        {row["pk"]: row for row in fragments.row_values(Conversation.objects.filter(pk__in=rows))}
        if rows
        else {}
    )
    messages = (
        fragments.message_queryset().in_bulk({e.message_id for e in with_message})
        if with_message
        else {}
    )
    for event in events:
        if event.conversation_id in full:
            event._fragment_conversation = conversations.get(event.conversation_id)
        elif event.conversation_id in rows:
            event._fragment_row = row_only.get(event.conversation_id)
    for event in with_message:
        event._fragment_message = messages.get(event.message_id)


def _viewed(event, listeners):
    return bool(event.inbox_id and listeners.languages and listeners.viewing(event.conversation_id))


def _shows_message(event, listeners):
    if not event.message_id:
        return False
    return event.kind == "mention.created" or event.visible_to_visitor or _viewed(event, listeners)


def _shows_conversation(event, listeners):
    """Whether a part shows more of the conversation than its row in the list."""
    if not event.conversation_id:
        return False
    if event.visible_to_visitor or _viewed(event, listeners):
        return True
    return event.kind == "contact.updated" and bool(event.inbox_id and listeners.languages)


def _row(event, move):
    row = row_of(event)
    return fragments.conversation_row_oob(row, move_to_top=move) if row else ""


def _thread_message(event):
    message = _message(event)
    return fragments.message_oob(message) if message else ""


def _visitor_message(event):
    message = _message(event)
    if message is None or not message.is_visible_to_customer:
        return ""
    return fragments.visitor_message_oob(message)


def _thread_header(event):
    conversation = conversation_of(event)
    if conversation is None:
        return ""
    html = fragments.thread_header_oob(conversation)
    if event.activity_id:
        html += fragments.activity_oob(event.activity)
    return html


def _contact(event):
    conversation = conversation_of(event)
    if conversation is None:
        return ""
    from contacts.fragments import contact_panel_oob

    return fragments.conversation_row_oob(row_of(event), move_to_top=False) + contact_panel_oob(
        conversation.contact, conversation.inbox_id
    )


def _mention(event):
    """A JSON signal: the page shows it as a browser notification, nothing is swapped."""
    import json

    from django.utils.translation import gettext

    message = _message(event)
    if message is None:
        return ""
    author = message.author.display_name if message.author else ""
    return json.dumps(
        {
            "type": "mention",
            "conversation": message.conversation_id,
            "title": gettext("%(name)s mentioned you") % {"name": author},
            "text": message.body[:140],
        }
    )


RENDERERS = {
    ("mention.created", "user"): _mention,
    ("contact.updated", "list"): _contact,
    ("message.created", "list"): lambda e: _row(e, move=True),
    ("message.created", "thread"): _thread_message,
    ("message.created", "visitor"): _visitor_message,
    ("message.updated", "thread"): _thread_message,
    ("message.updated", "visitor"): _visitor_message,
    ("conversation.updated", "list"): lambda e: _row(e, move=False),
    ("conversation.updated", "thread"): _thread_header,
}


def render(event, part, language):
    renderer = RENDERERS.get((event.kind, part))
    if renderer is None:
        return ""
    with translation.override(language):
        return renderer(event)
