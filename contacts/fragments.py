"""The contact panel, shared by the thread view, contact edits and live pushes."""

from django.db.models import Exists, OuterRef
from django.template.loader import render_to_string

from contacts.models import Contact, ContactChange, ContactNote


def labels_marking(contact, conversation=None):
    """Every label, by name, each marked `on_contact`: in one query, the panel's labels on
    the contact and those that can still be added. With `conversation` (the thread, whose
    header offers every label), each is marked `on_conversation` too."""
    from conversations.models import Conversation, Label

    marks = {
        "on_contact": Exists(
            Contact.labels.through.objects.filter(contact=contact, label=OuterRef("pk"))
        )
    }
    if conversation is not None:
        marks["on_conversation"] = Exists(
            Conversation.labels.through.objects.filter(
                conversation=conversation, label=OuterRef("pk")
            )
        )
    return list(Label.objects.annotate(**marks).order_by("name"))


def contact_panel_context(contact, user=None, labels=None):
    """Everything the panel shows. Viewer-neutral unless `user` narrows the conversations.
    `labels`: `labels_marking(contact)`, when the caller has read them already."""
    from conversations.fragments import INBOX_NAME_ONLY
    from conversations.models import Conversation

    if labels is None:
        labels = labels_marking(contact)
    conversations = (
        Conversation.objects.filter(contact=contact).select_related("inbox").defer(*INBOX_NAME_ONLY)
    )
    if user is not None:
        conversations = conversations.visible_to(user)
    return {
        "contact": contact,
        "identities": list(contact.identities.select_related("inbox").defer(*INBOX_NAME_ONLY)),
        "contact_labels": [label for label in labels if label.on_contact],
        "addable_labels": [label for label in labels if not label.on_contact],
        "attributes": sorted(contact.custom_attributes.items()),
        "contact_notes": list(
            ContactNote.objects.filter(contact=contact).select_related("author")[:5]
        ),
        "changes": list(ContactChange.objects.filter(contact=contact).select_related("actor")[:5]),
        "previous_conversations": list(conversations.order_by("-last_message_at")[:10]),
    }


def contact_panel_oob(contact, inbox_id):
    """The panel as pushed to one inbox's agents: only that inbox's conversations are listed."""
    context = contact_panel_context(contact)
    context["previous_conversations"] = [
        c for c in context["previous_conversations"] if c.inbox_id == inbox_id
    ]
    return render_to_string("contacts/partials/contact_panel.html", {**context, "oob": True})
